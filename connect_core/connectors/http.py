"""``http-sink``: send records to an HTTP endpoint (a webhook, a REST API).

One request per record, or JSON arrays of up to ``batch_max_records`` records and
``batch_max_bytes`` bytes. Every request carries an ``Idempotency-Key`` derived from the records'
source positions, so a receiver can drop the duplicates an at-least-once pipeline delivers.

What a response means:

* 2xx — written;
* a status in ``retry_on_status`` (default 408, 429, 5xx) or a network failure — retried with
  exponential backoff and jitter (at least ``Retry-After`` when the server sends one) within
  ``errors.retry_timeout_ms`` and the invocation's remaining time; when that runs out, the records
  fail and the rest of the batch is not sent (the target is unavailable; hammering it helps nobody);
* any other status — the records of that request fail with the status and an excerpt of the
  response body (to the dead-letter queue). A rejected JSON array is re-sent one record at a time
  first, so only the records the server rejects fail.

Connections are kept open across records and warm invocations; only the standard library is used.
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import email.utils
import http.client
import json
import logging
import random
import re
import ssl
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator

from ..api import ConnectRecord, OffsetMap, SinkConnector, SinkRecordErrors, SinkTask, partition_key
from ..config import SecretRef, SinkConnectorConfig
from ..errors import ConfigError, ConnectError, FieldError, RetriableError
from ..runtime.pipeline import Retrier

logger = logging.getLogger("connect_core.connectors.http")

USER_AGENT = "rocketmq-connect-serverless http-sink/1.0"
#: Idempotency keys are UUIDs in this namespace, named by the records' source positions.
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f0d6c52-6a43-4c1b-9a5e-2b8f4a1e7d30")
#: Time kept free at the end of an invocation beyond one request's timeouts.
SAFETY_MARGIN_MS = 1_000
#: Most bytes of a success response read to keep the connection reusable; larger ones close it.
DRAIN_LIMIT = 1 << 20
#: Most bytes of an error response read for its excerpt.
ERROR_READ_LIMIT = 64 * 1024

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_BAD_HEADER_VALUE = re.compile(r"[\r\n\x00]")
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_PLACEHOLDERS = ("topic", "key")
_STATUS = re.compile(r"^[1-5]([0-9]{2}|xx)$")
#: Headers the connection itself manages.
_MANAGED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


# -- config ----------------------------------------------------------------------------------------

class HttpSinkConfig(SinkConnectorConfig):
    """Sends records to an HTTP endpoint: one request per record or JSON arrays."""

    url: str = Field(
        description="Endpoint the records are sent to: http(s)://host[:port]/path[?query]. '${topic}' and "
                    "'${key}' in the path or query are replaced by each record's topic and key (URL-encoded).")
    method: Literal["POST", "PUT", "PATCH"] = Field("POST", description="HTTP method of every request.")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Static headers sent with every request (Content-Type and User-Agent may be overridden "
                    "here). Never put credentials here: use auth_secret.")
    auth_secret: SecretRef | None = Field(
        None, description="Secret reference whose value is sent in auth_header (e.g. a bearer token). "
                          "Resolved at run time, cached for 5 minutes, re-read when the server answers "
                          "401/403; never logged.")
    auth_header: str = Field("Authorization", description="Header that carries the auth_secret value.")
    auth_prefix: str = Field("", description="Text before the secret in auth_header, e.g. 'Bearer ' or 'Basic '.")
    body_format: Literal["value", "record", "raw"] = Field(
        "value", description="'value': the record value as JSON; 'record': a JSON object with id (the "
                             "idempotency key), topic, key, value, headers, partition, offset and timestamp; "
                             "'raw': the value's bytes as they are (text as UTF-8; needs batch_max_records 1). "
                             "Bytes inside JSON are base64 text.")
    batch_max_records: int = Field(
        1, ge=1, le=10_000, description="1: each record is the body of its own request. More: each request's "
                                        "body is a JSON array of up to this many records.")
    batch_max_bytes: int = Field(
        1_048_576, ge=1_024, le=6 * 1_048_576,
        description="Most bytes of a JSON array body; a single record larger than this is sent alone.")
    connect_timeout_ms: int = Field(5_000, ge=100, le=60_000, description="Timeout for opening a connection.")
    read_timeout_ms: int = Field(10_000, ge=100, le=300_000,
                                 description="Timeout for each read of the response (and each write of the request).")
    retry_on_status: list[str] = Field(
        ["408", "429", "5xx"],
        description="Response statuses that are retried (within errors.retry_timeout_ms) rather than failing the "
                    "records: codes like '429' or classes like '5xx'.")
    idempotency_key_header: str | None = Field(
        "Idempotency-Key", description="Header carrying a key derived from the connector name and the records' "
                                       "source partitions and offsets (the same on every redelivery); null to "
                                       "send none.")
    ca_bundle: str | None = Field(
        None, description="PEM file of the CA certificates to trust for https instead of the system's "
                          "(a private CA), e.g. a file in a layer: /opt/certs/ca.pem.")
    error_excerpt_chars: int = Field(512, ge=0, le=8_192,
                                     description="Most characters of an error response's body kept in the "
                                                 "failure (and its dead letter).")

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value != value.strip() or any(c.isspace() for c in value):
            raise ValueError("must not contain whitespace")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https"):
            raise ValueError("must start with http:// or https://")
        if not parts.hostname:
            raise ValueError("has no host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not contain credentials: put them in a secret and set auth_secret")
        if parts.fragment:
            raise ValueError("must not contain a fragment ('#...')")
        if "${" in parts.netloc:
            raise ValueError("placeholders are allowed in the path and query only, not in the host")
        try:
            parts.port
        except ValueError:
            raise ValueError("has an invalid port") from None
        unknown = sorted({name for name in _PLACEHOLDER.findall(value) if name not in _PLACEHOLDERS})
        if unknown:
            raise ValueError(f"unknown placeholder(s) {', '.join('${' + n + '}' for n in unknown)}: "
                             "only ${topic} and ${key} are replaced")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        problems = []
        for name, text in value.items():
            bad_name = _bad_header_name(name)
            if bad_name:
                problems.append(bad_name)
            elif name.lower() in _MANAGED_HEADERS:
                problems.append(f"header {name!r} is set by the connection itself and cannot be configured")
            if _BAD_HEADER_VALUE.search(text):
                problems.append(f"the value of header {name!r} must not contain line breaks or NUL")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("auth_header", "idempotency_key_header")
    @classmethod
    def _header_name(cls, value: str | None) -> str | None:
        if value is not None:
            bad_name = _bad_header_name(value)
            if bad_name:
                raise ValueError(bad_name)
            if value.lower() in _MANAGED_HEADERS:
                raise ValueError(f"header {value!r} is set by the connection itself")
        return value

    @field_validator("auth_prefix")
    @classmethod
    def _auth_prefix(cls, value: str) -> str:
        if _BAD_HEADER_VALUE.search(value):
            raise ValueError("must not contain line breaks or NUL")
        return value

    @field_validator("retry_on_status", mode="before")
    @classmethod
    def _statuses(cls, value: object) -> object:
        if not isinstance(value, list):
            return value
        out = []
        for item in value:
            text = str(item).strip().lower() if isinstance(item, (int, str)) and not isinstance(item, bool) else None
            if text is None or not _STATUS.match(text):
                raise ValueError(f"{item!r} is not a status code (e.g. 429) or class (e.g. 5xx)")
            if text.startswith("2"):
                raise ValueError(f"{item!r} is a success status; it is never retried")
            out.append(text)
        return out


def _bad_header_name(name: str) -> str | None:
    """What is wrong with a header name, None if nothing."""
    if _TOKEN.match(name):
        return None
    return f"{name!r} is not a valid header name (letters, digits and !#$%&'*+.^_`|~-)"


# -- errors ----------------------------------------------------------------------------------------

class HttpSinkError(ConnectError):
    """Base of the failures the http-sink records in dead letters."""


class HttpStatusError(HttpSinkError):
    """The server refused the request with a status that is not retried: the records of the request fail."""


class HttpRetriableStatusError(HttpSinkError, RetriableError):
    """A retried status (429, 5xx, ...) that persisted until the retry budget ran out."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class HttpRetryLaterError(HttpSinkError):
    """The server asked to retry later than the retry budget allows: no point waiting now."""


