"""One scheduled tick of a source task.

take the task lease (bumps the epoch) → read the task config and the committed offsets → poll →
transform/convert → publish → commit the offsets, fenced by the epoch, only after the target
acknowledged → repeat → the chores (heartbeat, lag, status) → release the lease. How long a tick repeats is the connector's ``polling``:

* ``drain``: until the source has nothing more (or the deadline nears). A tick that finds the lease
  held exits at once, so overlapping schedules never poll twice. The cheapest: data waits up to a
  schedule period.
* ``continuous``: while the source is idle the tick waits for new records (``SourceTask.wait``: the
  RocketMQ sources long-poll the brokers) and polls again, until the next scheduled tick asks for
  the lease or the deadline nears. The successor asks instead of exiting; this tick finishes the
  batch in flight, commits and releases, and the successor starts from the committed offsets
  (``lease_keeper``). Offsets are committed at most every ``commit_interval_s`` (and always before
  the lease is given back); lag is measured and reported every ``report_interval_s``.

Either way the lease is short and renewed between batches, so a tick that dies frees its task
within seconds, and a tick whose lease was taken over cannot commit (StaleEpochError).
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ..api.connector import Connector, SinkTask, SourceTask, TaskContext
from ..api.record import ConnectRecord, OffsetMap
from ..errors import LeaseLostError, StaleEpochError
from ..storage import ConnectorEntry, State, Stores, TargetState, TaskLease
from . import telemetry as m
from .lease_keeper import LeaseKeeper, TickTimings
from .pipeline import SinkPipeline, SourcePipeline
from .targets import DirectPublisher, Publisher, SqsPublisher, TargetError, dead_letters_for
from .tasks import TaskCache
from .telemetry import Telemetry

logger = logging.getLogger("connect_core.source")


@dataclass
class TickResult:
    connector: str
    task: int
    #: ran | paused | stopped | busy (another tick holds or won the lease) | unassigned (no task
    #: config) | missing (no connector) | fenced (lease taken over) | failed
    outcome: str
    records: int = 0
    published: int = 0
    dead_lettered: int = 0
    batches: int = 0
    commits: int = 0
    epoch: int | None = None
    drained: bool = False
    #: Why a tick that ran stopped polling: drained | deadline | handover | paused | stopped |
    #: reconfigured | deleted.
    stopped: str | None = None
    #: How this tick got its task: handover (asked the running tick for it), takeover (the holder's
    #: lease ran out: it died or stalled), or start; and how long the task went unpolled before it.
    took_over: str | None = None
    gap_ms: float | None = None
    reconfiguration_requested: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Pending:
    """Offsets published and acknowledged but not committed yet, with their records (for
    ``SourceTask.commit``), and since when they wait."""

    offsets: OffsetMap = field(default_factory=OffsetMap)
    records: list[ConnectRecord] = field(default_factory=list)
    since: float | None = None

    def add(self, offsets: OffsetMap, records: list[ConnectRecord], now: float) -> None:
        for partition, offset in offsets.pairs():
            self.offsets.set(partition, offset)
        self.records.extend(records)
        if self.since is None:
            self.since = now

    def __bool__(self) -> bool:
        return self.since is not None


class SourceRunner:
    def __init__(self, stores: Stores, *, owner: str, tasks: TaskCache | None = None,
                 telemetry: Telemetry | None = None, timings: TickTimings | None = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 request_reconfiguration: Callable[[str, str], None] | None = None) -> None:
        self.stores = stores
        self.owner = owner
        self.tasks = tasks or TaskCache()
        self.telemetry = telemetry or Telemetry()
        self.timings = timings or TickTimings()
        self.clock = clock
        self.sleep = sleep
        #: Called with (connector, fingerprint) when a task reports that its partitions changed.
        self.request_reconfiguration = request_reconfiguration

    def tick(self, name: str, task_id: int, remaining_ms: Callable[[], int], *,
             recovery: bool = False) -> TickResult:
        """One tick. ``recovery``: started because the previous tick of this function crashed, so
        it waits for the dead holder's lease to run out even with ``drain`` polling."""
        entry = self.stores.configs.get_connector(name)
        halted = self._halted(name, task_id, entry)
        if halted is not None or entry is None:
            return self._skip(halted or TickResult(name, task_id, "missing"))  # (entry None is halted: for mypy)
        task_config = self.stores.configs.get_task_config(name, task_id)
        if task_config is None:
            return self._skip(TickResult(name, task_id, "unassigned"))
        try:
            connector = self.tasks.connector(name, entry.version, entry.config)
        except Exception as exc:  # noqa: BLE001 - an invalid stored config fails the task, visibly
            return self._failed(TickResult(name, task_id, "failed"), exc)
        continuous = getattr(connector.config, "polling", "drain") == "continuous"
        keeper = LeaseKeeper(self.stores.leases, name, task_id, self.owner, self.timings, remaining_ms,
                             clock=self.clock, sleep=self.sleep)
        lease = keeper.acquire(wait=continuous or recovery)
        if lease is None:
            return self._skip(TickResult(name, task_id, "busy"))

        result = TickResult(name, task_id, "ran", epoch=lease.epoch)
        self._note_takeover(lease, result)
        publisher: Publisher | None = None
        tick: _Tick | None = None
        try:
            # Again under the lease: a failover may have stopped the connector and fenced its tasks
            # between the first read and the claim; it must find no tick at work after its fence.
            halted = self._halted(name, task_id, self.stores.configs.get_connector(name))
            if halted is not None:
                halted.epoch = lease.epoch
                return self._skip(halted)
            if connector.kind != "source":
                raise TargetError(f"connector {name!r} is a {connector.kind} connector; only sources are polled")
            context = TaskContext(name, task_id, lease.epoch, remaining_ms)
            task = self.tasks.task(connector, entry.version, task_id, task_config, context)
            assert isinstance(task, SourceTask)
            publisher = self._publisher(connector, entry.version, task_id, context)
            publisher.bind(task)
            tick = _Tick(self, connector, task, publisher, keeper, entry, continuous, result)
            tick.chores(tick.run())
            changed = task.needs_reconfiguration()
            if changed and self.request_reconfiguration is not None:
                logger.info("partitions changed: re-splitting", extra={"connector": name, "fingerprint": changed})
                self.request_reconfiguration(name, changed)
                result.reconfiguration_requested = True
        except (StaleEpochError, LeaseLostError) as exc:
            # Another invocation claimed the task after our lease expired: it owns the offsets now.
            result.outcome, result.error = "fenced", str(exc)
            self.tasks.evict(name, task_id)
            logger.warning("tick fenced", extra={"connector": name, "task": task_id, "error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - a failed tick is reported, never half-committed
            self.tasks.evict(name, task_id)
            self._failed(result, exc, self._failure_report(publisher, tick))
        finally:
            keeper.release()
        return result

    # -- internals -------------------------------------------------------------------------------

    def _halted(self, name: str, task_id: int, entry: ConnectorEntry | None) -> TickResult | None:
        """Why the connector must not run (missing, paused, stopped; the task reports the last
        two), or None."""
        if entry is None:
            return TickResult(name, task_id, "missing", error=f"connector {name!r} does not exist")
        if entry.target_state is TargetState.RUNNING:
            return None
        state = State.PAUSED if entry.target_state is TargetState.PAUSED else State.STOPPED
        self.stores.status.put_task_status(name, task_id, state, worker_id=self.owner)
        return TickResult(name, task_id, entry.target_state.value.lower())

    def _failure_report(self, publisher: Publisher | None, tick: "_Tick | None") -> dict[str, float] | None:
        """What a failing tick still measures (a replicator's data at risk): the alarms must not go
        quiet exactly when the link fails."""
        if publisher is None or tick is None or tick.view is None:
            return None
        try:
            return publisher.report_failure(tick.task, tick.view)
        except Exception:  # noqa: BLE001 - the tick's own failure is the one to report
            logger.warning("measuring a failing tick failed", extra={"connector": tick.name}, exc_info=True)
            return None

    def _note_takeover(self, lease: TaskLease, result: TickResult) -> None:
        """How the task came to us and how long nobody polled it (handover and takeover only: after
        a released lease with nobody waiting, the gap is just the schedule)."""
        previous = lease.previous
        if previous is None or previous.owner == self.owner:
            result.took_over = "start"
            return
        if previous.released:
            # handed over on request - ours, or a racing successor's that we beat to the lease
            result.took_over = "handover" if previous.handover_requested_by else "start"
        else:
            result.took_over = "takeover"
        ended = previous.ended_at()
        if result.took_over != "start" and ended is not None:
            result.gap_ms = max(0.0, (self.clock() - ended) * 1000)
            self.telemetry.timing_ms(m.HANDOVER_GAP, result.gap_ms)
            logger.info("task taken over", extra={"connector": lease.connector, "task": lease.task,
                                                  "how": result.took_over, "gap_ms": round(result.gap_ms, 1),
                                                  "previous_owner": previous.owner})

    def _report(self, task: SourceTask[Any], publisher: Publisher, view: OffsetMap) -> dict[str, float]:
        """Measure the lag (records not yet polled; the publisher's own, e.g. the Replicator's
        seconds) and count it."""
        progress: dict[str, float] = {}
        lag = task.lag(view)
        if lag is not None:
            progress["lag_messages"] = lag
            self.telemetry.count(m.SOURCE_LAG, lag)
        progress.update(publisher.report(task, view))
        return progress

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

    def _failed(self, result: TickResult, exc: Exception, progress: dict[str, float] | None = None) -> TickResult:
        result.outcome, result.error = "failed", f"{type(exc).__name__}: {exc}"
        self.stores.status.put_task_status(result.connector, result.task, State.FAILED,
                                           trace=traceback.format_exc(), worker_id=self.owner, progress=progress)
        logger.exception("tick failed", extra={"connector": result.connector, "task": result.task})
        return result

    def _skip(self, result: TickResult) -> TickResult:
        self.telemetry.count(m.TICKS_SKIPPED, 1)
        logger.info("tick skipped", extra=result.to_dict())
        return result


class _Tick:
    """The poll/publish/commit loop of one tick, with its housekeeping: renewing the lease,
    noticing a successor, a pause or a new config, and reporting lag."""

    def __init__(self, runner: SourceRunner, connector: Connector[Any], task: SourceTask[Any],
                 publisher: Publisher, keeper: LeaseKeeper, entry: ConnectorEntry, continuous: bool,
                 result: TickResult) -> None:
        self.runner, self.connector, self.task, self.publisher = runner, connector, task, publisher
        self.keeper, self.entry, self.continuous, self.result = keeper, entry, continuous, result
        self.timings = runner.timings
        self.clock = runner.clock
        self.telemetry = runner.telemetry
        self.name = connector.config.name
        self.pipeline = SourcePipeline(connector.config, task.context.task_id, clock=self.clock)
        self.dead_letters = dead_letters_for(connector.config.errors.dead_letter_queue)
        self.pending = _Pending()
        self.report_at = self.clock() + self.timings.report_interval_s
        #: The committed offsets, then advanced as this tick publishes (None until read).
        self.view: OffsetMap | None = None

    def run(self) -> OffsetMap:
        """Poll until a reason to stop (``result.stopped``); returns the offsets as committed."""
        offsets = self.runner.stores.offsets.read(self.name, self.task.partitions())
        view = self.view = offsets.copy()
        try:
            self.result.stopped = self._loop(view)
        except (StaleEpochError, LeaseLostError):
            raise
        except Exception:
            self._commit_acknowledged()
            raise
        self._commit()
        return view

    def chores(self, view: OffsetMap) -> None:
        """Once a tick, after the last commit and before the release, so a failover's fence waits
        for them too: the publisher's (a replicator's heartbeat), the lag and its report (with a
        replicator's data at risk and checkpoints), the status. They run in the safety margin, the
        lease renewed between them; one that finds the lease taken over raises LeaseLostError."""
        for chore in (lambda: self.publisher.finish(self.task, view), lambda: self._final_report(view)):
            if self.keeper.remaining_ms() / 1000 < self.timings.renew_interval_s:
                logger.warning("no time left for the chores of the tick", extra={"connector": self.name})
                return
            if self.keeper.renew_due():
                self.keeper.renew()
            chore()

    def _final_report(self, view: OffsetMap) -> None:
        progress = self.runner._report(self.task, self.publisher, view)
        if self.result.stopped in ("drained", "deadline", "reconfigured"):  # after a handover: the successor's
            self.runner.stores.status.put_task_status(self.name, self.task.context.task_id, State.RUNNING,
                                                      worker_id=self.runner.owner, progress=progress)

    def _commit_acknowledged(self) -> None:
        """A tick failing (say, its source went away) first commits what the target already
        acknowledged: nothing of it is resent, and a replicator's watermark covers it."""
        try:
            self._commit()
        except Exception:  # noqa: BLE001 - the original failure is the one to report
            logger.warning("committing the acknowledged batches of a failing tick failed",
                           extra={"connector": self.name}, exc_info=True)

    def _loop(self, view: OffsetMap) -> str:
        while True:
            if self._time_left_s() <= 0:
                return "deadline"
            if self.keeper.renew_due():
                reason = self._housekeeping()
                if reason:
                    return reason
            if self.continuous and self.clock() >= self.report_at:
                self._report(view)
            started = time.perf_counter()
            records = self.task.poll(view)
            rejected, self.task.rejected = self.task.rejected, []
            progressed, self.task.progressed = self.task.progressed, OffsetMap()
            if not records and not rejected:
                self._progress(progressed, view)
                if not self.continuous:
                    self.result.drained = True
                    return "drained"
                if self._commit_due_in() <= 0:
                    self._commit()
                self.task.wait(view, self._idle_wait_s())
                continue
            self._deliver(records, rejected, view)
            self._progress(progressed, view)
            self.telemetry.timing_ms(m.BATCH_LATENCY, (time.perf_counter() - started) * 1000)
            if not self.continuous or self._commit_due_in() <= 0:
                self._commit()

    def _deliver(self, records: list[ConnectRecord], rejected: list[Any], view: OffsetMap) -> None:
        batch = self.pipeline.process(records)
        for error, message in rejected:
            self.pipeline.reject(error, message, batch)
        self.publisher.publish(batch.messages)
        if batch.dead_letters:
            self.result.dead_lettered += self.dead_letters.send(batch.dead_letters)
            self.telemetry.count(m.RECORDS_DEAD_LETTERED, len(batch.dead_letters))
        self.pending.add(batch.offsets, records, self.clock())
        for partition, offset in batch.offsets.pairs():
            view.set(partition, offset)
        self.result.batches += 1
        self.result.records += batch.records_in
        self.result.published += len(batch.messages)
        self.telemetry.count(m.RECORDS_POLLED, batch.records_in)
        self.telemetry.count(m.RECORDS_PUBLISHED, len(batch.messages))

    def _progress(self, progressed: OffsetMap, view: OffsetMap) -> None:
        """Positions the task moved without records (``SourceTask.progress``): committed with the
        next commit, after whatever this poll published."""
        if progressed:
            self.pending.add(progressed, [], self.clock())
            for partition, offset in progressed.pairs():
                view.set(partition, offset)

    def _commit(self) -> None:
        """Commit what was published, fenced by the epoch; then let the task acknowledge it."""
        if not self.pending:
            return
        pending, self.pending = self.pending, _Pending()
        self.publisher.before_commit()
        assert self.keeper.lease is not None
        self.runner.stores.offsets.commit(self.name, pending.offsets, task=self.task.context.task_id,
                                          epoch=self.keeper.lease.epoch, order=self.task.offset_order)
        self.task.commit(pending.records)
        self.result.commits += 1

    def _housekeeping(self) -> str | None:
        """Renew the lease; a reason to stop when a successor asked for it or the connector changed."""
        lease = self.keeper.renew()
        if lease.handover_requested:
            logger.info("handing the task over", extra={"connector": self.name, "task": lease.task,
                                                        "successor": lease.handover_requested_by})
            return "handover"
        entry = self.runner.stores.configs.get_connector(self.name)
        if entry is None:
            return "deleted"
        if entry.target_state is not TargetState.RUNNING:  # either polling: a failover's stop waits for it
            state = State.PAUSED if entry.target_state is TargetState.PAUSED else State.STOPPED
            self.runner.stores.status.put_task_status(self.name, lease.task, state, worker_id=self.runner.owner)
            return entry.target_state.value.lower()
        if not self.continuous:
            return None  # a drain tick ends soon anyway; the next one reads the new config
        if (entry.version, entry.task_generation) != (self.entry.version, self.entry.task_generation):
            return "reconfigured"  # the next tick starts with the new config
        return None

    def _report(self, view: OffsetMap) -> None:
        self.report_at = self.clock() + self.timings.report_interval_s
        progress = self.runner._report(self.task, self.publisher, view)
        self.runner.stores.status.put_task_status(self.name, self.task.context.task_id, State.RUNNING,
                                                  worker_id=self.runner.owner, progress=progress)
        self.telemetry.flush()

    def _commit_due_in(self) -> float:
        """Seconds until the uncommitted offsets must be committed (inf when there are none):
        continuous polling commits at most every ``commit_interval_s``, idle or not."""
        if not self.pending:
            return float("inf")
        return (self.pending.since or 0) + self.timings.commit_interval_s - self.clock()

    def _idle_wait_s(self) -> float:
        interval = self.connector.config.poll_interval_ms / 1000
        return max(0.0, min(interval, self.keeper.seconds_to_renewal(), self._time_left_s(),
                            self.report_at - self.clock(), self._commit_due_in()))

    def _time_left_s(self) -> float:
        return self.keeper.remaining_ms() / 1000 - self.timings.safety_margin_s
