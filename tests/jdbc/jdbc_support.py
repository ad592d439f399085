"""What the jdbc tests share on top of the test kit (``connect_core.testing``): playing the SQS event
source mapping into a sink runner, reading what a source published, sending records to a sink."""

from __future__ import annotations

import json
from typing import Any

from connect_core import aws
from connect_core.runtime.sink_runner import SinkRunner
from connect_core.runtime.wire import from_sqs
from connect_core.testing import drain, play_queue

FOREVER = lambda: 600_000  # noqa: E731 - remaining Lambda time that never runs out


def deliver(queues: dict[str, str], runner: SinkRunner, rounds: int = 30) -> list[dict[str, Any]]:
    """Play the event source mapping until the queue is empty. Returns the responses."""
    return [response for _, response in
            play_queue(queues["url"], queues["arn"], lambda e: runner.handle(e).response(), rounds=rounds)]


def published(url: str) -> list[dict[str, Any]]:
    """What a source published to the queue, as records: topic, key, value (parsed JSON), partition, offset."""
    out = []
    for m in drain(url):
        message = from_sqs(m["Body"], m.get("MessageAttributes", {}), m["MessageId"])
        out.append({"topic": message.topic, "key": None if message.key is None else message.key.decode(),
                    "value": None if message.value is None else json.loads(message.value),
                    "partition": dict(message.partition), "offset": dict(message.offset),
                    "timestamp": message.timestamp})
    return out


def send(url: str, messages: list[dict[str, Any]]) -> None:
    """Send records into a sink's queue in the runtime's wire form: each item has topic, key, value
    (bytes, str or None for a tombstone) and optional partition/offset."""
    from connect_core.runtime.pipeline import Message
    from connect_core.runtime.wire import to_sqs_entry

    entries = []
    for i, item in enumerate(messages):
        value = item.get("value")
        key = item.get("key")
        message = Message(value.encode() if isinstance(value, str) else value,
                          key.encode() if isinstance(key, str) else key, item.get("topic"), {},
                          item.get("partition", {}), item.get("offset", {}), item.get("timestamp"))
        entries.append(to_sqs_entry(message, str(i)))
    sqs = aws.client("sqs")
    for start in range(0, len(entries), 10):
        result = sqs.send_message_batch(QueueUrl=url, Entries=entries[start:start + 10])
        assert not result.get("Failed"), result


def rows(db: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in db.run(sql)]
