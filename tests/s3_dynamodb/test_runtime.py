"""Both sinks through the real runtime: source ticks publish to SQS, the sink runner takes SQS batches
(the event source mapping is played by ``sink_delivery``), the sink function's handler takes a captured
SQS event. Redelivered batches, poison records and dead letters included."""

from __future__ import annotations

import json

import pytest

from connect_core import aws
from connect_core.runtime.sink_runner import SinkRunner
from connect_core.runtime.source_runner import SourceRunner
from connect_core.testing import deploy, lambda_context
from functions_support import function_environment, load_event, load_handler
from sink_delivery import dead_letters, deliver, objects

pytestmark = pytest.mark.integration

FOREVER = lambda: 600_000  # noqa: E731 - remaining Lambda time that never runs out
EVERY_RECORD = sorted((p, s) for p in range(2) for s in range(25))


def context():
    """A Lambda context with 300_000 ms left, whatever the test's speed."""
    return lambda_context("sink-consumer", remaining_ms=300_000)


def source(queues, **overrides) -> dict:
    return {"name": "gen", "connector": "datagen-source", "partitions": 2, "records": 25, "batch_size": 10,
            "target": {"type": "sqs", "queue_url": queues["url"]}, **overrides}


def table_items(table: str) -> dict[str, dict]:
    return {item["pk"]["S"]: item for item in aws.client("dynamodb").scan(TableName=table)["Items"]}


# -- s3-sink -------------------------------------------------------------------------------------

def test_a_pipeline_into_s3_writes_every_record_once_and_redelivered_batches_overwrite(stores, queues, bucket):
    deploy(stores, source(queues), [{"partitions": [0, 1]}])
    deploy(stores, {"name": "archive", "connector": "s3-sink", "bucket": bucket, "prefix": "raw",
                    "source_queue": queues["arn"]}, [{}])
    SourceRunner(stores, owner="tick-1").tick("gen", 0, FOREVER)
    runner = SinkRunner(stores)

    events = deliver(queues, runner)
    first = objects(bucket)
    # Each invocation timed out after writing: SQS hands the same batches to the function again.
    for event in events:
        assert runner.handle(event).response() == {"batchItemFailures": []}

    assert objects(bucket) == first  # the same names and bytes: overwritten, not duplicated
    records = sorted((line["partition"], line["seq"]) for o in first.values() for line in o["lines"])
    assert records == EVERY_RECORD
    assert all(key.startswith("raw/topic=datagen/dt=") for key in first)


def test_direct_mode_writes_a_source_straight_into_s3(stores, bucket):
    sink = {"name": "direct-archive", "connector": "s3-sink", "bucket": bucket, "compression": "gzip"}
    deploy(stores, {"name": "gen", "connector": "datagen-source", "partitions": 2, "records": 25,
                    "target": {"type": "direct", "sink": sink}}, [{"partitions": [0, 1]}])

    result = SourceRunner(stores, owner="tick-1").tick("gen", 0, FOREVER)

    assert (result.outcome, result.published) == ("ran", 50)
    stored = objects(bucket)
    assert all(key.endswith(".jsonl.gz") for key in stored)
    assert sorted((line["partition"], line["seq"]) for o in stored.values() for line in o["lines"]) == EVERY_RECORD


def test_an_s3_poison_record_is_dead_lettered_with_its_context_and_the_rest_is_written(stores, queues, bucket):
    deploy(stores, {"name": "archive", "connector": "s3-sink", "bucket": bucket, "timestamp_field": "at",
                    "source_queue": queues["arn"], "errors": {"tolerance": "all"}}, [{}])
    sqs = aws.client("sqs")
    sqs.send_message(QueueUrl=queues["url"], MessageBody=json.dumps({"at": 1714521600000, "n": 1}))
    sqs.send_message(QueueUrl=queues["url"], MessageBody=json.dumps({"n": 2}))  # no time for the path

    deliver(queues, SinkRunner(stores))

    [(key, stored)] = objects(bucket).items()
    assert key.startswith("topic=unknown/dt=2024-05-01/content-") and stored["lines"] == [{"at": 1714521600000, "n": 1}]
    [letter] = dead_letters(queues)
    assert (letter["connector"], letter["stage"]) == ("archive", "put")
    assert letter["error"] == {"type": "RecordEncodingError",
                               "message": "timestamp_field 'at' is not in the record value"}
    assert letter["record"]["value_base64"] == "eyJuIjogMn0="  # the original bytes, {"n": 2}


