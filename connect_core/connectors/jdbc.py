"""``jdbc-source`` and ``jdbc-sink``: PostgreSQL tables as a source and as a target, the way Kafka
Connect's JDBC connectors do it, over a pure-Python driver (pg8000) that fits in the Lambda layer.

Source: each table (or the one custom query) is a partition; its offset is the position of the last
row read, ``{"incrementing": id}`` or ``{"timestamp": "<ISO 8601>", "incrementing": id}``, kept in
the offset store. A poll reads the rows after that position in position order, so a tick that
resumes from the committed offset reads each row exactly once (``timestamp+incrementing`` reads an
updated row again, as it should).

Sink: records become rows of a table (``${topic}`` by default) in one transaction per batch:
``INSERT`` or ``INSERT ... ON CONFLICT (pk) DO UPDATE`` (idempotent), tombstones become ``DELETE``s
when enabled. A record the database refuses is isolated with savepoints and fails alone (to the
dead-letter queue); the rest of the batch commits. Tables and columns are created only when
``auto_create``/``auto_evolve`` say so; otherwise a missing one is a clear per-record error.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Mapping, Sequence, TypeVar, get_args
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import BaseModel, Field, field_validator

from ..api import ConnectRecord, OffsetMap, Partition, Schema, SinkConnector, SinkRecordErrors, SinkTask
from ..api import SourceConnector, SourceTask
from ..api.schema import DATE, DECIMAL, TIME, TIMESTAMP, FieldType, timestamp_to_millis
from ..api.schema import Field as SchemaField
from ..config import SecretRef, SinkConnectorConfig, SourceConnectorConfig
from ..convert import JsonConverterConfig
from ..errors import ConfigError, ConnectError, FieldError, RetriableError

if TYPE_CHECKING:
    from pg8000.native import Connection

logger = logging.getLogger("connect_core.connectors.jdbc")

T = TypeVar("T")

_URL_SCHEMES = ("postgresql", "postgres", "jdbc:postgresql")
_URL_OPTIONS = ("sslmode", "user")
_SslMode = Literal["disable", "prefer", "require", "verify-full"]
_SSL_MODES = get_args(_SslMode)
#: Bind parameters per statement: the protocol allows 65535; far fewer keeps statements small.
_MAX_PARAMS = 30_000


# -- errors ----------------------------------------------------------------------------------------

class PostgresError(ConnectError):
    """The database refused a statement. ``sqlstate`` is PostgreSQL's error code (``23505`` ...)."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class MissingTableError(ConnectError):
    """The sink's table does not exist and ``auto_create`` is off."""


class MissingColumnError(ConnectError):
    """A record has a field the table has no column for and ``auto_evolve`` is off."""


class RecordShapeError(ConnectError):
    """A record cannot become a row: not an object, no key for the primary key, no topic..."""


# SQLSTATE classes worth retrying: connection exceptions, transaction rollbacks (serialization
# failures, deadlocks), insufficient resources, operator intervention, system errors.
_RETRIABLE_CLASSES = ("08", "40", "53", "57", "58")
# Invalid authorization: retried too, with the password read again (it may have been rotated).
_AUTH_CLASS = "28"
#: Password references a server refused: the next connection reads them again, past the cache. Kept
#: per process, not per task: a failed task is replaced by a new one.
_refused_passwords: set[str] = set()


# -- connection options (shared by source and sink) -------------------------------------------------

class PostgresConnection(BaseModel):
    """Where the database is and how to log in."""

    url: str | None = Field(
        None, description="'postgresql://user@host:5432/database' or the JDBC form "
                          "'jdbc:postgresql://host:5432/database?user=app'; instead of host, port and database. "
                          "Options: sslmode, user. A password in it is refused: use password.")
    host: str | None = Field(None, min_length=1, description="Server host name or address (or set url).")
    port: int = Field(5432, ge=1, le=65535, description="Server port.")
    database: str | None = Field(None, min_length=1, description="Database name (or the path of url).")
    user: str | None = Field(None, min_length=1, description="Login role (or the user of url).")
    password: SecretRef | None = Field(
        None, description="The login password as a secret reference (Secrets Manager or SSM), read at run "
                          "time and never logged; unset for servers that need none.")
    ssl_mode: _SslMode = Field(
        "prefer", description="'disable': plain TCP. 'prefer': TLS if the server offers it. 'require': TLS "
                              "without certificate checks. 'verify-full': TLS with the server's certificate "
                              "and host name verified against ssl_root_cert (or the system's CAs).")
    ssl_root_cert: str | None = Field(
        None, min_length=1, description="PEM file of the CA certificates verify-full trusts (e.g. the RDS "
                                        "bundle shipped with the function).")
    timeout_s: float = Field(30, gt=0, le=900, description="Connect timeout, and the longest wait for "
                                                           "any answer from the server.")
    statement_timeout_ms: int = Field(0, ge=0, description="Server-side time limit per statement; 0 keeps "
                                                           "the server's setting.")
    timezone: str = Field("UTC", min_length=1, description="Session time zone: how timestamps without time "
                                                           "zone compare with now() (timestamp_delay_ms).")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            parse_url(value)
        return value


@dataclass(frozen=True)
class Endpoint:
    """Connection parameters resolved from ``url`` and the separate options."""

    host: str
    port: int
    database: str
    user: str
    ssl_mode: str


def parse_url(url: str) -> dict[str, Any]:
    """The parts of a PostgreSQL URL; ValueError naming the problem (never echoing a password)."""
    scheme, sep, _rest = url.partition("://")
    if not sep or scheme not in _URL_SCHEMES:
        raise ValueError("must look like 'postgresql://user@host:5432/database' or "
                         "'jdbc:postgresql://host:5432/database'")
    parts = urlsplit("postgresql://" + _rest)
    if parts.password is not None:
        raise ValueError("must not contain a password: put a secret reference in 'password' instead")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    if not parts.hostname:
        raise ValueError("has no host")
    out: dict[str, Any] = {"host": parts.hostname}
    if port is not None:
        out["port"] = port
    if parts.username:
        out["user"] = unquote(parts.username)
    database = unquote(parts.path.lstrip("/"))
    if "/" in database:
        raise ValueError("path must be just the database name")
    if database:
        out["database"] = database
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in _URL_OPTIONS:
            raise ValueError(f"option {name!r} is not supported (supported: {', '.join(_URL_OPTIONS)}; "
                             "the others are options of this config)")
        if name == "sslmode":
            if value not in _SSL_MODES:
                raise ValueError(f"sslmode {value!r} is not one of {', '.join(_SSL_MODES)}")
            out["ssl_mode"] = value
        else:
            out[name] = value
    return out


