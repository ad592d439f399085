"""One scheduled tick of a source task.

claim the task lease (bumps the epoch) → read the task config and the committed offsets →
poll → transform/convert → publish → commit the offsets, fenced by the epoch, only after the
target acknowledged → repeat until the source is drained or the Lambda's remaining time nears the
safety margin → release the lease. A tick that finds the lease held exits at once, so overlapping
schedules never poll twice; a tick whose lease was taken over cannot commit (StaleEpochError).
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import asdict, dataclass
from typing import Any, Callable

from ..api.connector import Connector, SinkTask, SourceTask, TaskContext
from ..errors import StaleEpochError
from ..storage import State, Stores, TargetState, TaskLease
from . import telemetry as m
from .pipeline import SinkPipeline, SourcePipeline
from .targets import DirectPublisher, Publisher, SqsPublisher, TargetError, dead_letters_for
from .tasks import TaskCache
from .telemetry import Telemetry

logger = logging.getLogger("connect_core.source")

#: Longer than the longest Lambda invocation (15 min): a live invocation never loses its lease
#: to expiry; a crashed one frees the task after this long at the latest.
DEFAULT_LEASE_TTL_S = 16 * 60
DEFAULT_SAFETY_MARGIN_MS = 10_000


@dataclass
class TickResult:
    connector: str
    task: int
    #: ran | paused | stopped | busy (lease held) | unassigned (no task config) | missing
    #: (no connector) | fenced (lease taken over) | failed
    outcome: str
    records: int = 0
    published: int = 0
    dead_lettered: int = 0
    batches: int = 0
    epoch: int | None = None
    drained: bool = False
    reconfiguration_requested: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SourceRunner:
    def __init__(self, stores: Stores, *, owner: str, tasks: TaskCache | None = None,
                 telemetry: Telemetry | None = None, lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
                 safety_margin_ms: int = DEFAULT_SAFETY_MARGIN_MS,
                 clock: Callable[[], float] = time.time,
                 request_reconfiguration: Callable[[str, str], None] | None = None) -> None:
        self.stores = stores
        self.owner = owner
        self.tasks = tasks or TaskCache()
        self.telemetry = telemetry or Telemetry()
        self.lease_ttl_s = lease_ttl_s
        self.safety_margin_ms = safety_margin_ms
        self.clock = clock
        #: Called with (connector, fingerprint) when a task reports that its partitions changed.
        self.request_reconfiguration = request_reconfiguration

    def tick(self, name: str, task_id: int, remaining_ms: Callable[[], int]) -> TickResult:
        entry = self.stores.configs.get_connector(name)
        if entry is None:
            return self._skip(TickResult(name, task_id, "missing", error=f"connector {name!r} does not exist"))
        if entry.target_state is not TargetState.RUNNING:
            state = State.PAUSED if entry.target_state is TargetState.PAUSED else State.STOPPED
            self.stores.status.put_task_status(name, task_id, state, worker_id=self.owner)
            return self._skip(TickResult(name, task_id, entry.target_state.value.lower()))
        task_config = self.stores.configs.get_task_config(name, task_id)
        if task_config is None:
            return self._skip(TickResult(name, task_id, "unassigned"))
        lease = self.stores.leases.claim(name, task_id, self.owner, self.lease_ttl_s)
        if lease is None:
            return self._skip(TickResult(name, task_id, "busy"))

        result = TickResult(name, task_id, "ran", epoch=lease.epoch)
        publisher: Publisher | None = None
        try:
            connector = self.tasks.connector(name, entry.version, entry.config)
            if connector.kind != "source":
                raise TargetError(f"connector {name!r} is a {connector.kind} connector; only sources are polled")
            context = TaskContext(name, task_id, lease.epoch, remaining_ms)
            task = self.tasks.task(connector, entry.version, task_id, task_config, context)
            assert isinstance(task, SourceTask)
            publisher = self._publisher(connector, entry.version, task_id, context)
            lease = self._run(connector, task, publisher, lease, remaining_ms, result)
            self.stores.status.put_task_status(name, task_id, State.RUNNING, worker_id=self.owner)
            changed = task.needs_reconfiguration()
            if changed and self.request_reconfiguration is not None:
                logger.info("partitions changed: re-splitting", extra={"connector": name, "fingerprint": changed})
                self.request_reconfiguration(name, changed)
                result.reconfiguration_requested = True
        except StaleEpochError as exc:
            # Another invocation claimed the task after our lease expired: it owns the offsets now.
            result.outcome, result.error = "fenced", str(exc)
            self.tasks.evict(name, task_id)
            logger.warning("tick fenced", extra={"connector": name, "task": task_id, "error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - a failed tick is reported, never half-committed
            result.outcome, result.error = "failed", f"{type(exc).__name__}: {exc}"
            self.tasks.evict(name, task_id)
            self.stores.status.put_task_status(name, task_id, State.FAILED, trace=traceback.format_exc(),
                                               worker_id=self.owner)
            logger.exception("tick failed", extra={"connector": name, "task": task_id})
        finally:
            self.stores.leases.release(lease)
        return result

    # -- internals -------------------------------------------------------------------------------

    def _run(self, connector: Connector[Any], task: SourceTask[Any], publisher: Publisher, lease: TaskLease,
             remaining_ms: Callable[[], int], result: TickResult) -> TaskLease:
        """Poll/publish/commit until drained or out of time; returns the (possibly renewed) lease."""
        name, task_id, epoch = connector.config.name, task.context.task_id, lease.epoch
        pipeline = SourcePipeline(connector.config, task_id, clock=self.clock)
        dead_letters = dead_letters_for(connector.config.errors.dead_letter_queue)
        offsets = self.stores.offsets.read(name, task.partitions())
        view = offsets.copy()  # committed, then advanced as this tick commits
        renew_at = self.clock() + self.lease_ttl_s / 2
        while remaining_ms() > self.safety_margin_ms:
            started = time.perf_counter()
            records = task.poll(view)
            rejected, task.rejected = task.rejected, []
            if not records and not rejected:
                result.drained = True
                break
            batch = pipeline.process(records)
            for error, message in rejected:
                pipeline.reject(error, message, batch)
            publisher.publish(batch.messages)
            if batch.dead_letters:
                result.dead_lettered += dead_letters.send(batch.dead_letters)
            self.stores.offsets.commit(name, batch.offsets, task=task_id, epoch=epoch, order=task.offset_order)
            task.commit(records)
            for partition, offset in batch.offsets.pairs():
                view.set(partition, offset)
            result.batches += 1
            result.records += batch.records_in
            result.published += len(batch.messages)
            self.telemetry.count(m.RECORDS_POLLED, batch.records_in)
            self.telemetry.count(m.RECORDS_PUBLISHED, len(batch.messages))
            if batch.dead_letters:
                self.telemetry.count(m.RECORDS_DEAD_LETTERED, len(batch.dead_letters))
            self.telemetry.timing_ms(m.BATCH_LATENCY, (time.perf_counter() - started) * 1000)
            if self.clock() >= renew_at:
                lease = self.stores.leases.renew(lease, self.lease_ttl_s)
                renew_at = self.clock() + self.lease_ttl_s / 2
        publisher.finish(task, view)
        lag = task.lag(view)
        if lag is not None:
            self.telemetry.count(m.SOURCE_LAG, lag)
        return lease

    def _publisher(self, connector: Connector[Any], version: int, task_id: int,
                   context: TaskContext) -> Publisher:
        own = getattr(connector, "publisher", None)
        if own is not None:  # a connector that writes its own target (the Replicator)
            return own(self.stores, self.telemetry, context)
        target = getattr(connector.config, "target", None)
        if target is None:
            raise TargetError(f"connector {connector.config.name!r} has no target: set target to an SQS "
                              "queue ({type: sqs, queue_url: ...}) or a sink ({type: direct, sink: {...}})")
        if target.type == "sqs":
            return SqsPublisher(target.queue_url)
        sink_connector = self.tasks.connector(f"{connector.config.name}/direct", version, target.sink)
        sink_config = sink_connector.task_configs(1)[0]
        sink_task = self.tasks.task(sink_connector, version, task_id, sink_config, context)
        assert isinstance(sink_task, SinkTask)
        pipeline = SinkPipeline(sink_connector.config, sink_task, task_id, clock=self.clock)
        return DirectPublisher(pipeline, dead_letters_for(sink_connector.config.errors.dead_letter_queue))

    def _skip(self, result: TickResult) -> TickResult:
        self.telemetry.count(m.TICKS_SKIPPED, 1)
        logger.info("tick skipped", extra=result.to_dict())
        return result
