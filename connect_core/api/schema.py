"""Schemas for record keys and values, with RocketMQ Connect's field types.

A schema describes a value; the value itself stays a plain Python object:

====================  ==========================================
FieldType             Python value
====================  ==========================================
INT8/16/32/64         ``int`` (range-checked)
FLOAT32/FLOAT64       ``float``
BOOLEAN               ``bool``
STRING                ``str``
BYTES                 ``bytes``
ARRAY                 ``list`` of ``value_schema`` values
MAP                   ``dict`` from ``key_schema`` to ``value_schema``
STRUCT                ``dict`` from field name to field value
====================  ==========================================

Logical types reuse a physical type and carry a ``name``, as in RocketMQ Connect and
Kafka Connect: ``Date`` (INT32 days since the epoch, value ``datetime.date``), ``Time`` (INT32
milliseconds since midnight, value ``datetime.time``), ``Timestamp`` (INT64 milliseconds since
the epoch, value ``datetime.datetime`` in UTC) and ``Decimal`` (BYTES, unscaled two's-complement
big-endian integer, the scale in ``parameters["scale"]``, value ``decimal.Decimal``). Kafka Connect's
logical names (``org.apache.kafka.connect.data.Date`` ...) are read as the same logical types.

``to_dict``/``from_dict`` is the JSON form Kafka Connect's JsonConverter writes in its envelope:
lower-case type names (``int32``, ``float`` for FLOAT32, ``double`` for FLOAT64), keys in Kafka's
order, and the ``default`` in its JSON form (base64 bytes, Date as days, ...).
"""

from __future__ import annotations

import base64 as _base64
import binascii as _binascii
import datetime as _dt
import decimal as _decimal
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class FieldType(str, enum.Enum):
    INT8 = "INT8"
    INT16 = "INT16"
    INT32 = "INT32"
    INT64 = "INT64"
    FLOAT32 = "FLOAT32"
    FLOAT64 = "FLOAT64"
    BOOLEAN = "BOOLEAN"
    STRING = "STRING"
    BYTES = "BYTES"
    ARRAY = "ARRAY"
    MAP = "MAP"
    STRUCT = "STRUCT"


DATE = "org.apache.rocketmq.connect.data.Date"
TIME = "org.apache.rocketmq.connect.data.Time"
TIMESTAMP = "org.apache.rocketmq.connect.data.Timestamp"
DECIMAL = "org.apache.rocketmq.connect.data.Decimal"
DECIMAL_SCALE = "scale"

#: Logical names, Kafka Connect's included, to the logical type they stand for.
_LOGICAL_NAMES = {
    DATE: DATE, TIME: TIME, TIMESTAMP: TIMESTAMP, DECIMAL: DECIMAL,
    "org.apache.kafka.connect.data.Date": DATE,
    "org.apache.kafka.connect.data.Time": TIME,
    "org.apache.kafka.connect.data.Timestamp": TIMESTAMP,
    "org.apache.kafka.connect.data.Decimal": DECIMAL,
}

#: Type names in the JSON form, as Kafka Connect's JsonConverter spells them.
_JSON_TYPE_NAMES = {
    FieldType.INT8: "int8", FieldType.INT16: "int16", FieldType.INT32: "int32", FieldType.INT64: "int64",
    FieldType.FLOAT32: "float", FieldType.FLOAT64: "double", FieldType.BOOLEAN: "boolean",
    FieldType.STRING: "string", FieldType.BYTES: "bytes", FieldType.ARRAY: "array", FieldType.MAP: "map",
    FieldType.STRUCT: "struct",
}
_TYPES_BY_JSON_NAME = {
    **{t.value.lower(): t for t in FieldType},
    **{name: t for t, name in _JSON_TYPE_NAMES.items()},
}

_INT_RANGES = {
    FieldType.INT8: (-(2**7), 2**7 - 1),
    FieldType.INT16: (-(2**15), 2**15 - 1),
    FieldType.INT32: (-(2**31), 2**31 - 1),
    FieldType.INT64: (-(2**63), 2**63 - 1),
}
_LOGICAL_CLASSES = {DATE: _dt.date, TIME: _dt.time, TIMESTAMP: _dt.datetime, DECIMAL: _decimal.Decimal}
_EPOCH_DATE = _dt.date(1970, 1, 1)
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
#: Decimal arithmetic without rounding: the default context keeps only 28 digits.
_EXACT = _decimal.Context(prec=_decimal.MAX_PREC, Emax=_decimal.MAX_EMAX, Emin=_decimal.MIN_EMIN)
#: Unscaled decimals above this many digits are refused rather than built (a huge exponent is cheap
#: to write and expensive to expand).
_MAX_DECIMAL_DIGITS = 4300


