"""``s3-sink``: records as JSON-lines objects in S3, partitioned by topic and date.

A sink function keeps nothing between invocations, so every batch it is handed becomes objects
before it is acknowledged: the event source mapping's batch size and batching window are the time
bound of an object. Within a batch, records are grouped by their path (``path_format``: the topic
and the date of the record's timestamp) and by source partition, ordered by offset, and cut into
objects of at most ``max_records`` records and ``max_bytes`` bytes.

An object's name is derived from exactly the records in it::

    <prefix>/topic=orders/dt=2024-05-01/<partition hash>-<first offset>-<digest of every record id>.jsonl

so the same records delivered again are written under the same name - an overwrite with the same
bytes, never a second copy - and different records never share a name, so an overwrite never
replaces data with less. A record's id is its source partition and offset; records without a
position (plain messages a user's producer sent to the queue) are identified by their content and
named ``content-<digest>``.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import gzip
import hashlib
import json
import logging
import re
import string
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Literal, Mapping

from pydantic import Field, ValidationInfo, field_validator

from .. import aws
from ..api import ConnectRecord, SinkConnector, SinkRecordErrors, SinkTask
from ..api.record import partition_key
from ..aws.errors import describe, is_transient
from ..config import SinkConnectorConfig
from ..errors import ConnectError, RetriableError
from ..concurrency import run_concurrently

logger = logging.getLogger("connect_core.connectors.s3")

#: Placeholders ``path_format`` may use, all taken from the record's time in ``timezone``.
PATH_PLACEHOLDERS = ("topic", "date", "year", "month", "day", "hour", "minute")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]")
_STORAGE_CLASSES = Literal["STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR",
                           "GLACIER", "DEEP_ARCHIVE", "REDUCED_REDUNDANCY"]
CONTENT_TYPE = "application/x-ndjson"


class S3SinkConfig(SinkConnectorConfig):
    bucket: str = Field(description="Target bucket name (not an ARN or URL).")
    deduplicate: bool = Field(
        True, description="Skip records already written (a DynamoDB ledger of record identities), so a "
                          "batch SQS redelivers in another grouping is not stored twice. On by default for "
                          "S3; off saves a DynamoDB read and write per record and allows such duplicates.")
    prefix: str = Field("", max_length=512, description="Key prefix of every object, e.g. 'raw/orders'; "
                                                        "leading and trailing slashes are ignored.")
    path_format: str = Field(
        "topic={topic}/dt={date}",
        description="Folder of an object below the prefix. Placeholders: {topic}, and from the record's time "
                    "{date} (YYYY-MM-DD), {year}, {month}, {day}, {hour}, {minute}, e.g. "
                    "'{topic}/year={year}/month={month}/day={day}/hour={hour}'.")
    timezone: str = Field("UTC", description="IANA time zone the date placeholders are rendered in.")
    timestamp_field: str | None = Field(
        None, min_length=1,
        description="Dotted path of a value field holding the record's time for the path (epoch milliseconds "
                    "or ISO-8601 text; times without a zone are UTC). Unset: the record timestamp; a record "
                    "without one is filed under the time it is written.")
    format: Literal["value", "record"] = Field(
        "value", description="'value': one JSON value per line; 'record': the record with its topic, key, "
                             "partition, offset, timestamp and headers.")
    compression: Literal["none", "gzip"] = Field(
        "none", description="'gzip': objects are '.jsonl.gz' with Content-Encoding gzip.")
    max_records: int = Field(10_000, ge=1, le=1_000_000, description="Most records in one object.")
    max_bytes: int = Field(64 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024,
                           description="Most bytes of JSON lines in one object, before compression "
                                       "(a single larger record still gets an object of its own).")
    tombstones: Literal["skip", "write", "fail"] = Field(
        "skip", description="Records whose value is null: 'skip' them, 'write' them (a 'null' line, or the "
                            "record with value null), or 'fail' them (to the dead-letter queue).")
    region: str | None = Field(None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$",
                               description="Region of the bucket; unset: the function's region.")
    storage_class: _STORAGE_CLASSES = Field("STANDARD", description="S3 storage class of the objects.")
    server_side_encryption: Literal["AES256", "aws:kms"] | None = Field(
        None, description="Encryption at rest requested per object; unset: the bucket's default.")
    kms_key_id: str | None = Field(None, min_length=1,
                                   description="KMS key (id, ARN or alias) for 'aws:kms' encryption.")
    max_concurrency: int = Field(8, ge=1, le=64, description="Objects written in parallel.")

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not _BUCKET.match(value) or ".." in value or _IP_ADDRESS.match(value) or value.startswith("xn--"):
            raise ValueError("must be an S3 bucket name: 3-63 lower-case letters, digits, '.' and '-', starting "
                             "and ending with a letter or digit (not an ARN, URL or IP address)")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return value.strip("/")

    @field_validator("path_format")
    @classmethod
    def _path_format(cls, value: str) -> str:
        value = value.strip("/")
        try:
            parts = list(string.Formatter().parse(value))
        except ValueError as exc:
            raise ValueError(f"is not a valid format ({exc}); write placeholders as {{topic}}, "
                             "and a literal brace as {{ or }}") from None
        for _, name, spec, conversion in parts:
            if name is None:
                continue
            if name not in PATH_PLACEHOLDERS:
                raise ValueError(f"unknown placeholder {{{name}}}; known: "
                                 + ", ".join("{" + p + "}" for p in PATH_PLACEHOLDERS))
            if spec or conversion:
                raise ValueError(f"placeholder {{{name}}} takes no format spec or conversion")
        if any(segment in (".", "..") for segment in value.split("/")):
            raise ValueError("may not contain '.' or '..' path segments")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'UTC' or "
                             "'Europe/Berlin'") from None
        return value

    @field_validator("kms_key_id")
    @classmethod
    def _kms(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("server_side_encryption") != "aws:kms":
            raise ValueError("needs server_side_encryption 'aws:kms'")
        return value


class RecordEncodingError(ValueError):
    """A record cannot be written as a JSON line (or has no usable time for its path)."""


class ObjectWriteError(ConnectError):
    """S3 refused an object for a reason retrying will not fix (missing bucket, access denied)."""


@dataclass(slots=True)
class _Line:
    """One record as its JSON line, with what decides its object and its place in it."""

    data: bytes
    path: str
    partition: str            # canonical partition text; "" for records without a position
    identity: str
    order: tuple[Any, ...]
    offset: Mapping[str, Any]
    indices: list[int] = field(default_factory=list)


@dataclass(slots=True)
class S3Object:
    key: str
    body: bytes
    records: int
    indices: list[int]


class S3SinkTask(SinkTask[S3SinkConfig]):
    #: Object names come from the records' identities: writing the same batch again overwrites the
    #: same objects. A batch redelivered in another grouping gets other names, so on its own the sink
    #: is not idempotent: ``deduplicate`` (on by default) makes it so.
    idempotent = False

    def start(self) -> None:
        from zoneinfo import ZoneInfo

        self.zone = ZoneInfo(self.config.timezone)
        #: Time of writing (seconds), for records without a timestamp of their own.
        self.clock: Callable[[], float] = time.time
        self.s3: Any = aws.client("s3", self.config.region)

    def put(self, records: list[ConnectRecord]) -> None:
        errors: dict[int, BaseException] = {}
        objects = self.objects(records, errors)
        for obj, error in self._write(objects):
            for index in obj.indices:
                errors[index] = error
        if errors:
            raise SinkRecordErrors(errors)

    # -- records into objects -----------------------------------------------------------------

    def objects(self, records: list[ConnectRecord], errors: dict[int, BaseException]) -> list[S3Object]:
        """The objects ``records`` become; records that cannot be written land in ``errors``."""
        now = self.clock()
        groups: dict[tuple[str, str], dict[str, _Line]] = {}
        unpositioned: dict[str, list[_Line]] = {}
        for index, record in enumerate(records):
            try:
                line = self._line(record, now)
            except RecordEncodingError as exc:
                errors[index] = exc
                continue
            if line is None:
                continue
            line.indices.append(index)
            if not line.partition:
                unpositioned.setdefault(line.path, []).append(line)
                continue
            group = groups.setdefault((line.path, line.partition), {})
            same = group.get(line.identity)
            if same is not None:  # the same record twice in one batch (published twice): written once
                line.indices[:0] = same.indices
            group[line.identity] = line
        out = []
        for (path, _), lines in groups.items():
            out += self._cut(path, sorted(lines.values(), key=lambda line: line.order))
        for path, plain in unpositioned.items():
            out += self._cut(path, sorted(plain, key=lambda line: line.order))
        return out

    def _line(self, record: ConnectRecord, now: float) -> _Line | None:
        cfg = self.config
        if record.value is None:
            if cfg.tombstones == "skip":
                return None
            if cfg.tombstones == "fail":
                raise RecordEncodingError("the record is a tombstone (value null) and tombstones is 'fail'")
        item: Any = record.value
        if cfg.format == "record":
            item = {"topic": record.topic, "partition": dict(record.partition), "offset": dict(record.offset),
                    "timestamp": record.timestamp, "key": record.key, "value": record.value,
                    "headers": dict(record.headers)}
        try:
            data = (json.dumps(item, default=_json_default, ensure_ascii=False, separators=(",", ":"),
                               allow_nan=False) + "\n").encode("utf-8")
        except (TypeError, ValueError) as exc:  # UnicodeEncodeError (a lone surrogate) is a ValueError
            raise RecordEncodingError(f"the record cannot be written as JSON: {exc}") from None
        path = self._path(record, now)
        if record.partition and record.offset:
            source = partition_key(record.partition)
            return _Line(data, path, source, source + "@" + partition_key(record.offset),
                         _offset_order(record.offset), record.offset)
        digest = hashlib.sha256(data).hexdigest()
        return _Line(data, path, "", "content:" + digest, (data,), {})

    def _path(self, record: ConnectRecord, now: float) -> str:
        when = self._time(record, now)
        topic = _UNSAFE.sub("_", record.topic) if record.topic else "unknown"
        path = self.config.path_format.format(
            topic=topic, date=when.strftime("%Y-%m-%d"), year=when.strftime("%Y"), month=when.strftime("%m"),
            day=when.strftime("%d"), hour=when.strftime("%H"), minute=when.strftime("%M"))
        return "/".join(part for part in (self.config.prefix, path) if part)

    def _time(self, record: ConnectRecord, now: float) -> dt.datetime:
        name = self.config.timestamp_field
        if name is None:
            millis = record.timestamp
            return dt.datetime.fromtimestamp((millis / 1000) if millis is not None else now, self.zone)
        value: Any = record.value
        for step in name.split("."):
            if not isinstance(value, Mapping) or step not in value:
                raise RecordEncodingError(f"timestamp_field {name!r} is not in the record value")
            value = value[step]
        try:
            if isinstance(value, dt.datetime):
                when = value
            elif isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
                return dt.datetime.fromtimestamp(float(value) / 1000, self.zone)
            elif isinstance(value, str):
                when = dt.datetime.fromisoformat(value)
            else:
                raise ValueError(f"a {type(value).__name__}")
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.timezone.utc)
            return when.astimezone(self.zone)
        except (ValueError, OverflowError, OSError) as exc:
            raise RecordEncodingError(f"timestamp_field {name!r} is not epoch milliseconds or ISO-8601 "
                                      f"text ({exc})") from None

    def _cut(self, path: str, lines: list[_Line]) -> list[S3Object]:
        """Consecutive runs of ``lines`` within the record and byte limits, as objects."""
        cfg = self.config
        out: list[S3Object] = []
        run: list[_Line] = []
        size = 0
        for line in lines:
            if run and (len(run) == cfg.max_records or size + len(line.data) > cfg.max_bytes):
                out.append(self._object(path, run))
                run, size = [], 0
            run.append(line)
            size += len(line.data)
        if run:
            out.append(self._object(path, run))
        return out

    def _object(self, path: str, lines: list[_Line]) -> S3Object:
        digest = hashlib.sha256("\n".join(line.identity for line in lines).encode("utf-8")).hexdigest()
        first = lines[0]
        if first.partition:
            name = f"{hashlib.sha256(first.partition.encode('utf-8')).hexdigest()[:8]}-" \
                   f"{_offset_text(first.offset)}-{digest[:16]}"
        else:
            name = f"content-{digest[:24]}"
        body = b"".join(line.data for line in lines)
        extension = ".jsonl"
        if self.config.compression == "gzip":
            body = gzip.compress(body, compresslevel=6, mtime=0)  # mtime 0: the same records, the same bytes
            extension = ".jsonl.gz"
        key = f"{path}/{name}{extension}" if path else name + extension
        return S3Object(key, body, len(lines), [i for line in lines for i in line.indices])

    # -- writing ------------------------------------------------------------------------------

    def _write(self, objects: list[S3Object]) -> list[tuple[S3Object, BaseException]]:
        """Put every object; returns the permanently failed ones. A transient failure of any object
        raises RetriableError: the runtime retries the whole put, which overwrites what was written."""
        if not objects:
            return []
        outcomes = run_concurrently([partial(self._put_object, obj) for obj in objects], self.config.max_concurrency)
        failed = [(obj, exc) for obj, exc in zip(objects, outcomes) if exc is not None]
        transient = [exc for _, exc in failed if is_transient(exc)]
        if transient:
            raise RetriableError(f"S3 did not take {len(transient)} of {len(objects)} object(s) in bucket "
                                 f"{self.config.bucket!r}: {describe(transient[0])}") from transient[0]
        return [(obj, ObjectWriteError(f"s3://{self.config.bucket}/{obj.key}: {describe(exc)}"))
                for obj, exc in failed]

    def _put_object(self, obj: S3Object) -> BaseException | None:
        cfg = self.config
        request: dict[str, Any] = {
            "Bucket": cfg.bucket, "Key": obj.key, "Body": obj.body, "ContentType": CONTENT_TYPE,
            "Metadata": {"connect-connector": cfg.name, "connect-records": str(obj.records)},
        }
        if cfg.compression == "gzip":
            request["ContentEncoding"] = "gzip"
        if cfg.storage_class != "STANDARD":
            request["StorageClass"] = cfg.storage_class
        if cfg.server_side_encryption is not None:
            request["ServerSideEncryption"] = cfg.server_side_encryption
        if cfg.kms_key_id is not None:
            request["SSEKMSKeyId"] = cfg.kms_key_id
        try:
            self.s3.put_object(**request)
        except Exception as exc:  # noqa: BLE001 - classified by the caller
            return exc
        return None


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        return as_float if decimal.Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    raise TypeError(f"a {type(value).__name__} has no JSON form")


def _offset_order(offset: Mapping[str, Any]) -> tuple[Any, ...]:
    """A total order over offsets: numbers numerically, anything else by its text."""
    out = []
    for name in sorted(offset):
        value = offset[name]
        if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
            out.append((name, 0, value, ""))
        else:
            out.append((name, 1, 0, json.dumps(value, sort_keys=True, default=str)))
    return tuple(out)


def _offset_text(offset: Mapping[str, Any]) -> str:
    """An offset for an object name: non-negative integers zero-padded (names then list in offset
    order), anything else with the characters S3 keys handle badly replaced."""
    parts = []
    for name in sorted(offset):
        value = offset[name]
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            parts.append(f"{value:020d}")
        else:
            parts.append(_UNSAFE.sub("_", str(value))[:40])
    return "_".join(parts)


class S3SinkConnector(SinkConnector[S3SinkConfig]):
    config_model = S3SinkConfig
    task_class = S3SinkTask
    description = ("Writes records to S3 as JSON-lines objects (optionally gzip), partitioned by topic and date, "
                   "named by their offsets so a redelivered batch overwrites instead of duplicating.")
