"""Connectors run through the real runners on in-memory stores: no AWS, no deployment.

``SourceHarness`` ticks a source's tasks with the real :class:`SourceRunner` (leases, epochs,
offset commits, transforms, converters); its records go to a :class:`Capture` through a direct
target. ``SinkHarness`` hands SQS-shaped batches to the real :class:`SinkRunner` (decoding,
partial batch failures, deduplication, dead letters). Both can :meth:`restart`, which is what a
new Lambda instance is: no warm tasks, only what the stores hold.
"""

from __future__ import annotations

import itertools
import json
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from ..api.connector import SourceTask
from ..api.record import ConnectRecord, OffsetMap, Partition, partition_key
from ..config import validate_config
from ..runtime.sink_runner import QueuePolicies, QueuePolicy, SinkBatchResult, SinkRunner
from ..runtime.source_runner import SourceRunner, TickResult
from ..runtime.tasks import TaskCache
from ..storage import OffsetStore, Stores
from .capture import Capture
from .events import DEFAULT_QUEUE_ARN, SqsItem, sqs_event
from .queues import deploy

#: Remaining Lambda time a tick sees while its poll budget lasts (well above the safety margin).
_AMPLE_MS = 900_000
_owners = itertools.count(1)


class HarnessError(AssertionError):
    """The connector did not do what running it needs (a failed tick, a source that never drains)."""


class PollBudget:
    """A tick's remaining Lambda time that runs out after ``polls`` polls.

    It answers "plenty" until the tasks it counts (``PolledTasks``) have polled that many times,
    then "none": where a tick stops depends neither on how fast it runs nor on how often the runner
    looks at the clock.
    """

    def __init__(self, polls: int) -> None:
        self.left = polls

    def __call__(self) -> int:
        return _AMPLE_MS if self.left > 0 else 0

    def polled(self) -> None:
        self.left -= 1


class PolledTasks(TaskCache):
    """Started tasks whose polls count against ``budget``: pass it to the runner with the budget as
    the remaining time (``SourceRunner(stores, tasks=tasks).tick(name, 0, tasks.budget)``)."""

    def __init__(self, budget: PollBudget | None = None) -> None:
        super().__init__()
        self.budget = budget

    def task(self, connector: Any, version: int, task_id: int, task_config: dict[str, Any],
             context: Any) -> Any:
        task = super().task(connector, version, task_id, task_config, context)
        if isinstance(task, SourceTask) and not getattr(task, "_polls_counted", False):
            poll = task.poll

            def counted(offsets: OffsetMap) -> list[ConnectRecord]:
                if self.budget is not None:
                    self.budget.polled()
                return poll(offsets)

            task.poll, task._polls_counted = counted, True
        return task


def record_identity(record: ConnectRecord) -> tuple[str, str]:
    """A record's source position as one hashable value: (partition, offset), canonical JSON."""
    return partition_key(record.partition), partition_key(record.offset)


