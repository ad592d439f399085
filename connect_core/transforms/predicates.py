"""Predicates: conditions that decide whether a transform applies to a record (Kafka Connect's)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..api.record import ConnectRecord
from .base import NameCache, Predicate, PredicateConfigBase
from .regex import check_pattern, compile_pattern


class TopicNameMatchesConfig(PredicateConfigBase):
    """Holds for records whose topic matches a regular expression."""

    type: Literal["TopicNameMatches"] = "TopicNameMatches"
    pattern: str = Field(description="Regular expression the whole topic must match (Java or Python syntax).")

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        return check_pattern(value)


class TopicNameMatches(Predicate[TopicNameMatchesConfig]):
    """A record without a topic does not match."""

    def __init__(self, config: TopicNameMatchesConfig) -> None:
        super().__init__(config)
        fullmatch = compile_pattern(config.pattern).fullmatch
        self._matches = NameCache(lambda topic: fullmatch(topic) is not None)

    def test(self, record: ConnectRecord) -> bool:
        topic = record.topic
        return topic is not None and self._matches[topic]


class HasHeaderKeyConfig(PredicateConfigBase):
    """Holds for records that carry a header of the given name (whatever its value)."""

    type: Literal["HasHeaderKey"] = "HasHeaderKey"
    name: str = Field(min_length=1, description="The header name (RocketMQ user property, SQS message "
                                                "attribute, Kafka header).")


class HasHeaderKey(Predicate[HasHeaderKeyConfig]):
    def __init__(self, config: HasHeaderKeyConfig) -> None:
        super().__init__(config)
        self._name = config.name

    def test(self, record: ConnectRecord) -> bool:
        headers = record.headers
        return bool(headers) and self._name in headers


class RecordIsTombstoneConfig(PredicateConfigBase):
    """Holds for tombstones: records whose value is null."""

    type: Literal["RecordIsTombstone"] = "RecordIsTombstone"


class RecordIsTombstone(Predicate[RecordIsTombstoneConfig]):
    def test(self, record: ConnectRecord) -> bool:
        return record.value is None


__all__ = [
    "HasHeaderKey",
    "HasHeaderKeyConfig",
    "RecordIsTombstone",
    "RecordIsTombstoneConfig",
    "TopicNameMatches",
    "TopicNameMatchesConfig",
]