class SchemaError(ValueError):
    """A value does not match its schema, or a schema is malformed."""


class _Mismatch(Exception):
    """Raised inside ``Schema.validate``; collects the path while it unwinds."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.where: list[str] = []


_MISSING = object()


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    schema: "Schema"


@dataclass(frozen=True, slots=True)
class Schema:
    type: FieldType
    optional: bool = False
    name: str | None = None
    version: int | None = None
    doc: str | None = None
    default: Any = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    fields: tuple[Field, ...] = ()
    key_schema: "Schema | None" = None
    value_schema: "Schema | None" = None

    def __post_init__(self) -> None:
        if not isinstance(self.type, FieldType):
            object.__setattr__(self, "type", FieldType(self.type))
        if self.type is FieldType.ARRAY and self.value_schema is None:
            raise SchemaError("an ARRAY schema needs a value_schema")
        if self.type is FieldType.MAP and (self.key_schema is None or self.value_schema is None):
            raise SchemaError("a MAP schema needs a key_schema and a value_schema")
        if self.fields and self.type is not FieldType.STRUCT:
            raise SchemaError(f"only STRUCT schemas have fields, not {self.type.value}")
        names = [f.name for f in self.fields]
        if len(names) != len(set(names)):
            raise SchemaError(f"duplicate field names in struct schema {self.name!r}")

    def __hash__(self) -> int:
        # ``parameters`` and ``default`` may be unhashable; equal schemas still hash alike.
        return hash((self.type, self.optional, self.name, self.version, tuple(f.name for f in self.fields)))

    # -- builders ---------------------------------------------------------------------------

    @classmethod
    def struct(cls, name: str | None = None, *, optional: bool = False, **fields: "Schema") -> "Schema":
        return cls(FieldType.STRUCT, optional=optional, name=name,
                   fields=tuple(Field(n, s) for n, s in fields.items()))

    @classmethod
    def array(cls, value_schema: "Schema", *, optional: bool = False) -> "Schema":
        return cls(FieldType.ARRAY, optional=optional, value_schema=value_schema)

    @classmethod
    def map(cls, key_schema: "Schema", value_schema: "Schema", *, optional: bool = False) -> "Schema":
        return cls(FieldType.MAP, optional=optional, key_schema=key_schema, value_schema=value_schema)

    @classmethod
    def decimal(cls, scale: int, *, optional: bool = False) -> "Schema":
        return cls(FieldType.BYTES, optional=optional, name=DECIMAL, version=1,
                   parameters={DECIMAL_SCALE: str(scale)})

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise SchemaError(f"struct schema {self.name or ''!r} has no field {name!r}")

    def with_optional(self, optional: bool = True) -> "Schema":
        return Schema(self.type, optional, self.name, self.version, self.doc, self.default,
                      self.parameters, self.fields, self.key_schema, self.value_schema)

    @property
    def logical(self) -> str | None:
        return _LOGICAL_NAMES.get(self.name) if self.name is not None else None

    # -- values -----------------------------------------------------------------------------

    def validate(self, value: Any, path: str = "value") -> None:
        """Raise :class:`SchemaError` naming the path of the first value that does not fit."""
        try:
            self._check(value)
        except _Mismatch as exc:
            raise SchemaError(f"{path}{''.join(reversed(exc.where))}: {exc.message}") from None

    def _check(self, value: Any) -> None:
        # The hot path of every schema'd record: paths are only built once something failed.
        if value is None:
            if self.optional or self.default is not None:
                return
            raise _Mismatch(f"null for a required {self.type.value} field")
        if self.name is not None and self.name in _LOGICAL_NAMES:
            self._check_logical(value)
            return
        t = self.type
        if t is FieldType.STRING:
            if not isinstance(value, str):
                raise _Mismatch(f"expected STRING, got {type(value).__name__}")
        elif t in _INT_RANGES:
            if not isinstance(value, int) or isinstance(value, bool):
                raise _Mismatch(f"expected {t.value} integer, got {type(value).__name__}")
            lo, hi = _INT_RANGES[t]
            if not lo <= value <= hi:
                # The value itself stays out of the message: error messages reach the logs.
                raise _Mismatch(f"out of range for {t.value} [{lo}, {hi}]")
        elif t is FieldType.STRUCT:
            if not isinstance(value, Mapping):
                raise _Mismatch(f"expected STRUCT, got {type(value).__name__}")
            present = 0
            for f in self.fields:
                item = value.get(f.name, _MISSING)
                if item is _MISSING:
                    item = None
                else:
                    present += 1
                try:
                    f.schema._check(item)
                except _Mismatch as exc:
                    exc.where.append(f".{f.name}")
                    raise
            if present != len(value):
                known = {f.name for f in self.fields}
                extra = sorted(str(k) for k in value if k not in known)
                raise _Mismatch(f"fields not in the schema: {extra}")
        elif t is FieldType.FLOAT64 or t is FieldType.FLOAT32:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise _Mismatch(f"expected {t.value} number, got {type(value).__name__}")
        elif t is FieldType.BOOLEAN:
            if not isinstance(value, bool):
                raise _Mismatch(f"expected BOOLEAN, got {type(value).__name__}")
        elif t is FieldType.BYTES:
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise _Mismatch(f"expected BYTES, got {type(value).__name__}")
        elif t is FieldType.ARRAY:
            if not isinstance(value, (list, tuple)):
                raise _Mismatch(f"expected ARRAY, got {type(value).__name__}")
            if _all_plain(self.value_schema, value):  # type: ignore[arg-type]
                return
            check = self.value_schema._check  # type: ignore[union-attr]
            for i, item in enumerate(value):
                try:
                    check(item)
                except _Mismatch as exc:
                    exc.where.append(f"[{i}]")
                    raise
        elif t is FieldType.MAP:
            if not isinstance(value, Mapping):
                raise _Mismatch(f"expected MAP, got {type(value).__name__}")
            if (_all_plain(self.key_schema, value.keys())  # type: ignore[arg-type]
                    and _all_plain(self.value_schema, value.values())):  # type: ignore[arg-type]
                return
            check_key = self.key_schema._check  # type: ignore[union-attr]
            check_value = self.value_schema._check  # type: ignore[union-attr]
            for k, item in value.items():
                try:
                    check_key(k)
                except _Mismatch as exc:
                    exc.where.append(".<key>")
                    raise
                try:
                    check_value(item)
                except _Mismatch as exc:
                    exc.where.append(f"[{k!r}]")
                    raise

    def _check_logical(self, value: Any) -> None:
        logical = _LOGICAL_NAMES[self.name]  # type: ignore[index]
        expected = _LOGICAL_CLASSES[logical]
        if not isinstance(value, expected) or (logical == DATE and isinstance(value, _dt.datetime)):
            raise _Mismatch(f"expected {expected.__name__} for {logical.rsplit('.', 1)[-1]}, "
                            f"got {type(value).__name__}")
        if logical == DECIMAL:
            try:
                scale = decimal_scale(self)
                exact = _unscaled(value, scale)[1]
            except SchemaError as exc:
                raise _Mismatch(str(exc)) from None
            if not exact:
                raise _Mismatch(f"Decimal has more fractional digits than its scale {scale}")

    # -- JSON form (the schema half of the JSON converter's envelope) -------------------------

    def to_dict(self) -> dict[str, Any]:
        """The schema as Kafka Connect's JsonConverter writes it (key order included)."""
        out: dict[str, Any] = {"type": _JSON_TYPE_NAMES[self.type]}
        if self.type is FieldType.ARRAY:
            out["items"] = self.value_schema.to_dict()  # type: ignore[union-attr]
        elif self.type is FieldType.MAP:
            out["keys"] = self.key_schema.to_dict()  # type: ignore[union-attr]
            out["values"] = self.value_schema.to_dict()  # type: ignore[union-attr]
        elif self.type is FieldType.STRUCT:
            out["fields"] = [{**f.schema.to_dict(), "field": f.name} for f in self.fields]
        out["optional"] = self.optional
        if self.name is not None:
            out["name"] = self.name
        if self.version is not None:
            out["version"] = self.version
        if self.doc is not None:
            out["doc"] = self.doc
        if self.parameters:
            out["parameters"] = dict(self.parameters)
        if self.default is not None:
            out["default"] = _default_to_json(self, self.default)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Schema":
        """Read the JSON form; type names may be Kafka's (``int32``, ``double``) or FieldType names."""
        if not isinstance(data, Mapping):
            raise SchemaError(f"a schema must be a JSON object, not {type(data).__name__}")
        type_name = data.get("type")
        type_ = _TYPES_BY_JSON_NAME.get(type_name.lower()) if isinstance(type_name, str) else None
        if type_ is None:
            raise SchemaError(f"unknown or missing schema type {type_name!r}")
        fields = []
        for f in data.get("fields", ()):
            if not isinstance(f, Mapping) or not isinstance(f.get("field"), str):
                raise SchemaError("each struct field needs a string 'field' name")
            fields.append(Field(f["field"], cls.from_dict(f)))
        key_schema = cls.from_dict(data["keys"]) if data.get("keys") is not None else None
        values = data.get("items", data.get("values"))
        schema = cls(type_, optional=bool(data.get("optional", False)), name=data.get("name"),
                     version=data.get("version"), doc=data.get("doc"),
                     parameters=dict(data.get("parameters") or {}), fields=tuple(fields),
                     key_schema=key_schema,
                     value_schema=cls.from_dict(values) if values is not None else None)
        if data.get("default") is not None:
            default = _default_from_json(schema, data["default"])
            schema.validate(default, "default")
            object.__setattr__(schema, "default", default)
        return schema


