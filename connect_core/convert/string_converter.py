"""Keys or values as text in one encoding, like Kafka Connect's StringConverter."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any, Mapping

from ..api.schema import OPTIONAL_STRING_SCHEMA, Schema
from .base import Converter
from .config import StringConverterConfig
from .json_codec import dumps


class StringConverter(Converter):
    """Writes the text of a value in ``encoding`` and reads bytes back as ``str``.

    The schema is ignored when writing. The text of a non-string value:

    ===========================  ============================================================
    ``bool``                     ``true`` / ``false`` (as Java and JSON spell them)
    ``int``, ``float``           ``repr`` (``42``, ``1.5``)
    ``Decimal``                  ``str`` (``12.50``)
    ``datetime``/``date``/...    ISO 8601 (``isoformat()``)
    ``dict``/``list``/``tuple``  compact JSON, as the JSON converter writes it
    bytes-like                   unchanged, if it is valid text in ``encoding``
    anything else                ``str(value)``
    ===========================  ============================================================

    Reading gives ``(OPTIONAL_STRING_SCHEMA, text)``; a tombstone (``None``) stays ``(None, None)``.
    """

    config: StringConverterConfig

    def __init__(self, config: StringConverterConfig, is_key: bool = False) -> None:
        super().__init__(config, is_key)
        self._encoding = config.encoding

    def serialize(self, topic: str | None, schema: Schema | None, value: Any) -> bytes | None:
        if value is None:
            return None
        try:
            if isinstance(value, str):
                return value.encode(self._encoding)
            if isinstance(value, (bytes, bytearray, memoryview)):
                data = bytes(value)
                data.decode(self._encoding)  # only to refuse bytes that are not text
                return data
            return _text_of(value).encode(self._encoding)
        except UnicodeError as exc:
            raise self._error("serialize", topic, f"not text in {self._encoding}: {exc.reason}") from exc
        except (TypeError, ValueError, RecursionError) as exc:
            raise self._error("serialize", topic, exc) from exc

    def deserialize(self, topic: str | None, data: bytes | None) -> tuple[Schema | None, Any]:
        if data is None:
            return None, None
        try:
            return OPTIONAL_STRING_SCHEMA, str(data, self._encoding)
        except UnicodeError as exc:
            raise self._error("deserialize", topic, f"not text in {self._encoding}: {exc.reason}") from exc


def _text_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)  # an IntEnum member writes its number, not its name
    if isinstance(value, float):
        return float.__repr__(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (Mapping, list, tuple)):
        return dumps(value)
    return str(value)
