"""The event factories build the shapes AWS delivers (compared with the captured JSON in
tests/events/ and with SQS itself), and a Lambda context like the runtime's."""

from __future__ import annotations

import json
import uuid

import pytest

from connect_core import ConnectRecord
from connect_core.runtime.wire import from_lambda_record, to_sqs_entry
from connect_core.testing import (connector_create_event, connector_delete_event, connector_update_event,
                                  lambda_context, md5_of_message_attributes, reconfigure_abort_event,
                                  reconfigure_commit_event, reconfigure_prepare_event, redelivered,
                                  scheduler_event, sqs_event, sqs_record)
from functions_support import load_event as captured, shape

RECORD = ConnectRecord(topic="datagen", key="0-0", value={"partition": 0, "seq": 0, "pipeline": "demo"},
                       partition={"datagen": "demo-source", "partition": 0}, offset={"seq": 0},
                       timestamp=1545082649000)


def test_an_sqs_batch_has_the_captured_shape_record_for_record():
    real = captured("sqs_batch")

    made = sqs_event([RECORD, "{not json"], queue_arn=real["Records"][0]["eventSourceARN"])

    assert [shape(r) for r in made["Records"]] == [shape(r) for r in real["Records"]]
    for mine, theirs in zip(made["Records"], real["Records"]):
        assert mine["body"] == theirs["body"] and mine["eventSourceARN"] == theirs["eventSourceARN"]
        assert {k: v["stringValue"] for k, v in mine["messageAttributes"].items()} == \
               {k: v["stringValue"] for k, v in theirs["messageAttributes"].items()}
    assert made["Records"][0]["messageId"] != made["Records"][1]["messageId"]


def test_records_come_back_as_they_went_in():
    record = ConnectRecord(topic="orders", key="k1", value={"id": 1, "note": "naïve ☃"}, partition={"p": 1},
                           offset={"n": 41}, timestamp=1700000000123, headers={"trace": "abc"})

    message = from_lambda_record(sqs_record(record, receive_count=3))

    assert (message.key, message.topic, message.partition, message.offset, message.timestamp, message.headers,
            message.attempts) == (b"k1", "orders", {"p": 1}, {"n": 41}, 1700000000123, {"trace": "abc"}, 3)
    assert json.loads(message.value) == record.value


def test_converters_of_the_connector_encode_the_value():
    record = ConnectRecord(topic="t", value="plain text", key=None)

    body = sqs_record(record, value_converter={"type": "string"})["body"]

    assert body == "plain text"
    assert sqs_record(record)["body"] == '"plain text"'  # json by default, as every connector config


def test_a_redelivered_batch_keeps_its_messages_and_counts_the_delivery():
    event = sqs_event([RECORD, RECORD], receive_count=1)

    again = redelivered(event, times=2)

    assert [r["messageId"] for r in again["Records"]] == [r["messageId"] for r in event["Records"]]
    assert [r["attributes"]["ApproximateReceiveCount"] for r in again["Records"]] == ["3", "3"]
    assert all(a["receiptHandle"] != b["receiptHandle"] for a, b in zip(again["Records"], event["Records"]))
    assert event["Records"][0]["attributes"]["ApproximateReceiveCount"] == "1"


def test_a_fifo_batch_carries_its_group_and_sequence():
    event = sqs_event([RECORD, RECORD], queue_arn="arn:aws:sqs:eu-west-1:123456789012:orders.fifo",
                      message_group_id="shop-1")

    first, second = (r["attributes"] for r in event["Records"])
    assert first["MessageGroupId"] == second["MessageGroupId"] == "shop-1"
    assert int(first["SequenceNumber"]) < int(second["SequenceNumber"])
    assert event["Records"][0]["awsRegion"] == "eu-west-1"


