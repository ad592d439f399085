"""The converter contract: record key/value <-> bytes on the wire (SQS body, RocketMQ message body)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..api.schema import Schema


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

    @abstractmethod
    def serialize(self, topic: str | None, schema: Schema | None, value: Any) -> bytes | None: ...

    @abstractmethod
    def deserialize(self, topic: str | None, data: bytes | None) -> tuple[Schema | None, Any]: ...


ConverterType = Literal["json", "string", "bytes"]