# -- dynamodb-sink -------------------------------------------------------------------------------

def test_a_pipeline_into_dynamodb_writes_every_record_and_redelivery_changes_nothing(stores, queues, make_table):
    table = make_table(("pk", "S"))
    deploy(stores, source(queues), [{"partitions": [0, 1]}])
    deploy(stores, {"name": "items", "connector": "dynamodb-sink", "table": table,
                    "version": {"source": "offset"}, "source_queue": queues["arn"]}, [{}])
    SourceRunner(stores, owner="tick-1").tick("gen", 0, FOREVER)
    runner = SinkRunner(stores)

    events = deliver(queues, runner)
    first = table_items(table)
    for event in reversed(events):  # redelivered, late and out of order
        assert runner.handle(event).response() == {"batchItemFailures": []}

    assert table_items(table) == first
    assert sorted((int(i["partition"]["N"]), int(i["seq"]["N"])) for i in first.values()) == EVERY_RECORD
    assert first["1-24"]["_version"] == {"N": "24"}


def test_with_tolerance_none_a_dynamodb_poison_record_is_retried_then_dead_lettered(stores, queues, make_table):
    table = make_table(("pk", "S"))
    deploy(stores, {"name": "items", "connector": "dynamodb-sink", "table": table,
                    "value_converter": {"type": "json"}, "source_queue": queues["arn"]}, [{}])
    sqs = aws.client("sqs")
    record = {"topic": "orders", "partition": {"q": 0}, "offset": {"o": 1}}
    sqs.send_message(QueueUrl=queues["url"], MessageBody='{"total": 1}', MessageAttributes={
        "connect.record": {"DataType": "String", "StringValue": json.dumps({**record, "key": "o-1"})}})
    sqs.send_message(QueueUrl=queues["url"], MessageBody='{"total": 2}', MessageAttributes={
        "connect.record": {"DataType": "String", "StringValue": json.dumps({**record, "offset": {"o": 2}})}})

    events = deliver(queues, SinkRunner(stores))

    assert len(events) == 3  # the keyless record failed twice, then was dead-lettered on its last delivery
    assert set(table_items(table)) == {"o-1"}
    [letter] = dead_letters(queues)
    assert letter["deliveries"] == 3 and letter["stage"] == "put"
    assert letter["error"] == {"type": "ItemError",
                               "message": "partition_key: the record has no key (partition_key.source is 'key')"}


# -- the sink function's handler with a captured SQS event -------------------------------------------

@pytest.fixture
def sink_handler(tables, monkeypatch):
    with function_environment(monkeypatch, tables):
        yield load_handler("sink_consumer")


def test_the_sink_function_applies_a_captured_batch_of_order_changes(stores, queues, make_table, sink_handler):
    table = make_table(("pk", "S"))
    event = load_event("sqs_batch_keyed_orders", source_arn=queues["arn"])
    deploy(stores, {"name": "orders", "connector": "dynamodb-sink", "table": table,
                    "version": {"source": "offset", "field": "queue_offset"}, "source_queue": queues["arn"]}, [{}])

    response = sink_handler(event, context())
    again = sink_handler(event, context())  # SQS delivers the batch a second time

    poison = "7b2a1c9e-0d4f-4a8b-9e61-3f5c2d1a0b05"  # a JSON array, not an order
    assert response == again == {"batchItemFailures": [{"itemIdentifier": poison}]}
    items = table_items(table)
    assert set(items) == {"o-1001"}  # o-1002 was deleted by its tombstone
    assert items["o-1001"]["status"] == {"S": "paid"} and items["o-1001"]["_version"] == {"N": "43"}
    assert items["o-1001"]["lines"] == {"L": [{"M": {"sku": {"S": "A-1"}, "qty": {"N": "2"}}}]}
