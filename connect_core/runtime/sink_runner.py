"""One SQS batch into a sink connector, with partial batch failures.

decode → transforms → ``SinkTask.put``; records that fail are returned as ``batchItemFailures``
so SQS redelivers only them. Where failed records end:

* ``errors.tolerance: all`` — at once in the dead-letter queue, with their error context;
* ``errors.tolerance: none`` — redelivered by SQS; on the queue's last allowed delivery
  (``ApproximateReceiveCount`` reaching the redrive policy's ``maxReceiveCount``) the runtime puts
  the record with its error context into the dead-letter queue itself and acknowledges it, so the
  DLQ never holds a bare message whose cause is lost.

The dead-letter queue is ``errors.dead_letter_queue`` if set, else the source queue's redrive DLQ.
With ``deduplicate: true`` records already written (by identity: source partition and offset, or
the SQS message id for plain messages) are skipped, so a redelivered record is written once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .. import aws
from ..api.connector import SinkTask, TaskContext
from ..api.record import partition_key
from ..storage import State, Stores, TargetState
from . import telemetry as m
from .pipeline import Message, SinkPipeline, SinkResult
from .targets import LoggedDeadLetters, dead_letters_for, queue_url
from .tasks import TaskCache
from .telemetry import Telemetry
from .wire import from_lambda_record, raw_lambda_record

logger = logging.getLogger("connect_core.sink")


@dataclass(frozen=True)
class QueuePolicy:
    """What the source queue's redrive policy says: where its DLQ is and how often it delivers."""

    dead_letter_arn: str | None = None
    max_receive_count: int | None = None


class QueuePolicies:
    """Redrive policies by queue ARN, read once per function instance."""

    def __init__(self) -> None:
        self._cache: dict[str, QueuePolicy] = {}
        self._lock = threading.Lock()

    def get(self, queue_arn: str) -> QueuePolicy:
        with self._lock:
            cached = self._cache.get(queue_arn)
        if cached is not None:
            return cached
        region = queue_arn.split(":")[3]
        attributes = aws.client("sqs", region).get_queue_attributes(
            QueueUrl=queue_url(queue_arn), AttributeNames=["RedrivePolicy"]).get("Attributes", {})
        policy = QueuePolicy()
        if "RedrivePolicy" in attributes:
            redrive = json.loads(attributes["RedrivePolicy"])
            policy = QueuePolicy(redrive.get("deadLetterTargetArn"), int(redrive.get("maxReceiveCount", 0)) or None)
        with self._lock:
            self._cache[queue_arn] = policy
        return policy


@dataclass
class SinkBatchResult:
    failures: list[str] = field(default_factory=list)
    written: int = 0
    dead_lettered: int = 0
    duplicates: int = 0
    dropped: int = 0

    def response(self) -> dict[str, Any]:
        """The Lambda response the event source mapping reads (ReportBatchItemFailures)."""
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.failures]}


