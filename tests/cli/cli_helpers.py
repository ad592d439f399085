"""Helpers of connectctl's tests (fixtures are in conftest.py): running the CLI in-process, and a
scripted stand-in for the admin API.

The stand-in (``StubApi``) is a tiny stdlib HTTP server on 127.0.0.1 for the unit tests: it answers
with scripted responses and records every request exactly as it arrived on the wire, so the tests
can check paths, queries, bodies and SigV4 headers without the real admin API. The real API is
exercised in test_cli_local_api.py.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import pytest

from connect_core.cli import main


@dataclass
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"


@dataclass
class StubApi:
    routes: dict[tuple[str, str], Reply] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def on(self, method: str, path: str, status: int = 200, body: Any = None, *, raw: bytes | None = None,
           content_type: str = "application/json") -> None:
        self.routes[(method, path)] = Reply(status, body, raw, content_type)

    @property
    def last(self) -> Received:
        return self.received[-1]


def handler_class(api: StubApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            api.received.append(Received(self.command, parts.path, parts.query,
                                         {k.lower(): v for k, v in self.headers.items()}, body))
            reply = api.routes.get((self.command, parts.path))
            if reply is None:
                reply = Reply(404, {"error_code": 404, "message": f"no route {self.command} {parts.path}"})
            payload = reply.raw if reply.raw is not None else (
                b"" if reply.body is None else json.dumps(reply.body).encode())
            self.send_response(reply.status)
            if payload:
                self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

    return Handler


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run_cli(*argv: str, stdin: str | None = None, monkeypatch: pytest.MonkeyPatch | None = None,
            capture_argparse: bool = True) -> Run:
    """connectctl in this process, its exit code (argparse's SystemExit included) and its output.

    argparse writes usage errors to ``sys.stderr`` itself, so by default both process streams are
    redirected too; ``capture_argparse=False`` leaves them alone for tests whose API runs in this
    process and logs to them (its functions' log lines are not connectctl's output).
    """
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        assert monkeypatch is not None, "pass monkeypatch to feed stdin"
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    with contextlib.ExitStack() as stack:
        if capture_argparse:
            stack.enter_context(contextlib.redirect_stderr(err))
            stack.enter_context(contextlib.redirect_stdout(out))
        try:
            code = main(list(argv), stdout=out, stderr=err)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return Run(code, out.getvalue(), err.getvalue())
