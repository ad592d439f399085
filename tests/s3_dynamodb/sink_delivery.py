"""The event source mapping, played by hand: SQS messages into the sink function's event and back.

Receive, hand the Lambda-shaped event to the sink runner, delete what it did not report as failed
(the local runtime does the same, with batching windows and a clock).
"""

from __future__ import annotations

import json
from typing import Any

from connect_core import aws
from connect_core.runtime.sink_runner import SinkRunner
from connect_core.storage import Stores


def deploy(stores: Stores, config: dict[str, Any], task_configs: list[dict[str, Any]]) -> None:
    """What the reconfigure flow leaves in the stores for a running connector."""
    stores.configs.put_connector(config["name"], config)
    stores.configs.put_task_configs(config["name"], task_configs, generation=1)
    if config.get("source_queue"):
        stores.configs.bind_queue(config["source_queue"], config["name"])


def receive_event(queues: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One ReceiveMessage as the SQS event a Lambda function gets, plus the received messages."""
    received = aws.client("sqs").receive_message(
        QueueUrl=queues["url"], MaxNumberOfMessages=10, MessageAttributeNames=["All"],
        AttributeNames=["All"]).get("Messages", [])
    event = {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m["Attributes"], "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs",
        "eventSourceARN": queues["arn"], "awsRegion": "us-east-1",
        "messageAttributes": {k: {"stringValue": v.get("StringValue"), "dataType": v["DataType"],
                                  "stringListValues": [], "binaryListValues": []}
                              for k, v in m.get("MessageAttributes", {}).items()}} for m in received]}
    return event, received


def deliver(queues: dict[str, str], runner: SinkRunner, rounds: int = 30) -> list[dict[str, Any]]:
    """Play the event source mapping until the queue is empty: receive, invoke, delete the successes."""
    sqs = aws.client("sqs")
    events = []
    for _ in range(rounds):
        event, received = receive_event(queues)
        if not received:
            break
        failed = {f["itemIdentifier"] for f in runner.handle(event).response()["batchItemFailures"]}
        events.append(event)
        for m in received:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queues["url"], ReceiptHandle=m["ReceiptHandle"])
    return events


def dead_letters(queues: dict[str, str]) -> list[dict[str, Any]]:
    sqs = aws.client("sqs")
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=queues["dlq_url"], MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queues["dlq_url"], ReceiptHandle=m["ReceiptHandle"])