class SourceHarness:
    """A source connector's tasks, ticked through the real runner.

        with SourceHarness({"name": "gen", "connector": "datagen-source", "records": 20}) as source:
            source.deploy()
            source.drain()
            source.records               # what was published, in order
            source.committed()           # the committed offsets

    ``max_polls`` caps each tick; a source that has not drained by then fails :meth:`drain`.
    """

    def __init__(self, config: Mapping[str, Any], *, stores: Stores | None = None, max_polls: int = 1000) -> None:
        own = validate_config({k: v for k, v in config.items() if k != "target"})
        if own.kind != "source":
            raise TypeError(f"{config.get('connector')!r} is a {own.kind} connector, not a source")
        # The capture reads with the source's converters (defaults included) what the source wrote.
        converters = {name: getattr(own.config, name).model_dump(mode="json")
                      for name in ("key_converter", "value_converter")}
        self.capture = Capture()
        raw = dict(config)
        raw["target"] = {"type": "direct", "sink": self.capture.sink_config(own.config.name, converters)}
        try:
            self.connector = validate_config(raw)
        except BaseException:
            self.capture.close()
            raise
        self.config = raw
        self.name = self.connector.config.name
        self.stores = stores or Stores.in_memory()
        self.max_polls = max_polls
        self.task_configs: list[dict[str, Any]] = []
        self._tasks = PolledTasks()

    # --- running -------------------------------------------------------------------------------

    def deploy(self, max_tasks: int | None = None) -> list[dict[str, Any]]:
        """Store the config and split it into tasks, as the reconfigure state machine does."""
        max_tasks = max_tasks or self.connector.config.max_tasks
        configs = self.connector.task_configs(max_tasks)
        if not configs or len(configs) > max_tasks:
            raise HarnessError(f"task_configs({max_tasks}) returned {len(configs)} task configs; "
                               f"expected 1 to {max_tasks}")
        stored = json.loads(json.dumps(configs))  # what DynamoDB gives back
        self.stores.configs.put_connector(self.name, self.config)
        entry = self.stores.configs.get_connector(self.name)
        generation = ((entry.task_generation if entry else None) or 0) + 1
        self.stores.configs.put_task_configs(self.name, stored, generation)
        self.task_configs = stored
        return stored

    def tick(self, task: int = 0, *, polls: int | None = None) -> TickResult:
        """One scheduled tick of ``task``; with ``polls`` its Lambda time runs out after that many polls."""
        budget = self._tasks.budget = PollBudget(self.max_polls if polls is None else polls)
        runner = SourceRunner(self.stores, owner=f"harness-{next(_owners)}", tasks=self._tasks)
        return runner.tick(self.name, task, budget)

    def drain(self) -> list[TickResult]:
        """Tick every task until its source is drained; raises HarnessError when a tick fails or
        a task has not drained within ``max_polls`` polls."""
        results = []
        for task in range(len(self.task_configs)):
            result = self.tick(task)
            results.append(result)
            if result.outcome != "ran":
                raise HarnessError(f"task {task} of {self.name!r}: the tick ended {result.outcome!r}: "
                                   f"{result.error}")
            if not result.drained:
                raise HarnessError(f"task {task} of {self.name!r} did not drain within {self.max_polls} polls: "
                                   "give it a config with a finite source")
        return results

    def restart(self) -> None:
        """A new Lambda instance: started tasks are stopped and forgotten; the stores remain."""
        self._tasks.clear()

    # --- what happened -------------------------------------------------------------------------

    @property
    def records(self) -> list[ConnectRecord]:
        """Every record the target received, in order (as the sink side decoded them)."""
        return self.capture.records

    def committed(self) -> OffsetMap:
        return self.stores.offsets.read_all(self.name)

    def close(self) -> None:
        self._tasks.clear()
        self.capture.close()

    def __enter__(self) -> "SourceHarness":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


@contextmanager
def started_task(connector: Any, task_config: Mapping[str, Any]) -> Iterator[Any]:
    """A task of ``connector`` with ``task_config``, started, and stopped on leaving."""
    from ..api.connector import TaskContext

    task = connector.task_class(connector.config, dict(task_config), TaskContext(connector.config.name, 0))
    task.start()
    try:
        yield task
    finally:
        task.stop()


def task_partitions(connector: Any, task_config: Mapping[str, Any]) -> list[Partition]:
    """The partitions a task of ``connector`` reads with ``task_config``."""
    with started_task(connector, task_config) as task:
        return [dict(p) for p in task.partitions()]


