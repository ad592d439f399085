"""Fixtures of connectctl's tests; the helpers they use are in cli_helpers.py."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import Any, Callable, Iterator

import pytest

from cli_helpers import Run, StubApi, handler_class, run_cli


@pytest.fixture
def stub_api() -> Iterator[StubApi]:
    """A scripted stand-in for the admin API (unit tests check exactly what goes over the wire)."""
    api = StubApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class(api))
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def cli(stub_api: StubApi) -> Callable[..., Run]:
    """connectctl pointed at the stub API."""

    def run(*argv: str, **options: Any) -> Run:
        return run_cli("--url", stub_api.url, *argv, **options)

    return run
