"""A real HTTP server on 127.0.0.1 for the http-sink, scripted per test, plus the AWS pieces around it.

``webhook.script(Reply(503), Reply(200))`` makes the next requests get those answers, in order; after
the script, ``webhook.responder`` answers (200 by default). Every request the server received is in
``webhook.requests``, with the connection it came on.

Waiting is virtual: the task's ``sleep`` and ``clock`` are replaced by a clock that advances only when
the task sleeps, so retry budgets and Retry-After are exercised without any test waiting for them.
"""

from __future__ import annotations

import json
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from email.message import Message as HeaderMap
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

import pytest

from connect_core import aws
from connect_core.api import TaskContext
from connect_core.config import validate_config
from connect_core.config.secrets import clear_cache
from connect_core.connectors.http import HttpSinkTask
from connect_core.runtime.pipeline import Message, SinkPipeline
from connect_core.testing import sqs_record

FOREVER = lambda: 600_000  # noqa: E731 - remaining Lambda time that never runs out


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: Close the connection after answering without announcing it (an idle keep-alive timeout).
    drop_connection: bool = False
    #: Never answer: hold the request until the test ends (the client must time out).
    hang: bool = False


@dataclass
class Received:
    method: str
    path: str
    headers: HeaderMap
    body: bytes
    connection: tuple[str, int]

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Webhook:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Received] = []
        self.responder: Callable[[Received], Reply] = lambda request: Reply(200, b'{"ok":true}')
        self._script: list[Reply] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable

            def do_POST(self) -> None:
                webhook._handle(self)

            do_PUT = do_PATCH = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="webhook", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)

    @property
    def connections(self) -> set[tuple[str, int]]:
        return {r.connection for r in self.requests}

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        request = Received(handler.command, handler.path, handler.headers, handler.rfile.read(length),
                           handler.client_address)
        with self._lock:
            self.requests.append(request)
            reply = self._script.pop(0) if self._script else None
        reply = reply or self.responder(request)
        if reply.hang:
            self._release.wait(timeout=60)
            handler.close_connection = True
            return
        body = reply.body.encode() if isinstance(reply.body, str) else reply.body
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()
        if reply.drop_connection:
            handler.close_connection = True


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    server = Webhook()
    try:
        yield server
    finally:
        server.stop()


class VirtualTime:
    """A monotonic clock that moves only when the task sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 10_000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def virtual_time(monkeypatch) -> VirtualTime:
    t = VirtualTime()
    monkeypatch.setattr(HttpSinkTask, "sleep", staticmethod(t.sleep))
    monkeypatch.setattr(HttpSinkTask, "clock", staticmethod(t.monotonic))
    return t


@pytest.fixture
def fresh_secrets(embedded_aws):
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def token_secret(fresh_secrets) -> dict[str, str]:
    """A Secrets Manager secret holding a JSON object with the webhook token."""
    token = f"tok-{uuid.uuid4().hex}"
    arn = aws.client("secretsmanager").create_secret(
        Name=f"webhook-{uuid.uuid4().hex[:8]}", SecretString=json.dumps({"token": token}))["ARN"]
    return {"arn": arn, "ref": f"{arn}#token", "token": token}


def order(n: int, **value: Any) -> Message:
    """Order ``n`` in its wire form, as a source published it: JSON value, key, position."""
    body = {"order": n, **value}
    return Message(json.dumps(body).encode(), f"order-{n}".encode(), "orders", {"x-trace": f"t{n}"},
                   {"shop": "eu", "queue": 0}, {"seq": n}, 1_700_000_000_000 + n, id=f"m{n}")


def config(webhook: Webhook, **overrides: Any) -> dict[str, Any]:
    return {"name": "orders-hook", "connector": "http-sink", "url": f"{webhook.url}/hooks/orders", **overrides}


class Sink:
    """An http-sink task behind the runtime's sink pipeline (converters, transforms, retries, errors)."""

    def __init__(self, raw: dict[str, Any], remaining_ms: Callable[[], int] = FOREVER) -> None:
        self.connector = validate_config(raw)
        self.task = self.connector.task_class(self.connector.config, {}, TaskContext(raw["name"], 0, 0, remaining_ms))
        self.task.start()
        self.pipeline = SinkPipeline(self.connector.config, self.task, 0)

    def deliver(self, messages: list[Message]):
        return self.pipeline.deliver(messages)

    def stop(self) -> None:
        self.task.stop()


@pytest.fixture
def make_sink() -> Iterator[Callable[..., Sink]]:
    made: list[Sink] = []

    def make(raw: dict[str, Any], **kwargs: Any) -> Sink:
        sink = Sink(raw, **kwargs)
        made.append(sink)
        return sink

    yield make
    for sink in made:
        sink.stop()


def lambda_event(queue_arn: str, messages: list[Message], receive_count: int = 1) -> dict[str, Any]:
    """An SQS event source mapping event carrying ``messages``, each under its own id (``m<n>``)."""
    return {"Records": [sqs_record(m, queue_arn=queue_arn, message_id=m.id, receive_count=receive_count)
                        for m in messages]}
