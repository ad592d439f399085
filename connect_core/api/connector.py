"""The connector SDK: what a connector author writes.

A connector is a class with a typed config model and a task class::

    class TickerConfig(SourceConnectorConfig):
        topic: str
        count: int = 100

    class TickerTask(SourceTask[TickerConfig]):
        offset_order = ("n",)

        def partitions(self):
            return [{"ticker": self.config.name}]

        def poll(self, offsets):
            n = offsets.get(self.partitions()[0], {}).get("n", 0)
            ...

    class TickerConnector(SourceConnector[TickerConfig]):
        config_model = TickerConfig
        task_class = TickerTask

The runtime owns everything else: leases, offsets, batching, retries, partial failures and metrics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Generic, Literal, Mapping, Sequence, TypeVar

from .record import ConnectRecord, OffsetMap, Partition

if TYPE_CHECKING:
    from ..config.base import ConnectorConfig
    from ..runtime.pipeline import Message

C = TypeVar("C", bound="ConnectorConfig")

TaskConfig = dict[str, Any]


@dataclass
class TaskContext:
    """What the runtime tells a task about where it runs."""

    connector: str
    task_id: int
    epoch: int = 0
    remaining_time_ms: Callable[[], int] = field(default=lambda: 60_000)


class Task(Generic[C]):
    """Common part of source and sink tasks: a typed connector config plus this task's own config."""

    def __init__(self, config: C, task_config: TaskConfig, context: TaskContext) -> None:
        self.config = config
        self.task_config = task_config
        self.context = context

    def start(self) -> None:
        """Open connections; called once before the first poll/put of an invocation."""

    def stop(self) -> None:
        """Release resources; called when the invocation ends, also after errors."""


class SourceTask(Task[C]):
    #: Offset fields that only ever grow, compared in order (e.g. ``("queue_offset",)`` or
    #: ``("timestamp", "id")``). The offset store refuses a commit that would move them back.
    offset_order: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: C, task_config: TaskConfig, context: TaskContext) -> None:
        super().__init__(config, task_config, context)
        #: What :meth:`reject` handed back; the runner takes it after every ``poll``.
        self.rejected: list[tuple[BaseException, "Message"]] = []
        #: What :meth:`progress` reported; the runner takes it after every ``poll``.
        self.progressed = OffsetMap()

    def progress(self, partition: Partition, offset: Mapping[str, Any]) -> None:
        """Report that ``partition``'s position moved to ``offset`` without a record: a start
        position resolved (``latest``, a timestamp), input skipped that was never to become a record
        (filtered out, or expired at the source). The runtime commits it with the next commit, under
        the same epoch fence as record offsets, so a restart resumes there and does not resolve or
        read it again. It must not be behind a record ``poll`` returned for that partition."""
        self.progressed.set(partition, dict(offset))

    def reject(self, error: BaseException, message: "Message") -> None:
        """Hand back input that ``poll`` read but could not turn into a record (a line that is not
        JSON, a body that is not the base64 it claims to be) and moves past.

        ``message`` is that input in wire form (:class:`~connect_core.runtime.pipeline.Message`):
        its raw bytes as ``value``, and its topic, partition, offset, id and delivery count where
        known. After the ``poll``, the runtime treats each one as a record that failed at stage
        ``value_converter``, under the ``errors`` config: with ``tolerance: all`` it goes to the
        dead-letter queue (counted and logged like any other dead letter); with ``none`` the tick
        fails and nothing of that poll is published. :meth:`commit` follows once the dead letters
        were sent, so a source that acknowledges input there (an SQS source deleting its messages)
        acknowledges rejected input there too.
        """
        self.rejected.append((error, message))

    def partitions(self) -> Sequence[Partition]:
        """The source partitions this task reads; the runtime loads their committed offsets."""
        raise NotImplementedError

    def poll(self, offsets: OffsetMap) -> list[ConnectRecord]:
        """Records after ``offsets`` (committed plus those already returned in this invocation).

        Return an empty list when nothing is available now: with ``polling: drain`` the runtime
        then ends the tick; with ``polling: continuous`` it calls :meth:`wait` and polls again.
        """
        raise NotImplementedError

    def wait(self, offsets: OffsetMap, timeout_s: float) -> None:
        """Block until records are likely to be available after ``offsets``, for at most
        ``timeout_s`` seconds (continuous polling, after a poll that returned nothing).

        Returning early is always allowed (the runtime just polls again); returning late is not:
        the runtime uses ``timeout_s`` to keep its lease and deadline. By default this sleeps
        ``timeout_s``; a source that can be told about new data (the RocketMQ sources use the
        broker's long polling) returns the moment it arrives.
        """
        if timeout_s > 0:
            time.sleep(timeout_s)

    def commit(self, records: list[ConnectRecord]) -> None:
        """Called with the records of one ``poll`` once the target acknowledged them and their offsets
        were committed. A source without positions acknowledges them at the source here (an SQS
        source deletes its messages); by default nothing happens."""

    def lag(self, offsets: OffsetMap) -> int | None:
        """Records not yet polled after ``offsets``, where the source knows (reported as a metric)."""
        return None

    def needs_reconfiguration(self) -> str | None:
        """A fingerprint of the new partition set when the source's partitions changed since the
        split (queues added to a topic), else None. The runtime then re-runs task_configs once per
        fingerprint (Kafka Connect's ``requestTaskReconfiguration``)."""
        return None