def _default_to_json(schema: Schema, value: Any) -> Any:
    """A default value in its JSON form. Defaults are rare, so this stays a plain recursion; the
    JSON converter compiles its own encoders for payloads."""
    if value is None:
        return None
    logical = schema.logical
    if logical == DATE:
        return date_to_days(value)
    if logical == TIME:
        return time_to_millis(value)
    if logical == TIMESTAMP:
        return timestamp_to_millis(value)
    if logical == DECIMAL:
        return _base64.b64encode(decimal_to_bytes(value, decimal_scale(schema))).decode("ascii")
    t = schema.type
    if t is FieldType.BYTES:
        return _base64.b64encode(value).decode("ascii")
    if t is FieldType.ARRAY:
        return [_default_to_json(schema.value_schema, v) for v in value]  # type: ignore[arg-type]
    if t is FieldType.MAP:
        ks, vs = schema.key_schema, schema.value_schema
        if ks.type is FieldType.STRING:  # type: ignore[union-attr]
            return {k: _default_to_json(vs, v) for k, v in value.items()}  # type: ignore[arg-type]
        return [[_default_to_json(ks, k), _default_to_json(vs, v)]  # type: ignore[arg-type]
                for k, v in value.items()]
    if t is FieldType.STRUCT:
        return {f.name: _default_to_json(f.schema, value.get(f.name)) for f in schema.fields}
    return value


