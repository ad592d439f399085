"""Kafka Connect's field transforms: InsertField, ReplaceField, MaskField, ValueToKey, ExtractField.

Each works on a schemaless dict and on a dict with a STRUCT schema, whose output schema it derives
once per input schema. The dict it changes is copied shallowly; the input record is never touched.
"""

from __future__ import annotations

import datetime as _dt
import json
import decimal as _decimal
from collections.abc import Mapping
from typing import Any, Callable, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ..api.record import ConnectRecord
from ..api.schema import Field as SchemaField
from ..api.schema import FieldType, Schema, SchemaError
from .base import (
    KeyOrValueConfig,
    SchemaCache,
    StructTransformation,
    TransformConfigBase,
    Transformation,
    TransformError,
    describe,
)

_OPTIONAL_STRING = Schema(FieldType.STRING, optional=True)
_OPTIONAL_INT64 = Schema(FieldType.INT64, optional=True)


def _field_names(names: list[str], option: str) -> list[str]:
    if any(not name for name in names):
        raise ValueError(f"{option}: field names must not be empty")
    if len(set(names)) != len(names):
        raise ValueError(f"{option}: a field is listed twice")
    return names


# -- InsertField -------------------------------------------------------------------------------

class InsertFieldConfig(KeyOrValueConfig):
    """Insert record metadata and/or a fixed value as fields of the key or value."""

    type: Literal["InsertField"] = "InsertField"
    topic_field: str | None = Field(None, min_length=1, description="Field to receive the record's topic.")
    partition_field: str | None = Field(
        None, min_length=1,
        description="Field to receive the record's source partition as canonical JSON text "
                    "(keys sorted, e.g. `{\"queueId\":1,\"topic\":\"orders\"}`); null when it has none.")
    offset_field: str | None = Field(
        None, min_length=1,
        description="Field to receive the record's source offset as canonical JSON text "
                    "(e.g. `{\"queueOffset\":42}`); null when it has none.")
    timestamp_field: str | None = Field(
        None, min_length=1,
        description="Field to receive the record's timestamp, in milliseconds since the epoch (INT64).")
    static_field: str | None = Field(None, min_length=1,
                                     description="Field to receive `static_value`.")
    static_value: bool | int | float | str | None = Field(
        None, description="The fixed value written to `static_field` (its schema follows its JSON type: "
                          "BOOLEAN, INT64, FLOAT64 or STRING).")

    @model_validator(mode="after")
    def _something_to_insert(self) -> "InsertFieldConfig":
        if (self.static_field is None) != (self.static_value is None):
            raise ValueError("static_field and static_value go together: set both or neither")
        names = [n for n in (self.topic_field, self.partition_field, self.offset_field,
                             self.timestamp_field, self.static_field) if n is not None]
        if not names:
            raise ValueError("nothing to insert: set at least one of topic_field, partition_field, "
                             "offset_field, timestamp_field, static_field")
        if len(set(names)) != len(names):
            raise ValueError("each inserted field needs a name of its own")
        return self


# The same text as ``partition_key``, from one encoder built once (json.dumps with options builds
# an encoder per call).
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def _position_text(position: Mapping[str, Any]) -> str | None:
    return _CANONICAL_JSON(position) if position else None


def _static_schema(value: Any) -> Schema:
    if isinstance(value, bool):
        return Schema(FieldType.BOOLEAN, optional=True)
    if isinstance(value, int):
        return Schema(FieldType.INT64, optional=True)
    if isinstance(value, float):
        return Schema(FieldType.FLOAT64, optional=True)
    return _OPTIONAL_STRING