class HttpConnectionError(HttpSinkError, RetriableError):
    """The request could not be sent or its response not read (refused, reset, timed out, DNS)."""


class HttpTlsError(HttpSinkError):
    """The server's certificate could not be verified; retrying cannot help."""


class HttpSecretError(HttpSinkError, RetriableError):
    """The auth secret could not be read (missing, access denied, throttled)."""


class HttpNotSentError(HttpSinkError, RetriableError):
    """The record was not sent: the target was unavailable earlier in the batch, or the invocation
    had no time left for another request."""


#: Failures that say the target as a whole is unusable right now: the rest of the batch is not sent.
_TARGET_WIDE = (RetriableError, HttpRetryLaterError, HttpTlsError)


# -- task -----------------------------------------------------------------------------------------

@dataclass
class _Request:
    """One HTTP request: the records it carries (by batch index) and its body."""

    target: str
    indexes: list[int]
    items: list[bytes]
    keys: list[str | None]

    def body(self, batched: bool) -> bytes:
        return b"[" + b",".join(self.items) + b"]" if batched else self.items[0]

    def idempotency_key(self) -> str | None:
        if len(self.keys) == 1:
            return self.keys[0]
        if any(k is None for k in self.keys):
            return None
        return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, "\n".join(self.keys)))  # type: ignore[arg-type]

    def singles(self) -> list["_Request"]:
        return [_Request(self.target, [i], [item], [key])
                for i, item, key in zip(self.indexes, self.items, self.keys)]