def _default_from_json(schema: Schema, data: Any) -> Any:
    """The inverse of :func:`_default_to_json`; a value already in Python form passes through."""
    if data is None:
        return None
    logical = schema.logical
    if logical in (DATE, TIME, TIMESTAMP) and isinstance(data, int) and not isinstance(data, bool):
        return {DATE: days_to_date, TIME: millis_to_time, TIMESTAMP: millis_to_timestamp}[logical](data)
    if logical == DECIMAL:
        if isinstance(data, str):
            return bytes_to_decimal(_b64decode(data), decimal_scale(schema))
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return _decimal.Decimal(str(data))
        return data
    t = schema.type
    if t is FieldType.BYTES and isinstance(data, str):
        return _b64decode(data)
    if t is FieldType.ARRAY and isinstance(data, list):
        return [_default_from_json(schema.value_schema, v) for v in data]  # type: ignore[arg-type]
    if t is FieldType.MAP:
        ks, vs = schema.key_schema, schema.value_schema
        if isinstance(data, Mapping):
            return {_default_from_json(ks, k): _default_from_json(vs, v)  # type: ignore[arg-type]
                    for k, v in data.items()}
        if isinstance(data, list):
            return {_default_from_json(ks, k): _default_from_json(vs, v)  # type: ignore[arg-type]
                    for k, v in data}
    if t is FieldType.STRUCT and isinstance(data, Mapping):
        return {f.name: _default_from_json(f.schema, data.get(f.name)) for f in schema.fields}
    return data


def _b64decode(text: str) -> bytes:
    try:
        return _base64.b64decode(text, validate=True)
    except (_binascii.Error, ValueError) as exc:
        raise SchemaError("invalid base64 text for BYTES") from exc


def _all_plain(schema: Schema, items: Any) -> bool:
    """True when a quick look proves every item fits a required, non-logical scalar ``schema``;
    False means "check one by one" (which also finds the item that does not fit)."""
    if schema.optional or schema.name is not None or schema.default is not None:
        return False
    t = schema.type
    types = set(map(type, items))
    if t is FieldType.STRING:
        return types <= _STR_TYPES
    if t in _INT_RANGES:
        if not types <= _INT_TYPES:
            return False
        lo, hi = _INT_RANGES[t]
        return not types or (lo <= min(items) and max(items) <= hi)
    if t is FieldType.FLOAT64 or t is FieldType.FLOAT32:
        return types <= _NUMBER_TYPES
    if t is FieldType.BOOLEAN:
        return types <= _BOOL_TYPES
    return False