def endpoint_of(options: PostgresConnection) -> Endpoint:
    """Resolve the connection options or raise ConfigError naming each missing or conflicting one."""
    errors: list[FieldError] = []
    from_url: dict[str, Any] = parse_url(options.url) if options.url else {}
    if options.url and options.host:
        errors.append(FieldError("host", "set either url or host, not both"))
    if not options.url and not options.host:
        errors.append(FieldError("host", "required: set host (with database and user) or url"))
    for name in ("database", "user"):
        mine, theirs = getattr(options, name), from_url.get(name)
        if mine and theirs and mine != theirs:
            errors.append(FieldError(name, f"differs from the {name} in url"))
        elif not mine and not theirs:
            errors.append(FieldError(name, "required (here or in url)"))
    if "port" in options.model_fields_set and "port" in from_url and options.port != from_url["port"]:
        errors.append(FieldError("port", "differs from the port in url"))
    if "ssl_mode" in options.model_fields_set and "ssl_mode" in from_url and options.ssl_mode != from_url["ssl_mode"]:
        errors.append(FieldError("ssl_mode", "differs from sslmode in url"))
    # A value set here wins over the url's (they were checked to agree); the url's over a default.
    explicit = options.model_fields_set
    port = options.port if "port" in explicit else from_url.get("port", options.port)
    ssl_mode = options.ssl_mode if "ssl_mode" in explicit else from_url.get("ssl_mode", options.ssl_mode)
    if options.ssl_root_cert and ssl_mode != "verify-full":
        errors.append(FieldError("ssl_root_cert", "only used with ssl_mode: verify-full"))
    if errors:
        raise ConfigError(errors)
    return Endpoint(host=options.host or from_url["host"], port=port,
                    database=options.database or from_url["database"], user=options.user or from_url["user"],
                    ssl_mode=ssl_mode)


def quote_identifier(name: str) -> str:
    if not name or "\x00" in name:
        raise ValueError(f"invalid SQL identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def split_table_name(name: str) -> tuple[str, ...]:
    """``orders`` or ``schema.orders`` as its parts; names are used exactly as written (quoted)."""
    parts = tuple(name.split("."))
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise ValueError(f"table name {name!r} must be 'table' or 'schema.table'")
    return parts


def qualified(name: str) -> str:
    return ".".join(quote_identifier(part) for part in split_table_name(name))


class PostgresSession:
    """The one connection of a task: opened on first use, kept across warm invocations, opened again
    after the server dropped it. ``unit`` runs a piece of work and translates driver errors."""

    def __init__(self, options: PostgresConnection, application_name: str, read_only: bool = False) -> None:
        self.options = options
        self.endpoint = endpoint_of(options)
        self.application_name = application_name[:63]
        self.read_only = read_only
        self._conn: Connection | None = None
        self._round_trips = 0

    # -- connection ---------------------------------------------------------------------------------

    def _connect(self) -> "Connection":
        import pg8000.native

        e = self.endpoint
        password = None
        ref = self.options.password
        if ref is not None:
            password = ref.resolve(force=str(ref) in _refused_passwords).get_secret_value()
        params = {"TimeZone": self.options.timezone}
        if self.options.statement_timeout_ms:
            params["statement_timeout"] = str(self.options.statement_timeout_ms)
        if self.read_only:
            params["default_transaction_read_only"] = "on"
        try:
            conn = pg8000.native.Connection(
                e.user, host=e.host, port=e.port, database=e.database, password=password,
                ssl_context=self._ssl_context(), timeout=self.options.timeout_s,
                application_name=self.application_name, startup_params=params)
        except Exception as exc:  # noqa: BLE001 - translated: the cause stays chained
            raise self.translate(exc, connecting=True) from exc
        if ref is not None:
            _refused_passwords.discard(str(ref))
        return conn

    def _ssl_context(self) -> Any:
        mode = self.endpoint.ssl_mode
        if mode == "disable":
            return False
        if mode == "prefer":
            return None  # pg8000: try TLS, fall back to plain TCP when the server declines
        if mode == "require":
            return True  # TLS, certificate not checked
        import ssl

        return ssl.create_default_context(cafile=self.options.ssl_root_cert)

    def rollback(self) -> None:
        """End a failed transaction; a dead connection has no transaction left to end."""
        if self._conn is not None:
            try:
                self.command("ROLLBACK")
            except ConnectError:
                self.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - the connection is being dropped anyway
                pass

    # -- work ---------------------------------------------------------------------------------------

    def unit(self, work: Callable[["PostgresSession"], T]) -> T:
        """Run ``work`` with this session. A reused connection that turns out dead on the first
        round trip (the server closed it while the function was idle) is replaced once, at once."""
        for attempt in (1, 2):
            reused = self._conn is not None
            if self._conn is None:
                self._conn = self._connect()
            self._round_trips = 0
            try:
                return work(self)
            except RetriableError:
                if reused and self._round_trips == 0 and attempt == 1 and self._conn is None:
                    logger.info("database connection was closed by the server: reconnecting")
                    continue
                raise
        raise AssertionError("unreachable")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[list[Any]], list[dict[str, Any]]]:
        """Rows and column descriptions of one statement (``$1``-style parameters, sent untyped so
        the server infers each from its context). The extended protocol runs exactly one statement."""
        return self._run(sql, params, simple=False)

    def command(self, sql: str) -> None:
        """A fixed statement of ours (BEGIN, COMMIT, SAVEPOINT ...): one round trip."""
        self._run(sql, (), simple=True)

    def _run(self, sql: str, params: Sequence[Any], simple: bool) -> tuple[list[list[Any]], list[dict[str, Any]]]:
        conn = self._conn
        if conn is None:
            raise RetriableError("database connection is closed")
        try:
            context = conn.execute_simple(sql) if simple else conn.execute_unnamed(sql, tuple(params))
        except Exception as exc:  # noqa: BLE001 - translated below
            error = self.translate(exc)
            if isinstance(error, RetriableError):
                self.close()
            raise error from exc
        self._round_trips += 1
        return context.rows or [], context.columns or []

    def translate(self, exc: BaseException, connecting: bool = False) -> ConnectError:
        """A driver error as RetriableError (connection, resources, serialization, authentication)
        or PostgresError (the statement itself was refused)."""
        import pg8000.native

        e = self.endpoint
        where = f"postgresql://{e.user}@{e.host}:{e.port}/{e.database}"
        if isinstance(exc, pg8000.native.DatabaseError) and exc.args and isinstance(exc.args[0], dict):
            fields = exc.args[0]
            code = fields.get("C", "")
            message = f"{fields.get('M', 'database error')} (SQLSTATE {code})"
            if fields.get("H"):
                message += f"; hint: {fields['H']}"
            if code.startswith(_AUTH_CLASS):
                if self.options.password is not None:
                    _refused_passwords.add(str(self.options.password))
                return RetriableError(f"cannot log in to {where}: {message}")
            if code[:2] in _RETRIABLE_CLASSES:
                return RetriableError(f"{where}: {message}")
            return PostgresError(message, code)
        if isinstance(exc, (pg8000.native.InterfaceError, OSError, EOFError)):
            what = "cannot connect to" if connecting else "lost the connection to"
            cause = exc.__cause__ or exc
            return RetriableError(f"{what} {where}: {exc}" + (f" ({cause})" if cause is not exc else ""))
        return PostgresError(f"{type(exc).__name__}: {exc}")


