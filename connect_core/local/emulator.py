"""The embedded AWS endpoint: moto's server on loopback, reached like LocalStack.

    with EmbeddedAWS() as endpoint:  # started, and this process's environment points at it
        ...                          # connect_core.aws.client("dynamodb") reaches endpoint.endpoint_url

Or in the foreground, for other processes to use: ``python -m connect_core.local.emulator``.

Two things differ from a plain ``ThreadedMotoServer``:

- Step Functions really execute (the setting must precede the first state machine), and the
  interpreter's calls back into the endpoint find it through ``MOTO_PORT``.
- DynamoDB requests run one at a time. moto evaluates a condition and applies the write in
  separate steps, and rolls a failed transaction back by restoring whole-table snapshots, so
  concurrent requests could both pass a condition or undo each other's writes. Real DynamoDB is
  atomic per item and per transaction; serializing requests gives the same guarantees. (A
  DynamoDB request must therefore never wait on another request to this endpoint: keep DynamoDB
  Streams -> Lambda out of the emulator, or run those handlers outside the request.)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Iterable

DEFAULT_REGION = "us-east-1"
_CREDENTIALS = "testing"
_MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}}
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


class EmbeddedAWS:
    """moto's server on 127.0.0.1, one endpoint URL for every service.

    ``port=0`` (the default) lets the system pick a free port. ``start()`` returns once the server
    answers; ``activate()`` points this process at it until ``stop()``. moto keeps its resources per
    process, so every instance in one process serves the same ones.
    """

    def __init__(self, port: int = 0, *, region: str = DEFAULT_REGION, log_requests: bool = False) -> None:
        self._requested_port = port
        self.region = region
        self.log_requests = log_requests
        self._server: Any = None
        self._port: int | None = None
        self._saved_env: dict[str, str | None] | None = None
        self._saved_moto_port: str | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "EmbeddedAWS":
        if self._server is not None:
            return self
        from moto.server import ThreadedMotoServer

        werkzeug_log = logging.getLogger("werkzeug")
        if not self.log_requests and werkzeug_log.level == logging.NOTSET:
            werkzeug_log.setLevel(logging.WARNING)  # one line per request otherwise
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self._requested_port, verbose=False)
        server.start()
        self._server = server
        self._port = server.get_host_and_port()[1]
        # The Step Functions interpreter calls the endpoint at localhost:$MOTO_PORT.
        self._saved_moto_port = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = str(self._port)
        try:
            _serialize_dynamodb(server)
            self._wait_until_ready()
            self._post("/moto-api/config", _MOTO_CONFIG)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server and restore the environment ``activate()`` changed."""
        self.deactivate()
        if self._server is not None:
            self._server.stop()
            self._server = self._port = None
            _apply({"MOTO_PORT": self._saved_moto_port})

    def __enter__(self) -> "EmbeddedAWS":
        self.start()
        self.activate()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    # --- where it is -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the embedded AWS endpoint is not running: call start() first")
        return self._port

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The environment a process (this one or a child) needs to use this endpoint."""
        env = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": _CREDENTIALS,
            "AWS_SECRET_ACCESS_KEY": _CREDENTIALS,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "MOTO_PORT": str(self.port),
        }
        if any(os.environ.get(name) for name in _PROXY_VARS):
            # Loopback must bypass a configured proxy (localhost: the Step Functions interpreter).
            for name in ("NO_PROXY", "no_proxy"):
                hosts = [h for h in os.environ.get(name, "").split(",") if h.strip()]
                env[name] = ",".join(dict.fromkeys([*hosts, "127.0.0.1", "localhost"]))
        return env

    def activate(self) -> None:
        """Point this process at the endpoint; ``deactivate()`` or ``stop()`` restores the previous values.

        Also hides ``AWS_SESSION_TOKEN``/``AWS_PROFILE``, so real credentials never mix in, and
        per-service ``AWS_ENDPOINT_URL_<SERVICE>`` overrides, so every service reaches this endpoint.
        """
        if self._saved_env is not None:
            return
        hidden = ["AWS_SESSION_TOKEN", "AWS_PROFILE", *(name for name in os.environ
                                                       if name.startswith("AWS_ENDPOINT_URL_"))]
        changes: dict[str, str | None] = {**dict.fromkeys(hidden), **self.env()}
        self._saved_env = {name: os.environ.get(name) for name in changes}
        _apply(changes)
        _reset_clients()

    def deactivate(self) -> None:
        if self._saved_env is None:
            return
        _apply(self._saved_env)
        self._saved_env = None
        _reset_clients()

    # --- moto's control API ------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every resource in every service; the Step Functions setting stays."""
        self._post("/moto-api/reset", None)
        self._post("/moto-api/config", _MOTO_CONFIG)

    def _post(self, path: str, body: Any) -> Any:
        data = json.dumps(body).encode() if body is not None else b""
        request = urllib.request.Request(self.endpoint_url + path, data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
        with _direct.open(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def _wait_until_ready(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with _direct.open(self.endpoint_url + "/moto-api/config", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the embedded AWS endpoint at {self.endpoint_url} "
                                       f"did not answer within {timeout_s:.0f} s") from None
                time.sleep(0.05)


def _apply(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _reset_clients() -> None:
    from ..aws import reset_clients

    reset_clients()


def _serialize_dynamodb(server: Any) -> None:
    """Wrap the server's WSGI app so DynamoDB requests run one at a time (see the module doc)."""
    wsgi_server = getattr(server, "_server", None)
    if wsgi_server is None or not hasattr(wsgi_server, "app"):
        raise RuntimeError("moto's ThreadedMotoServer changed shape; this emulator is tested with "
                           "moto 5.2.5")
    wsgi_server.app = _DynamoDBSerializer(wsgi_server.app)


class _DynamoDBSerializer:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            with self.lock:
                # Drain the body inside the lock: the work may happen while it is iterated.
                result = self.app(environ, start_response)
                try:
                    return [b"".join(result)]
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
        return self.app(environ, start_response)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m connect_core.local.emulator",
                                     description="Run the embedded AWS endpoint in the foreground.")
    parser.add_argument("--port", type=int, default=4566,
                        help="port on 127.0.0.1 (default 4566, LocalStack's; 0 picks a free one)")
    parser.add_argument("--log-requests", action="store_true", help="log one line per request")
    args = parser.parse_args(argv)

    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    endpoint = EmbeddedAWS(port=args.port, log_requests=args.log_requests).start()
    try:
        print(f"embedded AWS endpoint: {endpoint.endpoint_url}", flush=True)
        print("use it with:", flush=True)
        for name, value in endpoint.env().items():
            print(f"  export {name}={value}", flush=True)
        print("Ctrl-C stops it.", flush=True)
        stopped.wait()
    finally:
        endpoint.stop()


if __name__ == "__main__":
    main()