@dataclass
class _Response:
    status: int
    reason: str
    headers: http.client.HTTPMessage
    body: bytes


class HttpSinkTask(SinkTask[HttpSinkConfig]):
    """Sends each ``put`` synchronously: when ``put`` returns, the server has acknowledged every record
    not reported as failed, so ``flush`` has nothing left to do."""

    #: How the task waits between retries and reads time; tests substitute a virtual clock.
    sleep: ClassVar[Callable[[float], None]] = staticmethod(time.sleep)
    clock: ClassVar[Callable[[], float]] = staticmethod(time.monotonic)

    def start(self) -> None:
        cfg = self.config
        parts = urlsplit(cfg.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._https else 80)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._path_template = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._templated = "${" in self._path_template
        self._batched = cfg.batch_max_records > 1
        self._request_ms = cfg.connect_timeout_ms + cfg.read_timeout_ms
        self._codes = {int(s) for s in cfg.retry_on_status if not s.endswith("xx")}
        self._classes = {int(s[0]) for s in cfg.retry_on_status if s.endswith("xx")}
        self._random = random.Random()
        self._conn: http.client.HTTPConnection | None = None
        self._conn_used = False
        self._deadline = 0.0
        self._last_error: BaseException | None = None
        self._tls: ssl.SSLContext | None = None
        if self._https:
            try:
                self._tls = ssl.create_default_context(cafile=cfg.ca_bundle)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError.single("ca_bundle", f"cannot load CA certificates from {cfg.ca_bundle!r}: "
                                                      f"{getattr(exc, 'strerror', None) or exc}") from None
        self._auth_value: str | None = None
        if cfg.auth_secret is not None:
            self._auth_value = self._read_secret(force=False)  # fail fast: a task without its secret cannot start

    def stop(self) -> None:
        self._close()

    def flush(self, offsets: OffsetMap) -> None:
        pass  # put returns only after the server answered every request

    # -- put --------------------------------------------------------------------------------------

    def put(self, records: list[ConnectRecord]) -> None:
        errors: dict[int, BaseException] = {}
        pending = deque(self._plan(records, errors))
        deadline = self._retry_deadline()
        unavailable: BaseException | None = None
        while pending:
            request = pending.popleft()
            if unavailable is None and not self._time_for_a_request():
                unavailable = HttpNotSentError(
                    f"not sent: the invocation has {self.context.remaining_time_ms()} ms left, less than one "
                    f"request may take ({self._request_ms + SAFETY_MARGIN_MS} ms)")
            if unavailable is not None:
                not_sent = unavailable if isinstance(unavailable, HttpNotSentError) else HttpNotSentError(
                    f"not sent: an earlier request of this batch failed ({type(unavailable).__name__}: {unavailable})")
                not_sent.attempts = 0  # type: ignore[attr-defined]
                errors.update((i, not_sent) for i in request.indexes)
                continue
            try:
                self._send(request, deadline)
            except HttpStatusError as exc:
                if len(request.indexes) > 1:
                    pending.extendleft(reversed(request.singles()))  # find the records the server rejects
                    continue
                errors[request.indexes[0]] = exc
            except _TARGET_WIDE as exc:
                unavailable = exc
                errors.update((i, exc) for i in request.indexes)
        if errors:
            raise SinkRecordErrors(errors)

    def _plan(self, records: list[ConnectRecord], errors: dict[int, BaseException]) -> list[_Request]:
        """Encode the records and group them into requests, in order. A record that cannot be
        encoded or addressed fails on its own."""
        cfg = self.config
        requests: list[_Request] = []
        current: _Request | None = None
        size = 0
        for index, record in enumerate(records):
            try:
                target = self._target(record)
                key = self._idempotency_key(record)
                item = self._encode(record, key)
            except Exception as exc:  # noqa: BLE001 - a record we cannot send fails alone, the rest go on
                errors[index] = exc
                continue
            if (current is None or not self._batched or current.target != target
                    or len(current.indexes) >= cfg.batch_max_records
                    or size + 1 + len(item) > cfg.batch_max_bytes):
                current = _Request(target, [], [], [])
                requests.append(current)
                size = 2 + len(item)
            else:
                size += 1 + len(item)
            current.indexes.append(index)
            current.items.append(item)
            current.keys.append(key)
        return requests

    def _target(self, record: ConnectRecord) -> str:
        if not self._templated:
            return self._path_template

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            value: Any = record.topic if name == "topic" else record.key
            if value is None:
                raise ValueError(f"url needs ${{{name}}} but the record has no {name}")
            if isinstance(value, (bytes, bytearray)):
                value = bytes(value).decode("utf-8", "replace")
            return quote(str(value), safe="")

        return _PLACEHOLDER.sub(replace, self._path_template)

    def _idempotency_key(self, record: ConnectRecord) -> str | None:
        if not record.partition:
            return None  # no source position: nothing stable to derive a key from
        name = f"{self.config.name}\n{partition_key(record.partition)}\n{partition_key(record.offset)}"
        return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, name))

    def _encode(self, record: ConnectRecord, key: str | None) -> bytes:
        fmt = self.config.body_format
        if fmt == "raw":
            value = record.value
            if value is None:
                return b""
            if isinstance(value, (bytes, bytearray)):
                return bytes(value)
            if isinstance(value, str):
                return value.encode("utf-8")
            return _json(value)
        if fmt == "record":
            return _json({"id": key, "topic": record.topic, "key": record.key, "value": record.value,
                          "headers": record.headers, "partition": dict(record.partition),
                          "offset": dict(record.offset), "timestamp": record.timestamp})
        return _json(record.value)

    # -- one request, with retries ----------------------------------------------------------------------

    def _retry_deadline(self) -> float:
        """When retrying must stop: the retry budget, and never so late that the invocation could time
        out in the middle of a request (its records would then be redelivered after succeeding)."""
        timeout_ms = self.config.errors.retry_timeout_ms
        budget_s = float("inf") if timeout_ms < 0 else timeout_ms / 1000
        left_s = (self.context.remaining_time_ms() - self._request_ms - SAFETY_MARGIN_MS) / 1000
        return self.clock() + max(0.0, min(budget_s, left_s))

    def _time_for_a_request(self) -> bool:
        return self.context.remaining_time_ms() >= self._request_ms + SAFETY_MARGIN_MS

    def _send(self, request: _Request, deadline: float) -> None:
        now = self.clock()
        budget_ms = max(0, int((deadline - now) * 1000))
        self._deadline = now + budget_ms / 1000  # the Retrier's own deadline
        errors = self.config.errors.model_copy(update={"retry_timeout_ms": budget_ms})
        retrier = Retrier(errors, sleep=self._pause, clock=self.clock)

        def attempt() -> None:
            try:
                self._attempt(request, self._deadline)
            except Exception as exc:
                self._last_error = exc
                raise

        retrier.call(attempt)

    def _pause(self, backoff: float) -> None:
        """The Retrier's wait: its capped exponential backoff with jitter, at least ``Retry-After``."""
        if backoff >= self._deadline - self.clock():
            delay = backoff  # the rest of the budget, then one last attempt (no tail of ever smaller waits)
        else:
            delay = backoff * self._random.uniform(0.5, 1.0)
        retry_after = getattr(self._last_error, "retry_after", None)
        if retry_after is not None:
            delay = max(delay, retry_after)  # the Retrier checked the budget before asking to wait
        logger.info("HTTP request failed; retrying", extra={
            "connector": self.config.name, "error": str(self._last_error), "delay_s": round(delay, 3)})
        self.sleep(delay)

    def _attempt(self, request: _Request, deadline: float) -> None:
        body = request.body(self._batched)
        response = self._exchange(request, body)
        if response.status in (401, 403) and self.config.auth_secret is not None and self._secret_rotated():
            response = self._exchange(request, body)  # the secret was rotated: once more with the new value
        status = response.status
        if 200 <= status < 300:
            return
        excerpt = self._excerpt(response.body)
        message = f"HTTP {status} {response.reason} from {self._where(request)}"
        if 300 <= status < 400 and response.headers.get("Location"):
            message += f" (redirects are not followed; set url to {response.headers['Location']!r})"
        if excerpt:
            message += f": {excerpt}"
        if self._retried(status):
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            if retry_after is not None and self.clock() + retry_after > deadline:
                raise HttpRetryLaterError(
                    f"{message} (the server asked to retry after {retry_after:g} s, beyond the retry budget: "
                    "errors.retry_timeout_ms and the invocation's remaining time)")
            raise HttpRetriableStatusError(message, retry_after)
        raise HttpStatusError(message)

    def _retried(self, status: int) -> bool:
        return status in self._codes or status // 100 in self._classes

    def _excerpt(self, body: bytes) -> str:
        text = " ".join(body.decode("utf-8", "replace").split())
        if self._auth_value:
            text = text.replace(self._auth_value, "***")
            secret = self._auth_value[len(self.config.auth_prefix):]
            if secret:
                text = text.replace(secret, "***")
        limit = self.config.error_excerpt_chars
        return text if len(text) <= limit else text[:limit] + "…"

    # -- the wire ----------------------------------------------------------------------------------

    def _headers(self, request: _Request) -> dict[str, str]:
        cfg = self.config
        configured = {name.lower() for name in cfg.headers}
        headers: dict[str, str] = {}
        if "user-agent" not in configured:
            headers["User-Agent"] = USER_AGENT
        if "content-type" not in configured:
            headers["Content-Type"] = "application/octet-stream" if cfg.body_format == "raw" else "application/json"
        headers.update(cfg.headers)
        key = request.idempotency_key()
        if cfg.idempotency_key_header and key is not None:
            headers[cfg.idempotency_key_header] = key
        if self._auth_value is not None:
            headers[cfg.auth_header] = self._auth_value
        return headers

    def _exchange(self, request: _Request, body: bytes) -> _Response:
        headers = self._headers(request)
        reused = self._conn is not None and self._conn_used
        try:
            return self._roundtrip(request.target, body, headers)
        except ssl.SSLCertVerificationError as exc:
            self._close()
            raise HttpTlsError(f"{self._where(request)}: the server's certificate was not accepted "
                               f"({exc.verify_message}); set ca_bundle for a private CA") from None
        except (OSError, http.client.HTTPException) as exc:
            self._close()
            if reused and isinstance(exc, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)):
                # The server closed the kept-alive connection while it was idle: not a failure of this request.
                try:
                    return self._roundtrip(request.target, body, headers)
                except (OSError, http.client.HTTPException) as again:
                    self._close()
                    exc = again
            raise HttpConnectionError(f"{self._where(request)}: {_describe(exc, self.config)}") from None

    def _where(self, request: _Request) -> str:
        """The request as failures name it: the method and the URL without its query."""
        return f"{self.config.method} {self._origin}{request.target.partition('?')[0]}"

    def _roundtrip(self, target: str, body: bytes, headers: dict[str, str]) -> _Response:
        conn = self._connection()
        conn.request(self.config.method, target, body=body, headers=headers)
        response = conn.getresponse()
        self._conn_used = True
        data = response.read(DRAIN_LIMIT if 200 <= response.status < 300 else ERROR_READ_LIMIT)
        if not response.isclosed():
            self._close()  # more body than we read: the connection cannot carry another request
        return _Response(response.status, response.reason, response.headers, data)

    def _connection(self) -> http.client.HTTPConnection:
        conn = self._conn
        if conn is None:
            timeout = self.config.connect_timeout_ms / 1000
            if self._https:
                conn = http.client.HTTPSConnection(self._host, self._port, timeout=timeout, context=self._tls)
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
            self._conn, self._conn_used = conn, False
        if conn.sock is None:
            conn.connect()  # within connect_timeout_ms; reads and writes then get read_timeout_ms
            conn.sock.settimeout(self.config.read_timeout_ms / 1000)
            self._conn_used = False
        return conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self._conn_used = False

    # -- the auth secret -------------------------------------------------------------------------------

    def _read_secret(self, force: bool) -> str:
        ref = self.config.auth_secret
        assert ref is not None
        try:
            value = ref.resolve(force=force).get_secret_value()
        except Exception as exc:  # noqa: BLE001 - named by reference, never by content
            raise HttpSecretError(f"cannot read auth_secret {str(ref)!r}: {type(exc).__name__}: {exc}") from None
        return self.config.auth_prefix + value

    def _secret_rotated(self) -> bool:
        """Re-read the secret after a 401/403; True when its value changed (and is now in use)."""
        fresh = self._read_secret(force=True)
        if fresh == self._auth_value:
            return False
        self._auth_value = fresh
        return True


