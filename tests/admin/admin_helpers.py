"""Helpers of the admin API's tests (fixtures are in conftest.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connect_core import testing

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


class Client:
    """Calls the API's transport-independent core, as both the Lambda and the HTTP server do."""

    def __init__(self, api: Any) -> None:
        self.api = api

    def __call__(self, method: str, path: str, body: Any = None, *, query: str = "",
                 raw: bytes | None = None, headers: dict[str, str] | None = None) -> Answer:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        response = self.api.handle(method, path, query, data,
                                   {"Content-Type": "application/json", **(headers or {})})
        payload = response.body_bytes()
        return Answer(response.status, json.loads(payload) if payload else None, response.all_headers())


def datagen(name: str, queue_url: str, **options: Any) -> dict[str, Any]:
    """A datagen-source config publishing to ``queue_url``."""
    return {"name": name, "connector": "datagen-source", "records": 5, "partitions": 2, "max_tasks": 1,
            "target": {"type": "sqs", "queue_url": queue_url}, **options}


def tick(stack: Any, name: str, task: int = 0) -> dict[str, Any]:
    """One tick of a source task, as its schedule would start it; the TickResult."""
    return stack.runtime.invoke("SourcePollerFunction", {"connector": name, "task": task})


def invoke(stack: Any, event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    """The deployed admin function invoked with an API Gateway event: (status, headers, decoded body)."""
    response = stack.runtime.invoke("AdminApiFunction", event)
    assert response["isBase64Encoded"] is False
    return response["statusCode"], response["headers"], json.loads(response["body"]) if response["body"] else None


def drain(queue_url: str) -> list[Any]:
    """Every message now in the queue (received and deleted), as decoded JSON values."""
    return [json.loads(m["Body"]) for m in testing.drain(queue_url)]


def load_event(name: str, **replace: str) -> dict[str, Any]:
    text = (EVENTS / name).read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return json.loads(text)
