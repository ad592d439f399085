"""Helpers of the admin API's tests (fixtures are in conftest.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connect_core import aws

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


def drain(queue_url: str) -> list[dict[str, Any]]:
    """Every message now in the queue (received and deleted), as decoded JSON values."""
    sqs = aws.client("sqs")
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return out
        for message in got:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def load_event(name: str, **replace: str) -> dict[str, Any]:
    text = (EVENTS / name).read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return json.loads(text)