class CommitFailsOnce(OffsetStore):
    """Offsets whose commit number ``after + 1`` fails as if the invocation died between publish
    and commit; the others go through (``on_commit`` is called after each)."""

    def __init__(self, inner: OffsetStore, *, after: int = 0, on_commit: Callable[[], None] | None = None,
                 error: Callable[[], BaseException] | None = None) -> None:
        self.inner = inner
        self.commits_left = after
        self.armed = True
        self.on_commit = on_commit
        self._error = error or (lambda: RuntimeError("invocation killed between publish and commit"))

    def read(self, connector: str, partitions: Iterable[Partition]) -> OffsetMap:
        return self.inner.read(connector, partitions)

    def read_all(self, connector: str) -> OffsetMap:
        return self.inner.read_all(connector)

    def write_versioned(self, connector: str, partition: Partition, offset: Any, *, expected_version: int) -> int:
        return self.inner.write_versioned(connector, partition, offset, expected_version=expected_version)

    def commit(self, connector: str, offsets: Any, *, task: int, epoch: int, order: Sequence[str] = ()) -> None:
        if self.armed and self.commits_left == 0:
            self.armed = False
            raise self._error()
        self.commits_left -= 1
        self.inner.commit(connector, offsets, task=task, epoch=epoch, order=order)
        if self.on_commit is not None:
            self.on_commit()

    def reset(self, connector: str, partitions: Iterable[Partition] | None = None) -> None:
        self.inner.reset(connector, partitions)

    def alter(self, connector: str, offsets: Any, *, fence: Any = None) -> None:
        self.inner.alter(connector, offsets, fence=fence)


class FixedQueuePolicies(QueuePolicies):
    """The source queue's redrive policy as the test states it. In AWS the runner reads it from
    SQS; the harness has no queue, so this stands in for that one call."""

    def __init__(self, policy: QueuePolicy) -> None:
        super().__init__()
        self.policy = policy

    def get(self, queue_arn: str) -> QueuePolicy:
        return self.policy


class SinkHarness:
    """A sink connector fed SQS batches through the real runner.

        with SinkHarness({"name": "files", "connector": "file-sink", "path": "out.jsonl"}) as sink:
            result = sink.deliver([ConnectRecord(topic="t", value={"a": 1})])
            result.failures          # message ids SQS would redeliver

    ``max_receive_count`` and ``dead_letter_arn`` play the source queue's redrive policy.
    """

    def __init__(self, config: Mapping[str, Any], *, stores: Stores | None = None,
                 queue_arn: str | None = None, max_receive_count: int | None = None,
                 dead_letter_arn: str | None = None) -> None:
        raw = dict(config)
        self.queue_arn = queue_arn or raw.get("source_queue") or DEFAULT_QUEUE_ARN
        raw["source_queue"] = self.queue_arn
        self.connector = validate_config(raw)
        if self.connector.kind != "sink":
            raise TypeError(f"{raw.get('connector')!r} is a {self.connector.kind} connector, not a sink")
        self.config = raw
        self.name = self.connector.config.name
        self.stores = stores or Stores.in_memory()
        self.policies = FixedQueuePolicies(QueuePolicy(dead_letter_arn, max_receive_count))
        self._tasks = PolledTasks()
        deploy(self.stores, raw, json.loads(json.dumps(self.connector.task_configs(1)[:1])))

    def event(self, items: Iterable[SqsItem], *, receive_count: int = 1) -> dict[str, Any]:
        """The SQS event that would carry ``items`` to this sink (encoded with its converters)."""
        config = self.connector.config
        return sqs_event(items, queue_arn=self.queue_arn, receive_count=receive_count,
                         key_converter=config.key_converter, value_converter=config.value_converter)

    def deliver(self, batch: Iterable[SqsItem] | Mapping[str, Any], *,
                remaining_ms: Callable[[], int] = lambda: _AMPLE_MS) -> SinkBatchResult:
        """Hand one batch (items, or an SQS event) to the sink, as the event source mapping does."""
        event = batch if isinstance(batch, Mapping) else self.event(batch)
        runner = SinkRunner(self.stores, tasks=self._tasks, policies=self.policies,
                            worker_id=f"harness-{next(_owners)}")
        return runner.handle(event, remaining_ms)

    def restart(self) -> None:
        """A new Lambda instance: started tasks are stopped and forgotten; the stores remain."""
        self._tasks.clear()

    def close(self) -> None:
        self._tasks.clear()

    def __enter__(self) -> "SinkHarness":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