def _connection_errors(config: PostgresConnection) -> list[FieldError]:
    try:
        endpoint_of(config)
    except ConfigError as exc:
        return exc.errors
    return []


def _json_envelope(converter: Any) -> bool:
    return isinstance(converter, JsonConverterConfig) and converter.schemas_enable


# -- source ------------------------------------------------------------------------------------------

class JdbcSourceConfig(PostgresConnection, SourceConnectorConfig):
    mode: Literal["incrementing", "timestamp+incrementing"] = Field(
        "incrementing", description="'incrementing': new rows by a strictly increasing column. "
                                    "'timestamp+incrementing': new and updated rows, by a timestamp column "
                                    "that every insert and update sets, with the incrementing column breaking "
                                    "ties.")
    incrementing_column: str = Field(min_length=1, description="A strictly increasing integer column (e.g. a "
                                                               "serial or identity primary key).")
    timestamp_column: str | None = Field(None, min_length=1, description="With timestamp+incrementing: the "
                                                                         "timestamp or timestamptz column.")
    tables: list[str] = Field(default_factory=list, description="Tables to read ('orders' or 'schema.orders', "
                                                                "names as in the database); one partition each, "
                                                                "split over the tasks.")
    query: str | None = Field(None, min_length=1, description="A custom SELECT instead of tables; it is read as "
                                                              "a subquery, filtered and ordered by the columns "
                                                              "above. One partition, one task.")
    query_name: str | None = Field(None, min_length=1, max_length=200,
                                   description="Names the query's partition and topic; default: the connector "
                                               "name.")
    topic_prefix: str = Field("", description="Each record's topic is this prefix followed by the table name "
                                              "(or query_name).")
    key_columns: list[str] = Field(default_factory=list,
                                   description="Columns that make the record key: one column's value, or an "
                                               "object of several. Empty: no key.")
    batch_size: int = Field(1000, ge=1, le=100_000, description="Most rows one poll reads (over all its "
                                                                "tables).")
    timestamp_delay_ms: int = Field(0, ge=0, description="With timestamp+incrementing: read only rows whose "
                                                         "timestamp is at least this much older than the "
                                                         "database's clock, so transactions that commit late "
                                                         "with earlier timestamps are not skipped.")

    @field_validator("tables")
    @classmethod
    def _table_names(cls, value: list[str]) -> list[str]:
        for name in value:
            split_table_name(name)
        if len(set(value)) != len(value):
            raise ValueError("lists a table twice")
        return value

    @field_validator("query")
    @classmethod
    def _strip_query(cls, value: str | None) -> str | None:
        return None if value is None else value.strip().rstrip(";").strip() or None


@dataclass(frozen=True)
class _Source:
    """One partition of the source: a table or the custom query."""

    partition: dict[str, str]
    name: str
    topic: str
    relation: str  # the FROM item