class SinkRunner:
    def __init__(self, stores: Stores, *, tasks: TaskCache | None = None, telemetry: Telemetry | None = None,
                 policies: QueuePolicies | None = None, worker_id: str = "local",
                 clock: Callable[[], float] = time.time) -> None:
        self.stores = stores
        self.tasks = tasks or TaskCache()
        self.telemetry = telemetry or Telemetry()
        self.policies = policies or QueuePolicies()
        self.worker_id = worker_id
        self.clock = clock

    def handle(self, event: Mapping[str, Any], remaining_ms: Callable[[], int] = lambda: 60_000) -> SinkBatchResult:
        by_queue: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for record in event.get("Records", []):
            by_queue[record.get("eventSourceARN", "")].append(record)
        total = SinkBatchResult()
        for queue_arn, records in by_queue.items():
            result = self._handle_queue(queue_arn, records, remaining_ms)
            total.failures += result.failures
            total.written += result.written
            total.dead_lettered += result.dead_lettered
            total.duplicates += result.duplicates
            total.dropped += result.dropped
        return total

    def _handle_queue(self, queue_arn: str, records: list[Mapping[str, Any]],
                      remaining_ms: Callable[[], int]) -> SinkBatchResult:
        all_failed = SinkBatchResult(failures=[r["messageId"] for r in records])
        name = self.stores.configs.connector_for_queue(queue_arn)
        if name:
            self.telemetry.for_connector(name)
        entry = self.stores.configs.get_connector(name) if name else None
        if entry is None:
            logger.error("no sink connector reads this queue: the batch is returned",
                         extra={"queue": queue_arn, "connector": name})
            return all_failed
        if entry.target_state is not TargetState.RUNNING:
            # Pausing disables the event source mapping; batches already in flight go back to the queue.
            logger.info("sink connector is not running: the batch is returned",
                        extra={"connector": name, "target_state": entry.target_state.value})
            return all_failed

        try:
            connector = self.tasks.connector(name, entry.version, entry.config)
            task_config = self.stores.configs.get_task_config(name, 0) or connector.task_configs(1)[0]
            task = self.tasks.task(connector, entry.version, 0, task_config, TaskContext(name, 0, 0, remaining_ms))
            assert isinstance(task, SinkTask)
        except Exception:  # noqa: BLE001 - a broken config fails the batch, visibly
            logger.exception("sink task could not start", extra={"connector": name})
            self.stores.status.put_task_status(name, 0, State.FAILED, trace=traceback.format_exc(),
                                               worker_id=self.worker_id)
            return all_failed

        config = connector.config
        policy = self.policies.get(queue_arn) if queue_arn.startswith("arn:") else QueuePolicy()
        dead_letters = dead_letters_for(config.errors.dead_letter_queue or policy.dead_letter_arn)
        messages, unreadable = [], []
        for record in records:
            try:
                messages.append(from_lambda_record(record))
            except Exception as exc:  # noqa: BLE001 - one malformed message must not fail the batch
                unreadable.append((raw_lambda_record(record), exc))
        result = SinkBatchResult()

        if getattr(config, "deduplicate", False):
            identities = {m.id: _identity(m) for m in messages}
            seen = self.stores.deliveries.seen(name, identities.values())
            result.duplicates = sum(1 for m in messages if identities[m.id] in seen)
            messages = [m for m in messages if identities[m.id] not in seen]

        if not messages and not unreadable:
            return result
        pipeline = SinkPipeline(config, task, 0, clock=self.clock)
        started = time.perf_counter()
        outcome = pipeline.deliver(messages) if messages else SinkResult([], 0, 0)
        for raw, exc in unreadable:
            pipeline.reject(exc, raw, outcome)
            messages.append(raw)

        result.written, result.dropped = outcome.written, outcome.dropped
        letters = list(outcome.dead_letters)
        by_id = {msg.id: msg for msg in messages}
        for message_id in outcome.failed_ids:
            message = by_id.get(message_id)
            last_try = (message is not None and policy.max_receive_count is not None
                        and message.attempts >= policy.max_receive_count
                        and not isinstance(dead_letters, LoggedDeadLetters))
            if last_try:
                letters.append(outcome.failures[message_id])
            else:
                result.failures.append(message_id)
        if letters:
            result.dead_lettered = dead_letters.send(letters)

        if getattr(config, "deduplicate", False):
            failed = set(result.failures)
            self.stores.deliveries.record(name, [_identity(msg) for msg in messages if msg.id not in failed])

        self.telemetry.count(m.RECORDS_WRITTEN, result.written)
        self.telemetry.count(m.RECORDS_FAILED, len(outcome.failed_ids))
        self.telemetry.count(m.RECORDS_DEAD_LETTERED, result.dead_lettered)
        self.telemetry.count(m.RECORDS_DROPPED, result.dropped)
        self.telemetry.timing_ms(m.BATCH_LATENCY, (time.perf_counter() - started) * 1000)
        self.stores.status.put_task_status(name, 0, State.RUNNING, worker_id=self.worker_id)
        return result


def _identity(message: Message) -> str:
    if message.partition:
        return partition_key(message.partition) + "@" + partition_key(message.offset)
    return f"sqs:{message.id}"
