"""Fixtures of the file connectors' tests: stores over fresh tables and queues on the session's
embedded endpoint (tests/conftest.py), created only by the tests that ask for them."""

from __future__ import annotations

import uuid
from typing import Callable, Iterator

import pytest

from connect_core import aws
from connect_core.storage import Stores, ensure_tables
from connect_core.local.clock import VirtualClock


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(1_700_000_000.0)


@pytest.fixture
def stores(embedded_aws, clock) -> Iterator[Stores]:
    suffix = uuid.uuid4().hex[:12]
    names = (f"file-configs-{suffix}", f"file-offsets-{suffix}")
    ensure_tables(*names)
    yield Stores.dynamodb(*names, clock=clock)
    for name in names:
        aws.client("dynamodb").delete_table(TableName=name)


@pytest.fixture
def make_queue(embedded_aws) -> Iterator[Callable[[], str]]:
    """A fresh standard queue (its URL), deleted after the test."""
    sqs = aws.client("sqs")
    made: list[str] = []

    def make() -> str:
        made.append(sqs.create_queue(QueueName=f"file-{uuid.uuid4().hex[:10]}")["QueueUrl"])
        return made[-1]

    yield make
    for url in made:
        sqs.delete_queue(QueueUrl=url)
