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
big-endian integer, the scale in ``parameters["scale"]``, value ``decimal.Decimal``).
"""

from __future__ import annotations

import datetime as _dt
import decimal as _decimal
import enum
from dataclasses import dataclass, field
from typing import Any, Mapping


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

_INT_RANGES = {
    FieldType.INT8: (-(2**7), 2**7 - 1),
    FieldType.INT16: (-(2**15), 2**15 - 1),
    FieldType.INT32: (-(2**31), 2**31 - 1),
    FieldType.INT64: (-(2**63), 2**63 - 1),
}
_EPOCH_DATE = _dt.date(1970, 1, 1)
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


class SchemaError(ValueError):
    """A value does not match its schema, or a schema is malformed."""


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
        return self.name if self.name in (DATE, TIME, TIMESTAMP, DECIMAL) else None

    # -- values -----------------------------------------------------------------------------

    def validate(self, value: Any, path: str = "value") -> None:
        """Raise :class:`SchemaError` naming the path of the first value that does not fit."""
        if value is None:
            if self.optional or self.default is not None:
                return
            raise SchemaError(f"{path}: null for a required {self.type.value} field")
        logical = self.logical
        if logical is not None:
            expected = {DATE: _dt.date, TIME: _dt.time, TIMESTAMP: _dt.datetime,
                        DECIMAL: _decimal.Decimal}[logical]
            ok = isinstance(value, expected) and not (logical == DATE and isinstance(value, _dt.datetime))
            if not ok:
                raise SchemaError(f"{path}: expected {expected.__name__} for {logical.rsplit('.', 1)[-1]}, "
                                  f"got {type(value).__name__}")
            return
        t = self.type
        if t in _INT_RANGES:
            if not isinstance(value, int) or isinstance(value, bool):
                raise SchemaError(f"{path}: expected {t.value} integer, got {type(value).__name__}")
            lo, hi = _INT_RANGES[t]
            if not lo <= value <= hi:
                raise SchemaError(f"{path}: {value} is out of range for {t.value}")
        elif t in (FieldType.FLOAT32, FieldType.FLOAT64):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise SchemaError(f"{path}: expected {t.value} number, got {type(value).__name__}")
        elif t is FieldType.BOOLEAN:
            if not isinstance(value, bool):
                raise SchemaError(f"{path}: expected BOOLEAN, got {type(value).__name__}")
        elif t is FieldType.STRING:
            if not isinstance(value, str):
                raise SchemaError(f"{path}: expected STRING, got {type(value).__name__}")
        elif t is FieldType.BYTES:
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise SchemaError(f"{path}: expected BYTES, got {type(value).__name__}")
        elif t is FieldType.ARRAY:
            if not isinstance(value, (list, tuple)):
                raise SchemaError(f"{path}: expected ARRAY, got {type(value).__name__}")
            for i, item in enumerate(value):
                self.value_schema.validate(item, f"{path}[{i}]")  # type: ignore[union-attr]
        elif t is FieldType.MAP:
            if not isinstance(value, Mapping):
                raise SchemaError(f"{path}: expected MAP, got {type(value).__name__}")
            for k, v in value.items():
                self.key_schema.validate(k, f"{path}.<key>")  # type: ignore[union-attr]
                self.value_schema.validate(v, f"{path}[{k!r}]")  # type: ignore[union-attr]
        elif t is FieldType.STRUCT:
            if not isinstance(value, Mapping):
                raise SchemaError(f"{path}: expected STRUCT, got {type(value).__name__}")
            known = {f.name for f in self.fields}
            extra = set(value) - known
            if extra:
                raise SchemaError(f"{path}: fields not in the schema: {sorted(extra)}")
            for f in self.fields:
                f.schema.validate(value.get(f.name), f"{path}.{f.name}")

    # -- JSON form (the schema half of the JSON converter's envelope) -------------------------

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type.value, "optional": self.optional}
        if self.name is not None:
            out["name"] = self.name
        if self.version is not None:
            out["version"] = self.version
        if self.doc is not None:
            out["doc"] = self.doc
        if self.default is not None:
            out["default"] = self.default
        if self.parameters:
            out["parameters"] = dict(self.parameters)
        if self.type is FieldType.STRUCT:
            out["fields"] = [{"field": f.name, **f.schema.to_dict()} for f in self.fields]
        if self.key_schema is not None:
            out["keys"] = self.key_schema.to_dict()
        if self.value_schema is not None:
            out["items" if self.type is FieldType.ARRAY else "values"] = self.value_schema.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Schema":
        try:
            type_ = FieldType(str(data["type"]).upper())
        except (KeyError, ValueError) as exc:
            raise SchemaError(f"unknown or missing schema type in {dict(data)!r}") from exc
        fields = tuple(Field(f["field"], cls.from_dict(f)) for f in data.get("fields", ()))
        key_schema = cls.from_dict(data["keys"]) if "keys" in data else None
        values = data.get("items", data.get("values"))
        return cls(type_, optional=bool(data.get("optional", False)), name=data.get("name"),
                   version=data.get("version"), doc=data.get("doc"), default=data.get("default"),
                   parameters=dict(data.get("parameters", {})), fields=fields, key_schema=key_schema,
                   value_schema=cls.from_dict(values) if values is not None else None)


# -- logical type encodings, shared by converters ----------------------------------------------

def date_to_days(value: _dt.date) -> int:
    return (value - _EPOCH_DATE).days


def days_to_date(days: int) -> _dt.date:
    return _EPOCH_DATE + _dt.timedelta(days=days)


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
    return _EPOCH + _dt.timedelta(milliseconds=millis)


def decimal_to_bytes(value: _decimal.Decimal, scale: int) -> bytes:
    unscaled = int(value.scaleb(scale).to_integral_value(rounding=_decimal.ROUND_HALF_EVEN))
    length = max(1, (unscaled.bit_length() + 8) // 8)
    return unscaled.to_bytes(length, "big", signed=True)


def bytes_to_decimal(data: bytes, scale: int) -> _decimal.Decimal:
    return _decimal.Decimal(int.from_bytes(data, "big", signed=True)).scaleb(-scale)


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
