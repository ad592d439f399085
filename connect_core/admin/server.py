"""The admin API over plain HTTP on loopback, for local runs (``connectctl local up``) and tests.

    with AdminServer(api, port=0) as server:        # port 0: any free port
        urllib.request.urlopen(server.url + "/connectors")

Requests are served on a background thread each; ``stop()`` closes the socket and joins the threads.
There is no authentication: it binds to 127.0.0.1 only by default.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .routing import Response

logger = logging.getLogger("connect_core.admin.server")

#: Larger bodies are refused (413): a connector config is a few KiB.
MAX_BODY = 6 * 1024 * 1024


class RequestHandler(Protocol):
    def handle(self, method: str, path: str, query: str, body: bytes, headers: dict[str, str]) -> "Response": ...


class AdminServer:
    def __init__(self, api: RequestHandler, host: str = "127.0.0.1", port: int = 8083) -> None:
        self.api = api
        self.host = host
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> "AdminServer":
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), _handler_class(self.api))
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"admin-api-{self.port}", daemon=True)
        self._thread.start()
        logger.info("admin API listening", extra={"url": self.url})
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=10)

    def __enter__(self) -> "AdminServer":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Joining request threads at close: stop() returns once in-flight requests have answered.
    block_on_close = True


def _handler_class(api: RequestHandler) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "rocketmq-connect-admin"

        def _serve(self) -> None:
            path, _, query = self.path.partition("?")
            length = self.headers.get("Content-Length")
            try:
                size = int(length) if length else 0
            except ValueError:
                size = -1
            if size < 0 or size > MAX_BODY:
                self._reply(413 if size > MAX_BODY else 400, b'{"error_code":%d,"message":"bad Content-Length"}'
                            % (413 if size > MAX_BODY else 400), {"Content-Type": "application/json"})
                return
            body = self.rfile.read(size) if size else b""
            response = api.handle(self.command, path, query, body, {k: v for k, v in self.headers.items()})
            self._reply(response.status, response.body_bytes(), response.all_headers())

        def _reply(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD" and payload:
                self.wfile.write(payload)

        def __getattr__(self, name: str) -> Any:
            # Every method reaches the API, which answers 405 (with Allow) where a path lacks it.
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            logger.debug("%s %s", self.address_string(), format % args)

    return Handler
