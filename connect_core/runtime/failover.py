"""Failover and failback of a replication link (``rocketmq-replicator`` A → B), as resumable runs.

A run is a list of steps stored in the offsets table (namespace ``<name>.dr-runs``, one item per
run). The failover state machine calls :meth:`FailoverEngine.advance` until the run ends: each call
carries out the steps not yet done, storing the run after each one, and answers how long to wait
when a step waits for something (the replicator to drain, a tick to let its lease go). A step that
failed half-way is run again from its start on resume: every step is idempotent.

* **planned** (A healthy): ``drain`` (every queue's committed offset reaches A's max offset, within
  ``drain_timeout_s``) → ``stop`` (target state STOPPED) → ``fence`` (wait until no tick holds a
  task lease, then claim each lease once: a zombie tick can no longer commit) → ``apply_offsets``
  (each group's committed offset on A, translated through the offset syncs, applied on B; never
  backwards) → ``divergence`` (B's max offsets: where B starts to hold its own messages) →
  ``report`` (the data at risk, with A's max offsets read again: 0 unless producers kept writing).
* **unplanned** (A unreachable): the same without ``drain``; offsets come from the stored
  checkpoints and the data at risk from the stored observations. Nothing calls A.
* **failback**: ``check`` (the link's last failover) → ``reverse_offsets`` (the reverse connector
  ``<name>-failback``, B → A, starts on each of B's queues right after the replicator's last write
  there, so what clients wrote to B before the failover goes back too; the divergence point where
  the replicator never wrote) → ``start_reverse`` (create or update it through the reconfigure
  state machine, RUNNING). The loop guard skips every replica that came from A, so nothing echoes.

``plan`` answers a dry run: the steps and the offsets a run would apply, and the data at risk,
without writing anything.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from ..api.record import partition_key
from ..errors import ConflictError, ConnectError, NotFoundError
from ..storage import State, Stores, TargetState

logger = logging.getLogger("connect_core.failover")

REPLICATOR = "rocketmq-replicator"
STEPS: dict[str, tuple[str, ...]] = {
    "planned": ("drain", "stop", "fence", "apply_offsets", "divergence", "report"),
    "unplanned": ("stop", "fence", "apply_offsets", "divergence", "report"),
    "failback": ("check", "reverse_offsets", "start_reverse"),
}
RUNNING, SUCCEEDED, FAILED = "RUNNING", "SUCCEEDED", "FAILED"
#: What ``advance`` answers an execution of an earlier attempt: a resume started a newer one.
SUPERSEDED = "SUPERSEDED"


class FailoverError(ConnectError):
    """A run cannot go on (a timeout, a connector that is not a replicator, no failover to fail back)."""


def runs_namespace(name: str) -> str:
    return f"{name}.dr-runs"


def reverse_name(name: str) -> str:
    return f"{name}-failback"


@dataclass(frozen=True)
class FailoverSettings:
    drain_timeout_s: float = 300.0
    fence_timeout_s: float = 60.0
    poll_s: float = 1.0
    #: How long the engine holds a task lease while fencing (it releases it at once).
    lease_ttl_s: float = 30.0


@dataclass(frozen=True)
class Wait:
    """A step that is not done yet: call again after ``seconds``."""

    seconds: float
    reason: str


class RunSuperseded(ConflictError):
    """Another writer changed the run since it was read (a resume started a newer attempt)."""


class RunStore:
    """Runs, one item each, in the offsets table under ``<name>.dr-runs``. Each write is conditional
    on the version it read (``run["version"]``): a writer that lost a race (an execution a resume
    superseded) gets ConflictError and writes nothing."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores

    def save(self, run: dict[str, Any]) -> None:
        version = run.get("version", 0)
        try:
            run["version"] = self.stores.offsets.write_versioned(
                runs_namespace(run["connector"]), {"run": run["id"]}, {**run, "version": version + 1},
                expected_version=version)
        except ConflictError as exc:
            raise RunSuperseded(f"run {run['id']} of {run['connector']!r} was changed by another writer "
                                f"(a resume, a newer execution): {exc}") from None

    def get(self, name: str, run_id: str) -> dict[str, Any]:
        found = self.stores.offsets.read(runs_namespace(name), [{"run": run_id}])
        if {"run": run_id} not in found:
            raise NotFoundError(f"no failover or failback run {run_id!r} for connector {name!r}")
        return dict(found[{"run": run_id}])

    def list(self, name: str) -> list[dict[str, Any]]:
        runs = [dict(run) for _, run in self.stores.offsets.read_all(runs_namespace(name)).pairs()]
        return sorted(runs, key=lambda run: run["created_at"], reverse=True)


