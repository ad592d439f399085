"""Fixtures of the SQS connectors' tests: queues and stores on the session's embedded endpoint
(tables, clock and the endpoint itself come from tests/conftest.py)."""

from __future__ import annotations

import uuid
from typing import Callable, Iterator

import pytest
from sqs_support import Queue

from connect_core import aws
from connect_core.storage import Stores


@pytest.fixture
def stores(tables, clock) -> Stores:
    return Stores.dynamodb(*tables, clock=clock)


@pytest.fixture
def make_queue(embedded_aws) -> Iterator[Callable[..., Queue]]:
    """``make_queue(fifo=False)``: a fresh queue, deleted after the test."""
    sqs = aws.client("sqs")
    made: list[str] = []

    def make(fifo: bool = False) -> Queue:
        name = f"q-{uuid.uuid4().hex[:10]}" + (".fifo" if fifo else "")
        url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"} if fifo else {})["QueueUrl"]
        made.append(url)
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return Queue(url, arn)

    yield make
    for url in reversed(made):
        try:
            sqs.delete_queue(QueueUrl=url)
        except sqs.exceptions.QueueDoesNotExist:
            pass  # the test deleted it
