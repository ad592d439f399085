"""Buckets, tables and queues on the session's embedded endpoint (tests/conftest.py), fresh per test."""

from __future__ import annotations

import json
import uuid
from typing import Any, Callable, Iterator

import pytest

from connect_core import aws
from connect_core.api import TaskContext
from connect_core.config import validate_config
from connect_core.storage import Stores, ensure_tables


@pytest.fixture
def bucket(embedded_aws) -> Iterator[str]:
    name = f"sink-{uuid.uuid4().hex[:12]}"
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


@pytest.fixture
def make_table(embedded_aws) -> Iterator[Callable[..., str]]:
    """``make_table(("pk", "S"), ("sk", "N"))``: a fresh on-demand table with that key schema."""
    made: list[str] = []
    ddb = aws.client("dynamodb")

    def make(partition: tuple[str, str] = ("pk", "S"), sort: tuple[str, str] | None = None) -> str:
        name = f"items-{uuid.uuid4().hex[:12]}"
        keys = [partition] + ([sort] if sort else [])
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": n, "KeyType": kind}
                                    for (n, _), kind in zip(keys, ("HASH", "RANGE"))],
                         AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in keys])
        made.append(name)
        return name

    yield make
    for name in made:
        ddb.delete_table(TableName=name)


@pytest.fixture
def start_task() -> Iterator[Callable[[dict[str, Any]], Any]]:
    """A started sink task for a raw config (validated like a deploy would), stopped after the test."""
    started = []

    def start(raw: dict[str, Any]) -> Any:
        connector = validate_config(raw)
        task = connector.task_class(connector.config, connector.task_configs(1)[0], TaskContext(raw["name"], 0))
        task.start()
        started.append(task)
        return task

    yield start
    for task in started:
        task.stop()


@pytest.fixture
def store_tables(embedded_aws) -> Iterator[tuple[str, str]]:
    """(configs table, offsets table) of the runtime, created empty for this test."""
    suffix = uuid.uuid4().hex[:12]
    names = (f"connect-configs-{suffix}", f"connect-offsets-{suffix}")
    ensure_tables(*names)
    yield names
    for name in names:
        aws.client("dynamodb").delete_table(TableName=name)


@pytest.fixture
def stores(store_tables) -> Stores:
    return Stores.dynamodb(*store_tables)


@pytest.fixture
def queues(embedded_aws) -> Iterator[dict[str, str]]:
    """A records queue redriving to a DLQ after 3 receives; failed messages come back at once."""
    sqs = aws.client("sqs")
    suffix = uuid.uuid4().hex[:8]
    dlq_url = sqs.create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=f"records-{suffix}", Attributes={
        "VisibilityTimeout": "0",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    yield {"url": url, "arn": arn, "dlq_url": dlq_url, "dlq_arn": dlq_arn}
    sqs.delete_queue(QueueUrl=url)
    sqs.delete_queue(QueueUrl=dlq_url)