@pytest.mark.integration
def test_checksums_are_those_sqs_computes(embedded_aws):
    from connect_core import aws

    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=f"checksums-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    try:
        made = sqs_record(RECORD)
        entry = to_sqs_entry(from_lambda_record(made), "0")
        sent = sqs.send_message(QueueUrl=url, MessageBody=entry["MessageBody"],
                                MessageAttributes=entry["MessageAttributes"])
        assert made["md5OfBody"] == sent["MD5OfMessageBody"]
        assert made["md5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
        assert md5_of_message_attributes({"n": {"DataType": "Number", "StringValue": "7"},
                                          "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}) == \
            sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={
                "n": {"DataType": "Number", "StringValue": "7"},
                "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})["MD5OfMessageAttributes"]
    finally:
        sqs.delete_queue(QueueUrl=url)


def test_a_schedule_tick_is_the_captured_input():
    assert scheduler_event("demo-source", 0) == captured("scheduler_tick")


def test_custom_resource_requests_have_the_captured_shapes_with_string_values():
    real_create, real_update, real_delete = captured("cfn_create"), captured("cfn_update"), captured("cfn_delete")
    config = {"name": "demo-source", "connector": "datagen-source", "max_tasks": 2, "partitions": 4,
              "records": 1000, "batch_size": 100, "schedule": "rate(1 minute)",
              "target": {"type": "sqs", "queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/demo-records"},
              "transforms": [{"type": "InsertField", "static_field": "pipeline", "static_value": "demo"}]}
    updated = {**config, "max_tasks": 3, "partitions": 6}

    create = connector_create_event(config, logical_id="DemoSource")
    update = connector_update_event(updated, config, logical_id="DemoSource")
    delete = connector_delete_event(config, delete_offsets=False, logical_id="DemoSource")

    assert set(create) == set(real_create) and set(update) == set(real_update) and set(delete) == set(real_delete)
    assert create["ResourceProperties"] == {**real_create["ResourceProperties"],
                                            "ServiceToken": create["ServiceToken"]}
    assert update["ResourceProperties"]["Config"]["max_tasks"] == "3"
    assert update["OldResourceProperties"]["Config"]["max_tasks"] == "2"
    assert (update["PhysicalResourceId"], delete["PhysicalResourceId"]) == ("demo-source", "demo-source")
    assert delete["ResourceProperties"]["DeleteOffsets"] == "false"
    with pytest.raises(ValueError, match="physical_id"):
        connector_delete_event({"connector": "datagen-source"})


def test_reconfigure_task_inputs_follow_the_state_machine():
    prepared = {"connector": "demo-source", "kind": "source", "generation": 3, "task_count": 2,
                "previous_task_count": 1, "tasks": []}

    assert reconfigure_prepare_event("demo-source") == captured("reconfigure_prepare")
    assert reconfigure_commit_event(prepared) == {"step": "commit", "connector": "demo-source", "kind": "source",
                                                  "generation": 3, "task_count": 2}
    abort = reconfigure_abort_event("demo-source", ValueError("no tasks"), prepared=prepared)
    assert abort["error"]["Error"] == "ValueError"
    assert json.loads(abort["error"]["Cause"])["errorMessage"] == "no tasks"
    assert abort["state"] == {"connector": "demo-source", "prepared": prepared, "error": abort["error"]}


def test_the_abort_input_is_read_by_the_reconfigure_step():
    from connect_core.runtime.reconfigure import Reconfigurer
    from connect_core.storage import Stores

    stores = Stores.in_memory()
    stores.configs.put_connector("demo-source", {"name": "demo-source", "connector": "datagen-source"})

    result = Reconfigurer(stores, None).handle(
        reconfigure_abort_event("demo-source", "States.Timeout", "the Map ran too long"))

    assert result["reason"] == "States.Timeout: the Map ran too long"
    assert stores.status.get_status("demo-source").connector.trace == result["reason"]


def test_a_lambda_context_has_what_lambda_passes():
    context = lambda_context("orders-source", timeout_s=30, remaining_ms=12_345, request_id="req-1")

    assert (context.function_name, context.aws_request_id, context.memory_limit_in_mb) == \
           ("orders-source", "req-1", "512")
    assert context.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:orders-source"
    assert context.log_group_name == "/aws/lambda/orders-source"
    assert context.get_remaining_time_in_millis() == 12_345


def test_a_lambda_context_counts_down_its_timeout_on_the_given_timer():
    now = [100.0]
    context = lambda_context(timeout_s=60, timer=lambda: now[0])

    assert context.get_remaining_time_in_millis() == 60_000
    now[0] += 59.5
    assert context.get_remaining_time_in_millis() == 500
    now[0] += 10
    assert context.get_remaining_time_in_millis() == 0


def test_the_event_factories_load_neither_pytest_nor_the_aws_sdk():
    import subprocess
    import sys

    code = ("import sys; from connect_core.testing import sqs_event, lambda_context, connector_create_event; "
            "print(','.join(m for m in ('pytest', 'boto3', 'moto') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == ""
