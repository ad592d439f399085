"""For tests that call the real Lambda handlers in functions/ the way AWS does: the handlers, the
captured events in tests/events/, and the environment template.yaml gives the functions."""

from __future__ import annotations

import importlib.util
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from connect_core.runtime import functions

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "events"


def load_event(name: str, *, source_arn: str | None = None) -> dict[str, Any]:
    """A captured event; ``source_arn`` re-addresses its records from the captured account's queue
    to the test's (the embedded endpoint's) queue."""
    event = json.loads((EVENTS / f"{name}.json").read_text())
    if source_arn is not None:
        for record in event["Records"]:
            record["eventSourceARN"] = source_arn
    return event


def shape(value: Any) -> Any:
    """The structure of a JSON value: keys and types, not contents."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def load_handler(function: str) -> Callable[[dict[str, Any], Any], Any]:
    """``functions/<function>/app.py``'s handler, loaded as Lambda loads it (a fresh module)."""
    spec = importlib.util.spec_from_file_location(f"{function}_app", ROOT / "functions" / function / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


@contextmanager
def function_environment(monkeypatch: pytest.MonkeyPatch, tables: tuple[str, str]) -> Iterator[None]:
    """The environment template.yaml gives the functions, over the test's (configs, offsets) tables.
    Warm state is dropped before and after, so the tasks the handlers started stop and close their
    connections."""
    monkeypatch.setenv("CONFIGS_TABLE", tables[0])
    monkeypatch.setenv("OFFSETS_TABLE", tables[1])
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "RocketMQConnect")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "rocketmq-connect")
    functions.reset()
    try:
        yield
    finally:
        functions.reset()
