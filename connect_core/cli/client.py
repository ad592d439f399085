"""An HTTP client of the Kafka Connect REST contract, as the admin API serves it.

Plain HTTP against the local API, SigV4-signed against the API in AWS (see ``sigv4``). Standard
library only; botocore is loaded when a request is signed, never otherwise.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Any, Iterable, Sequence
from urllib.parse import quote, urlsplit

from .sigv4 import RequestSigner

DEFAULT_URL = "http://127.0.0.1:8083"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ApiError(Exception):
    """The API answered with an error: ``{"error_code": N, "message": "..."}``."""

    def __init__(self, status: int, message: str, error_code: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code if error_code is not None else status
        self.body = body


class ApiUnreachable(Exception):
    """No answer from the API: refused, unresolvable, timed out or cut off."""


def path_of(*segments: str | int) -> str:
    """``/connectors/a%2Fb/offsets`` from ("connectors", "a/b", "offsets"): every segment quoted."""
    return "/" + "/".join(quote(str(segment), safe="") for segment in segments)


def _query(pairs: Iterable[tuple[str, str]]) -> str:
    # SigV4 canonicalises the query as sent, so encode exactly as it does (RFC 3986 unreserved only).
    return "&".join(f"{quote(key, safe='-_.~')}={quote(value, safe='-_.~')}" for key, value in pairs)


def _flag(value: bool) -> str:
    return "true" if value else "false"


class ConnectClient:
    """One method per endpoint; each returns the decoded JSON body (None for an empty one) or raises
    :class:`ApiError` / :class:`ApiUnreachable`."""

    def __init__(self, url: str = DEFAULT_URL, *, signer: RequestSigner | None = None,
                 timeout: float = 60.0, user_agent: str = "connectctl") -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url.rstrip("/")
        self.signer = signer
        self.timeout = timeout
        self.user_agent = user_agent
        # Proxies from the environment apply, except to loopback: a proxy cannot reach our 127.0.0.1.
        handlers = [urllib.request.ProxyHandler({})] if parts.hostname in _LOOPBACK else []
        self._opener = urllib.request.build_opener(*handlers)

    # --- the endpoints -------------------------------------------------------------------------

    def server_info(self) -> Any:
        return self.request("GET", "/")

    def connectors(self, expand: Sequence[str] = ()) -> Any:
        return self.request("GET", "/connectors", query=[("expand", e) for e in expand])

    def connector(self, name: str) -> Any:
        return self.request("GET", path_of("connectors", name))

    def connector_config(self, name: str) -> Any:
        return self.request("GET", path_of("connectors", name, "config"))

    def create_connector(self, name: str, config: dict[str, Any]) -> Any:
        return self.request("POST", "/connectors", body={"name": name, "config": config})

    def put_connector_config(self, name: str, config: dict[str, Any]) -> tuple[bool, Any]:
        """(created, info): Kafka answers 201 when the PUT created the connector, 200 when it updated it."""
        status, body = self.send("PUT", path_of("connectors", name, "config"), body=config)
        return status == 201, body

    def connector_status(self, name: str) -> Any:
        return self.request("GET", path_of("connectors", name, "status"))

    def replication(self, name: str) -> Any:
        return self.request("GET", path_of("connectors", name, "replication"))

    def start_failover(self, name: str, mode: str, dry_run: bool, drain_timeout_s: float | None) -> Any:
        body: dict[str, Any] = {"mode": mode, "dry_run": dry_run}
        if drain_timeout_s is not None:
            body["drain_timeout_s"] = drain_timeout_s
        return self.request("POST", path_of("connectors", name, "replication", "failover"), body=body)

    def start_failback(self, name: str, dry_run: bool) -> Any:
        return self.request("POST", path_of("connectors", name, "replication", "failback"),
                            body={"dry_run": dry_run})

    def replication_runs(self, name: str) -> Any:
        return self.request("GET", path_of("connectors", name, "replication", "runs"))

    def replication_run(self, name: str, run: str) -> Any:
        return self.request("GET", path_of("connectors", name, "replication", "runs", run))

    def resume_replication_run(self, name: str, run: str) -> Any:
        return self.request("POST", path_of("connectors", name, "replication", "runs", run, "resume"))

    def task_configs(self, name: str) -> Any:
        return self.request("GET", path_of("connectors", name, "tasks"))

    def task_status(self, name: str, task: int) -> Any:
        return self.request("GET", path_of("connectors", name, "tasks", task, "status"))

    def restart_connector(self, name: str, *, include_tasks: bool = False, only_failed: bool = False) -> Any:
        return self.request("POST", path_of("connectors", name, "restart"),
                            query=[("includeTasks", _flag(include_tasks)), ("onlyFailed", _flag(only_failed))])

    def restart_task(self, name: str, task: int) -> Any:
        return self.request("POST", path_of("connectors", name, "tasks", task, "restart"))

    def pause_connector(self, name: str) -> Any:
        return self.request("PUT", path_of("connectors", name, "pause"))

    def resume_connector(self, name: str) -> Any:
        return self.request("PUT", path_of("connectors", name, "resume"))

    def stop_connector(self, name: str) -> Any:
        return self.request("PUT", path_of("connectors", name, "stop"))

    def delete_connector(self, name: str) -> Any:
        return self.request("DELETE", path_of("connectors", name))

    def connector_plugins(self, connectors_only: bool = True) -> Any:
        """Connector plugins; with ``connectors_only=False`` also transforms, predicates, converters."""
        return self.request("GET", "/connector-plugins",
                            query=() if connectors_only else [("connectorsOnly", "false")])

    def plugin_config(self, plugin: str) -> Any:
        """The config keys of a connector plugin: type, default, documentation."""
        return self.request("GET", path_of("connector-plugins", plugin, "config"))

    def validate_config(self, plugin: str, config: dict[str, Any]) -> Any:
        return self.request("PUT", path_of("connector-plugins", plugin, "config", "validate"), body=config)

    def offsets(self, name: str) -> Any:
        return self.request("GET", path_of("connectors", name, "offsets"))

    def alter_offsets(self, name: str, offsets: list[dict[str, Any]]) -> Any:
        return self.request("PATCH", path_of("connectors", name, "offsets"), body={"offsets": offsets})

    def reset_offsets(self, name: str) -> Any:
        return self.request("DELETE", path_of("connectors", name, "offsets"))

    # --- the transport -------------------------------------------------------------------------

    def request(self, method: str, path: str, *, query: Iterable[tuple[str, str]] = (),
                body: Any = None) -> Any:
        """Send one request; the decoded JSON answer, or None when the body is empty."""
        return self.send(method, path, query=query, body=body)[1]

    def send(self, method: str, path: str, *, query: Iterable[tuple[str, str]] = (),
             body: Any = None) -> tuple[int, Any]:
        """Send one request; (HTTP status, decoded JSON answer or None)."""
        url = self.url + path
        encoded_query = _query(query)
        if encoded_query:
            url += "?" + encoded_query
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.signer is not None:
            headers = self.signer.headers(method, url, headers, data)
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return response.status, _decode(response.read(), response.headers.get_content_type())
        except urllib.error.HTTPError as exc:
            raise _api_error(exc) from None
        except urllib.error.URLError as exc:
            raise ApiUnreachable(f"cannot reach the API at {self.url}: {_reason(exc.reason)}") from None
        except TimeoutError:
            raise ApiUnreachable(f"no answer from the API at {self.url} within {self.timeout:g} s") from None
        except (ConnectionError, http.client.HTTPException) as exc:
            raise ApiUnreachable(f"the connection to the API at {self.url} failed: {_reason(exc)}") from None


def _decode(raw: bytes, content_type: str) -> Any:
    if not raw.strip():
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        if content_type == "application/json":
            raise ApiUnreachable(f"the API answered with malformed JSON: {text[:200]!r}") from None
        return text


def _api_error(exc: urllib.error.HTTPError) -> ApiError:
    raw = exc.read() if exc.fp is not None else b""
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        code = body.get("error_code")
        return ApiError(exc.code, body["message"], code if isinstance(code, int) else None, body)
    # Not the API's own error (a gateway's 403, a proxy's HTML page): say what came back.
    if isinstance(body, dict) and isinstance(body.get("Message"), str):  # API Gateway's spelling
        return ApiError(exc.code, body["Message"], None, body)
    # main() appends "(HTTP {status})" to the message: it is not repeated here.
    detail = text.splitlines()[0][:200] if text else ""
    return ApiError(exc.code, f"{exc.reason}: {detail}" if detail else str(exc.reason),
                    None, body if body is not None else text or None)


def _reason(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower() if reason.strerror[:1].isupper() else reason.strerror
    return str(reason) or type(reason).__name__
