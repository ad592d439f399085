"""RocketMQ Connect's transforms: ChangeCase, PatternRename (field names) and PatternFilter.

Like the originals they act on the top-level fields of the key or value.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ..api.record import ConnectRecord
from ..api.schema import Field as SchemaField
from ..api.schema import Schema
from .base import KC, KeyOrValueConfig, NameCache, SchemaCache, StructTransformation, Transformation
from .regex import Replacement, check_pattern, compile_pattern


class _FieldRenamer(StructTransformation[KC]):
    """Renames every top-level field by a rule of its name alone, so new names are memoised."""

    def __init__(self, config: KC) -> None:
        super().__init__(config)
        self._renamed = NameCache(self._derive)
        self._schemas = SchemaCache(self._output_schema)

    @abstractmethod
    def new_name(self, name: str) -> str: ...

    def _derive(self, name: Any) -> Any:
        return self.new_name(name) if isinstance(name, str) else name  # MAP keys need not be strings

    def _schemaless(self, record: ConnectRecord, data: Mapping[str, Any]) -> dict[str, Any]:
        renamed = self._renamed
        out = {renamed[k]: v for k, v in data.items()}
        if len(out) != len(data):
            raise self._collision(list(data))
        return out

    def _struct(self, record: ConnectRecord, data: Mapping[str, Any], schema: Schema) -> tuple[Any, Schema]:
        output = self._schemas.get(schema)
        return self._schemaless(record, data), output

    def _output_schema(self, schema: Schema) -> Schema:
        names = [f.name for f in schema.fields]
        new_names = [self._renamed[n] for n in names]
        if len(set(new_names)) != len(new_names):
            raise self._collision(names)
        return self.build_struct(schema, [SchemaField(new, f.schema) for new, f in zip(new_names, schema.fields)])

    def _collision(self, names: list[Any]) -> Exception:
        seen: dict[Any, Any] = {}
        for name in names:
            new = self._renamed[name]
            if new in seen:
                return self.error(f"fields {seen[new]!r} and {name!r} would both be named {new!r}")
            seen[new] = name
        return self.error("two fields would get the same name")


# -- ChangeCase --------------------------------------------------------------------------------

CaseFormat = Literal["lower_camel", "upper_camel", "lower_underscore", "upper_underscore", "lower_hyphen"]
_CASE_DOC = ("`lower_camel` (orderId), `upper_camel` (OrderId), `lower_underscore` (order_id), "
             "`upper_underscore` (ORDER_ID) or `lower_hyphen` (order-id)")
# Runs of capitals stay one word when an acronym: userID -> user|ID, HTTPServer -> HTTP|Server.
_CAMEL_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z0-9])|[A-Z]?[a-z0-9]+|[A-Z]+")


class ChangeCaseConfig(KeyOrValueConfig):
    """Change how field names are written, e.g. from `lower_camel` to `lower_underscore`."""

    type: Literal["ChangeCase"] = "ChangeCase"
    from_case: CaseFormat = Field(description=f"How the field names are written now: {_CASE_DOC}.")
    to_case: CaseFormat = Field(description=f"How they are to be written: {_CASE_DOC}.")

    @field_validator("from_case", "to_case", mode="before")
    @classmethod
    def _guava_spelling(cls, value: Any) -> Any:
        """RocketMQ Connect's configs spell these as Guava's CaseFormat constants (LOWER_CAMEL)."""
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _different(self) -> "ChangeCaseConfig":
        if self.from_case == self.to_case:
            raise ValueError("from_case and to_case are the same: this transform would change nothing")
        return self


def _words(name: str, case: str) -> list[str]:
    if case.endswith("camel"):
        return _CAMEL_WORDS.findall(name)
    return [word for word in name.split("-" if case == "lower_hyphen" else "_") if word]


def _join(words: list[str], case: str) -> str:
    if case == "lower_camel":
        return "".join([words[0].lower(), *(w[:1].upper() + w[1:].lower() for w in words[1:])]) if words else ""
    if case == "upper_camel":
        return "".join(w[:1].upper() + w[1:].lower() for w in words)
    if case == "upper_underscore":
        return "_".join(w.upper() for w in words)
    return ("-" if case == "lower_hyphen" else "_").join(w.lower() for w in words)


class ChangeCase(_FieldRenamer[ChangeCaseConfig]):
    name = "ChangeCase"

    def new_name(self, name: str) -> str:
        return _join(_words(name, self.config.from_case), self.config.to_case) or name


# -- PatternRename -----------------------------------------------------------------------------

class PatternRenameConfig(KeyOrValueConfig):
    """Rename fields whose name contains a match of a regular expression."""

    type: Literal["PatternRename"] = "PatternRename"
    pattern: str = Field(description="Regular expression searched for in each field name (Java or Python "
                                     "syntax; `(?i)` ignores case). Names without a match keep their name.")
    replacement: str = Field(description="Replaces every match in the name. `$1` or `\\1` inserts a group, "
                                         "`${name}` or `\\g<name>` a named one; `\\$` is a literal `$`.")

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        return check_pattern(value)

    @field_validator("replacement")
    @classmethod
    def _replacement(cls, value: str, info: ValidationInfo) -> str:
        if "pattern" in info.data:  # else the pattern itself is already reported
            Replacement(value, compile_pattern(info.data["pattern"]))
        return value


class PatternRename(_FieldRenamer[PatternRenameConfig]):
    name = "PatternRename"

    def __init__(self, config: PatternRenameConfig) -> None:
        self._pattern = compile_pattern(config.pattern)
        self._replacement = Replacement(config.replacement, self._pattern)
        super().__init__(config)

    def new_name(self, name: str) -> str:
        return self._pattern.sub(self._replacement.expand, name)


# -- PatternFilter -----------------------------------------------------------------------------

class PatternFilterConfig(KeyOrValueConfig):
    """Drop records whose field (or whole string key/value) matches a regular expression, or
    those where it does not."""

    type: Literal["PatternFilter"] = "PatternFilter"
    pattern: str = Field(description="Regular expression the whole text must match (as Java's "
                                     "`Matcher.matches()`; Java or Python syntax).")
    fields: list[str] = Field(default_factory=list,
                              description="Top-level string fields to test: a record matches when any of "
                                          "them matches. Empty: test the whole key/value, which must then "
                                          "be a string (bytes are read as UTF-8). A value that cannot be "
                                          "tested (not a struct, field absent or not a string) does not "
                                          "match.")
    drop: Literal["matching", "not_matching"] = Field(
        "matching", description="`matching` (default): drop the records that match, keep the rest. "
                                "`not_matching`: keep only the records that match.")

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        return check_pattern(value)

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: list[str]) -> list[str]:
        if any(not name for name in value):
            raise ValueError("field names must not be empty")
        return value


class PatternFilter(Transformation[PatternFilterConfig]):
    """A null key/value (a tombstone) is never tested nor dropped; use a predicate for those."""

    name = "PatternFilter"

    def __init__(self, config: PatternFilterConfig) -> None:
        super().__init__(config)
        self._is_key = config.target == "key"
        self._fullmatch = compile_pattern(config.pattern).fullmatch
        self._fields = tuple(config.fields)
        self._drop_when_matched = config.drop == "matching"

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        data = record.key if self._is_key else record.value
        if data is None:
            return record
        return None if self._matches(data) is self._drop_when_matched else record

    def _matches(self, data: Any) -> bool:
        fullmatch = self._fullmatch
        if not self._fields:
            if isinstance(data, (bytes, bytearray, memoryview)):
                data = bytes(data).decode("utf-8", "replace")
            return isinstance(data, str) and fullmatch(data) is not None
        if not isinstance(data, Mapping):
            return False
        get = data.get
        for name in self._fields:
            value = get(name)
            if isinstance(value, str) and fullmatch(value) is not None:
                return True
        return False


__all__ = [
    "CaseFormat",
    "ChangeCase",
    "ChangeCaseConfig",
    "PatternFilter",
    "PatternFilterConfig",
    "PatternRename",
    "PatternRenameConfig",
]