class SinkTask(Task[C]):
    #: True when writing the same record twice has the effect of writing it once
    #: (upserts by key, object names derived from offsets). Redelivery is then harmless.
    #: A task may set it per instance, from its config (a FIFO queue, an upsert mode).
    idempotent: bool = False

    def put(self, records: list[ConnectRecord]) -> None:
        """Write ``records``. Raise :class:`~connect_core.api.SinkRecordErrors` to fail some of them,
        :class:`~connect_core.errors.RetriableError` when retrying may help, anything else to fail the batch.
        """
        raise NotImplementedError

    def flush(self, offsets: OffsetMap) -> None:
        """Make everything ``put`` so far durable."""

    def pre_commit(self, offsets: OffsetMap) -> OffsetMap:
        """The offsets that are safe to acknowledge; by default flush and acknowledge all."""
        self.flush(offsets)
        return offsets


class SinkRecordErrors(Exception):
    """Raised by :meth:`SinkTask.put` to fail individual records: ``{index in the batch: error}``."""

    def __init__(self, errors: Mapping[int, BaseException]) -> None:
        self.errors = dict(errors)
        super().__init__(f"{len(self.errors)} record(s) failed: "
                         + "; ".join(f"#{i}: {e}" for i, e in sorted(self.errors.items())[:5]))


class Connector(Generic[C]):
    kind: ClassVar[Literal["source", "sink"]]
    config_model: ClassVar[type["ConnectorConfig"]]
    task_class: ClassVar[type[Task[Any]]]
    version: ClassVar[str] = "1.0.0"
    #: One line for plugin listings and generated docs.
    description: ClassVar[str] = ""

    def __init__(self, config: C) -> None:
        self.config = config

    def validate(self) -> None:
        """Checks the model cannot express (cross-field rules, reachability).

        Raise :class:`~connect_core.errors.ConfigError` naming the field.
        """

    def task_configs(self, max_tasks: int) -> list[TaskConfig]:
        """Split the work into at most ``max_tasks`` task configs; by default a single task."""
        return [{}]

    @classmethod
    def plugin_name(cls) -> str:
        return f"{cls.__module__}:{cls.__qualname__}"


class SourceConnector(Connector[C]):
    kind = "source"
    task_class: ClassVar[type[SourceTask[Any]]]


class SinkConnector(Connector[C]):
    kind = "sink"
    task_class: ClassVar[type[SinkTask[Any]]]
