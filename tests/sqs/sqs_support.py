"""Helpers of the SQS connectors' tests: queues on the embedded endpoint, a clock, deploying a
connector into the stores, and the event source mapping played by hand."""

from __future__ import annotations

import json
from typing import Any

from connect_core import aws, testing
from connect_core.storage import Stores

FOREVER = lambda: 600_000  # noqa: E731 - remaining Lambda time that never runs out


class Queue:
    def __init__(self, url: str, arn: str, dlq: "Queue | None" = None) -> None:
        self.url, self.arn, self.dlq = url, arn, dlq

    @property
    def name(self) -> str:
        return self.arn.rsplit(":", 1)[1]

    def send(self, body: str, attributes: dict[str, Any] | None = None, **extra: Any) -> str:
        kwargs: dict[str, Any] = {"QueueUrl": self.url, "MessageBody": body, **extra}
        if attributes:
            kwargs["MessageAttributes"] = attributes
        return aws.client("sqs").send_message(**kwargs)["MessageId"]

    def receive_all(self, delete: bool = True) -> list[dict[str, Any]]:
        """Every visible message, oldest first per receive (and deleted, unless ``delete`` is false)."""
        sqs = aws.client("sqs")
        out = []
        while True:
            got = sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                      MessageSystemAttributeNames=["All"]).get("Messages", [])
            if not got:
                return out
            out.extend(got)
            if delete:
                sqs.delete_message_batch(QueueUrl=self.url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])

    def counts(self) -> tuple[int, int]:
        """(visible, in flight)."""
        attributes = aws.client("sqs").get_queue_attributes(QueueUrl=self.url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return (int(attributes["ApproximateNumberOfMessages"]),
                int(attributes["ApproximateNumberOfMessagesNotVisible"]))

    def dead_letters(self) -> list[dict[str, Any]]:
        return [json.loads(m["Body"]) for m in self.dlq.receive_all()] if self.dlq else []


def deploy(stores: Stores, config: dict[str, Any], task_configs: list[dict[str, Any]] | None = None) -> None:
    """Store a connector and its task configs as the reconfigure state machine would."""
    testing.deploy(stores, config, task_configs)


def lambda_event(queue: Queue, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The SQS event source mapping's event for received messages (tests/events/sqs_batch.json's shape)."""
    return testing.lambda_event(queue.arn, messages)


def deliver(queue: Queue, runner: Any, rounds: int = 20) -> list[dict[str, Any]]:
    """Play the event source mapping until the queue is empty. Returns the responses."""
    return [response for _, response in
            testing.play_queue(queue.url, queue.arn, lambda e: runner.handle(e).response(), rounds=rounds)]
