"""``dynamodb-sink``: records as items of a DynamoDB table, keyed by the record key or value fields.

* ``mode: put`` replaces the item with the record's value; ``mode: upsert`` sets only the value's
  attributes on the item (UpdateItem), keeping the others.
* A tombstone (value null) deletes the item by its key (``delete_on_tombstone``).
* Writes are idempotent: the same records written again leave the same items. Within a batch the
  records of one key are folded into one write in batch order (a put then an upsert is a put of both;
  a delete then an upsert is a put of the upsert), so BatchWriteItem never sees a key twice. Puts and
  deletes go in BatchWriteItem requests of 25, unprocessed items are retried with backoff; upserts go
  one UpdateItem per key.
* ``version`` makes every write conditional on the item's stored version being older, so a record
  redelivered late, or records arriving out of order, never overwrite newer data. Conditional writes
  cannot be batched: each is a PutItem, UpdateItem or DeleteItem of its own.

Values become DynamoDB types: objects → M, arrays → L, strings → S, numbers (floats included,
exactly as written) → N, booleans → BOOL, null → NULL, bytes → B, dates and times → ISO-8601 S.
A record that cannot become an item (no key, a value that is not an object, a number DynamoDB cannot
hold, an item DynamoDB refuses) fails alone and reaches the dead-letter queue with the reason.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from .. import aws
from ..api import ConnectRecord, SinkConnector, SinkRecordErrors, SinkTask
from ..aws.errors import describe, error_code, is_transient
from ..config import SinkConnectorConfig
from ..errors import ConfigError, ConnectError, RetriableError
from ..concurrency import run_concurrently

logger = logging.getLogger("connect_core.connectors.dynamodb")

#: Items per BatchWriteItem request (the service's limit).
BATCH_WRITE_ITEMS = 25
#: BatchWriteItem calls for one chunk before its unprocessed items count as a transient failure.
BATCH_WRITE_ATTEMPTS = 8
_TABLE = re.compile(r"^([A-Za-z0-9_.-]{3,255}|arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/[A-Za-z0-9_.-]{3,255})$")
_MAX_DIGITS = 38
_EXACT = decimal.Context(prec=_MAX_DIGITS + 2)  # normalizing a number that fits never rounds it
_CONDITION = "attribute_not_exists(#version) OR #version < :version"


class KeySource(BaseModel):
    """Where one key attribute of an item comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Literal["key", "value"] = Field(
        "key", description="'key': the record key (or a field of it); 'value': a field of the record value.")
    field: str | None = Field(
        None, min_length=1, description="Dotted path of the field ('customer.id'); unset with source 'key': "
                                        "the whole record key. Required with source 'value'.")
    attribute: str | None = Field(
        None, min_length=1, max_length=255,
        description="The table's key attribute name; unset: read from the table. When set it must match.")

    @model_validator(mode="after")
    def _field_for_value(self) -> "KeySource":
        if self.source == "value" and self.field is None:
            raise ValueError("source 'value' needs field: the value field that holds the key")
        return self


