"""An SQS event source mapping played by hand against a real (or emulated) queue, for tests that
run a sink the way Lambda does: receive up to ten messages, hand them over in the Lambda event's
shape, delete what the function did not report as failed (a failed message comes back after its
visibility timeout, and reaches the queue's DLQ after ``maxReceiveCount`` receives).

    responses = [response for _, response in play_queue(url, arn, lambda e: runner.handle(e).response())]

Also here: storing a connector as the reconfigure flow would, and emptying a queue or a DLQ.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping

from .. import aws
from ..local.esm import lambda_record


def lambda_event(queue_arn: str, received: list[Mapping[str, Any]]) -> dict[str, Any]:
    """ReceiveMessage results (asked for every attribute) in the shape the event source mapping
    hands a function (the local runtime's own record builder; the region is the queue's)."""
    region = queue_arn.split(":")[3]
    return {"Records": [lambda_record(m, queue_arn, region) for m in received]}


def receive_event(queue_url: str, queue_arn: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One ReceiveMessage of up to ten messages as a Lambda event, and the messages received."""
    received = aws.client("sqs").receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["All"]).get("Messages", [])
    return lambda_event(queue_arn, received), received


def play_queue(queue_url: str, queue_arn: str, handle: Callable[[dict[str, Any]], Mapping[str, Any]], *,
               rounds: int = 30) -> list[tuple[dict[str, Any], Mapping[str, Any]]]:
    """Hand the queue's messages to ``handle`` (event → ``{"batchItemFailures": [...]}``) batch by
    batch until the queue is empty or ``rounds`` batches were handed over; deletes the messages
    not reported as failed. Returns each (event, response)."""
    sqs = aws.client("sqs")
    played = []
    for _ in range(rounds):
        event, received = receive_event(queue_url, queue_arn)
        if not received:
            break
        response = handle(event)
        played.append((event, response))
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        for m in received:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return played


def drain(queue_url: str) -> list[dict[str, Any]]:
    """Every message of a queue as ReceiveMessage returns it (with attributes), deleted."""
    sqs = aws.client("sqs")
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                  MessageSystemAttributeNames=["All"]).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append(m)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def dead_letters(dlq_url: str) -> list[dict[str, Any]]:
    """The dead letters in a DLQ (the runtime writes each as a JSON document with its context), deleted."""
    return [json.loads(m["Body"]) for m in drain(dlq_url)]


def deploy(stores: Any, config: Mapping[str, Any], task_configs: list[dict[str, Any]] | None = None) -> None:
    """Store a connector, its task configs (``task_configs(max_tasks)`` of the validated config when
    not given) and its queue binding, as the reconfigure state machine leaves them."""
    if task_configs is None:
        from ..config import validate_config

        task_configs = validate_config(config).task_configs(int(config.get("max_tasks", 1)))
    stores.configs.put_connector(config["name"], dict(config))
    stores.configs.put_task_configs(config["name"], task_configs, generation=1)
    if config.get("source_queue"):
        stores.configs.bind_queue(config["source_queue"], config["name"])
