"""Helpers of the SQS connectors' tests: queues on the embedded endpoint and the event source
mapping played by hand (the rest comes from the test kit, ``connect_core.testing``)."""

from __future__ import annotations

from typing import Any

from connect_core import aws, testing

FOREVER = lambda: 600_000  # noqa: E731 - remaining Lambda time that never runs out


class Queue:
    def __init__(self, url: str, arn: str) -> None:
        self.url, self.arn = url, arn

    @property
    def name(self) -> str:
        return self.arn.rsplit(":", 1)[1]

    def send(self, body: str, attributes: dict[str, Any] | None = None, **extra: Any) -> str:
        kwargs: dict[str, Any] = {"QueueUrl": self.url, "MessageBody": body, **extra}
        if attributes:
            kwargs["MessageAttributes"] = attributes
        return aws.client("sqs").send_message(**kwargs)["MessageId"]

    def counts(self) -> tuple[int, int]:
        """(visible, in flight)."""
        attributes = aws.client("sqs").get_queue_attributes(QueueUrl=self.url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return (int(attributes["ApproximateNumberOfMessages"]),
                int(attributes["ApproximateNumberOfMessagesNotVisible"]))


def deliver(queue: Queue, runner: Any, rounds: int = 20) -> list[dict[str, Any]]:
    """Play the event source mapping until the queue is empty. Returns the responses."""
    return [response for _, response in
            testing.play_queue(queue.url, queue.arn, lambda e: runner.handle(e).response(), rounds=rounds)]