def retry_after_seconds(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP date), None if absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return max(0.0, when.timestamp() - now())


def _describe(exc: BaseException, cfg: HttpSinkConfig) -> str:
    if isinstance(exc, TimeoutError):
        return (f"timed out (connect_timeout_ms {cfg.connect_timeout_ms}, "
                f"read_timeout_ms {cfg.read_timeout_ms})")
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without a response"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _json(value: Any) -> bytes:
    return json.dumps(value, default=_json_default, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# -- connector --------------------------------------------------------------------------------------

class HttpSinkConnector(SinkConnector[HttpSinkConfig]):
    config_model = HttpSinkConfig
    task_class = HttpSinkTask
    description = ("Sends records to an HTTP endpoint (webhook, REST API): per record or as JSON arrays, "
                   "with an auth header from a secret, retries on 429/5xx and idempotency keys.")

    def validate(self) -> None:
        cfg = self.config
        errors = []
        if cfg.body_format == "raw" and cfg.batch_max_records > 1:
            errors.append(FieldError("batch_max_records", "must be 1 with body_format 'raw' (raw bodies cannot "
                                                          "be combined into one request)"))
        if cfg.auth_secret is None:
            for name in ("auth_header", "auth_prefix"):
                if name in cfg.model_fields_set:
                    errors.append(FieldError(name, "has no effect without auth_secret"))
        managed = {}
        if cfg.auth_secret is not None:
            managed[cfg.auth_header.lower()] = "auth_header"
        if cfg.idempotency_key_header:
            managed[cfg.idempotency_key_header.lower()] = "idempotency_key_header"
        for name in cfg.headers:
            if name.lower() in managed:
                errors.append(FieldError(f"headers.{name}", f"is already set by {managed[name.lower()]}"))
        if cfg.auth_secret is not None and cfg.idempotency_key_header \
                and cfg.auth_header.lower() == cfg.idempotency_key_header.lower():
            errors.append(FieldError("idempotency_key_header", "must differ from auth_header"))
        if errors:
            raise ConfigError(errors)
