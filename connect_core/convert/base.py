"""The converter contract: record key/value <-> bytes on the wire (SQS body, RocketMQ message body)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..api.schema import Schema
from .exceptions import ConversionError, Operation


class ConverterConfigBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str


class Converter(ABC):
    """Turns one side (key or value) of a record into bytes and back.

    ``serialize`` followed by ``deserialize`` gives back an equal value (and schema, where the
    format carries one). ``None`` stays ``None`` (a tombstone).
    """

    def __init__(self, config: ConverterConfigBase, is_key: bool = False) -> None:
        self.config = config
        self.is_key = is_key

    def _error(self, operation: Operation, topic: str | None, reason: object) -> ConversionError:
        """A :class:`ConversionError` for this converter and side; ``reason`` is a message or the
        exception that caused it."""
        return ConversionError(str(reason), converter=self.config.type, topic=topic, is_key=self.is_key,
                               operation=operation)

    @abstractmethod
    def serialize(self, topic: str | None, schema: Schema | None, value: Any) -> bytes | None: ...

    @abstractmethod
    def deserialize(self, topic: str | None, data: bytes | None) -> tuple[Schema | None, Any]: ...


ConverterType = Literal["json", "string", "bytes"]