class JdbcSourceTask(SourceTask[JdbcSourceConfig]):
    def __init__(self, config: JdbcSourceConfig, task_config: dict[str, Any], context: Any) -> None:
        super().__init__(config, task_config, context)
        timestamped = config.mode == "timestamp+incrementing"
        self.offset_order = ("timestamp", "incrementing") if timestamped else ("incrementing",)  # type: ignore[misc]
        self.sources = [self._source(t) for t in task_config.get("tables", [])]
        if task_config.get("query"):
            name = config.query_name or config.name
            # On its own lines: a trailing "-- comment" in the query cannot swallow the parenthesis.
            relation = f"(\n{config.query}\n)"
            self.sources.append(_Source({"query": name}, name, config.topic_prefix + name, relation))
        self.session = PostgresSession(config, f"connect-core/{config.name}/{context.task_id}", read_only=True)
        self._value_schemas = _json_envelope(config.value_converter)
        self._key_schemas = _json_envelope(config.key_converter)
        self._inc = quote_identifier(config.incrementing_column)
        self._ts = quote_identifier(config.timestamp_column) if config.timestamp_column else None
        self._next = 0

    def _source(self, table: str) -> _Source:
        return _Source({"table": table}, table, self.config.topic_prefix + table, qualified(table))

    def partitions(self) -> Sequence[Partition]:
        return [s.partition for s in self.sources]

    def stop(self) -> None:
        self.session.close()

    def poll(self, offsets: OffsetMap) -> list[ConnectRecord]:
        budget = self.config.batch_size
        records: list[ConnectRecord] = []
        count = len(self.sources)
        # Start at a different partition each poll, so one busy table cannot starve the others.
        for i in range(count):
            if budget <= 0:
                break
            source = self.sources[(self._next + i) % count]
            offset = offsets.get(source.partition)
            batch = self.session.unit(lambda s, src=source, at=offset, n=budget: self._read(s, src, at, n))
            records.extend(batch)
            budget -= len(batch)
        self._next = (self._next + 1) % max(count, 1)
        return records

    def _read(self, session: PostgresSession, source: _Source, offset: Mapping[str, Any] | None,
              limit: int) -> list[ConnectRecord]:
        where: list[str] = []
        params: list[Any] = []
        inc, ts = self._inc, self._ts
        if ts is None:
            if offset is None:
                where.append(f"{inc} IS NOT NULL")
            else:
                where.append(f"{inc} > $1")
                params.append(offset["incrementing"])
            order = inc
        else:
            if offset is None:
                where.append(f"{ts} IS NOT NULL AND {inc} IS NOT NULL")
            else:
                # (ts > last_ts) OR (ts = last_ts AND id > last_id), as a row comparison an index on
                # (ts, id) can serve.
                where.append(f"({ts}, {inc}) > ($1, $2)")
                params += [offset["timestamp"], offset["incrementing"]]
            if self.config.timestamp_delay_ms:
                where.append(f"{ts} < CURRENT_TIMESTAMP - INTERVAL '{int(self.config.timestamp_delay_ms)} "
                             "milliseconds'")
            order = f"{ts}, {inc}"
        sql = (f"SELECT * FROM {source.relation} AS connect_source WHERE {' AND '.join(where)} "
               f"ORDER BY {order} LIMIT {int(limit)}")
        try:
            rows, columns = session.execute(sql, params)
        except PostgresError as exc:
            raise PostgresError(f"reading {source.name!r}: {exc}", exc.sqlstate) from exc
        return self._records(source, rows, columns)

    def _records(self, source: _Source, rows: list[list[Any]], columns: list[dict[str, Any]]) -> list[ConnectRecord]:
        if not rows:
            return []
        names = [c["name"] for c in columns]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ConnectError(f"the result of {source.name!r} has more than one column named "
                               f"{', '.join(duplicated)}: give them distinct names (AS ...)")
        inc_at = self._column_at(names, self.config.incrementing_column, "incrementing_column", source)
        ts_at = (self._column_at(names, self.config.timestamp_column, "timestamp_column", source)
                 if self.config.timestamp_column else None)
        key_at = [self._column_at(names, k, "key_columns", source) for k in self.config.key_columns]
        value_schema = row_schema(source.name, columns, rows) if self._value_schemas else None
        key_schema = None
        if value_schema is not None and self._key_schemas and key_at:
            fields = {names[i]: value_schema.field(names[i]).schema for i in key_at}
            key_schema = next(iter(fields.values())) if len(key_at) == 1 else struct_schema(None, fields)
        elif self._key_schemas and key_at:
            key_schema = row_schema(None, [columns[i] for i in key_at], [[r[i] for i in key_at] for r in rows])
            if len(key_at) == 1:
                key_schema = key_schema.fields[0].schema
        now = int(time.time() * 1000)
        out = []
        for row in rows:
            offset: dict[str, Any] = {"incrementing": _position_of(row[inc_at], self.config.incrementing_column)}
            timestamp = now
            if ts_at is not None:
                moment = row[ts_at]
                if not isinstance(moment, dt.datetime):
                    raise ConnectError(f"timestamp_column {self.config.timestamp_column!r} of {source.name!r} "
                                       f"must be a timestamp or timestamptz column, not {type(moment).__name__}")
                offset = {"timestamp": timestamp_text(moment), **offset}
                timestamp = timestamp_to_millis(moment)
            if value_schema is None:
                value = {name: column_value(v) for name, v in zip(names, row)}
            else:
                value = {f.name: typed_value(v, f.schema) for f, v in zip(value_schema.fields, row)}
            key: Any = None
            if key_at:
                if key_schema is not None and value_schema is None:
                    schemas = [key_schema] if len(key_at) == 1 else [f.schema for f in key_schema.fields]
                    parts = [typed_value(row[i], s) for i, s in zip(key_at, schemas)]
                else:
                    parts = [value[names[i]] for i in key_at]
                key = parts[0] if len(key_at) == 1 else {names[i]: p for i, p in zip(key_at, parts)}
            out.append(ConnectRecord(topic=source.topic, value=value, key=key, partition=source.partition,
                                     offset=offset, timestamp=timestamp, value_schema=value_schema,
                                     key_schema=key_schema))
        return out

    @staticmethod
    def _column_at(names: list[str], column: str | None, option: str, source: _Source) -> int:
        try:
            return names.index(column or "")
        except ValueError:
            raise ConnectError(f"{option}: the result of {source.name!r} has no column {column!r} "
                               f"(columns: {', '.join(names)})") from None