def _default_client(cluster: Any) -> Any:
    return cluster.client()


class FailoverEngine:
    """``client(cluster)`` gives the RocketMQ client of a replicator's cluster; ``apply(config)``
    creates or updates a connector the way the admin API does (the reconfigure state machine)."""

    def __init__(self, stores: Stores, *, apply: Callable[[dict[str, Any]], Any] | None = None,
                 client: Callable[[Any], Any] = _default_client, settings: FailoverSettings | None = None,
                 clock: Callable[[], float] = time.time, owner: str = "failover") -> None:
        self.stores = stores
        self.runs = RunStore(stores)
        self.apply = apply
        self.client = client
        self.settings = settings or FailoverSettings()
        self.clock = clock
        self.owner = owner

    # -- runs ---------------------------------------------------------------------------------------

    def begin(self, name: str, kind: str, *, drain_timeout_s: float | None = None) -> dict[str, Any]:
        """A new run of ``kind`` (planned | unplanned | failback), stored; nothing else changes yet.
        ``drain_timeout_s``: how long a planned failover waits for the link to drain."""
        self._replicator(name)
        if kind not in STEPS:
            raise FailoverError(f"unknown run kind {kind!r}: planned, unplanned or failback")
        now = self.clock()
        run = {"id": f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}-{uuid.uuid4().hex[:8]}",
               "connector": name, "kind": kind, "status": RUNNING, "attempt": 0, "created_at": round(now, 3),
               "finished_at": None, "error": None,
               "drain_timeout_s": drain_timeout_s or self.settings.drain_timeout_s,
               "steps": [{"name": step, "status": "pending", "started_at": None, "finished_at": None,
                          "seconds": None, "detail": None} for step in STEPS[kind]]}
        self.runs.save(run)
        return run

    def advance(self, name: str, run_id: str, attempt: int | None = None) -> dict[str, Any]:
        """Carry out the run's next steps until it ends or one must wait. Returns
        ``{"status", "wait_s", "step"}``; raises when a step fails (the run is then FAILED).
        ``attempt``: the execution's; once a resume started a newer attempt, this one is SUPERSEDED
        and writes nothing more."""
        run = self.runs.get(name, run_id)
        if attempt is not None and run.get("attempt", 0) != attempt:
            return {"status": SUPERSEDED, "wait_s": 0, "step": None}
        if run["status"] != RUNNING:
            return {"status": run["status"], "wait_s": 0, "step": None}
        try:
            return self._advance(run)
        except RunSuperseded:
            logger.info("run superseded while advancing", extra={"connector": name, "run": run_id})
            return {"status": SUPERSEDED, "wait_s": 0, "step": None}

    def _advance(self, run: dict[str, Any]) -> dict[str, Any]:
        for step in run["steps"]:
            if step["status"] == "done":
                continue
            if step["started_at"] is None or step["status"] == "failed":
                step.update(status="running", started_at=round(self.clock(), 3))
                run["status"] = RUNNING
                self.runs.save(run)
            try:
                outcome = getattr(self, f"_{step['name']}")(run, step)
            except Exception as exc:
                step["status"] = "failed"
                self._end(run, FAILED, f"{step['name']}: {type(exc).__name__}: {exc}")
                raise
            if isinstance(outcome, Wait):
                step["detail"] = {**(step["detail"] or {}), "waiting_for": outcome.reason}
                self.runs.save(run)
                # a whole number of seconds: the state machine's Wait takes nothing else
                return {"status": RUNNING, "wait_s": max(1, math.ceil(outcome.seconds)), "step": step["name"]}
            now = self.clock()
            step.update(status="done", finished_at=round(now, 3), seconds=round(now - step["started_at"], 3),
                        detail=outcome)
            self.runs.save(run)
        self._end(run, SUCCEEDED, None)
        return {"status": SUCCEEDED, "wait_s": 0, "step": None}

    def fail(self, name: str, run_id: str, error: str, attempt: int | None = None) -> dict[str, Any]:
        """Mark a run FAILED (the state machine's catch-all, or a launch that failed); completed
        steps stay completed. An execution of an earlier ``attempt`` changes nothing."""
        run = self.runs.get(name, run_id)
        if run["status"] != RUNNING or (attempt is not None and run.get("attempt", 0) != attempt):
            return run
        for step in run["steps"]:
            if step["status"] == "running":
                step["status"] = "failed"
        try:
            self._end(run, FAILED, error)
        except RunSuperseded:  # a newer attempt wrote it meanwhile: that one decides
            return self.runs.get(name, run_id)
        return run

    def resume(self, name: str, run_id: str) -> dict[str, Any]:
        """Make a FAILED run RUNNING again as a new attempt: its next ``advance`` retries the failed
        step, and the executions of earlier attempts can no longer write it. ConflictError when
        another writer got there first."""
        run = self.runs.get(name, run_id)
        if run["status"] == FAILED:
            run.update(status=RUNNING, finished_at=None, error=None, attempt=run.get("attempt", 0) + 1)
            self.runs.save(run)
        return run

    def plan(self, name: str, kind: str) -> dict[str, Any]:
        """A dry run: what a run of ``kind`` would do now. Reads; writes nothing."""
        entry = self._replicator(name)
        if kind not in STEPS:
            raise FailoverError(f"unknown run kind {kind!r}: planned, unplanned or failback")
        out: dict[str, Any] = {"connector": name, "kind": kind, "dry_run": True, "steps": list(STEPS[kind])}
        config = self._config(entry.config)
        if kind == "failback":
            failover = self._last_failover(name)
            out["reverse_connector"] = reverse_config(config, reverse_name(name))
            out["reverse_offsets"] = self._reverse_offsets_of(config, failover)
            return out
        out["offsets"], out["not_translated"] = self._translations(config, planned=kind == "planned")
        out["data_at_risk"] = self._data_at_risk(name, config, fresh=kind == "planned")
        return out

    def _end(self, run: dict[str, Any], status: str, error: str | None) -> None:
        run.update(status=status, finished_at=round(self.clock(), 3), error=error)
        self.runs.save(run)

    # -- the steps ----------------------------------------------------------------------------------

    def _drain(self, run: dict[str, Any], step: dict[str, Any]) -> Any:
        config = self._config(self._replicator(run["connector"]).config)
        risk = self._data_at_risk(run["connector"], config, fresh=True)
        if risk["messages"] == 0:
            return {"source_max": {partition_key(q["partition"]): q["known_max_offset"] for q in risk["queues"]}}
        timeout = run.get("drain_timeout_s") or self.settings.drain_timeout_s
        if self.clock() - step["started_at"] > timeout:
            raise FailoverError(f"the replicator did not catch up within {timeout:g} s: "
                                f"{risk['messages']} messages still not on the target (are producers still "
                                "writing to the source? stop them, or fail over --unplanned)")
        return Wait(self.settings.poll_s, f"{risk['messages']} messages to replicate")

    def _stop(self, run: dict[str, Any], step: dict[str, Any]) -> Any:
        name = run["connector"]
        self.stores.configs.set_target_state(name, TargetState.STOPPED)
        self.stores.status.put_connector_status(name, State.STOPPED, worker_id=self.owner)
        return {"target_state": "STOPPED"}

    def _fence(self, run: dict[str, Any], step: dict[str, Any], name: str | None = None) -> Any:
        """Every task's lease claimed once (bumping its epoch) and released: no tick runs, and one
        that outlived its lease can never commit. Waits while a tick still holds its lease."""
        name = name or run["connector"]
        tasks = len(self.stores.configs.get_task_configs(name))
        busy, epochs = [], {}
        for task in range(tasks):
            lease = self.stores.leases.claim(name, task, self.owner, self.settings.lease_ttl_s)
            if lease is None:
                busy.append(task)
                continue
            epochs[str(task)] = lease.epoch
            self.stores.leases.release(lease)
        if not busy:
            return {"epochs": epochs}
        if self.clock() - step["started_at"] > self.settings.fence_timeout_s:
            raise FailoverError(f"tasks {busy} of {name!r} still held their leases after "
                                f"{self.settings.fence_timeout_s:g} s")
        return Wait(self.settings.poll_s, f"ticks of tasks {busy} to end")

    def _apply_offsets(self, run: dict[str, Any], step: dict[str, Any]) -> Any:
        config = self._config(self._replicator(run["connector"]).config)
        offsets, missing = self._translations(config, planned=run["kind"] == "planned")
        target = self.client(config.target_cluster)
        from ..rocketmq import MessageQueue

        for item in offsets:
            mq = MessageQueue(item["broker"], item["topic"], item["queue"])
            current = target.query_consumer_offset(item["group"], mq)
            item["previous"] = current
            item["applied"] = current is None or current < item["offset"]
            if item["applied"]:
                target.update_consumer_offset(item["group"], mq, item["offset"])
        return {"offsets": offsets, "not_translated": missing}

    def _divergence(self, run: dict[str, Any], step: dict[str, Any]) -> Any:
        config = self._config(self._replicator(run["connector"]).config)
        target = self.client(config.target_cluster)
        queues = []
        for topic in sorted({config.target_topic(t) for t in config.topics}):
            target.invalidate_route(topic)
            for mq in target.message_queues(topic):
                queues.append({"broker": mq.broker_name, "topic": mq.topic, "queue": mq.queue_id,
                               "max_offset": target.max_offset(mq)})
        return {"target_max": queues}

    def _report(self, run: dict[str, Any], step: dict[str, Any]) -> Any:
        config = self._config(self._replicator(run["connector"]).config)
        risk = self._data_at_risk(run["connector"], config, fresh=run["kind"] == "planned")
        run["data_at_risk"] = risk
        return {"messages": risk["messages"], "seconds": risk["seconds"]}

    def _check(self, run: dict[str, Any], step: dict[str, Any]) -> Any:
        entry = self._replicator(run["connector"])
        if entry.target_state is not TargetState.STOPPED:
            raise FailoverError(f"{run['connector']!r} is {entry.target_state.value}: fail over first "
                                "(a failback replicates B → A while A → B is stopped)")
        failover = self._last_failover(run["connector"])
        return {"failover_run": failover["id"], "target_max": _detail(failover, "divergence")["target_max"]}

    def _reverse_offsets_of(self, config: Any, failover: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Where the reverse link starts on each target queue: after the replicator's last write
        there (the smallest over the source queues feeding it), so messages clients wrote to B
        before the failover go back too; where it never wrote, the failover's divergence point.
        Copies from A read on the way are skipped by the loop guard."""
        from ..connectors.replicator import sync_namespace

        cluster = config.target_cluster.name
        written: dict[tuple[str, str, int], int] = {}
        for _, synced in self.stores.offsets.read_all(sync_namespace(config.name)).pairs():
            watermark = synced.get("watermark")
            if watermark and watermark.get("target") is not None:
                broker, topic, queue = watermark["target"]
                key, after = (broker, topic, int(queue)), int(watermark["target_offset"]) + 1
                written[key] = min(written.get(key, after), after)
        out = []
        for q in _detail(failover, "divergence")["target_max"]:
            after = written.get((q["broker"], q["topic"], int(q["queue"])))
            start, basis = (q["max_offset"], "divergence") if after is None else \
                (min(after, q["max_offset"]), "after the replicator's last write")
            out.append({"partition": {"cluster": cluster, "broker": q["broker"], "topic": q["topic"],
                                      "queue": q["queue"]},
                        "offset": {"queue_offset": start}, "from": basis})
        return out

    def _reverse_offsets(self, run: dict[str, Any], step: dict[str, Any]) -> Any:
        name = run["connector"]
        config = self._config(self._replicator(name).config)
        reverse = reverse_name(name)
        existing = self.stores.configs.get_connector(reverse)
        if existing is not None:
            if existing.target_state is not TargetState.STOPPED:
                self.stores.configs.set_target_state(reverse, TargetState.STOPPED)
            fenced = self._fence(run, step, reverse)
            if isinstance(fenced, Wait):
                return fenced
        wanted = self._reverse_offsets_of(config, self.runs.get(name, _detail(run, "check")["failover_run"]))
        stored = self.stores.offsets.read(reverse, [w["partition"] for w in wanted])
        # never backwards: a reverse connector that already copied past the failover point resumes there
        moves = [(w["partition"], w["offset"]) for w in wanted
                 if w["partition"] not in stored
                 or stored[w["partition"]]["queue_offset"] < w["offset"]["queue_offset"]]
        if moves:
            self.stores.offsets.alter(reverse, moves)
        return {"reverse_connector": reverse, "offsets": wanted, "written": len(moves)}

    def _start_reverse(self, run: dict[str, Any], step: dict[str, Any]) -> Any:
        name = run["connector"]
        if self.apply is None:
            raise FailoverError("this engine cannot create connectors (no reconfigure state machine given)")
        config = reverse_config(self._config(self._replicator(name).config), reverse_name(name))
        self.apply(config)
        self.stores.configs.set_target_state(config["name"], TargetState.RUNNING)
        return {"reverse_connector": config["name"], "target_state": "RUNNING"}

    # -- reading the link ---------------------------------------------------------------------------

    def _replicator(self, name: str) -> Any:
        entry = self.stores.configs.get_connector(name)
        if entry is None:
            raise NotFoundError(f"Connector {name} not found")
        if entry.config.get("connector") != REPLICATOR:
            raise NotFoundError(f"Connector {name} is not a replicator ({REPLICATOR})")
        return entry

    @staticmethod
    def _config(raw: Mapping[str, Any]) -> Any:
        from ..connectors.replicator import ReplicatorConfig

        return ReplicatorConfig.model_validate(dict(raw))

    def _queues(self, name: str) -> list[Any]:
        from ..rocketmq import MessageQueue

        return [MessageQueue(b, t, q) for config in self.stores.configs.get_task_configs(name)
                for b, t, q in config.get("queues", [])]

    def _last_failover(self, name: str) -> dict[str, Any]:
        for run in self.runs.list(name):
            if run["kind"] in ("planned", "unplanned") and run["status"] == SUCCEEDED:
                return run
        raise FailoverError(f"connector {name!r} has no completed failover to fail back from")

    def _translations(self, config: Any, *, planned: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Each group's offset per target queue: planned, its committed offset on A translated
        through the offset syncs now; unplanned, the last stored checkpoints. Several source
        queues feeding one target queue: the smallest (safe) offset. Second, each group and source
        queue that has no translation, with the reason: its group is not moved on that queue."""
        from ..connectors.replicator import checkpoint_namespace, sync_namespace, translate, untranslated_reason
        from ..connectors.rocketmq import queue_partition

        per_target: dict[tuple[str, str, str, int], int] = {}
        missing: list[dict[str, Any]] = []
        queues = self._queues(config.name)
        partitions = [queue_partition(config.cluster, mq) for mq in queues]
        if planned:
            source = self.client(config.source_cluster)
            syncs = self.stores.offsets.read(sync_namespace(config.name), partitions)
            for group in config.groups:
                for mq, partition in zip(queues, partitions):
                    committed = source.query_consumer_offset(group, mq)
                    history = syncs[partition]["history"] if partition in syncs else None
                    translated = translate(history, committed) if history and committed is not None else None
                    if translated is None:
                        missing.append({"group": group, "partition": partition,
                                        "reason": untranslated_reason(history, committed)})
                        continue
                    (broker, topic, queue), offset = translated
                    key = (group, broker, topic, queue)
                    per_target[key] = min(per_target.get(key, offset), offset)
        else:
            checkpoints = self.stores.offsets.read(
                checkpoint_namespace(config.name), [{**p, "group": g} for g in config.groups for p in partitions])
            for group in config.groups:
                for partition in partitions:
                    checkpoint = checkpoints.get({**partition, "group": group})
                    if checkpoint is None:
                        missing.append({"group": group, "partition": partition,
                                        "reason": "no checkpoint: when checkpoints were taken the group had no "
                                                  "committed offset on this queue, or nothing of it was replicated"})
                        continue
                    broker, topic, queue = checkpoint["target"]
                    key = (group, broker, topic, int(queue))
                    per_target[key] = min(per_target.get(key, checkpoint["target_offset"]), checkpoint["target_offset"])
        offsets = [{"group": g, "broker": b, "topic": t, "queue": q, "offset": o}
                   for (g, b, t, q), o in sorted(per_target.items())]
        return offsets, missing

    def _data_at_risk(self, name: str, config: Any, *, fresh: bool) -> dict[str, Any]:
        """From the stored watermarks, observations and committed offsets; ``fresh``: with A's max
        offsets read now."""
        from ..connectors import at_risk
        from ..rocketmq import MessageQueue

        observe = None
        if fresh:
            source = self.client(config.source_cluster)

            def observe(p: dict[str, Any]) -> dict[str, Any]:
                return {"max_offset": source.max_offset(MessageQueue(p["broker"], p["topic"], p["queue"])),
                        "observed_at": round(self.clock(), 3)}

        partitions = at_risk.link_partitions(self.stores, name, config.cluster)
        return at_risk.of_link(self.stores, name, partitions, observe=observe).to_dict()


def _detail(run: Mapping[str, Any], step: str) -> dict[str, Any]:
    for s in run["steps"]:
        if s["name"] == step and s["status"] == "done":
            return dict(s["detail"] or {})
    raise FailoverError(f"run {run['id']} has no completed {step!r} step")


def reverse_config(forward: Any, name: str) -> dict[str, Any]:
    """The B → A replicator for ``forward`` (A → B): the same topics mapped back, the same groups."""
    topics = sorted({forward.target_topic(t): t for t in forward.topics}.items())
    config: dict[str, Any] = {
        "name": name, "connector": REPLICATOR,
        "source_cluster": forward.target_cluster.model_dump(mode="json"),
        "target_cluster": forward.source_cluster.model_dump(mode="json"),
        "topics": [t for t, _ in topics],
        "topic_map": {t: back for t, back in topics if t != back},
        "tag_filter": forward.tag_filter, "groups": list(forward.groups),
        "max_tasks": forward.max_tasks, "schedule": forward.schedule, "polling": forward.polling,
        # a queue the failover did not record (none on B then) starts at its beginning: the loop
        # guard skips whatever came from A
        "start": "earliest"}
    if not config["topic_map"]:
        del config["topic_map"]
    return config


def runs_of(stores: Stores, name: str) -> Iterable[dict[str, Any]]:
    return RunStore(stores).list(name)