class VersionConfig(BaseModel):
    """Skip writes older than what the item already holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attribute: str = Field("_version", min_length=1, max_length=255,
                           description="Item attribute holding the version of the write that made the item.")
    source: Literal["offset", "timestamp", "field"] = Field(
        "offset", description="'offset': a numeric field of the record's source offset (per source partition, "
                              "so keys must not move between partitions); 'timestamp': the record timestamp; "
                              "'field': a numeric value field (e.g. 'updated_at').")
    field: str | None = Field(
        None, min_length=1, description="With 'offset': the offset field (unset: the offset's only numeric "
                                        "field). With 'field': dotted path of the value field (required).")

    @model_validator(mode="after")
    def _field_for_field(self) -> "VersionConfig":
        if self.source == "field" and self.field is None:
            raise ValueError("source 'field' needs field: the value field that holds the version")
        if self.source == "timestamp" and self.field is not None:
            raise ValueError("source 'timestamp' takes no field")
        return self


class DynamoDBSinkConfig(SinkConnectorConfig):
    table: str = Field(description="Target table name or ARN.")
    region: str | None = Field(None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$",
                               description="Region of the table; unset: the function's region.")
    partition_key: KeySource = Field(
        default_factory=KeySource,
        description="Where the item's partition key comes from: {source: key | value, field: dotted path "
                    "(unset with source key: the whole record key), attribute: the table's key name (optional, "
                    "checked)}. Default: the record key.")
    sort_key: KeySource | None = Field(None, description="Where the item's sort key comes from, like partition_key; "
                                                         "required when the table has a sort key.")
    mode: Literal["put", "upsert"] = Field(
        "put", description="'put': the record value replaces the item; 'upsert': only the value's attributes "
                           "are set, the item's other attributes stay.")
    delete_on_tombstone: bool = Field(True, description="A record with value null deletes the item by its key; "
                                                        "false: such records are skipped.")
    version: VersionConfig | None = Field(
        None, description="Write only when the item's stored version is older than the record's (conditional "
                          "writes, one request per record): {attribute: item attribute (default '_version'), "
                          "source: offset | timestamp | field, field: the offset field or dotted value field}. "
                          "Unset: the last write wins.")
    max_concurrency: int = Field(8, ge=1, le=64, description="Requests in flight at once.")

    @field_validator("table")
    @classmethod
    def _table(cls, value: str) -> str:
        if not _TABLE.match(value):
            raise ValueError("must be a DynamoDB table name (3-255 letters, digits, '_', '-', '.') or a table ARN "
                             "(arn:aws:dynamodb:<region>:<account>:table/<name>)")
        return value

    @field_validator("sort_key")
    @classmethod
    def _distinct_keys(cls, sort: KeySource | None, info: ValidationInfo) -> KeySource | None:
        part = info.data.get("partition_key")
        if sort is None or part is None:
            return sort
        if (sort.source, sort.field) == (part.source, part.field):
            raise ValueError("takes its value from the same place as partition_key; name another field")
        if sort.attribute is not None and sort.attribute == part.attribute:
            raise ValueError("attribute must differ from partition_key.attribute")
        return sort


class ItemError(ValueError):
    """A record cannot become a DynamoDB write (the reason names the field)."""


class ItemWriteError(ConnectError):
    """DynamoDB refused a write (or the table's description) for a reason retrying will not fix."""


@dataclass(frozen=True, slots=True)
class TableKeys:
    """The table's key schema: attribute names and types (S, N or B)."""

    partition: tuple[str, str]
    sort: tuple[str, str] | None


@dataclass(slots=True)
class Write:
    """What one key's records of a batch come to: a put (``attributes`` is the whole item), an update
    (``attributes`` are the ones to set) or a delete."""

    kind: Literal["put", "update", "delete"]
    key: dict[str, Any]
    attributes: dict[str, Any]
    version: decimal.Decimal | None = None
    indices: list[int] = field(default_factory=list)

    def then(self, later: "Write") -> "Write":
        """This write followed by ``later`` to the same key, as one write."""
        indices = self.indices + later.indices
        if later.kind != "update":
            return Write(later.kind, later.key, later.attributes, later.version, indices)
        if self.kind == "update":
            return Write("update", self.key, {**self.attributes, **later.attributes}, later.version, indices)
        base = self.attributes if self.kind == "put" else dict(self.key)
        return Write("put", self.key, {**base, **later.attributes, **self.key}, later.version, indices)


class DynamoDBSinkTask(SinkTask[DynamoDBSinkConfig]):
    #: Puts, upserts and deletes by key: writing the same records again leaves the same items.
    idempotent = True

    def start(self) -> None:
        self.keys: TableKeys | None = None
        self.sleep: Callable[[float], None] = time.sleep
        self.ddb: Any = aws.client("dynamodb", self.config.region)

    def put(self, records: list[ConnectRecord]) -> None:
        try:
            keys = self.table_keys()
        except (ConfigError, ItemWriteError) as exc:  # no record can be written: each fails with the reason
            raise SinkRecordErrors({i: exc for i in range(len(records))}) from None
        errors: dict[int, BaseException] = {}
        writes: list[Write] = []
        for index, record in enumerate(records):
            try:
                write = self.write_of(record, keys)
            except ItemError as exc:
                errors[index] = exc
                continue
            if write is not None:
                write.indices.append(index)
                writes.append(write)
        for write, error in self._apply(writes):
            for index in write.indices:
                errors[index] = error
        if errors:
            raise SinkRecordErrors(errors)

    # -- the table ----------------------------------------------------------------------------

    def table_keys(self) -> TableKeys:
        """The table's key schema (DescribeTable once per task), checked against the config."""
        if self.keys is not None:
            return self.keys
        try:
            table = self.ddb.describe_table(TableName=self.config.table)["Table"]
        except Exception as exc:
            if is_transient(exc):
                raise RetriableError(f"DescribeTable {self.config.table!r}: {describe(exc)}") from exc
            if error_code(exc) == "ResourceNotFoundException":
                raise ConfigError.single("table", f"table {self.config.table!r} does not exist") from None
            raise ItemWriteError(f"DescribeTable {self.config.table!r}: {describe(exc)}") from exc
        types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
        schema = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
        keys = TableKeys((schema["HASH"], types[schema["HASH"]]),
                         (schema["RANGE"], types[schema["RANGE"]]) if "RANGE" in schema else None)
        self._check(keys)
        self.keys = keys
        return keys

    def _check(self, keys: TableKeys) -> None:
        cfg, table = self.config, self.config.table
        wanted = cfg.partition_key.attribute
        if wanted not in (None, keys.partition[0]):
            raise ConfigError.single("partition_key.attribute",
                                     f"table {table!r} has partition key {keys.partition[0]!r}, not {wanted!r}")
        if keys.sort is None and cfg.sort_key is not None:
            raise ConfigError.single("sort_key", f"table {table!r} has no sort key")
        if keys.sort is not None and cfg.sort_key is None:
            raise ConfigError.single("sort_key", f"required: table {table!r} has sort key {keys.sort[0]!r} "
                                                 f"({keys.sort[1]})")
        wanted = cfg.sort_key.attribute if cfg.sort_key is not None else None
        if keys.sort is not None and wanted not in (None, keys.sort[0]):
            raise ConfigError.single("sort_key.attribute",
                                     f"table {table!r} has sort key {keys.sort[0]!r}, not {wanted!r}")
        key_names = {keys.partition[0]} | ({keys.sort[0]} if keys.sort else set())
        if cfg.version is not None and cfg.version.attribute in key_names:
            raise ConfigError.single("version.attribute", f"{cfg.version.attribute!r} is a key attribute of "
                                                          f"table {table!r}; versions need an attribute of their own")

    # -- records into writes ------------------------------------------------------------------

    def write_of(self, record: ConnectRecord, keys: TableKeys) -> Write | None:
        """The write one record asks for; None for a tombstone that is skipped."""
        cfg = self.config
        key = {keys.partition[0]: _key_attribute(record, cfg.partition_key, keys.partition[1], "partition_key")}
        if keys.sort is not None and cfg.sort_key is not None:
            key[keys.sort[0]] = _key_attribute(record, cfg.sort_key, keys.sort[1], "sort_key")
        version = self._version(record) if cfg.version is not None else None
        if record.value is None:
            return Write("delete", key, {}, version) if cfg.delete_on_tombstone else None
        if not isinstance(record.value, Mapping):
            raise ItemError(f"value: a {type(record.value).__name__}, not an object; an item is built from an "
                            "object's fields")
        attributes = {}
        for name, value in record.value.items():
            if not isinstance(name, str) or not name:
                raise ItemError(f"value: attribute name {name!r} is not a non-empty string")
            if cfg.version is not None and name == cfg.version.attribute:
                continue  # the version attribute is the connector's to write
            attributes[name] = to_attribute(value, f"value.{name}")
        if cfg.mode == "put":
            return Write("put", key, {**attributes, **key}, version)
        for name in key:
            attributes.pop(name, None)  # UpdateItem may not set key attributes
        return Write("update", key, attributes, version)

    def _version(self, record: ConnectRecord) -> decimal.Decimal:
        cfg = self.config.version
        assert cfg is not None
        if cfg.source == "timestamp":
            if record.timestamp is None:
                raise ItemError("version: the record has no timestamp (version.source is 'timestamp')")
            return decimal.Decimal(int(record.timestamp))
        if cfg.source == "field":
            if record.value is None:
                raise ItemError(f"version: a tombstone has no value field {cfg.field!r} to take the version from")
            value = _lookup(record.value, cfg.field, "value")  # type: ignore[arg-type]
            where = f"value.{cfg.field}"
        elif cfg.field is not None:
            if cfg.field not in record.offset:
                raise ItemError(f"version: the record offset {dict(record.offset)} has no field {cfg.field!r}")
            value, where = record.offset[cfg.field], f"offset.{cfg.field}"
        else:
            numeric = [k for k, v in record.offset.items() if _is_number(v)]
            if len(numeric) != 1:
                raise ItemError(f"version: the record offset {dict(record.offset)} has no single numeric field; "
                                "set version.field")
            value, where = record.offset[numeric[0]], f"offset.{numeric[0]}"
        if not _is_number(value):
            raise ItemError(f"version: {where} is a {type(value).__name__}, not a number")
        try:
            return decimal.Decimal(number_text(value))
        except ItemError as exc:
            raise ItemError(f"version: {where}: {exc}") from None

    # -- writing ------------------------------------------------------------------------------

    def _apply(self, writes: list[Write]) -> list[tuple[Write, BaseException]]:
        """Run the writes; returns the ones that failed for good. A transient failure raises
        RetriableError: the runtime retries the whole put, which writes the same items again."""
        if self.config.version is None:
            jobs = self._unconditional_jobs(writes)
        else:
            jobs = self._conditional_jobs(writes)
        outcomes = run_concurrently(jobs, self.config.max_concurrency)
        failed = [pair for outcome in outcomes for pair in outcome]
        transient = [exc for _, exc in failed if is_transient(exc) or isinstance(exc, RetriableError)]
        if transient:
            raise RetriableError(f"DynamoDB table {self.config.table!r}: {describe(transient[0])}") from transient[0]
        return [(write, exc if isinstance(exc, ItemWriteError) else ItemWriteError(describe(exc)))
                for write, exc in failed]

    def _unconditional_jobs(self, writes: list[Write]) -> list[Callable[[], list[tuple[Write, BaseException]]]]:
        folded: dict[str, Write] = {}
        for write in writes:
            ident = _key_identity(write.key)
            earlier = folded.get(ident)
            folded[ident] = write if earlier is None else earlier.then(write)
        batched = [w for w in folded.values() if w.kind != "update"]
        jobs: list[Callable[[], list[tuple[Write, BaseException]]]] = [
            (lambda chunk=batched[i:i + BATCH_WRITE_ITEMS]: self._batch_write(chunk))
            for i in range(0, len(batched), BATCH_WRITE_ITEMS)]
        jobs += [(lambda w=w: self._single(w)) for w in folded.values() if w.kind == "update"]
        return jobs

    def _conditional_jobs(self, writes: list[Write]) -> list[Callable[[], list[tuple[Write, BaseException]]]]:
        by_key: dict[str, list[Write]] = {}
        for write in writes:
            by_key.setdefault(_key_identity(write.key), []).append(write)
        jobs = []
        for chain in by_key.values():
            chain.sort(key=lambda w: w.version)  # type: ignore[arg-type, return-value]
            last_replace = max((i for i, w in enumerate(chain) if w.kind != "update"), default=0)
            superseded = [i for w in chain[:last_replace] for i in w.indices]
            chain = chain[last_replace:]
            chain[0].indices[:0] = superseded  # older than a later put or delete: its outcome is theirs
            jobs.append(lambda chain=chain: [pair for w in chain for pair in self._single(w)])
        return jobs

    def _batch_write(self, chunk: list[Write]) -> list[tuple[Write, BaseException]]:
        table = self.config.table
        pending = [{"PutRequest": {"Item": w.attributes}} if w.kind == "put" else {"DeleteRequest": {"Key": w.key}}
                   for w in chunk]
        for attempt in range(BATCH_WRITE_ATTEMPTS):
            try:
                response = self.ddb.batch_write_item(RequestItems={table: pending})
            except Exception as exc:
                if error_code(exc) == "ValidationException":
                    # One item spoils the request (too large, a bad number): find it by writing one by one.
                    return [pair for w in chunk for pair in self._single(w)]
                return [(w, exc) for w in chunk]
            pending = response.get("UnprocessedItems", {}).get(table, [])
            if not pending:
                return []
            self.sleep(random.uniform(0, min(0.05 * 2 ** attempt, 2.0)))  # full jitter, as AWS advises
        # Transient: the whole put is retried, and writing the processed items again changes nothing.
        error = RetriableError(f"{len(pending)} item(s) stayed unprocessed after {BATCH_WRITE_ATTEMPTS} "
                               "BatchWriteItem attempts (throttled)")
        return [(w, error) for w in chunk]

    def _single(self, write: Write) -> list[tuple[Write, BaseException]]:
        """One PutItem, UpdateItem or DeleteItem; a failed version condition means the write is stale."""
        request: dict[str, Any] = {"TableName": self.config.table}
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        if write.kind == "put":
            request["Item"] = dict(write.attributes)
        else:
            request["Key"] = write.key
        if write.kind == "update":
            assignments = []
            for i, (name, value) in enumerate(write.attributes.items()):
                names[f"#a{i}"], values[f":a{i}"] = name, value
                assignments.append(f"#a{i} = :a{i}")
            if write.version is not None:
                assignments.append("#version = :version")
            if assignments:
                request["UpdateExpression"] = "SET " + ", ".join(assignments)
        if write.version is not None:
            version = self.config.version.attribute  # type: ignore[union-attr]
            names["#version"], values[":version"] = version, {"N": number_text(write.version)}
            if write.kind == "put":
                request["Item"][version] = values[":version"]
            request["ConditionExpression"] = _CONDITION
        if names:
            request["ExpressionAttributeNames"] = names
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            getattr(self.ddb, f"{write.kind}_item")(**request)
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                logger.debug("stale write skipped", extra={"table": self.config.table, "version": str(write.version)})
                return []
            if error_code(exc) == "ValidationException":
                return [(write, ItemWriteError(f"DynamoDB refused the item: {describe(exc)}"))]
            return [(write, exc)]
        return []


# -- values into DynamoDB attribute values ---------------------------------------------------------

class _Unfit(Exception):
    """Raised inside ``to_attribute``; collects the path while it unwinds."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.where: list[str] = []


def to_attribute(value: Any, where: str = "value") -> dict[str, Any]:
    """``value`` as a DynamoDB attribute value (``{"N": "1.5"}``); ItemError names the field that
    does not fit."""
    try:
        return _attribute(value)
    except _Unfit as exc:
        raise ItemError(f"{where}{''.join(reversed(exc.where))}: {exc.message}") from None


def _attribute(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (int, float, decimal.Decimal)):
        try:
            return {"N": number_text(value)}
        except ItemError as exc:
            raise _Unfit(str(exc)) from None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        out = {}
        for name, item in value.items():
            if not isinstance(name, str):
                raise _Unfit(f"map key {name!r} is not a string")
            try:
                out[name] = _attribute(item)
            except _Unfit as exc:
                exc.where.append(f".{name}")
                raise
        return {"M": out}
    if isinstance(value, (list, tuple)):
        items = []
        for i, item in enumerate(value):
            try:
                items.append(_attribute(item))
            except _Unfit as exc:
                exc.where.append(f"[{i}]")
                raise
        return {"L": items}
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return {"S": value.isoformat()}
    raise _Unfit(f"a {type(value).__name__} has no DynamoDB type")


def number_text(value: int | float | decimal.Decimal) -> str:
    """A number as DynamoDB's N text: floats exactly as Python writes them (0.1 stays 0.1),
    at most 38 significant digits, magnitude between 1E-130 and 9.99E+125."""
    number = decimal.Decimal(repr(value)) if isinstance(value, float) else decimal.Decimal(value)
    if not number.is_finite():
        raise ItemError(f"{value} is not a number DynamoDB can store")
    if not number:
        return "0"
    digits = len("".join(map(str, number.as_tuple().digits)).strip("0"))
    if digits > _MAX_DIGITS:
        raise ItemError(f"a number with {digits} significant digits; DynamoDB keeps at most {_MAX_DIGITS}")
    if not -130 <= number.adjusted() <= 125:
        raise ItemError("a number outside DynamoDB's range (1E-130 to 9.99E+125 in magnitude)")
    text = str(number)
    if sum(c.isdigit() for c in text) <= _MAX_DIGITS:
        return text
    # Many zeros around few significant digits (10**40): the same value in exponent form, exactly.
    return str(number.normalize(_EXACT))


def _key_attribute(record: ConnectRecord, source: KeySource, type_: str, option: str) -> dict[str, Any]:
    if source.source == "key":
        container, where = record.key, "key"
        if container is None:
            raise ItemError(f"{option}: the record has no key ({option}.source is 'key')")
        value = container if source.field is None else _lookup(container, source.field, "key")
        if source.field is not None:
            where = f"key.{source.field}"
    else:
        if record.value is None:
            raise ItemError(f"{option}: a tombstone has no value field {source.field!r} to take the key from; "
                            "key the table by the record key to delete on tombstones")
        value, where = _lookup(record.value, source.field, "value"), f"value.{source.field}"  # type: ignore[arg-type]
    if value is None:
        raise ItemError(f"{option}: {where} is null")
    if type_ == "S":
        if isinstance(value, (bytes, bytearray)):
            try:
                text = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise ItemError(f"{option}: {where} is bytes that are not UTF-8 text (the table's key is S)") from None
        elif isinstance(value, str):
            text = value
        elif _is_number(value):
            text = number_text(value)
        else:
            raise ItemError(f"{option}: {where} is a {type(value).__name__}; the table's key is a string (S)")
        if not text:
            raise ItemError(f"{option}: {where} is empty; DynamoDB keys cannot be empty")
        return {"S": text}
    if type_ == "N":
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("utf-8", "replace")
        if isinstance(value, str):
            try:
                value = decimal.Decimal(value.strip())
            except decimal.InvalidOperation:
                raise ItemError(f"{option}: {where} is {value!r}, not a number (the table's key is N)") from None
        if not _is_number(value):
            raise ItemError(f"{option}: {where} is a {type(value).__name__}; the table's key is a number (N)")
        try:
            return {"N": number_text(value)}
        except ItemError as exc:
            raise ItemError(f"{option}: {where}: {exc}") from None
    data = value.encode("utf-8") if isinstance(value, str) else value
    if not isinstance(data, (bytes, bytearray)):
        raise ItemError(f"{option}: {where} is a {type(value).__name__}; the table's key is binary (B)")
    if not data:
        raise ItemError(f"{option}: {where} is empty; DynamoDB keys cannot be empty")
    return {"B": bytes(data)}


def _lookup(container: Any, path: str, root: str) -> Any:
    value = container
    for step in path.split("."):
        if not isinstance(value, Mapping):
            raise ItemError(f"{root}.{path}: the record {root} is not an object with that field")
        if step not in value:
            raise ItemError(f"{root}.{path}: missing from the record {root}")
        value = value[step]
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool)


def _key_identity(key: Mapping[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, default=lambda b: b.hex())


class DynamoDBSinkConnector(SinkConnector[DynamoDBSinkConfig]):
    config_model = DynamoDBSinkConfig
    task_class = DynamoDBSinkTask
    description = ("Writes records as DynamoDB items by key: put or upsert, delete on tombstones, batched and "
                   "idempotent, optionally skipping out-of-order writes by version.")
