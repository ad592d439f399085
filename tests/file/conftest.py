"""Fixtures of the file connectors' tests: stores and queues on the session's embedded endpoint
(tables, clock and the endpoint itself come from tests/conftest.py), created only by the tests
that ask for them."""

from __future__ import annotations

import uuid
from typing import Callable, Iterator

import pytest

from connect_core import aws
from connect_core.storage import Stores


@pytest.fixture
def stores(tables, clock) -> Stores:
    return Stores.dynamodb(*tables, clock=clock)


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
