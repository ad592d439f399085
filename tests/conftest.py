"""Shared by every test folder: one embedded AWS endpoint per test session, started on first use."""

from __future__ import annotations

from typing import Iterator

import pytest


@pytest.fixture(scope="session")
def embedded_aws() -> Iterator["EmbeddedAWS"]:  # noqa: F821 - imported lazily: unit tests never start it
    from connect_core.local import EmbeddedAWS

    endpoint = EmbeddedAWS().start()
    endpoint.activate()
    try:
        yield endpoint
    finally:
        endpoint.stop()


@pytest.fixture
def tables(embedded_aws) -> Iterator[tuple[str, str]]:
    """(configs table, offsets table), created empty for this test and deleted after it."""
    import uuid

    from connect_core import aws
    from connect_core.storage import ensure_tables

    suffix = uuid.uuid4().hex[:12]
    names = (f"connect-configs-{suffix}", f"connect-offsets-{suffix}")
    ensure_tables(*names)
    yield names
    for name in names:
        aws.client("dynamodb").delete_table(TableName=name)


@pytest.fixture
def clock() -> "VirtualClock":  # noqa: F821
    """The runtime's clock, standing still until a test moves it."""
    from connect_core.local.clock import VirtualClock

    return VirtualClock(1_700_000_000.0)


@pytest.fixture
def queues(embedded_aws) -> Iterator[dict[str, str]]:
    """A records queue redriving to a DLQ after 3 receives: {url, arn, dlq_url, dlq_arn}."""
    import json
    import uuid

    from connect_core import aws

    sqs = aws.client("sqs")
    suffix = uuid.uuid4().hex[:8]
    dlq_url = sqs.create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=f"records-{suffix}", Attributes={
        "VisibilityTimeout": "0",  # failed messages come back at once: tests never sleep
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    yield {"url": url, "arn": arn, "dlq_url": dlq_url, "dlq_arn": dlq_arn}
    sqs.delete_queue(QueueUrl=url)
    sqs.delete_queue(QueueUrl=dlq_url)
