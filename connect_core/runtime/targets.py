"""Where records and dead letters go: an SQS queue, or a sink task in the same invocation."""

from __future__ import annotations

import json
import logging
import time
from abc import ABC, abstractmethod
from typing import Any, Callable, Iterable

from .. import aws
from ..errors import ConnectError, RetriableError
from .pipeline import DeadLetter, Message, SinkPipeline
from .wire import MAX_MESSAGE_BYTES, batches, to_sqs_entry

logger = logging.getLogger("connect_core.targets")

#: Attempts at the entries SendMessageBatch reports as failed before the publish fails.
SEND_ATTEMPTS = 5


class PublishError(RetriableError):
    """The target did not accept every record; nothing of the batch may be committed."""


class Publisher(ABC):
    """Delivers a source batch; returns only once the target acknowledged every message."""

    @abstractmethod
    def publish(self, messages: list[Message]) -> None: ...

    def bind(self, task: Any) -> None:
        """The task whose records this publisher delivers, once per tick before the first poll (the
        Replicator stores what the task's pulls observed with its watermarks)."""

    def before_commit(self) -> None:
        """Write what must be stored before the offsets of what was published are committed (the
        Replicator's offset syncs)."""

    def report(self, task: Any, offsets: Any) -> dict[str, float]:
        """Measurements for the task status and metrics (the Replicator's lag in seconds); taken
        every few seconds with continuous polling, and at the end of every tick."""
        return {}

    def report_failure(self, task: Any, offsets: Any) -> dict[str, float]:
        """What a failing tick can still measure without the target or the source (the
        Replicator's data at risk), for the failed task status and metrics."""
        return {}

    def finish(self, task: Any, offsets: Any) -> None:
        """Once per tick, after the last commit and before the lease is released (heartbeats)."""


class SqsPublisher(Publisher):
    """SendMessageBatch in calls of at most 10 entries and the size limit; the entries SQS
    reports as failed are resent with backoff, and the publish fails if they keep failing."""

    def __init__(self, queue_url: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.queue_url = queue_url
        self.sleep = sleep

    def publish(self, messages: list[Message]) -> None:
        if messages:
            send_entries(self.queue_url, [to_sqs_entry(m, str(i)) for i, m in enumerate(messages)],
                         sleep=self.sleep, what="record")


def queue_url(queue: str) -> str:
    """The URL of a queue given by URL or by ARN. Built from the ARN and the endpoint rather than
    asked for (GetQueueUrl), which the SAM SQS policy templates do not grant."""
    if not queue.startswith("arn:"):
        return queue
    _, _, _, region, account, name = queue.split(":", 5)
    return f"{aws.client('sqs', region).meta.endpoint_url.rstrip('/')}/{account}/{name}"


def send_entries(url: str, entries: list[dict[str, Any]], *, sleep: Callable[[float], None], what: str) -> None:
    """SendMessageBatch in calls of at most 10 entries and the size limit. Entries SQS reports as
    failed on its side are resent with backoff; one it refuses as the sender's fault fails at once."""
    sqs = aws.client("sqs")
    for batch in batches(entries):
        pending = batch
        for attempt in range(SEND_ATTEMPTS):
            failed = {f["Id"]: f for f in sqs.send_message_batch(QueueUrl=url, Entries=pending).get("Failed", [])}
            if not failed:
                break
            refused = next((f for f in failed.values() if f.get("SenderFault")), None)
            if refused is not None:
                raise PublishError(f"SQS refused a {what} ({refused.get('Code')}): {refused.get('Message')}")
            pending = [e for e in pending if e["Id"] in failed]
            sleep(min(0.1 * 2 ** attempt, 2.0))
        else:
            raise PublishError(f"SQS did not accept {len(pending)} {what}(s) after {SEND_ATTEMPTS} attempts")


class DirectPublisher(Publisher):
    """Hands messages to a sink pipeline in-process. Any record the sink fails fails the publish
    (its dead letters, with tolerance ``all``, count as delivered)."""

    def __init__(self, pipeline: SinkPipeline, dead_letters: "DeadLetterSender") -> None:
        self.pipeline = pipeline
        self.dead_letters = dead_letters
        self.written = 0

    def publish(self, messages: list[Message]) -> None:
        if not messages:
            return
        for i, m in enumerate(messages):
            m.id = m.id or str(i)
        result = self.pipeline.deliver(messages)
        if result.dead_letters:
            self.dead_letters.send(result.dead_letters)
        if result.failed_ids:
            first = result.errors[result.failed_ids[0]]
            raise PublishError(f"the sink failed {len(result.failed_ids)} record(s); first: {first}")
        self.written += result.written


class DeadLetterSender(ABC):
    @abstractmethod
    def send(self, letters: Iterable[DeadLetter]) -> int:
        """Send the letters; returns how many were sent."""


class SqsDeadLetters(DeadLetterSender):
    """Dead letters as JSON messages (the error context plus the original record) on an SQS queue.

    A record too large to carry whole keeps its context and position; its key and value are then
    left out and ``record.truncated`` is true.
    """

    def __init__(self, queue: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.queue = queue
        self.sleep = sleep

    def send(self, letters: Iterable[DeadLetter]) -> int:
        entries = [{"Id": str(i), "MessageBody": _letter_body(letter),
                    "MessageAttributes": {
                        "connect.connector": {"DataType": "String", "StringValue": letter.connector},
                        "connect.error.type": {"DataType": "String", "StringValue": letter.error_type},
                        "connect.stage": {"DataType": "String", "StringValue": letter.stage}}}
                   for i, letter in enumerate(letters)]
        if not entries:
            return 0
        send_entries(queue_url(self.queue), entries, sleep=self.sleep, what="dead letter")
        return len(entries)


class LoggedDeadLetters(DeadLetterSender):
    """``errors.tolerance: all`` without a dead-letter queue: the failure is logged and skipped."""

    def send(self, letters: Iterable[DeadLetter]) -> int:
        count = 0
        for letter in letters:
            count += 1
            logger.warning("record skipped (no dead-letter queue configured)", extra={
                "connector": letter.connector, "task": letter.task, "stage": letter.stage,
                "error_type": letter.error_type, "error_message": letter.error_message})
        return count


def _letter_body(letter: DeadLetter) -> str:
    body = letter.to_dict()
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > MAX_MESSAGE_BYTES - 1024:
        body["record"].update(key_base64=None, value_base64=None, truncated=True)
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return text


def dead_letters_for(queue: str | None) -> DeadLetterSender:
    """Dead letters to an SQS queue (URL or ARN); without one they are logged and skipped."""
    return SqsDeadLetters(queue) if queue else LoggedDeadLetters()


class TargetError(ConnectError):
    """A source connector has no usable target."""