_STR_TYPES, _INT_TYPES, _NUMBER_TYPES, _BOOL_TYPES = {str}, {int}, {int, float}, {bool}


# -- logical type encodings, shared by converters ----------------------------------------------

def date_to_days(value: _dt.date) -> int:
    return (value - _EPOCH_DATE).days


def days_to_date(days: int) -> _dt.date:
    try:
        return _EPOCH_DATE + _dt.timedelta(days=days)
    except OverflowError:
        raise SchemaError(f"{days} days since 1970-01-01 is not a date in years 1..9999") from None


def time_to_millis(value: _dt.time) -> int:
    return ((value.hour * 60 + value.minute) * 60 + value.second) * 1000 + value.microsecond // 1000


def millis_to_time(millis: int) -> _dt.time:
    if not 0 <= millis < 86_400_000:
        raise SchemaError(f"{millis} ms is not a time of day")
    seconds, ms = divmod(millis, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return _dt.time(hour, minute, second, ms * 1000)


def timestamp_to_millis(value: _dt.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    delta = value - _EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def millis_to_timestamp(millis: int) -> _dt.datetime:
    try:
        return _EPOCH + _dt.timedelta(milliseconds=millis)
    except OverflowError:
        raise SchemaError(f"{millis} ms since the epoch is not a timestamp in years 1..9999") from None


def _unscaled(value: _decimal.Decimal, scale: int) -> tuple[int, bool]:
    """``value * 10**scale`` as an integer (rounded half-even) and whether that was exact."""
    if not value.is_finite():
        raise SchemaError("a Decimal must be finite, not NaN or Infinity")
    if value and value.adjusted() + scale >= _MAX_DECIMAL_DIGITS:
        raise SchemaError(f"a Decimal with more than {_MAX_DECIMAL_DIGITS} digits at scale {scale}")
    scaled = value.scaleb(scale, context=_EXACT)
    unscaled = int(scaled.to_integral_value(rounding=_decimal.ROUND_HALF_EVEN, context=_EXACT))
    return unscaled, unscaled == scaled


def decimal_to_bytes(value: _decimal.Decimal, scale: int) -> bytes:
    """The unscaled value (rounded half-even to ``scale``) as minimal big-endian two's complement,
    the bytes Java's ``BigInteger.toByteArray`` gives."""
    unscaled = _unscaled(value, scale)[0]
    length = (unscaled if unscaled >= 0 else ~unscaled).bit_length() // 8 + 1
    return unscaled.to_bytes(length, "big", signed=True)


def bytes_to_decimal(data: bytes, scale: int) -> _decimal.Decimal:
    unscaled = int.from_bytes(data, "big", signed=True)
    return _decimal.Decimal(unscaled).scaleb(-scale, context=_EXACT)


def decimal_scale(schema: Schema) -> int:
    try:
        return int(schema.parameters[DECIMAL_SCALE])
    except (KeyError, ValueError) as exc:
        raise SchemaError("a Decimal schema needs an integer 'scale' parameter") from exc


INT8_SCHEMA = Schema(FieldType.INT8)
INT16_SCHEMA = Schema(FieldType.INT16)
INT32_SCHEMA = Schema(FieldType.INT32)
INT64_SCHEMA = Schema(FieldType.INT64)
FLOAT32_SCHEMA = Schema(FieldType.FLOAT32)
FLOAT64_SCHEMA = Schema(FieldType.FLOAT64)
BOOLEAN_SCHEMA = Schema(FieldType.BOOLEAN)
STRING_SCHEMA = Schema(FieldType.STRING)
BYTES_SCHEMA = Schema(FieldType.BYTES)
OPTIONAL_STRING_SCHEMA = Schema(FieldType.STRING, optional=True)
OPTIONAL_BYTES_SCHEMA = Schema(FieldType.BYTES, optional=True)
DATE_SCHEMA = Schema(FieldType.INT32, name=DATE, version=1)
TIME_SCHEMA = Schema(FieldType.INT32, name=TIME, version=1)
TIMESTAMP_SCHEMA = Schema(FieldType.INT64, name=TIMESTAMP, version=1)
