"""Where a record goes: RegexRouter renames its topic, Filter drops it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from ..api.record import ConnectRecord
from .base import NameCache, TransformConfigBase, Transformation
from .regex import Replacement, check_pattern, compile_pattern


class RegexRouterConfig(TransformConfigBase):
    """Rename the topic of records whose topic matches a regular expression."""

    type: Literal["RegexRouter"] = "RegexRouter"
    regex: str = Field(description="Regular expression the whole topic must match (as Java's "
                                   "`Matcher.matches()`); other topics are left alone. Java and Python "
                                   "syntax both work, e.g. named groups `(?<name>...)` or `(?P<name>...)`.")
    replacement: str = Field(description="The new topic. `$1` or `\\1` inserts a group, `${name}` or "
                                         "`\\g<name>` a named one; `\\$` is a literal `$`.")

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str) -> str:
        return check_pattern(value)

    @field_validator("replacement")
    @classmethod
    def _replacement(cls, value: str, info: ValidationInfo) -> str:
        if "regex" in info.data:  # else the regex itself is already reported
            Replacement(value, compile_pattern(info.data["regex"]))
        return value


class RegexRouter(Transformation[RegexRouterConfig]):
    name = "RegexRouter"

    def __init__(self, config: RegexRouterConfig) -> None:
        super().__init__(config)
        self._pattern = compile_pattern(config.regex)
        self._replacement = Replacement(config.replacement, self._pattern)
        self._route = NameCache(self._new_topic)

    def _new_topic(self, topic: str) -> str:
        match = self._pattern.fullmatch(topic)
        return self._replacement.expand(match) if match is not None else topic

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        topic = record.topic
        if topic is None:
            return record
        new_topic = self._route[topic]
        return record if new_topic == topic else record.copy(topic=new_topic)


class FilterConfig(TransformConfigBase):
    """Drop records: all of them, or, with a predicate, those where it holds (or not, with negate)."""

    type: Literal["Filter"] = "Filter"


class Filter(Transformation[FilterConfig]):
    name = "Filter"

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        return None


__all__ = ["Filter", "FilterConfig", "RegexRouter", "RegexRouterConfig"]
