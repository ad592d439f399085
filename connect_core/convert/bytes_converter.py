"""Keys or values that already are bytes, passed through, like Kafka Connect's ByteArrayConverter."""

from __future__ import annotations

from typing import Any

from ..api.schema import OPTIONAL_BYTES_SCHEMA, FieldType, Schema
from .base import Converter
from .config import BytesConverterConfig


class BytesConverter(Converter):
    """Writes ``bytes``, ``bytearray`` or ``memoryview`` values as they are; anything else, or a
    schema that is not BYTES, is a :class:`ConversionError`. Reading gives
    ``(OPTIONAL_BYTES_SCHEMA, bytes)``; a tombstone (``None``) stays ``(None, None)``."""

    config: BytesConverterConfig

    def serialize(self, topic: str | None, schema: Schema | None, value: Any) -> bytes | None:
        if schema is not None and schema.type is not FieldType.BYTES:
            raise self._error("serialize", topic, f"the bytes converter needs a BYTES schema, not {schema.type.value}")
        if value is None:
            return None
        if type(value) is bytes:
            return value
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        raise self._error("serialize", topic,
                          f"expected bytes, bytearray or memoryview, got {type(value).__name__}")

    def deserialize(self, topic: str | None, data: bytes | None) -> tuple[Schema | None, Any]:
        if data is None:
            return None, None
        return OPTIONAL_BYTES_SCHEMA, data if type(data) is bytes else bytes(data)
