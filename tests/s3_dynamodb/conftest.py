"""Buckets, tables and stores on the session's embedded endpoint, fresh per test (the runtime's
tables, the records queue with its DLQ and the endpoint itself come from tests/conftest.py)."""

from __future__ import annotations

import uuid
from typing import Any, Callable, Iterator

import pytest

from connect_core import aws
from connect_core.api import TaskContext
from connect_core.config import validate_config
from connect_core.storage import Stores


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
def stores(tables) -> Stores:
    return Stores.dynamodb(*tables)
