"""The single message transform (SMT) contract, with predicates, as in Kafka Connect."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Callable, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ..api.record import ConnectRecord
from ..api.schema import Field as SchemaField
from ..api.schema import FieldType, Schema, SchemaError
from ..errors import ConnectError


class TransformConfigBase(BaseModel):
    """Options every transform takes. Subclasses add their own fields and pin ``type``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str
    predicate: str | None = Field(None, description="Name of a predicate in the connector's `predicates`: "
                                                    "the transform applies only to records where it holds.")
    negate: bool = Field(False, description="Apply the transform where the predicate does NOT hold.")


class KeyOrValueConfig(TransformConfigBase):
    """For transforms with Kafka's ``$Key``/``$Value`` variants: ``type: InsertField$Key`` is
    accepted as ``type: InsertField, target: key``."""

    target: Literal["key", "value"] = Field("value", description="Which side of the record to transform: "
                                                                 "`value` (default) or `key`.")


class PredicateConfigBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str


TC = TypeVar("TC", bound=TransformConfigBase)
PC = TypeVar("PC", bound=PredicateConfigBase)
KC = TypeVar("KC", bound=KeyOrValueConfig)
T = TypeVar("T")


class Transformation(ABC, Generic[TC]):
    def __init__(self, config: TC) -> None:
        self.config = config

    @abstractmethod
    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        """The transformed record (a copy; never mutate the input), or None to drop it."""


class Predicate(ABC, Generic[PC]):
    def __init__(self, config: PC) -> None:
        self.config = config

    @abstractmethod
    def test(self, record: ConnectRecord) -> bool: ...


class TransformError(ConnectError):
    """A transform could not handle a record (e.g. a field it needs is missing or of the wrong type).

    Messages name the transform, the side and the field, never record contents (they reach logs
    and dead letters)."""


def describe(value: Any) -> str:
    return type(value).__name__


# -- shared machinery of the transforms --------------------------------------------------------

class SchemaCache(Generic[T]):
    """What a transform derives from an input schema (output schema, field plan), built once per
    schema object. Keyed by identity: schemas hold dicts, so they cannot be hashed by value."""

    __slots__ = ("_build", "_entries", "_limit")

    def __init__(self, build: Callable[[Schema], T], limit: int = 256) -> None:
        self._build = build
        self._entries: dict[int, tuple[Schema, T]] = {}
        self._limit = limit

    def get(self, schema: Schema) -> T:
        entry = self._entries.get(id(schema))
        if entry is not None and entry[0] is schema:
            return entry[1]
        derived = self._build(schema)
        if len(self._entries) >= self._limit:
            self._entries.clear()  # schemas that change per record: do not grow without bound
        # The entry keeps the schema alive, so its id cannot be reused by another object.
        self._entries[id(schema)] = (schema, derived)
        return derived


class NameCache(dict):
    """A memo of field or topic name -> derived value: ``cache[name]``. Names repeat from record
    to record, and a hit is a plain dict lookup (cheap inside comprehensions)."""

    __slots__ = ("_derive", "_limit")

    def __init__(self, derive: Callable[[Any], Any], limit: int = 4096) -> None:
        super().__init__()
        self._derive = derive
        self._limit = limit

    def __missing__(self, name: Any) -> Any:
        derived = self._derive(name)
        if len(self) >= self._limit:
            self.clear()  # names that never repeat (e.g. ids used as keys): do not grow without bound
        self[name] = derived
        return derived


def struct_like(schema: Schema, fields: list[SchemaField] | tuple[SchemaField, ...]) -> Schema:
    """A STRUCT schema with ``schema``'s name, version, doc, parameters and optionality and new fields."""
    return Schema(FieldType.STRUCT, optional=schema.optional, name=schema.name, version=schema.version,
                  doc=schema.doc, parameters=schema.parameters, fields=tuple(fields))


class StructTransformation(Transformation[KC]):
    """A transform of the record's key or value as a struct: a dict, schemaless or with a STRUCT
    schema (or a MAP schema, handled like a schemaless dict that keeps its schema).

    Subclasses implement :meth:`_schemaless` and :meth:`_struct`; this class picks the side, lets
    null (tombstone) pass unchanged, checks the value is a dict and puts the result back.
    """

    #: The transform's name in messages (``InsertField``).
    name: ClassVar[str] = ""

    def __init__(self, config: KC) -> None:
        super().__init__(config)
        self._is_key = config.target == "key"
        self._where = f"{self.name or config.type} on the {config.target}"

    def error(self, message: str) -> TransformError:
        return TransformError(f"{self._where}: {message}")

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        if self._is_key:
            data, schema = record.key, record.key_schema
        else:
            data, schema = record.value, record.value_schema
        if data is None:
            return record
        if not isinstance(data, dict) and not isinstance(data, Mapping):
            raise self.error(f"needs a struct (dict) {self.config.target}, got {describe(data)}")
        if schema is None:
            new_data, new_schema = self._schemaless(record, data), None
        elif schema.type is FieldType.STRUCT:
            new_data, new_schema = self._struct(record, data, schema)
        elif schema.type is FieldType.MAP:
            new_data, new_schema = self._map(record, data, schema)
        else:
            raise self.error(f"needs a STRUCT or MAP schema, got {schema.type.value}")
        if self._is_key:
            return record.copy(key=new_data, key_schema=new_schema)
        return record.copy(value=new_data, value_schema=new_schema)

    @abstractmethod
    def _schemaless(self, record: ConnectRecord, data: Mapping[str, Any]) -> Any:
        """The new key/value for a dict without a schema."""

    @abstractmethod
    def _struct(self, record: ConnectRecord, data: Mapping[str, Any], schema: Schema) -> tuple[Any, Schema | None]:
        """The new key/value and its schema, for a dict with a STRUCT schema."""

    def _map(self, record: ConnectRecord, data: Mapping[str, Any], schema: Schema) -> tuple[Any, Schema | None]:
        """A dict with a MAP schema: the schemaless result, keeping the schema."""
        return self._schemaless(record, data), schema

    def build_struct(self, schema: Schema, fields: list[SchemaField]) -> Schema:
        try:
            return struct_like(schema, fields)
        except SchemaError as exc:
            raise self.error(str(exc)) from None
