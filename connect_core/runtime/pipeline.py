"""The in-process data path both runners use.

Source side: records from ``SourceTask.poll`` → transforms → key/value converters → messages for
the target. Sink side: messages from the queue → converters → transforms → ``SinkTask.put``.
Both honour ``errors.tolerance``: with ``none`` a failure fails the record (and the runner does not
acknowledge it); with ``all`` the record goes to the dead-letter list with its error context and the
rest flow on. Retriable failures are retried with capped exponential backoff for
``errors.retry_timeout_ms`` first.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal, TypeVar

from ..api.connector import SinkRecordErrors, SinkTask
from ..api.record import ConnectRecord, Offset, OffsetMap, Partition
from ..config.base import ConnectorConfig, ErrorsConfig
from ..convert import build_converter
from ..errors import RetriableError
from ..transforms import build_chain

logger = logging.getLogger("connect_core.pipeline")

#: Where a record failed; ``wire``: the queue message itself could not be read (a malformed
#: ``connect.record`` attribute, a body that is not the base64 it claims to be).
Stage = Literal["wire", "key_converter", "value_converter", "transform", "put"]
T = TypeVar("T")

#: Transient errors worth retrying besides RetriableError (network blips).
RETRIABLE = (RetriableError, TimeoutError, ConnectionError)


@dataclass(slots=True)
class Message:
    """A record in its wire form: converted key and value plus the record's metadata.

    ``id`` identifies an inbound message in its batch (the SQS ``messageId``); ``attempts`` is how
    often it has been delivered (SQS ``ApproximateReceiveCount``).
    """

    value: bytes | None
    key: bytes | None = None
    topic: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    partition: Partition = field(default_factory=dict)
    offset: Offset = field(default_factory=dict)
    timestamp: int | None = None
    id: str | None = None
    attempts: int = 1


@dataclass
class DeadLetter:
    """A failed record with the context an operator needs to understand and replay it."""

    connector: str
    task: int | None
    stage: Stage
    error_type: str
    error_message: str
    #: Calls made in the last delivery (1 + retries) and how often the message was delivered.
    attempts: int
    deliveries: int
    message: Message
    failed_at: float

    def to_dict(self) -> dict[str, Any]:
        m = self.message
        return {
            "connector": self.connector,
            "task": self.task,
            "stage": self.stage,
            "error": {"type": self.error_type, "message": self.error_message},
            "attempts": self.attempts,
            "deliveries": self.deliveries,
            "failed_at": self.failed_at,
            "record": {
                "id": m.id,
                "topic": m.topic,
                "partition": dict(m.partition),
                "offset": dict(m.offset),
                "timestamp": m.timestamp,
                "headers": dict(m.headers),
                "key_base64": _b64(m.key),
                "value_base64": _b64(m.value),
            },
        }


_FAILED = object()


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


@dataclass
class SourceBatch:
    """What one ``poll`` became: messages to publish, dead letters, and the offsets to commit once
    the target acknowledged the messages (dropped and dead-lettered records count as done)."""

    messages: list[Message]
    dead_letters: list[DeadLetter]
    offsets: OffsetMap
    records_in: int


@dataclass
class SinkResult:
    """Outcome of one inbound batch: ids the queue must redeliver, dead letters, counts."""

    dead_letters: list[DeadLetter]
    written: int
    dropped: int
    #: For each failed id, its error context (what its dead letter would say).
    failures: dict[str, DeadLetter] = field(default_factory=dict)

    @property
    def failed_ids(self) -> list[str]:
        return list(self.failures)

    @property
    def errors(self) -> dict[str, str]:
        return {i: f"{d.stage}: {d.error_type}: {d.error_message}" for i, d in self.failures.items()}


class Retrier:
    """Retries RETRIABLE errors with doubling backoff (100 ms start, capped) until the timeout."""

    def __init__(self, errors: ErrorsConfig, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout_s = errors.retry_timeout_ms / 1000 if errors.retry_timeout_ms >= 0 else float("inf")
        self.max_delay_s = errors.retry_max_delay_ms / 1000
        self.sleep = sleep
        self.clock = clock

    def call(self, fn: Callable[[], T]) -> tuple[T, int]:
        """``(fn(), attempts)``; re-raises the last error when retries are exhausted, with
        ``error.attempts`` set."""
        attempts = 0
        deadline = self.clock() + self.timeout_s
        delay = 0.1
        while True:
            attempts += 1
            try:
                return fn(), attempts
            except RETRIABLE as exc:
                remaining = deadline - self.clock()
                if remaining <= 0:
                    exc.attempts = attempts  # type: ignore[attr-defined]
                    raise
                self.sleep(min(delay, self.max_delay_s, remaining))
                delay *= 2
            except Exception as exc:
                exc.attempts = attempts  # type: ignore[attr-defined]
                raise


class _Stages:
    """Converters and transforms built once per connector config."""

    def __init__(self, config: ConnectorConfig, task: int | None,
                 sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        self.config = config
        self.task = task
        self.errors = config.errors
        self.tolerate = config.errors.tolerance == "all"
        self.key_converter = build_converter(config.key_converter, is_key=True)
        self.value_converter = build_converter(config.value_converter, is_key=False)
        self.chain = build_chain(list(config.transforms), dict(config.predicates))
        self.retrier = Retrier(config.errors, sleep=sleep)
        self.wall_clock = clock

    def dead_letter(self, stage: Stage, exc: BaseException, message: Message) -> DeadLetter:
        letter = DeadLetter(self.config.name, self.task, stage, type(exc).__name__, str(exc),
                            getattr(exc, "attempts", 1), message.attempts, message, self.wall_clock())
        if self.errors.log_enable:
            # Context only; record contents may be sensitive and never reach the logs.
            logger.warning("record failed", extra={
                "connector": letter.connector, "task": letter.task, "stage": stage,
                "error_type": letter.error_type, "error_message": letter.error_message,
                "topic": message.topic, "partition": dict(message.partition),
                "offset": dict(message.offset), "message_id": message.id})
        return letter


class SourcePipeline(_Stages):
    def __init__(self, config: ConnectorConfig, task: int | None = None, *,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config, task, sleep, clock)

    def process(self, records: Iterable[ConnectRecord]) -> SourceBatch:
        """Transform and convert ``records``. With tolerance ``none`` the first failure raises
        (nothing of this batch may be published or committed)."""
        records = list(records)
        messages: list[Message] = []
        dead: list[DeadLetter] = []
        chain = self.chain.apply
        key_ser = self.key_converter.serialize
        value_ser = self.value_converter.serialize
        for record in records:
            stage: Stage = "transform"
            try:
                out = chain(record)
                if out is not None:
                    stage = "key_converter"
                    key = key_ser(out.topic, out.key_schema, out.key)
                    stage = "value_converter"
                    value = value_ser(out.topic, out.value_schema, out.value)
                    messages.append(Message(value, key, out.topic, out.headers, record.partition,
                                            record.offset, out.timestamp))
            except Exception as exc:
                if not self.tolerate:
                    raise
                dead.append(self.dead_letter(stage, exc, _message_of(record)))
        return SourceBatch(messages, dead, OffsetMap.last_of(records), len(records))

    def reject(self, exc: BaseException, message: Message, batch: SourceBatch) -> None:
        """Count input the task could not read (``SourceTask.reject``) as failed at the value
        converter, with the same tolerance rules as any record of ``batch``."""
        if not self.tolerate:
            raise exc
        batch.dead_letters.append(self.dead_letter("value_converter", exc, message))


class SinkPipeline(_Stages):
    def __init__(self, config: ConnectorConfig, task: SinkTask[Any], task_id: int | None = None, *,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config, task_id, sleep, clock)
        self.sink = task

    def deliver(self, messages: list[Message]) -> SinkResult:
        failed: dict[str, DeadLetter] = {}
        dead: list[DeadLetter] = []
        batch: list[tuple[Message, ConnectRecord]] = []
        dropped = 0
        for message in messages:
            record = self._decode(message, failed, dead)
            if record is _FAILED:
                continue
            if record is None:
                dropped += 1  # a transform (Filter, PatternFilter) dropped it on purpose
                continue
            batch.append((message, record))
        written = self._put(batch, failed, dead) if batch else 0
        return SinkResult(dead, written, dropped, failed)

    def reject(self, exc: BaseException, message: Message, result: SinkResult) -> None:
        """Count a queue message that could not be read at all as failed in ``result`` (stage
        ``wire``), with the same tolerance rules as any other failed record."""
        self._fail("wire", exc, message, result.failures, result.dead_letters)

    # -- stages -----------------------------------------------------------------------------

    def _decode(self, message: Message, failed: dict[str, DeadLetter], dead: list[DeadLetter]) -> Any:
        stage: Stage = "key_converter"
        try:
            key_schema, key = self.key_converter.deserialize(message.topic, message.key)
            stage = "value_converter"
            value_schema, value = self.value_converter.deserialize(message.topic, message.value)
            stage = "transform"
            return self.chain.apply(ConnectRecord(message.topic, value, key, message.partition, message.offset,
                                                  message.timestamp, value_schema, key_schema, message.headers))
        except Exception as exc:
            self._fail(stage, exc, message, failed, dead)
            return _FAILED

    def _put(self, batch: list[tuple[Message, ConnectRecord]], failed: dict[str, DeadLetter],
             dead: list[DeadLetter]) -> int:
        records = [record for _, record in batch]
        try:
            self.retrier.call(lambda: self._put_and_commit(records))
            return len(batch)
        except SinkRecordErrors as exc:
            bad = exc.errors
        except Exception as exc:
            if len(batch) == 1 or isinstance(exc, RETRIABLE):
                # Retries are exhausted (the target is down): every record of the batch failed.
                for message, _ in batch:
                    self._fail("put", exc, message, failed, dead)
                return 0
            # A non-retriable error from a batch: isolate the bad records so the good ones pass.
            return sum(self._put([item], failed, dead) for item in batch)
        for index, error in bad.items():
            self._fail("put", error, batch[index][0], failed, dead)
        return len(batch) - len(bad)

    def _put_and_commit(self, records: list[ConnectRecord]) -> None:
        self.sink.put(records)
        self.sink.pre_commit(OffsetMap.last_of(records))

    def _fail(self, stage: Stage, exc: BaseException, message: Message,
              failed: dict[str, DeadLetter], dead: list[DeadLetter]) -> None:
        letter = self.dead_letter(stage, exc, message)
        if self.tolerate:
            dead.append(letter)
        else:
            failed[message.id or f"#{len(failed)}"] = letter


def _message_of(record: ConnectRecord) -> Message:
    """A best-effort wire form of a record that failed before conversion (for its dead letter)."""
    def raw(value: Any) -> bytes | None:
        if value is None or isinstance(value, bytes):
            return value
        try:
            return json.dumps(value, default=str, ensure_ascii=False).encode()
        except (TypeError, ValueError):
            return repr(value).encode()

    return Message(raw(record.value), raw(record.key), record.topic, dict(record.headers),
                   record.partition, record.offset, record.timestamp)