def _position_of(value: Any, column: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
        return int(value)
    raise ConnectError(f"incrementing_column {column!r} must be an integer column, "
                       f"got {type(value).__name__}")


def timestamp_text(value: dt.datetime) -> str:
    """A timestamp as fixed-width ISO 8601 text: its text order is its time order (the offset store
    compares offsets as text), and the server reads it back as the column's own type."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc)
    return value.isoformat(timespec="microseconds")


# -- values and schemas ------------------------------------------------------------------------------

# PostgreSQL type OIDs (pg_type) the source maps to schema types; everything else is text.
_OID_SCHEMAS = {
    16: Schema(FieldType.BOOLEAN, optional=True),
    20: Schema(FieldType.INT64, optional=True),
    21: Schema(FieldType.INT16, optional=True),
    23: Schema(FieldType.INT32, optional=True),
    26: Schema(FieldType.INT64, optional=True),
    700: Schema(FieldType.FLOAT32, optional=True),
    701: Schema(FieldType.FLOAT64, optional=True),
    17: Schema(FieldType.BYTES, optional=True),
    1082: Schema(FieldType.INT32, optional=True, name=DATE, version=1),
    1083: Schema(FieldType.INT32, optional=True, name=TIME, version=1),
    1114: Schema(FieldType.INT64, optional=True, name=TIMESTAMP, version=1),
    1184: Schema(FieldType.INT64, optional=True, name=TIMESTAMP, version=1),
}
_ARRAY_OIDS = {1000: 16, 1005: 21, 1007: 23, 1016: 20, 1021: 700, 1022: 701, 1009: 25, 1015: 25}
_NUMERIC = 1700
_TEXT = Schema(FieldType.STRING, optional=True)


def column_schema(column: Mapping[str, Any], values: Iterable[Any]) -> Schema:
    oid = column["type_oid"]
    if oid in _OID_SCHEMAS:
        return _OID_SCHEMAS[oid]
    if oid == _NUMERIC:
        modifier = column.get("type_modifier", -1)
        if modifier is not None and modifier >= 4:
            scale = (modifier - 4) & 0xFFFF
        else:  # unconstrained numeric: the largest scale among these values
            scale = max((-v.as_tuple().exponent for v in values  # type: ignore[operator]
                         if isinstance(v, decimal.Decimal) and v.is_finite()), default=0)
        return Schema.decimal(max(scale, 0), optional=True)
    if oid in _ARRAY_OIDS:
        return Schema.array(_OID_SCHEMAS.get(_ARRAY_OIDS[oid], _TEXT), optional=True)
    return _TEXT


def row_schema(name: str | None, columns: list[Mapping[str, Any]], rows: list[list[Any]]) -> Schema:
    """The struct schema of a result's rows (every field optional: nullability is not in a result)."""
    return struct_schema(name, {c["name"]: column_schema(c, (r[i] for r in rows)) for i, c in enumerate(columns)})


def struct_schema(name: str | None, fields: Mapping[str, Schema]) -> Schema:
    # Not Schema.struct(**fields): a column may be called "name" or "optional".
    return Schema(FieldType.STRUCT, name=name, fields=tuple(SchemaField(n, s) for n, s in fields.items()))


def column_value(value: Any) -> Any:
    """A column value as a record value: JSON-friendly types stay (dates, Decimal and bytes are the
    converters' job), json/jsonb stay JSON; UUIDs, network addresses, ranges and other driver types
    become text, intervals ISO 8601 durations."""
    if value is None or isinstance(value, (str, bool, int, float, decimal.Decimal, bytes)):
        return value
    if isinstance(value, dt.time) and value.tzinfo is not None:
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):  # datetime is a date
        return value
    if isinstance(value, dt.timedelta):
        return iso_duration(value)
    if isinstance(value, dict):
        return {k: column_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [column_value(v) for v in value]
    return str(value)


def typed_value(value: Any, schema: Schema) -> Any:
    """A column value that fits its field ``schema`` (see :func:`column_schema`): text fields get
    text (json/jsonb as JSON text), arrays their elements' values."""
    if value is None:
        return None
    if schema.type is FieldType.STRING:
        if isinstance(value, str):
            return value
        plain = column_value(value)
        if isinstance(plain, (dict, list)):
            from ..convert.json_codec import dumps

            return dumps(plain)
        return plain if isinstance(plain, str) else str(plain)
    if schema.type is FieldType.ARRAY and isinstance(value, list):
        return [typed_value(v, schema.value_schema) for v in value]  # type: ignore[arg-type]
    return column_value(value)


def iso_duration(value: dt.timedelta) -> str:
    sign = "-" if value < dt.timedelta(0) else ""
    value = abs(value)
    seconds = value.seconds + value.microseconds / 1_000_000
    text = f"{seconds:.6f}".rstrip("0").rstrip(".")
    return f"{sign}P{value.days}DT{text}S"


class JdbcSourceConnector(SourceConnector[JdbcSourceConfig]):
    config_model = JdbcSourceConfig
    task_class = JdbcSourceTask
    description = ("Reads new (and updated) rows of PostgreSQL tables or a query, by an incrementing "
                   "column and optionally a timestamp column; offsets in the offset store.")

    def validate(self) -> None:
        c = self.config
        errors = _connection_errors(c)
        if c.tables and c.query:
            errors.append(FieldError("query", "set either tables or query, not both"))
        elif not c.tables and not c.query:
            errors.append(FieldError("tables", "required: list the tables to read, or set query"))
        if c.query_name and not c.query:
            errors.append(FieldError("query_name", "only used with query"))
        if c.mode == "timestamp+incrementing" and not c.timestamp_column:
            errors.append(FieldError("timestamp_column", "required with mode: timestamp+incrementing"))
        if c.mode == "incrementing" and c.timestamp_column:
            errors.append(FieldError("timestamp_column", "only used with mode: timestamp+incrementing"))
        if c.timestamp_delay_ms and c.mode != "timestamp+incrementing":
            errors.append(FieldError("timestamp_delay_ms", "only used with mode: timestamp+incrementing"))
        if len(set(c.key_columns)) != len(c.key_columns):
            errors.append(FieldError("key_columns", "lists a column twice"))
        if errors:
            raise ConfigError(errors)

    def task_configs(self, max_tasks: int) -> list[dict[str, Any]]:
        if self.config.query:
            return [{"query": True}]
        tables = self.config.tables
        count = max(1, min(max_tasks, len(tables)))
        return [{"tables": tables[i::count]} for i in range(count)]


# -- sink --------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


class JdbcSinkConfig(PostgresConnection, SinkConnectorConfig):
    table: str = Field("${topic}", min_length=1,
                       description="Target table, 'table' or 'schema.table', exactly as named in the database; "
                                   "'${topic}' stands for the record's topic.")
    insert_mode: Literal["insert", "upsert"] = Field(
        "insert", description="'insert': INSERT (a row that exists fails). 'upsert': INSERT ... ON CONFLICT "
                              "(primary key) DO UPDATE, idempotent: a redelivered record writes the same row.")
    pk_mode: Literal["none", "record_key", "record_value"] = Field(
        "none", description="Where the primary key comes from: 'record_key' (the key: an object's fields, or "
                            "a plain key as the one column in pk_fields), 'record_value' (pk_fields of the "
                            "value), or 'none'.")
    pk_fields: list[str] = Field(default_factory=list,
                                 description="Primary key columns. record_value: required; record_key: the key "
                                             "fields to use (default: all), or the one column a plain key "
                                             "fills.")
    fields: list[str] = Field(default_factory=list, description="Value fields to write; empty: all of them.")
    column_map: dict[str, str] = Field(default_factory=dict,
                                       description="Value field -> column name, for fields whose column is "
                                                   "named differently.")
    delete_enabled: bool = Field(False, description="A tombstone (null value) deletes the row with the record "
                                                    "key's primary key (needs pk_mode: record_key). Off: "
                                                    "tombstones are skipped.")
    auto_create: bool = Field(False, description="Create a missing table (CREATE TABLE IF NOT EXISTS) from the "
                                                 "records' fields, with the primary key. Off: a record for a "
                                                 "missing table fails with the reason (to the dead-letter "
                                                 "queue).")
    auto_evolve: bool = Field(False, description="Add missing columns (nullable) for new fields. Off: a record "
                                                 "with a field the table has no column for fails.")
    max_rows_per_statement: int = Field(500, ge=1, le=10_000,
                                        description="Rows per multi-row INSERT/DELETE statement.")

    @field_validator("table")
    @classmethod
    def _table_template(cls, value: str) -> str:
        for name in _PLACEHOLDER.findall(value):
            if name != "topic":
                raise ValueError(f"unknown placeholder '${{{name}}}' (only '${{topic}}' is supported)")
        split_table_name(_PLACEHOLDER.sub("topic", value))
        return value


@dataclass
class _Row:
    index: int
    table: str            # as named (unquoted parts joined by '.')
    op: Literal["insert", "upsert", "delete"]
    values: dict[str, Any]  # column -> value (for deletes: the key columns only)
    key: tuple[str, ...]    # primary key columns
    schemas: dict[str, Schema | None]
    #: Typed examples for auto_create where the written value is less typed (a string key's column
    #: that the value also carries as a number).
    samples: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Table:
    columns: dict[str, str]  # column -> type name (pg_type.typname)


class JdbcSinkTask(SinkTask[JdbcSinkConfig]):
    def __init__(self, config: JdbcSinkConfig, task_config: dict[str, Any], context: Any) -> None:
        super().__init__(config, task_config, context)
        # Upserts by primary key write the same row however often a record comes.
        self.idempotent = config.insert_mode == "upsert"
        self.session = PostgresSession(config, f"connect-core/{config.name}/{context.task_id}")
        self.tables: dict[str, _Table] = {}

    def stop(self) -> None:
        self.session.close()

    def flush(self, offsets: OffsetMap) -> None:
        pass  # every put commits its own transaction before it returns

    def put(self, records: list[ConnectRecord]) -> None:
        errors: dict[int, BaseException] = {}
        rows: list[_Row] = []
        for i, record in enumerate(records):
            try:
                row = self._row(i, record)
            except (RecordShapeError, ValueError) as exc:
                errors[i] = exc if isinstance(exc, RecordShapeError) else RecordShapeError(str(exc))
                continue
            if row is not None:
                rows.append(row)
        if rows:
            errors.update(self.session.unit(lambda session: self._write(session, rows)))
        if errors:
            raise SinkRecordErrors(errors)

    # -- records to rows ----------------------------------------------------------------------------

    def _row(self, index: int, record: ConnectRecord) -> _Row | None:
        c = self.config
        table = c.table
        if "${" in table:
            if not record.topic:
                raise RecordShapeError("the record has no topic for table '${topic}': set table to a name")
            table = _PLACEHOLDER.sub(lambda _: record.topic or "", table)
        split_table_name(table)
        if record.value is None and not c.delete_enabled:
            return None  # a tombstone, and deletes are off
        key_values = self._key_values(record)
        if record.value is None:
            return _Row(index, table, "delete", key_values, tuple(key_values), {})
        value = record.value
        if not isinstance(value, Mapping):
            raise RecordShapeError(f"the value must be an object (a struct) to become a row, not "
                                   f"{type(value).__name__}")
        field_schemas = {f.name: f.schema for f in record.value_schema.fields} \
            if record.value_schema is not None and record.value_schema.type is FieldType.STRUCT else {}
        values: dict[str, Any] = {}
        schemas: dict[str, Schema | None] = {}
        wanted = set(c.fields) | (set(c.pk_fields) if c.pk_mode == "record_value" else set())
        for name, item in value.items():
            if c.fields and name not in wanted:
                continue
            column = c.column_map.get(name, name)
            values[column] = item
            schemas[column] = field_schemas.get(name)
        if c.pk_mode == "record_value":
            key_columns = tuple(c.column_map.get(f, f) for f in c.pk_fields)
            missing = [f for f, col in zip(c.pk_fields, key_columns) if values.get(col) is None]
            if missing:
                raise RecordShapeError(f"primary key field(s) {', '.join(missing)} missing or null in the value")
        else:
            key_columns = tuple(key_values)
            samples = {}
            for column, item in key_values.items():
                if values.get(column) is not None:
                    samples[column] = values[column]
                values[column] = item
                schemas.setdefault(column, None)
            return _Row(index, table, c.insert_mode, values, key_columns, schemas, samples)
        if not values:
            raise RecordShapeError("the value has no fields to write")
        return _Row(index, table, c.insert_mode, values, key_columns, schemas)

    def _key_values(self, record: ConnectRecord) -> dict[str, Any]:
        c = self.config
        if c.pk_mode != "record_key":
            return {}
        key = record.key
        if key is None:
            raise RecordShapeError("pk_mode is record_key but the record has no key")
        if isinstance(key, Mapping):
            names = c.pk_fields or list(key)
            missing = [n for n in names if key.get(n) is None]
            if missing:
                raise RecordShapeError(f"primary key field(s) {', '.join(missing)} missing or null in the key")
            return {c.column_map.get(n, n): key[n] for n in names}
        if len(c.pk_fields) != 1:
            raise RecordShapeError("the key is a plain value: pk_fields must name the one column it fills")
        if isinstance(key, (bytes, bytearray)):
            key = bytes(key).decode("utf-8", errors="strict")
        return {c.pk_fields[0]: key}

    # -- writing ------------------------------------------------------------------------------------

    def _write(self, session: PostgresSession, rows: list[_Row]) -> dict[int, BaseException]:
        errors: dict[int, BaseException] = {}
        ready: list[_Row] = []
        for table, table_rows in _by_table(rows).items():
            meta, failure = self._table(session, table, table_rows)
            for row in table_rows:
                if failure is not None:
                    errors[row.index] = failure
                    continue
                assert meta is not None
                unknown = [col for col in row.values if col not in meta.columns]
                if unknown:
                    errors[row.index] = MissingColumnError(
                        f"table {table!r} has no column {', '.join(map(repr, unknown))} (auto_evolve is off: add "
                        "the column, map the field with column_map, leave it out with fields, or set "
                        "auto_evolve: true)")
                else:
                    ready.append(row)
        if not ready:
            return errors
        session.command("BEGIN")
        try:
            for table, op, columns, group in _groups(ready):
                self._execute_group(session, table, op, columns, group)
            session.command("COMMIT")
            return errors
        except PostgresError as exc:
            session.rollback()
            if exc.sqlstate in ("42P01", "42703"):
                self.tables.clear()  # the table changed under us: read its columns again next time
            logger.info("batch statement failed, writing the batch row by row to isolate the cause",
                        extra={"connector": self.config.name, "sqlstate": exc.sqlstate})
        except BaseException:
            session.rollback()
            raise
        # Row by row, each behind a savepoint: refused rows fail alone, the rest commit together.
        session.command("BEGIN")
        try:
            for row in ready:
                session.command("SAVEPOINT connect_row")
                try:
                    self._execute_group(session, row.table, row.op, tuple(row.values), [row])
                except PostgresError as exc:
                    session.command("ROLLBACK TO SAVEPOINT connect_row")
                    errors[row.index] = PostgresError(f"table {row.table!r}: {exc}", exc.sqlstate)
                else:
                    session.command("RELEASE SAVEPOINT connect_row")
            session.command("COMMIT")
        except BaseException:
            session.rollback()
            raise
        return errors

    def _execute_group(self, session: PostgresSession, table: str, op: str, columns: tuple[str, ...],
                       rows: list[_Row]) -> None:
        meta = self.tables[table]
        target = qualified(table)
        quoted = [quote_identifier(c) for c in columns]
        chunk = max(1, min(self.config.max_rows_per_statement, _MAX_PARAMS // max(len(columns), 1)))
        if op == "upsert":
            rows = _last_per_key(rows)
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            params: list[Any] = []
            tuples = []
            for row in part:
                marks = []
                for column in columns:
                    params.append(_bind(row.values[column], meta.columns.get(column, "")))
                    marks.append(f"${len(params)}")
                tuples.append("(" + ", ".join(marks) + ")")
            if op == "delete":
                sql = f"DELETE FROM {target} WHERE ({', '.join(quoted)}) IN ({', '.join(tuples)})"
            else:
                sql = f"INSERT INTO {target} ({', '.join(quoted)}) VALUES {', '.join(tuples)}"
            if op == "upsert":
                key = part[0].key
                conflict = ", ".join(quote_identifier(c) for c in key)
                updates = [f"{c} = EXCLUDED.{c}" for c in (quote_identifier(c) for c in columns if c not in key)]
                action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
                sql += f" ON CONFLICT ({conflict}) {action}"
            session.execute(sql, params)

    # -- tables -------------------------------------------------------------------------------------

    def _table(self, session: PostgresSession, table: str,
               rows: list[_Row]) -> tuple[_Table | None, ConnectError | None]:
        """The table's columns, after creating it or adding columns where allowed; or the error every
        row for it fails with."""
        meta = self.tables.get(table)
        if meta is None:
            meta = self._read_table(session, table)
        try:
            if meta is None:
                if not self.config.auto_create:
                    return None, MissingTableError(f"table {table!r} does not exist (auto_create is off: create "
                                                   "it, or set auto_create: true)")
                self._create_table(session, table, rows)
                meta = self._read_table(session, table)
                if meta is None:
                    return None, MissingTableError(f"table {table!r} could not be created")
            if self.config.auto_evolve:
                missing: dict[str, str] = {}
                for row in rows:
                    for column in row.values:
                        if column not in meta.columns and column not in missing:
                            missing[column] = _sql_type(column, rows)
                if missing:
                    self._add_columns(session, table, missing)
                    meta = self._read_table(session, table) or meta
        except PostgresError as exc:  # e.g. the schema does not exist, or no right to create
            return None, exc
        self.tables[table] = meta
        return meta, None

    def _read_table(self, session: PostgresSession, table: str) -> _Table | None:
        rows, _ = session.execute("SELECT to_regclass($1)::oid", [qualified(table)])
        if not rows or rows[0][0] is None:
            return None
        found, _ = session.execute(
            "SELECT a.attname, t.typname FROM pg_catalog.pg_attribute a "
            "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", [rows[0][0]])
        return _Table({name: type_name for name, type_name in found})

    def _create_table(self, session: PostgresSession, table: str, rows: list[_Row]) -> None:
        key = next((r.key for r in rows if r.op != "delete"), ())
        columns: dict[str, str] = {}
        for row in rows:
            for column in row.values:
                columns.setdefault(column, _sql_type(column, rows))
        if not columns:
            return
        lines = [f"{quote_identifier(c)} {t}{' NOT NULL' if c in key else ''}" for c, t in columns.items()]
        if key:
            lines.append(f"PRIMARY KEY ({', '.join(quote_identifier(c) for c in key)})")
        logger.info("creating table", extra={"connector": self.config.name, "table": table,
                                             "columns": list(columns)})
        try:
            session.execute(f"CREATE TABLE IF NOT EXISTS {qualified(table)} ({', '.join(lines)})")
        except PostgresError as exc:
            raise PostgresError(f"creating table {table!r}: {exc}", exc.sqlstate) from exc

    def _add_columns(self, session: PostgresSession, table: str, columns: dict[str, str]) -> None:
        logger.info("adding columns", extra={"connector": self.config.name, "table": table,
                                             "columns": list(columns)})
        adds = ", ".join(f"ADD COLUMN IF NOT EXISTS {quote_identifier(c)} {t}" for c, t in columns.items())
        try:
            session.execute(f"ALTER TABLE {qualified(table)} {adds}")
        except PostgresError as exc:
            raise PostgresError(f"adding columns to {table!r}: {exc}", exc.sqlstate) from exc


def _by_table(rows: list[_Row]) -> dict[str, list[_Row]]:
    out: dict[str, list[_Row]] = {}
    for row in rows:
        out.setdefault(row.table, []).append(row)
    return out


def _groups(rows: list[_Row]) -> Iterable[tuple[str, str, tuple[str, ...], list[_Row]]]:
    """Runs of consecutive rows with the same table, operation and columns: one statement each,
    and the order of operations on a key is kept."""
    group: list[_Row] = []
    shape: tuple[str, str, tuple[str, ...]] | None = None
    for row in rows:
        this = (row.table, row.op, tuple(row.values))
        if group and this != shape:
            yield (*shape, group)  # type: ignore[misc]
            group = []
        shape = this
        group.append(row)
    if group:
        yield (*shape, group)  # type: ignore[misc]


def _last_per_key(rows: list[_Row]) -> list[_Row]:
    """One row per primary key (the last wins): one upsert statement may touch a row only once."""
    last: dict[Any, _Row] = {}
    for row in rows:
        last[tuple(repr(row.values[c]) for c in row.key)] = row
    return list(last.values()) if len(last) != len(rows) else rows


def _bind(value: Any, type_name: str) -> Any:
    """A value as a statement parameter for a column of ``type_name``."""
    if type_name in ("json", "jsonb") and value is not None and not isinstance(value, str):
        from ..convert.json_codec import dumps

        return dumps(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return value


def _sql_type(column: str, rows: list[_Row]) -> str:
    """The column type auto_create/auto_evolve give a field: from its schema, else its values."""
    for row in rows:
        schema = row.schemas.get(column)
        if schema is not None:
            return _sql_type_of_schema(schema)
    for row in rows:
        value = row.samples.get(column, row.values.get(column))
        if value is not None:
            return _sql_type_of_value(value)
    return "TEXT"


def _sql_type_of_schema(schema: Schema) -> str:
    logical = schema.logical
    if logical == DATE:
        return "DATE"
    if logical == TIME:
        return "TIME"
    if logical == TIMESTAMP:
        return "TIMESTAMPTZ"
    if logical == DECIMAL:
        return "NUMERIC"
    return {FieldType.INT8: "SMALLINT", FieldType.INT16: "SMALLINT", FieldType.INT32: "INTEGER",
            FieldType.INT64: "BIGINT", FieldType.FLOAT32: "REAL", FieldType.FLOAT64: "DOUBLE PRECISION",
            FieldType.BOOLEAN: "BOOLEAN", FieldType.STRING: "TEXT", FieldType.BYTES: "BYTEA"}.get(schema.type, "JSONB")


def _sql_type_of_value(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "BIGINT"
    if isinstance(value, float):
        return "DOUBLE PRECISION"
    if isinstance(value, decimal.Decimal):
        return "NUMERIC"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "BYTEA"
    if isinstance(value, dt.datetime):
        return "TIMESTAMPTZ" if value.tzinfo is not None else "TIMESTAMP"
    if isinstance(value, dt.date):
        return "DATE"
    if isinstance(value, dt.time):
        return "TIME"
    if isinstance(value, (dict, list, tuple)):
        return "JSONB"
    return "TEXT"


class JdbcSinkConnector(SinkConnector[JdbcSinkConfig]):
    config_model = JdbcSinkConfig
    task_class = JdbcSinkTask
    description = ("Writes records as rows of a PostgreSQL table: insert or idempotent upsert, deletes "
                   "for tombstones, one transaction per batch.")

    def validate(self) -> None:
        c = self.config
        errors = _connection_errors(c)
        if c.insert_mode == "upsert" and c.pk_mode == "none":
            errors.append(FieldError("pk_mode", "insert_mode: upsert needs a primary key: set pk_mode to "
                                                "record_key or record_value"))
        if c.pk_mode == "record_value" and not c.pk_fields:
            errors.append(FieldError("pk_fields", "required with pk_mode: record_value"))
        if c.pk_mode == "none" and c.pk_fields:
            errors.append(FieldError("pk_fields", "only used with pk_mode record_key or record_value"))
        if c.delete_enabled and c.pk_mode != "record_key":
            errors.append(FieldError("delete_enabled", "deleting by tombstone needs pk_mode: record_key"))
        if len(set(c.pk_fields)) != len(c.pk_fields):
            errors.append(FieldError("pk_fields", "lists a field twice"))
        targets = [c.column_map.get(f, f) for f in (c.fields or c.column_map)]
        if len(set(targets)) != len(targets):
            errors.append(FieldError("column_map", "maps two fields to the same column"))
        if errors:
            raise ConfigError(errors)
