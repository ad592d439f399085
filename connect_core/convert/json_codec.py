"""JSON text and the JSON form of schema'd values, shared by the JSON and string converters.

Text: compact UTF-8 JSON (``separators=(",", ":")``, ``ensure_ascii=False``). Python values that
JSON has no type for are written as follows when no schema says otherwise:

=============================  ===============================================================
``bytes``/``bytearray``/...    base64 string (standard alphabet, padded)
``datetime``/``date``/``time``  ISO 8601 string (``isoformat()``; naive stays naive)
``Decimal``                    JSON number with the exact digits (``NaN``/``Infinity`` as floats)
other ``Mapping``               JSON object
=============================  ===============================================================

Anything else is a ``TypeError``. Reading gives plain JSON values back (strings stay strings).

With a schema, :func:`compile_codec` builds, once per schema, an encoder and a decoder between the
Python values of :mod:`connect_core.api.schema` and the JSON form Kafka Connect's JsonConverter
uses: Date as days, Time and Timestamp as milliseconds, Decimal as base64 of the unscaled bytes
(or a JSON number), BYTES as base64, maps with STRING keys as objects and other maps as
``[key, value]`` pairs, structs as objects with every schema field in schema order. A part of the
schema that needs no conversion gets no function at all (``None``), so plain payloads pass
straight to ``json``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import decimal
import json
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..api.schema import (
    DATE,
    DECIMAL,
    TIME,
    TIMESTAMP,
    FieldType,
    Schema,
    SchemaError,
    bytes_to_decimal,
    date_to_days,
    days_to_date,
    decimal_scale,
    decimal_to_bytes,
    millis_to_time,
    millis_to_timestamp,
    time_to_millis,
    timestamp_to_millis,
)

Encode = Callable[[Any], Any]
Decode = Callable[[Any], Any]

_FLOAT_TYPES = (FieldType.FLOAT32, FieldType.FLOAT64)

# -- text ------------------------------------------------------------------------------------

# json can only write a Decimal's exact digits as a string, so it writes a marked string and the
# marks are stripped afterwards. The random part keeps user strings from ever matching.
_NUMBER_MARK = f"@@connect-core-number-{os.urandom(16).hex()}@@"
_MARKED_NUMBER = re.compile('"' + re.escape(_NUMBER_MARK) + '([^"]*)"')


class _MarkCount:
    """How many Decimals were written as marked strings: lets ``dumps`` skip the regex otherwise."""

    __slots__ = ("written",)

    def __init__(self) -> None:
        self.written = 0


_marks = _MarkCount()


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (dt.date, dt.time)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return float(value)
        _marks.written += 1
        return _NUMBER_MARK + format(value, "f")
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"a {type(value).__name__} has no JSON form")


_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_json_default)
_decoder = json.JSONDecoder()
_exact_decoder = json.JSONDecoder(parse_float=decimal.Decimal)


def dumps(value: Any) -> str:
    """Compact JSON text for ``value`` (see the module docstring for non-JSON types)."""
    marks = _marks.written
    text = _encoder.encode(value)
    if _marks.written != marks:
        text = _MARKED_NUMBER.sub(r"\1", text)
    return text


loads: Callable[[str], Any] = _decoder.decode
"""Parse JSON text; numbers with a fraction or exponent become ``float``."""

loads_exact: Callable[[str], Any] = _exact_decoder.decode
"""Parse JSON text; numbers with a fraction or exponent become ``Decimal`` (no rounding)."""


# -- schema'd values -------------------------------------------------------------------------


class InexactNumber(Exception):
    """A decoder met a float where it needs the exact digits: parse again with :func:`loads_exact`."""


@dataclass(frozen=True, slots=True)
class PayloadCodec:
    """Everything the JSON converter needs for one schema, computed once."""

    schema: Schema
    #: Python value -> JSON-ready value; ``None`` when the value is JSON-ready as it is.
    encode: Encode | None
    #: Parsed JSON -> Python value; ``None`` when the parsed value is the value.
    decode: Decode | None
    #: ``{"schema":<schema>,"payload":`` : the envelope up to the payload.
    envelope_prefix: str


def compile_codec(schema: Schema, *, numeric_decimals: bool = False, path: str = "value") -> PayloadCodec:
    """Build the codec for ``schema``. ``path`` prefixes decode errors (``value.items[].price``)."""
    prefix = '{"schema":' + dumps(schema.to_dict()) + ',"payload":'
    return PayloadCodec(schema, _encoder_for(schema, numeric_decimals), _decoder_for(schema, path), prefix)


def _encoder_for(schema: Schema, numeric: bool) -> Encode | None:
    """Encoder of values of ``schema`` including ``None`` (which becomes the default, if any)."""
    encode = _value_encoder(schema, numeric)
    if schema.default is None:
        if encode is None:
            return None
        return lambda v: None if v is None else encode(v)
    default = schema.default if encode is None else encode(schema.default)
    if encode is None:
        return lambda v: default if v is None else v
    return lambda v: default if v is None else encode(v)


def _value_encoder(schema: Schema, numeric: bool) -> Encode | None:
    """Encoder of non-null values of ``schema`` (already validated)."""
    logical = schema.logical
    if logical == DATE:
        return date_to_days
    if logical == TIME:
        return time_to_millis
    if logical == TIMESTAMP:
        return timestamp_to_millis
    if logical == DECIMAL:
        scale = decimal_scale(schema)
        if numeric:
            return None  # _json_default writes the exact digits
        return lambda v: base64.b64encode(decimal_to_bytes(v, scale)).decode("ascii")
    t = schema.type
    if t is FieldType.BYTES:
        return lambda v: base64.b64encode(v).decode("ascii")
    if t is FieldType.ARRAY:
        item = _encoder_for(schema.value_schema, numeric)  # type: ignore[arg-type]
        if item is None:
            return None
        return lambda v: [item(x) for x in v]
    if t is FieldType.MAP:
        key = _encoder_for(schema.key_schema, numeric)  # type: ignore[arg-type]
        value = _encoder_for(schema.value_schema, numeric)  # type: ignore[arg-type]
        if schema.key_schema.type is FieldType.STRING:  # type: ignore[union-attr]
            if value is None:
                return None
            return lambda v: {k: value(x) for k, x in v.items()}
        key_, value_ = key or _same, value or _same
        return lambda v: [[key_(k), value_(x)] for k, x in v.items()]
    if t is FieldType.STRUCT:
        fields = tuple((f.name, _encoder_for(f.schema, numeric)) for f in schema.fields)

        def encode_struct(v: Mapping[str, Any]) -> dict[str, Any]:
            get = v.get
            return {name: get(name) if enc is None else enc(get(name)) for name, enc in fields}

        return encode_struct
    return None


def _decoder_for(schema: Schema, path: str) -> Decode | None:
    """Decoder of parsed JSON for ``schema`` including ``null`` (which becomes the default, if any).

    Decoders convert representations; :meth:`Schema.validate` checks the result afterwards.
    """
    decode = _value_decoder(schema, path)
    default = schema.default
    if default is None:
        if decode is None:
            return None
        return lambda v: None if v is None else decode(v)
    if isinstance(default, (list, dict)):
        # Each record gets its own copy: a sink that edits one must not edit the next.
        return lambda v: copy.deepcopy(default) if v is None else (v if decode is None else decode(v))
    if decode is None:
        return lambda v: default if v is None else v
    return lambda v: default if v is None else decode(v)


def _value_decoder(schema: Schema, path: str) -> Decode | None:
    logical = schema.logical
    if logical == DATE:
        return _from_integer(days_to_date, "Date (days since 1970-01-01)", path)
    if logical == TIME:
        return _from_integer(millis_to_time, "Time (milliseconds since midnight)", path)
    if logical == TIMESTAMP:
        return _from_integer(millis_to_timestamp, "Timestamp (milliseconds since the epoch)", path)
    if logical == DECIMAL:
        return _decimal_decoder(decimal_scale(schema), path)
    t = schema.type
    if t in _FLOAT_TYPES:
        return _to_float
    if t is FieldType.BYTES:
        def decode_bytes(v: Any) -> Any:
            if type(v) is not str:
                raise SchemaError(f"{path}: BYTES must be a base64 JSON string, got {_json_type(v)}")
            return _b64decode(v, path)

        return decode_bytes
    if t is FieldType.ARRAY:
        item = _decoder_for(schema.value_schema, f"{path}[]")  # type: ignore[arg-type]
        if item is None:
            return None
        return lambda v: [item(x) for x in v] if type(v) is list else v
    if t is FieldType.MAP:
        return _map_decoder(schema, path)
    if t is FieldType.STRUCT:
        fields = tuple((f.name, _decoder_for(f.schema, f"{path}.{f.name}")) for f in schema.fields)

        def decode_struct(v: Any) -> Any:
            if type(v) is not dict:
                return v  # validate names the mismatch
            get = v.get
            return {name: get(name) if dec is None else dec(get(name)) for name, dec in fields}

        return decode_struct
    return None


def _map_decoder(schema: Schema, path: str) -> Decode | None:
    key = _decoder_for(schema.key_schema, f"{path}.<key>")  # type: ignore[arg-type]
    value = _decoder_for(schema.value_schema, f"{path}[]")  # type: ignore[arg-type]
    if schema.key_schema.type is FieldType.STRING:  # type: ignore[union-attr]
        if value is None:
            return None
        return lambda v: {k: value(x) for k, x in v.items()} if type(v) is dict else v
    key_, value_ = key or _same, value or _same
    key_type = schema.key_schema.type.value  # type: ignore[union-attr]

    def decode_pairs(v: Any) -> dict[Any, Any]:
        if type(v) is not list:
            raise SchemaError(f"{path}: a map with {key_type} keys must be a JSON array of [key, value] "
                              f"pairs, got {_json_type(v)}")
        out = {}
        for pair in v:
            if type(pair) is not list or len(pair) != 2:
                raise SchemaError(f"{path}: each map entry must be a [key, value] pair")
            out[key_(pair[0])] = value_(pair[1])
        return out

    return decode_pairs


def _from_integer(convert: Callable[[int], Any], what: str, path: str) -> Decode:
    def decode(v: Any) -> Any:
        if type(v) is not int:
            raise SchemaError(f"{path}: {what} must be a JSON integer, got {_json_type(v)}")
        return convert(v)

    return decode


def _decimal_decoder(scale: int, path: str) -> Decode:
    def decode(v: Any) -> Any:
        t = type(v)
        if t is str:
            return bytes_to_decimal(_b64decode(v, path), scale)
        if t is int:
            return decimal.Decimal(v)
        if t is decimal.Decimal:
            return v
        if t is float:
            if not math.isfinite(v):
                raise SchemaError(f"{path}: a Decimal must be finite, not NaN or Infinity")
            raise InexactNumber(path)
        raise SchemaError(f"{path}: Decimal must be a base64 string or a JSON number, got {_json_type(v)}")

    return decode


def _to_float(v: Any) -> Any:
    t = type(v)
    if t is float:
        return v
    if t is int or t is decimal.Decimal:
        return float(v)
    return v  # validate names the mismatch


def _same(v: Any) -> Any:
    return v


def _b64decode(text: str, path: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SchemaError(f"{path}: not valid base64") from None


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float, decimal.Decimal)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(v), type(v).__name__)
