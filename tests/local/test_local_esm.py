"""SQS event source mappings with Lambda's batch semantics."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from connect_core import aws
from connect_core.local import LocalRuntime

pytestmark = pytest.mark.integration


def send(url: str, *bodies: str, **extra: Any) -> list[str]:
    sqs = aws.client("sqs")
    return [sqs.send_message(QueueUrl=url, MessageBody=body, **extra)["MessageId"] for body in bodies]


def visible(url: str) -> int:
    return int(aws.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
        "ApproximateNumberOfMessages"])


def batches(runtime: LocalRuntime, queue: str) -> list[list[str]]:
    arn = runtime.stack.resources[queue].attributes["Arn"]
    return [[r["body"] for r in i.event["Records"]]
            for i in runtime.lambdas.history(runtime.physical_id("FlakyFunction"))
            if i.event["Records"][0]["eventSourceARN"] == arn]


def test_the_sqs_event_has_lambdas_shape(runtime: LocalRuntime) -> None:
    url = runtime.outputs["WorkQueueUrl"]
    (message_id,) = send(url, "hello", MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "greeting"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}})

    runtime.step()

    (invocation,) = runtime.lambdas.history(runtime.physical_id("FlakyFunction"))
    (record,) = invocation.event["Records"]
    assert record["messageId"] == message_id and record["receiptHandle"]
    assert record["body"] == "hello"
    assert record["md5OfBody"] == hashlib.md5(b"hello").hexdigest()
    assert record["md5OfMessageAttributes"]
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"] == runtime.stack.resources["WorkQueue"].attributes["Arn"]
    assert set(record["attributes"]) >= {"ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                         "ApproximateFirstReceiveTimestamp"}
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"] == {
        "kind": {"stringValue": "greeting", "stringListValues": [], "binaryListValues": [],
                 "dataType": "String"},
        "raw": {"binaryValue": base64.b64encode(b"\x00\xff").decode(), "stringListValues": [],
                "binaryListValues": [], "dataType": "Binary"}}
    assert visible(url) == 0


def test_batch_size_is_honoured(runtime: LocalRuntime) -> None:
    url = runtime.outputs["WorkQueueUrl"]      # WorkBatchSize defaults to 3
    send(url, *[f"m{i}" for i in range(7)])

    runtime.run_until_idle()

    sizes = [len(b) for b in batches(runtime, "WorkQueue")]
    assert sizes == [3, 3, 1]
    assert sorted(sum(batches(runtime, "WorkQueue"), [])) == [f"m{i}" for i in range(7)]
    assert visible(url) == 0


def test_partial_failures_delete_only_successes_then_redrive_to_the_dlq(
        runtime: LocalRuntime) -> None:
    url = runtime.outputs["WorkQueueUrl"]
    send(url, "ok-1", "fail", "ok-2")

    first = runtime.step().batches
    (batch,) = first
    assert len(batch.deleted) == 2 and len(batch.failed) == 1   # only the failure stays

    runtime.run_until_idle()

    # maxReceiveCount 2: received twice, failed twice, then moto's redrive moved it to the DLQ.
    assert batches(runtime, "WorkQueue") == [["ok-1", "fail", "ok-2"], ["fail"]]
    assert visible(url) == 0
    dlq = runtime.physical_id("WorkDeadLetterQueue")
    moved = aws.client("sqs").receive_message(QueueUrl=dlq, MaxNumberOfMessages=10,
                                              AttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in moved] == ["fail"]


def test_a_handler_exception_keeps_the_whole_batch(runtime: LocalRuntime) -> None:
    url = runtime.outputs["WorkQueueUrl"]
    send(url, "a", "crash", "b")

    (batch,) = runtime.step().batches
    assert not batch.invocation.ok and batch.invocation.error["errorType"] == "RuntimeError"
    assert batch.deleted == [] and len(batch.failed) == 3
    assert visible(url) == 3            # immediate_retry: visible again at once


def test_a_malformed_partial_response_fails_the_whole_batch(runtime: LocalRuntime) -> None:
    url = runtime.outputs["WorkQueueUrl"]
    send(url, "x", "bogus")

    (batch,) = runtime.step().batches
    assert batch.invocation.ok
    assert batch.deleted == [] and len(batch.failed) == 2
    assert visible(url) == 2


def test_what_counts_as_a_malformed_partial_response() -> None:
    from connect_core.local.esm import _reported_failures

    batch = {"a", "b"}
    assert _reported_failures({"batchItemFailures": [{"itemIdentifier": "a"}]}, batch) == {"a"}
    for success in ({"batchItemFailures": []}, {"batchItemFailures": None}, {}, None):
        assert _reported_failures(success, batch) == set()
    for malformed in ({"batchItemFailures": [{"itemIdentifier": "zz"}]},
                      {"batchItemFailures": [{"itemIdentifier": ""}]},
                      {"batchItemFailures": [{"itemIdentifier": None}]},
                      {"batchItemFailures": [{"id": "a"}]},
                      {"batchItemFailures": "a"}, "ok", ["a"]):
        assert _reported_failures(malformed, batch) is None


def test_fifo_stops_a_group_at_its_first_failure(runtime: LocalRuntime) -> None:
    url = runtime.physical_id("OrderedQueue")
    sqs = aws.client("sqs")
    for group, body in (("g1", "1a"), ("g1", "fail"), ("g1", "1c"), ("g2", "2a"), ("g2", "2b")):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group,
                         MessageDeduplicationId=f"{group}-{body}")

    (batch,) = runtime.step().batches
    bodies = {m: b for m, b in zip(batch.message_ids, batches(runtime, "OrderedQueue")[0])}
    assert sorted(bodies[m] for m in batch.deleted) == ["1a", "2a", "2b"]
    # "1c" succeeded in the handler but follows g1's failure: it stays, so g1's order holds.
    assert sorted(bodies[m] for m in batch.failed) == ["1c", "fail"]


def test_disabling_a_mapping_through_the_lambda_api(runtime: LocalRuntime) -> None:
    lam = aws.client("lambda")
    uuid = runtime.physical_id("FlakyFunctionWork")
    url = runtime.outputs["WorkQueueUrl"]
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    send(url, "waits")

    runtime.run_until_idle()
    assert batches(runtime, "WorkQueue") == [] and visible(url) == 1

    lam.update_event_source_mapping(UUID=uuid, Enabled=True, BatchSize=2)
    runtime.run_until_idle()
    assert batches(runtime, "WorkQueue") == [["waits"]]


def test_the_batching_window_waits_on_the_clock(runtime: LocalRuntime) -> None:
    sqs, lam = aws.client("sqs"), aws.client("lambda")
    url = sqs.create_queue(QueueName=f"{runtime.stack_name}-windowed")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    function = runtime.physical_id("FlakyFunction")
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function,
                                              BatchSize=25, MaximumBatchingWindowInSeconds=20)
    try:
        send(url, *[f"w{i}" for i in range(12)])

        runtime.run_until_idle()                      # a partial batch waits for its window
        runtime.advance(19)
        assert not [i for i in runtime.lambdas.history(function)
                    if i.event["Records"][0]["eventSourceARN"] == arn]
        runtime.advance(1)
        (invocation,) = [i for i in runtime.lambdas.history(function)
                         if i.event["Records"][0]["eventSourceARN"] == arn]
        assert len(invocation.event["Records"]) == 12  # gathered with ReceiveMessage calls of 10

        send(url, *[f"x{i}" for i in range(25)])      # a full batch goes at once
        runtime.step()
        assert len([i for i in runtime.lambdas.history(function)
                    if i.event["Records"][0]["eventSourceARN"] == arn]) == 2
    finally:
        lam.delete_event_source_mapping(UUID=mapping["UUID"])
        sqs.delete_queue(QueueUrl=url)