class InsertField(StructTransformation[InsertFieldConfig]):
    """Inserted fields are optional in the output schema; a schemaless dict's existing field of
    the same name is overwritten."""

    name = "InsertField"

    def __init__(self, config: InsertFieldConfig) -> None:
        super().__init__(config)
        inserts: list[tuple[str, Callable[[ConnectRecord], Any], Schema]] = []
        if config.topic_field:
            inserts.append((config.topic_field, lambda r: r.topic, _OPTIONAL_STRING))
        if config.partition_field:
            inserts.append((config.partition_field, lambda r: _position_text(r.partition), _OPTIONAL_STRING))
        if config.offset_field:
            inserts.append((config.offset_field, lambda r: _position_text(r.offset), _OPTIONAL_STRING))
        if config.timestamp_field:
            inserts.append((config.timestamp_field, lambda r: r.timestamp, _OPTIONAL_INT64))
        if config.static_field:
            static = config.static_value
            inserts.append((config.static_field, lambda r: static, _static_schema(static)))
        self._inserts = tuple((name, get) for name, get, _ in inserts)
        self._fields = tuple(SchemaField(name, schema) for name, _, schema in inserts)
        self._schemas = SchemaCache(self._output_schema)

    def _schemaless(self, record: ConnectRecord, data: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(data)
        for name, get in self._inserts:
            out[name] = get(record)
        return out

    def _struct(self, record: ConnectRecord, data: Mapping[str, Any], schema: Schema) -> tuple[Any, Schema]:
        return self._schemaless(record, data), self._schemas.get(schema)

    def _map(self, record: ConnectRecord, data: Mapping[str, Any], schema: Schema) -> tuple[Any, Schema]:
        raise self.error("cannot insert fields into a value with a MAP schema (its values share one type); "
                         "use a STRUCT schema or no schema")

    def _output_schema(self, schema: Schema) -> Schema:
        existing = {f.name for f in schema.fields}
        for f in self._fields:
            if f.name in existing:
                raise self.error(f"field {f.name!r} is already in the schema")
        return self.build_struct(schema, [*schema.fields, *self._fields])


# -- ReplaceField ------------------------------------------------------------------------------

class ReplaceFieldConfig(KeyOrValueConfig):
    """Keep or drop fields, and rename them."""

    type: Literal["ReplaceField"] = "ReplaceField"
    include: list[str] = Field(default_factory=list,
                               description="Keep only these fields (by their original names). Empty: keep all.")
    exclude: list[str] = Field(default_factory=list, description="Drop these fields (by their original names).")
    renames: dict[str, str] = Field(default_factory=dict,
                                    description="Rename fields: original name -> new name.")

    @field_validator("include", "exclude")
    @classmethod
    def _names(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if info.field_name == "exclude" and value and info.data.get("include"):
            raise ValueError("include and exclude cannot be combined: list the fields to keep, or those to drop")
        return _field_names(value, info.field_name or "")

    @model_validator(mode="after")
    def _consistent(self) -> "ReplaceFieldConfig":
        if not (self.include or self.exclude or self.renames):
            raise ValueError("nothing to do: set include, exclude or renames")
        targets = list(self.renames.values())
        if any(not name for name in [*targets, *self.renames]):
            raise ValueError("renames: field names must not be empty")
        if len(set(targets)) != len(targets):
            raise ValueError("renames: two fields are renamed to the same name")
        return self


class ReplaceField(StructTransformation[ReplaceFieldConfig]):
    name = "ReplaceField"

    def __init__(self, config: ReplaceFieldConfig) -> None:
        super().__init__(config)
        self._include = frozenset(config.include)
        self._exclude = frozenset(config.exclude)
        self._include_order = tuple(config.include)
        self._renames = dict(config.renames)
        self._rename_pairs = tuple(config.renames.items())
        self._plans = SchemaCache(self._plan)

    def _keeps(self, name: str) -> bool:
        return name in self._include if self._include else name not in self._exclude

    def _schemaless(self, record: ConnectRecord, data: Mapping[str, Any]) -> dict[str, Any]:
        # Copy-then-edit is several times cheaper than a comprehension over every field; so renamed
        # fields move to the end, and included ones come in the listed order (order means nothing
        # in a struct).
        if self._include:
            out = {k: data[k] for k in self._include_order if k in data}
        else:
            out = dict(data)
            for name in self._exclude:
                out.pop(name, None)
        if self._renames:
            moved = [(new, out.pop(old)) for old, new in self._rename_pairs if old in out]
            for new, value in moved:  # all popped first, so swapping two names works
                out[new] = value
        return out

    def _plan(self, schema: Schema) -> tuple[tuple[tuple[str, str], ...], Schema]:
        pairs = tuple((f.name, self._renames.get(f.name, f.name)) for f in schema.fields if self._keeps(f.name))
        by_name = {f.name: f.schema for f in schema.fields}
        return pairs, self.build_struct(schema, [SchemaField(new, by_name[old]) for old, new in pairs])

    def _struct(self, record: ConnectRecord, data: Mapping[str, Any], schema: Schema) -> tuple[Any, Schema]:
        pairs, output = self._plans.get(schema)
        get = data.get
        return {new: get(old) for old, new in pairs}, output


# -- MaskField ---------------------------------------------------------------------------------

class MaskFieldConfig(KeyOrValueConfig):
    """Replace the values of sensitive fields."""

    type: Literal["MaskField"] = "MaskField"
    fields: list[str] = Field(min_length=1, description="Top-level fields to mask.")
    replacement: str | int | float | None = Field(
        None, description="Value for masked string fields, and for number fields when it is numeric. "
                          "Without it (and for every other type) a field gets its type's empty value: "
                          "\"\" for strings, 0 for numbers, false for booleans, empty bytes, list or map, "
                          "the epoch for dates and times.")

    @field_validator("fields")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return _field_names(value, "fields")


_EPOCH_DATE = _dt.date(1970, 1, 1)
_MIDNIGHT = _dt.time(0)
#: The masked form of a value, by type; subclasses are found through the MRO.
_EMPTY: dict[type, Callable[[Any], Any]] = {
    str: lambda v: "",
    bool: lambda v: False,
    int: lambda v: 0,
    float: lambda v: 0.0,
    _decimal.Decimal: lambda v: _decimal.Decimal(0),
    bytes: lambda v: b"",
    bytearray: lambda v: bytearray(),
    memoryview: lambda v: b"",
    list: lambda v: [],
    tuple: lambda v: (),
    dict: lambda v: {},
    _dt.datetime: lambda v: _dt.datetime(1970, 1, 1, tzinfo=v.tzinfo),
    _dt.date: lambda v: _EPOCH_DATE,
    _dt.time: lambda v: _MIDNIGHT.replace(tzinfo=v.tzinfo),
}


def _number(text: str, kind: Callable[[str], Any]) -> Any:
    try:
        return kind(text)
    except (ValueError, ArithmeticError):
        return None


class MaskField(StructTransformation[MaskFieldConfig]):
    """Nulls stay null; a schemaless dict without a listed field is left as it is."""

    name = "MaskField"

    def __init__(self, config: MaskFieldConfig) -> None:
        super().__init__(config)
        self._fields = tuple(config.fields)
        self._maskers = dict(_EMPTY)
        replacement = config.replacement
        if replacement is not None:
            text = str(replacement)
            self._maskers[str] = lambda v: text
            for kind in (int, float, _decimal.Decimal):
                number = _number(text, kind)
                if number is not None:
                    self._maskers[kind] = lambda v, number=number: number
        self._checked = SchemaCache(self._check_schema)

    def _mask(self, name: str, value: Any) -> Any:
        maskers = self._maskers
        masker = maskers.get(value.__class__)
        if masker is None:
            for cls in type(value).__mro__:
                masker = maskers.get(cls)
                if masker is not None:
                    break
            else:
                if isinstance(value, Mapping):
                    return {}
                raise self.error(f"cannot mask field {name!r} of type {describe(value)}")
        return masker(value)

    def _schemaless(self, record: ConnectRecord, data: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(data)
        for name in self._fields:
            value = out.get(name)
            if value is not None:
                out[name] = self._mask(name, value)
        return out

    def _check_schema(self, schema: Schema) -> Schema:
        names = {f.name for f in schema.fields}
        for name in self._fields:
            if name not in names:
                raise self.error(f"the schema has no field {name!r}")
        return schema

    def _struct(self, record: ConnectRecord, data: Mapping[str, Any], schema: Schema) -> tuple[Any, Schema]:
        return self._schemaless(record, data), self._checked.get(schema)


# -- ValueToKey --------------------------------------------------------------------------------

class ValueToKeyConfig(TransformConfigBase):
    """Replace the key with a struct of fields taken from the value."""

    type: Literal["ValueToKey"] = "ValueToKey"
    fields: list[str] = Field(min_length=1,
                              description="Value fields that make up the new key, in this order.")

    @field_validator("fields")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return _field_names(value, "fields")


class ValueToKey(Transformation[ValueToKeyConfig]):
    """A tombstone (null value) keeps its key. With a STRUCT value schema the key gets a STRUCT
    schema of those fields; with a MAP value schema the key keeps the MAP schema."""

    name = "ValueToKey"

    def __init__(self, config: ValueToKeyConfig) -> None:
        super().__init__(config)
        self._fields = tuple(config.fields)
        self._key_schemas = SchemaCache(self._key_schema)

    def _error(self, message: str) -> TransformError:
        return TransformError(f"ValueToKey: {message}")

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        value, schema = record.value, record.value_schema
        if value is None:
            return record
        if not isinstance(value, dict) and not isinstance(value, Mapping):
            raise self._error(f"needs a struct (dict) value, got {describe(value)}")
        if schema is None or schema.type is FieldType.MAP:
            try:
                key = {name: value[name] for name in self._fields}
            except KeyError as exc:
                raise self._error(f"the value has no field {exc.args[0]!r}") from None
            return record.copy(key=key, key_schema=schema)
        if schema.type is not FieldType.STRUCT:
            raise self._error(f"needs a STRUCT or MAP value schema, got {schema.type.value}")
        key_schema = self._key_schemas.get(schema)
        get = value.get
        return record.copy(key={name: get(name) for name in self._fields}, key_schema=key_schema)

    def _key_schema(self, schema: Schema) -> Schema:
        by_name = {f.name: f.schema for f in schema.fields}
        missing = [name for name in self._fields if name not in by_name]
        if missing:
            raise self._error(f"the value schema has no field {missing[0]!r}")
        return Schema(FieldType.STRUCT, fields=tuple(SchemaField(n, by_name[n]) for n in self._fields))


# -- ExtractField ------------------------------------------------------------------------------

class ExtractFieldConfig(KeyOrValueConfig):
    """Replace the key or value with one of its fields."""

    type: Literal["ExtractField"] = "ExtractField"
    field: str = Field(min_length=1,
                       description="The field to extract. A dotted path (`address.city`) reaches into "
                                   "nested structs; a dot always separates levels.")

    @field_validator("field")
    @classmethod
    def _path(cls, value: str) -> str:
        if any(not part for part in value.split(".")):
            raise ValueError("a dotted path needs a name between every two dots")
        return value


class ExtractField(StructTransformation[ExtractFieldConfig]):
    """A null on the way (an optional struct that is absent) gives a null result. Without a
    schema a missing field is an error; with a schema, a field of the schema absent from the
    dict reads as null."""

    name = "ExtractField"

    def __init__(self, config: ExtractFieldConfig) -> None:
        super().__init__(config)
        self._path = tuple(config.field.split("."))
        self._field = config.field
        self._schemas = SchemaCache(self._field_schema)

    def _schemaless(self, record: ConnectRecord, data: Mapping[str, Any]) -> Any:
        current: Any = data
        for depth, name in enumerate(self._path):
            if current is None:
                return None
            if not isinstance(current, Mapping):
                raise self._not_a_struct(depth, current)
            try:
                current = current[name]
            except KeyError:
                raise self.error(f"no field {self._field!r}" + (
                    f" (no {name!r} in {'.'.join(self._path[:depth])!r})" if depth else "")) from None
        return current

    def _struct(self, record: ConnectRecord, data: Mapping[str, Any], schema: Schema) -> tuple[Any, Schema]:
        output = self._schemas.get(schema)
        current: Any = data
        for depth, name in enumerate(self._path):
            if current is None:
                return None, output
            if not isinstance(current, Mapping):
                raise self._not_a_struct(depth, current)
            current = current.get(name)
        return current, output

    _map = _struct

    def _not_a_struct(self, depth: int, value: Any) -> TransformError:
        return self.error(f"cannot read {self._field!r}: {'.'.join(self._path[:depth])!r} "
                          f"is a {describe(value)}, not a struct")

    def _field_schema(self, schema: Schema) -> Schema:
        current, nullable = schema, False
        for depth, name in enumerate(self._path):
            if depth and current.optional:
                nullable = True
            if current.type is FieldType.STRUCT:
                try:
                    current = current.field(name).schema
                except SchemaError:
                    raise self.error(f"the schema has no field {'.'.join(self._path[:depth + 1])!r}") from None
            elif current.type is FieldType.MAP and current.value_schema is not None:
                current, nullable = current.value_schema, True  # the key may be absent
            else:
                raise self.error(f"cannot read {self._field!r}: {'.'.join(self._path[:depth])!r} "
                                 f"is {current.type.value} in the schema, not a struct")
        return current.with_optional(True) if nullable and not current.optional else current


__all__ = [
    "ExtractField",
    "ExtractFieldConfig",
    "InsertField",
    "InsertFieldConfig",
    "MaskField",
    "MaskFieldConfig",
    "ReplaceField",
    "ReplaceFieldConfig",
    "ValueToKey",
    "ValueToKeyConfig",
]
