"""The real handlers in functions/, with the event shapes AWS delivers (tests/events/*.json)."""

from __future__ import annotations

import json
import uuid

import pytest

from connect_core import aws
from connect_core.storage import Stores
from connect_core.testing import lambda_context
from functions_support import function_environment, load_event, load_handler

pytestmark = pytest.mark.integration

def context():
    """A Lambda context with 300_000 ms left, whatever the test's speed."""
    return lambda_context("test-function", remaining_ms=300_000)


@pytest.fixture
def deployment(tables, monkeypatch, tmp_path):
    """The environment template.yaml gives the functions, over fresh tables and queues."""
    sqs = aws.client("sqs")
    suffix = uuid.uuid4().hex[:8]
    queue_url = sqs.create_queue(QueueName=f"records-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    dlq_url = sqs.create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    with function_environment(monkeypatch, tables):
        yield {"stores": Stores.dynamodb(*tables), "queue_url": queue_url, "queue_arn": queue_arn,
               "dlq_url": dlq_url, "dlq_arn": dlq_arn, "out": tmp_path / "out.jsonl"}


def test_scheduler_tick_event_runs_the_task_and_reports_emf_metrics(deployment, capsys):
    stores = deployment["stores"]
    config = {"name": "demo-source", "connector": "datagen-source", "partitions": 1, "records": 3,
              "target": {"type": "sqs", "queue_url": deployment["queue_url"]}}
    stores.configs.put_connector("demo-source", config)
    stores.configs.put_task_configs("demo-source", [{"partitions": [0]}], generation=1)

    result = load_handler("source_poller")(load_event("scheduler_tick"), context())

    assert (result["outcome"], result["published"]) == ("ran", 3)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf, "metrics are printed in CloudWatch's embedded metric format"
    published = emf[-1]["RecordsPublished"]
    assert sum(published if isinstance(published, list) else [published]) == 3
    assert emf[-1]["Connector"] == "demo-source"


def test_the_on_failure_record_of_a_crashed_tick_starts_a_recovery_tick_that_takes_the_task_over(deployment):
    stores = deployment["stores"]
    config = {"name": "demo-source", "connector": "datagen-source", "partitions": 1, "records": 3,
              "target": {"type": "sqs", "queue_url": deployment["queue_url"]}}
    stores.configs.put_connector("demo-source", config)
    stores.configs.put_task_configs("demo-source", [{"partitions": [0]}], generation=1)
    crashed = stores.leases.claim("demo-source", 0, "0c3a7f41-5d2e-4b57-9e84-2f6b1d8a90c3", 1.0)  # never renewed

    result = load_handler("source_poller")(load_event("lambda_on_failure_tick"), context())

    assert (result["outcome"], result["published"], result["recovery"]) == ("ran", 3, 1)
    assert (result["took_over"], result["epoch"]) == ("takeover", crashed.epoch + 1)


def test_recovery_ticks_that_keep_crashing_give_up_to_the_schedule(deployment):
    record = load_event("lambda_on_failure_tick")
    for _ in range(3):  # the record of a crashed recovery tick holds the record of the tick before it
        record = {**load_event("lambda_on_failure_tick"), "requestPayload": record}

    result = load_handler("source_poller")(record, context())

    assert (result["outcome"], result["recovery"]) == ("gave-up", 4)  # 4 crashes in a quick row


def test_crashes_far_apart_are_each_recovered(deployment):
    stores = deployment["stores"]
    stores.configs.put_connector("demo-source", {"name": "demo-source", "connector": "datagen-source",
                                                 "records": 1, "target": {"type": "sqs", "queue_url":
                                                                          deployment["queue_url"]}})
    stores.configs.put_task_configs("demo-source", [{"partitions": [0]}], generation=1)
    record = load_event("lambda_on_failure_tick")
    for minute in range(1, 4):  # a crash a minute: recovery ticks that ran a while, each recovered at once
        record = {**load_event("lambda_on_failure_tick"), "timestamp": f"2026-12-07T09:{41 + minute}:07.415Z",
                  "requestPayload": record}

    result = load_handler("source_poller")(record, context())

    assert (result["outcome"], result["recovery"]) == ("ran", 4)


def test_sqs_event_with_a_poison_message_fails_only_that_message(deployment, capsys):
    stores = deployment["stores"]
    event = load_event("sqs_batch", source_arn=deployment["queue_arn"])
    config = {"name": "demo-sink", "connector": "file-sink", "path": str(deployment["out"]), "format": "record",
              "source_queue": deployment["queue_arn"]}
    stores.configs.put_connector("demo-sink", config)
    stores.configs.put_task_configs("demo-sink", [{}], generation=1)
    stores.configs.bind_queue(deployment["queue_arn"], "demo-sink")

    response = load_handler("sink_consumer")(event, context())

    assert response == {"batchItemFailures": [{"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"}]}
    [line] = deployment["out"].read_text().splitlines()
    assert json.loads(line)["value"] == {"partition": 0, "seq": 0, "pipeline": "demo"}
    assert json.loads(line)["offset"] == {"seq": 0}
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf and emf[-1]["Connector"] == "demo-sink"  # sink metrics are per connector too


def test_an_sqs_event_from_an_unbound_queue_is_returned_whole(deployment):
    event = load_event("sqs_batch")

    response = load_handler("sink_consumer")(event, context())

    assert len(response["batchItemFailures"]) == 2
