"""The local runtime's tests: one embedded endpoint for the session, a fresh stack per test."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from connect_core.local import EmbeddedAWS, LocalRuntime, VirtualClock

FIXTURES = Path(__file__).parent / "fixtures"
TEMPLATE = FIXTURES / "template.yaml"
START = datetime(2030, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def local_endpoint(embedded_aws: EmbeddedAWS) -> EmbeddedAWS:
    """The session's endpoint (tests/conftest.py), started and activated."""
    return embedded_aws


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def make_runtime(local_endpoint: EmbeddedAWS,
                 clock: VirtualClock) -> Iterator[Callable[..., LocalRuntime]]:
    """Start a LocalRuntime of the fixture template (or another) on the session endpoint."""
    started: list[LocalRuntime] = []

    def make(template: Path = TEMPLATE, parameters: dict[str, Any] | None = None,
             **options: Any) -> LocalRuntime:
        options.setdefault("clock", clock)
        options.setdefault("endpoint", local_endpoint)
        options.setdefault("stack_name", f"t{uuid.uuid4().hex[:8]}")
        runtime = LocalRuntime(template, parameters, **options)
        started.append(runtime)
        return runtime.start()

    yield make
    for runtime in reversed(started):
        runtime.stop()


@pytest.fixture
def runtime(make_runtime: Callable[..., LocalRuntime]) -> LocalRuntime:
    return make_runtime()
