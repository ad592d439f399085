"""Fixtures of the SQS connectors' tests: queues, tables and stores on the session's embedded
endpoint (tests/conftest.py)."""

from __future__ import annotations

import json
import uuid
from typing import Callable, Iterator

import pytest
from connect_core.local.clock import VirtualClock
from sqs_support import Queue

from connect_core import aws
from connect_core.storage import Stores, ensure_tables


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(1_700_000_000.0)


@pytest.fixture
def stores(embedded_aws, clock) -> Iterator[Stores]:
    """Stores over fresh, uniquely named tables, deleted after the test."""
    suffix = uuid.uuid4().hex[:12]
    names = (f"sqs-configs-{suffix}", f"sqs-offsets-{suffix}")
    ensure_tables(*names)
    yield Stores.dynamodb(*names, clock=clock)
    for name in names:
        aws.client("dynamodb").delete_table(TableName=name)


@pytest.fixture
def make_queue(embedded_aws) -> Iterator[Callable[..., Queue]]:
    """``make_queue(fifo=False, dlq=False, max_receives=3, **attributes)``: a fresh queue, deleted after."""
    sqs = aws.client("sqs")
    made: list[str] = []

    def create(name: str, attributes: dict[str, str]) -> Queue:
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        made.append(url)
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return Queue(url, arn)

    def make(fifo: bool = False, dlq: bool = False, max_receives: int = 3, **attributes: str) -> Queue:
        suffix = ".fifo" if fifo else ""
        base = f"q-{uuid.uuid4().hex[:10]}"
        fifo_attributes = {"FifoQueue": "true"} if fifo else {}
        dead = create(f"{base}-dlq{suffix}", dict(fifo_attributes)) if dlq else None
        if dead is not None:
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dead.arn,
                                                      "maxReceiveCount": str(max_receives)})
        queue = create(base + suffix, {**fifo_attributes, **attributes})
        queue.dlq = dead
        return queue

    yield make
    for url in reversed(made):
        try:
            sqs.delete_queue(QueueUrl=url)
        except sqs.exceptions.QueueDoesNotExist:
            pass  # the test deleted it
