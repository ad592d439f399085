"""The failover engine over in-memory stores and fake clusters: steps, waiting, idempotence, resume
after a failure mid-run, dry runs that change nothing, failback offsets, and the data-at-risk
arithmetic."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from connect_core.connectors import at_risk
from connect_core.connectors.replicator import checkpoint_namespace, sync_namespace
from connect_core.rocketmq import MessageQueue
from connect_core.runtime.failover import (FailoverEngine, FailoverError, FailoverSettings, reverse_config,
                                           reverse_name, runs_namespace)
from connect_core.storage import Stores, TargetState

NAME = "orders-a-to-b"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class FakeCluster:
    """The few client calls a failover makes, over dictionaries; ``down`` makes every call fail."""

    def __init__(self, queues: int = 2, topic: str = "orders") -> None:
        self.max: dict[MessageQueue, int] = {MessageQueue("broker-a", topic, q): 0 for q in range(queues)}
        self.groups: dict[tuple[str, MessageQueue], int] = {}
        self.down = False
        self.calls = 0
        self.fail_updates = 0

    def _call(self) -> None:
        self.calls += 1
        if self.down:
            raise ConnectionRefusedError("cluster unreachable")

    def max_offset(self, mq: MessageQueue) -> int:
        self._call()
        return self.max[mq]

    def query_consumer_offset(self, group: str, mq: MessageQueue) -> int | None:
        self._call()
        return self.groups.get((group, mq))

    def update_consumer_offset(self, group: str, mq: MessageQueue, offset: int) -> None:
        self._call()
        if self.fail_updates:
            self.fail_updates -= 1
            raise TimeoutError("no answer")
        self.groups[(group, mq)] = offset

    def invalidate_route(self, topic: str) -> None:
        self._call()

    def message_queues(self, topic: str) -> list[MessageQueue]:
        self._call()
        return [mq for mq in self.max if mq.topic == topic]


def partition(queue: int) -> dict[str, Any]:
    return {"cluster": "A", "broker": "broker-a", "topic": "orders", "queue": queue}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stores(clock) -> Stores:
    stores = Stores.in_memory(clock)
    stores.configs.put_connector(NAME, {
        "name": NAME, "connector": "rocketmq-replicator", "topics": ["orders"], "groups": ["billing"],
        "source_cluster": {"name": "A", "namesrv_addr": "127.0.0.1:1"},
        "target_cluster": {"name": "B", "namesrv_addr": "127.0.0.1:2"}})
    stores.configs.put_task_configs(NAME, [{"queues": [["broker-a", "orders", 0], ["broker-a", "orders", 1]]}], 1)
    return stores


@pytest.fixture
def a() -> FakeCluster:
    return FakeCluster()


@pytest.fixture
def b() -> FakeCluster:
    return FakeCluster()


@pytest.fixture
def applied() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def engine(stores, a, b, clock, applied) -> FailoverEngine:
    clusters = {"A": a, "B": b}

    def apply(config: dict[str, Any]) -> None:  # what the reconfigure state machine leaves behind
        applied.append(config)
        stores.configs.put_connector(config["name"], config)

    return FailoverEngine(stores, client=lambda cluster: clusters[cluster.name], clock=clock, apply=apply, settings=FailoverSettings(drain_timeout_s=30, fence_timeout_s=20))


def replicated(stores: Stores, queue: int, upto: int, *, observed_max: int, newest: int | None = None,
               target_offset: int = 0, committed: bool = True) -> None:
    """The replicator copied source offsets 0..upto-1 of ``queue`` to the same queue of B from
    ``target_offset`` and saw ``observed_max`` as the queue's max offset."""
    source: dict[str, Any] = {"max_offset": observed_max, "observed_at": 1_800_000_000.0}
    if newest is not None:
        source.update(newest_offset=newest, newest_store_timestamp=1_799_999_990_000 + newest * 1000)
    stores.offsets.alter(sync_namespace(NAME), [(partition(queue), {
        "history": [{"source_offset": 0, "target_offset": target_offset, "count": upto,
                     "target": ["broker-a", "orders", queue]}],
        "watermark": {"source_offset": upto - 1, "born_timestamp": 0,
                      "store_timestamp": 1_799_999_990_000 + (upto - 1) * 1000,
                      "target": ["broker-a", "orders", queue], "target_offset": target_offset + upto - 1,
                      "acked_at": 0},
        "source": source})])
    if committed:
        stores.offsets.alter(NAME, [(partition(queue), {"queue_offset": upto})])


def snapshot(stores: Stores) -> Any:
    offsets = [sorted(map(repr, stores.offsets.read_all(n).pairs()))
               for n in (NAME, sync_namespace(NAME), checkpoint_namespace(NAME), runs_namespace(NAME))]
    return offsets, stores.configs.get_connector(NAME), stores.leases.get(NAME, 0)


def run_to_end(engine: FailoverEngine, kind: str, clock: Clock) -> dict[str, Any]:
    run = engine.begin(NAME, kind)
    for _ in range(100):
        answer = engine.advance(NAME, run["id"])
        if answer["status"] != "RUNNING":
            return engine.runs.get(NAME, run["id"])
        clock.now += answer["wait_s"]
    raise AssertionError("the run never ended")


# -- data at risk -------------------------------------------------------------------------------------

def test_a_caught_up_queue_has_nothing_at_risk():
    synced = {"watermark": {"source_offset": 9, "store_timestamp": 5000},
              "source": {"max_offset": 10, "observed_at": 99.0}}
    risk = at_risk.queue_at_risk(partition(0), synced, {"queue_offset": 10})
    assert (risk["messages"], risk["seconds"]) == (0, 0.0)


def test_messages_at_risk_are_the_observed_max_minus_the_verified_offset_and_seconds_span_their_store_times():
    # watermark at offset 9 (stored at 5 s); offsets 10..14 seen by pulls, the newest (14) stored at 12 s
    synced = {"watermark": {"source_offset": 9, "store_timestamp": 5000},
              "source": {"max_offset": 15, "observed_at": 20.0, "newest_offset": 14, "newest_store_timestamp": 12000}}
    risk = at_risk.queue_at_risk(partition(0), synced, {"queue_offset": 10})
    assert (risk["messages"], risk["seconds"], risk["bound"]) == (5, 7.0, "exact")


def test_when_the_newest_message_was_not_pulled_the_seconds_are_an_upper_bound_up_to_the_observation():
    synced = {"watermark": {"source_offset": 9, "store_timestamp": 5000},
              "source": {"max_offset": 15, "observed_at": 20.0, "newest_offset": 11, "newest_store_timestamp": 8000}}
    risk = at_risk.queue_at_risk(partition(0), synced, None)
    assert (risk["messages"], risk["seconds"], risk["bound"]) == (5, 15.0, "upper")


class FakeBroker:
    """One RocketMQ cluster as the replicator's task and publisher use it: queues of tagged messages
    read by offset with the broker's tag filtering (a scanned range without a match answers
    NO_MATCHED_MSG and the offset after it), and sends that append."""

    def __init__(self, queues: int = 2, topic: str = "orders") -> None:
        self.queues = {MessageQueue("broker-a", topic, q): [] for q in range(queues)}
        self.base = {mq: 0 for mq in self.queues}  # offsets below it expired

    def produce(self, queue: int, count: int, tags: str = "keep") -> None:
        from connect_core.rocketmq.message import MessageExt

        mq = MessageQueue("broker-a", "orders", queue)
        for _ in range(count):
            offset = self.base[mq] + len(self.queues[mq])
            self.queues[mq].append(MessageExt("orders", b"m", tags, properties={}, born_timestamp=1000 + offset,
                                              queue_id=queue, queue_offset=offset, store_timestamp=1000 + offset,
                                              msg_id=f"id-{queue}-{offset}"))

    def max_offset(self, mq: MessageQueue) -> int:
        return self.base[mq] + len(self.queues[mq])

    def min_offset(self, mq: MessageQueue) -> int:
        return self.base[mq]

    def pull(self, mq: MessageQueue, offset: int, max_messages: int = 32, tag_expression: str = "*",
             **_: Any) -> Any:
        from types import SimpleNamespace

        top = self.max_offset(mq)
        if offset < self.base[mq] or offset > top:
            return SimpleNamespace(status="OFFSET_ILLEGAL", messages=[], next_offset=offset,
                                   min_offset=self.base[mq], max_offset=top)
        scanned = self.queues[mq][offset - self.base[mq]:offset - self.base[mq] + max_messages]
        wanted = None if tag_expression == "*" else {t.strip() for t in tag_expression.split("||")}
        found = [m for m in scanned if wanted is None or m.tags in wanted]
        status = "FOUND" if found else "NO_MATCHED_MSG" if scanned else "NO_NEW_MSG"
        return SimpleNamespace(status=status, messages=found, next_offset=offset + len(scanned),
                               min_offset=self.base[mq], max_offset=top)

    def start_pull(self, mq: MessageQueue, offset: int, **options: Any) -> Any:
        return Done(self.pull(mq, offset, **options))

    def writable_queues(self, topic: str) -> list[MessageQueue]:
        return [mq for mq in self.queues if mq.topic == topic]

    message_queues = writable_queues

    def invalidate_route(self, topic: str) -> None:
        pass

    def start_send(self, messages: list[Any], queue: MessageQueue) -> Any:
        from types import SimpleNamespace

        first = self.max_offset(queue)
        self.queues[queue].extend(messages)
        return Done(SimpleNamespace(queue_offset=first))

    def query_consumer_offset(self, group: str, mq: MessageQueue) -> int | None:
        return None


class Done:
    """A request in flight that has its answer already."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value

    def cancel(self) -> None:
        pass

    def ready(self) -> bool:
        return True

    def overdue(self) -> bool:
        return False


@pytest.fixture
def link(monkeypatch, stores) -> tuple[FakeBroker, FakeBroker, Any]:
    """A replicator A → B over fake brokers, and a function that runs one tick of its task."""
    from connect_core.connectors import replicator
    from connect_core.runtime.source_runner import SourceRunner

    source, target = FakeBroker(), FakeBroker()
    monkeypatch.setattr(replicator, "client_for", lambda addr, security=None, cluster=None:
                        source if cluster == "A" else target)

    def tick(**config: Any) -> Any:
        entry = stores.configs.get_connector(NAME)
        stores.configs.put_connector(NAME, {**entry.config, "polling": "drain", **config})
        result = SourceRunner(stores, owner="tick").tick(NAME, 0, lambda: 60_000)
        assert result.outcome == "ran", result.error
        return result

    return source, target, tick


def stored_risk(stores: Stores) -> int:
    return at_risk.of_link(stores, NAME, at_risk.link_partitions(stores, NAME, "A")).messages


def test_messages_skipped_by_the_filter_are_not_at_risk(link, stores, engine, a):
    source, target, tick = link
    source.produce(0, 4, tags="keep")
    source.produce(0, 6, tags="drop")  # a filtered tail: nothing to copy, nothing committed by a record

    tick(tag_filter="keep")

    assert stores.offsets.read(NAME, [partition(0)])[partition(0)] == {"queue_offset": 10}
    assert stored_risk(stores) == 0
    a.max = {mq: source.max_offset(mq) for mq in a.max}
    assert engine.plan(NAME, "planned")["data_at_risk"]["messages"] == 0


def test_a_link_that_starts_at_latest_on_a_quiet_queue_has_nothing_at_risk_and_drains(
        link, stores, engine, a, clock):
    source, target, tick = link
    source.produce(0, 1000, tags="old")
    a.max = {mq: source.max_offset(mq) for mq in a.max}

    tick(start="latest")

    assert stores.offsets.read(NAME, [partition(0)])[partition(0)] == {"queue_offset": 1000}
    assert stored_risk(stores) == 0
    run = run_to_end(engine, "planned", clock)
    assert run["status"] == "SUCCEEDED", run["error"]
    assert run["steps"][0]["name"] == "drain" and run["data_at_risk"]["messages"] == 0


def test_a_restarted_task_resumes_at_the_latest_position_it_resolved_and_skips_nothing(link, stores):
    source, target, tick = link
    source.produce(0, 50)
    tick(start="latest")  # a quiet tick: nothing to copy, but "latest" (50) is now committed
    source.produce(0, 3)  # arrives while no tick runs (the last one crashed, say)

    tick(start="latest")  # a new task instance: "latest" would now be 53

    assert len(target.queues[MessageQueue("broker-a", "orders", 0)]) == 3


def test_a_queue_whose_messages_expired_commits_where_the_broker_resumes_it(link, stores):
    source, target, tick = link
    mq = MessageQueue("broker-a", "orders", 0)
    source.base[mq] = 500  # 0..499 expired, nothing newer

    tick()

    assert stores.offsets.read(NAME, [partition(0)])[partition(0)] == {"queue_offset": 500}


def test_totals_sum_messages_take_the_largest_seconds_and_the_oldest_observation():
    queues = [{"messages": 2, "seconds": 1.5, "observed_at": 30.0}, {"messages": 3, "seconds": 4.0, "observed_at": 10.0},
              {"messages": 0, "seconds": None, "observed_at": None}]
    total = at_risk.total(queues)
    assert (total.messages, total.seconds, total.observed_at) == (5, 4.0, 10.0)


# -- unplanned failover -------------------------------------------------------------------------------

def test_an_unplanned_failover_stops_the_link_applies_the_checkpoints_and_reports_the_data_at_risk(
        engine, stores, a, b, clock):
    a.down = True
    replicated(stores, 0, 10, observed_max=14, newest=13)
    replicated(stores, 1, 5, observed_max=5)
    stores.offsets.alter(checkpoint_namespace(NAME), [
        ({**partition(0), "group": "billing"}, {"source_offset": 7, "target": ["broker-a", "orders", 0], "target_offset": 7}),
        ({**partition(1), "group": "billing"}, {"source_offset": 5, "target": ["broker-a", "orders", 1], "target_offset": 5}),
        ({**partition(1), "group": "other"}, {"source_offset": 5, "target": ["broker-a", "orders", 1], "target_offset": 5})])
    b.groups[("billing", MessageQueue("broker-a", "orders", 1))] = 9  # ahead already: never moved back
    b.max = {mq: 20 for mq in b.max}

    run = run_to_end(engine, "unplanned", clock)

    assert run["status"] == "SUCCEEDED", run["error"]
    assert [s["name"] for s in run["steps"]] == ["stop", "fence", "apply_offsets", "divergence", "report"]
    assert stores.configs.get_connector(NAME).target_state is TargetState.STOPPED
    assert b.groups[("billing", MessageQueue("broker-a", "orders", 0))] == 7
    assert b.groups[("billing", MessageQueue("broker-a", "orders", 1))] == 9
    assert ("other", MessageQueue("broker-a", "orders", 1)) not in b.groups  # not one of the link's groups
    assert run["data_at_risk"]["messages"] == 4
    assert run["data_at_risk"]["seconds"] == 4.0  # offsets 9 -> 13, a second apart
    divergence = run["steps"][3]["detail"]["target_max"]
    assert {q["max_offset"] for q in divergence} == {20}


def test_an_unplanned_failover_never_calls_the_source_cluster(engine, stores, a, clock):
    replicated(stores, 0, 3, observed_max=3)
    run = run_to_end(engine, "unplanned", clock)
    assert run["status"] == "SUCCEEDED"
    assert a.calls == 0


def test_fencing_waits_for_a_running_tick_then_bumps_every_task_epoch(engine, stores, clock):
    held = stores.leases.claim(NAME, 0, "tick-1", 10)
    run = engine.begin(NAME, "unplanned")
    answer = engine.advance(NAME, run["id"])
    assert (answer["status"], answer["step"]) == ("RUNNING", "fence")
    stores.leases.release(held)
    assert engine.advance(NAME, run["id"])["status"] == "SUCCEEDED"
    assert stores.leases.get(NAME, 0).epoch > held.epoch


def test_fencing_gives_up_after_its_timeout(engine, stores, clock):
    stores.leases.claim(NAME, 0, "stuck", 3600)
    run = engine.begin(NAME, "unplanned")
    engine.advance(NAME, run["id"])
    clock.now += 21
    with pytest.raises(FailoverError, match="still held their leases"):
        engine.advance(NAME, run["id"])
    assert engine.runs.get(NAME, run["id"])["status"] == "FAILED"


# -- planned failover ---------------------------------------------------------------------------------

def test_a_planned_failover_waits_until_the_link_has_drained_then_translates_the_groups_offsets(
        engine, stores, a, b, clock):
    for mq in a.max:
        a.max[mq] = 10
    replicated(stores, 0, 6, observed_max=10, target_offset=100)
    replicated(stores, 1, 10, observed_max=10, target_offset=200)
    a.groups[("billing", MessageQueue("broker-a", "orders", 0))] = 4
    a.groups[("billing", MessageQueue("broker-a", "orders", 1))] = 10
    run = engine.begin(NAME, "planned")
    assert engine.advance(NAME, run["id"])["step"] == "drain"
    replicated(stores, 0, 10, observed_max=10, target_offset=100)  # the replicator caught up
    clock.now += 1
    assert engine.advance(NAME, run["id"])["status"] == "SUCCEEDED"
    run = engine.runs.get(NAME, run["id"])
    assert b.groups[("billing", MessageQueue("broker-a", "orders", 0))] == 104
    assert b.groups[("billing", MessageQueue("broker-a", "orders", 1))] == 210
    assert run["data_at_risk"]["messages"] == 0


def test_a_group_is_moved_on_the_target_queue_of_the_offset_syncs_its_offset_was_translated_through(
        engine, stores, a, b, clock):
    b.max = {MessageQueue("broker-a", "orders", q): 0 for q in range(4)}  # B grew from 2 queues to 4
    replicated(stores, 0, 10, observed_max=10)
    [(p0, item)] = [(p, i) for p, i in stores.offsets.read_all(sync_namespace(NAME)).pairs() if p["queue"] == 0]
    # source 0..4 of queue 0 went to B's queue 0 (at 50..54), 5..9 to B's queue 2 (at 0..4)
    item["history"] = [{"source_offset": 0, "target_offset": 50, "count": 5, "target": ["broker-a", "orders", 0]},
                       {"source_offset": 5, "target_offset": 0, "count": 5, "target": ["broker-a", "orders", 2]}]
    stores.offsets.alter(sync_namespace(NAME), [(p0, item)])
    a.max = {mq: 10 for mq in a.max}
    replicated(stores, 1, 10, observed_max=10)
    a.groups[("billing", MessageQueue("broker-a", "orders", 0))] = 3

    run = run_to_end(engine, "planned", clock)

    assert run["status"] == "SUCCEEDED", run["error"]
    assert b.groups[("billing", MessageQueue("broker-a", "orders", 0))] == 53
    assert ("billing", MessageQueue("broker-a", "orders", 2)) not in b.groups


def test_groups_and_queues_without_a_translation_are_reported_as_not_translated_with_the_reason(
        engine, stores, a, b, clock):
    replicated(stores, 0, 10, observed_max=10)  # queue 1: nothing replicated
    a.max = {MessageQueue("broker-a", "orders", 0): 10, MessageQueue("broker-a", "orders", 1): 0}
    a.groups[("billing", MessageQueue("broker-a", "orders", 0))] = 4

    plan = engine.plan(NAME, "planned")
    assert plan["offsets"] == [{"group": "billing", "broker": "broker-a", "topic": "orders", "queue": 0, "offset": 4}]
    assert [(m["group"], m["partition"]["queue"]) for m in plan["not_translated"]] == [("billing", 1)]
    assert "no committed offset" in plan["not_translated"][0]["reason"]

    unplanned = engine.plan(NAME, "unplanned")  # no checkpoint stored at all
    assert [(m["partition"]["queue"], m["reason"][:13]) for m in unplanned["not_translated"]] == \
        [(0, "no checkpoint"), (1, "no checkpoint")]

    run = run_to_end(engine, "unplanned", clock)
    assert len(_detail_of(run, "apply_offsets")["not_translated"]) == 2


def _detail_of(run: dict[str, Any], step: str) -> dict[str, Any]:
    return next(s["detail"] for s in run["steps"] if s["name"] == step)


def test_a_planned_failover_that_cannot_drain_fails_without_stopping_the_link(engine, stores, a, clock):
    for mq in a.max:
        a.max[mq] = 10
    replicated(stores, 0, 6, observed_max=10)
    run = engine.begin(NAME, "planned")
    engine.advance(NAME, run["id"])
    clock.now += 31
    with pytest.raises(FailoverError, match="did not catch up"):
        engine.advance(NAME, run["id"])
    assert stores.configs.get_connector(NAME).target_state is TargetState.RUNNING


# -- idempotence and resume ---------------------------------------------------------------------------

def test_a_run_that_failed_mid_way_resumes_at_the_failed_step_and_skips_the_completed_ones(
        engine, stores, b, clock):
    replicated(stores, 0, 10, observed_max=10)
    stores.offsets.alter(checkpoint_namespace(NAME), [
        ({**partition(0), "group": "billing"}, {"source_offset": 7, "target": ["broker-a", "orders", 0], "target_offset": 7})])
    b.fail_updates = 1
    run = engine.begin(NAME, "unplanned")
    with pytest.raises(TimeoutError):
        engine.advance(NAME, run["id"])
    failed = engine.runs.get(NAME, run["id"])
    assert failed["status"] == "FAILED"
    assert [s["status"] for s in failed["steps"]] == ["done", "done", "failed", "pending", "pending"]
    # someone resumes the connector by mistake meanwhile: the completed stop step is not run again
    stores.configs.set_target_state(NAME, TargetState.STOPPED)
    done_before = copy.deepcopy(failed["steps"][:2])

    engine.resume(NAME, run["id"])
    assert engine.advance(NAME, run["id"])["status"] == "SUCCEEDED"

    resumed = engine.runs.get(NAME, run["id"])
    assert resumed["steps"][:2] == done_before
    assert b.groups[("billing", MessageQueue("broker-a", "orders", 0))] == 7


def test_an_execution_that_a_resume_superseded_can_no_longer_change_the_run(engine, stores, b, clock):
    b.down = True  # the divergence step fails: the run is FAILED, its execution about to MarkFailed
    run = engine.begin(NAME, "unplanned")
    with pytest.raises(ConnectionRefusedError):
        for _ in range(10):
            clock.now += engine.advance(NAME, run["id"], attempt=0)["wait_s"]
    b.down = False
    engine.resume(NAME, run["id"])  # attempt 1, a new execution

    engine.fail(NAME, run["id"], "States.TaskFailed: the old execution's catch-all", attempt=0)
    assert engine.advance(NAME, run["id"], attempt=0)["status"] == "SUPERSEDED"

    stored = engine.runs.get(NAME, run["id"])
    assert (stored["status"], stored["attempt"], stored["error"]) == ("RUNNING", 1, None)
    assert engine.advance(NAME, run["id"], attempt=1)["status"] == "SUCCEEDED"


def test_a_writer_that_read_the_run_before_another_wrote_it_writes_nothing(engine, stores):
    from connect_core.errors import ConflictError

    run = engine.begin(NAME, "unplanned")
    stale = engine.runs.get(NAME, run["id"])
    engine.fail(NAME, run["id"], "first writer")

    stale["status"] = "SUCCEEDED"
    with pytest.raises(ConflictError):
        engine.runs.save(stale)
    assert engine.runs.get(NAME, run["id"])["error"] == "first writer"


def test_running_a_finished_run_again_changes_nothing(engine, stores, b, clock):
    replicated(stores, 0, 10, observed_max=10)
    run = run_to_end(engine, "unplanned", clock)
    calls = b.calls
    assert engine.advance(NAME, run["id"])["status"] == "SUCCEEDED"
    assert b.calls == calls
    assert engine.runs.get(NAME, run["id"]) == run


def test_a_dry_run_reports_the_offsets_and_the_data_at_risk_and_writes_nothing(engine, stores, a, b, clock):
    a.down = True
    replicated(stores, 0, 10, observed_max=12, newest=11)
    stores.offsets.alter(checkpoint_namespace(NAME), [
        ({**partition(0), "group": "billing"}, {"source_offset": 7, "target": ["broker-a", "orders", 0], "target_offset": 7})])
    before = snapshot(stores)

    plan = engine.plan(NAME, "unplanned")

    assert plan["steps"] == ["stop", "fence", "apply_offsets", "divergence", "report"]
    assert plan["offsets"] == [{"group": "billing", "broker": "broker-a", "topic": "orders", "queue": 0, "offset": 7}]
    assert plan["data_at_risk"]["messages"] == 2
    assert snapshot(stores) == before
    assert not b.groups
    assert not stores.offsets.read_all(runs_namespace(NAME)).pairs()


# -- failback -----------------------------------------------------------------------------------------

def test_failback_starts_the_reverse_link_at_the_target_offsets_of_the_failover_point(
        engine, stores, b, clock, applied):
    replicated(stores, 0, 10, observed_max=10)
    b.max = {mq: 10 + mq.queue_id for mq in b.max}
    run_to_end(engine, "unplanned", clock)
    b.max = {mq: 50 for mq in b.max}  # produced on B during the outage: must all go back to A

    run = run_to_end(engine, "failback", clock)

    assert run["status"] == "SUCCEEDED", run["error"]
    reverse = reverse_name(NAME)
    offsets = {p["queue"]: o["queue_offset"] for p, o in stores.offsets.read_all(reverse).pairs()}
    assert offsets == {0: 10, 1: 11}
    assert [c["name"] for c in applied] == [reverse]
    assert applied[0]["source_cluster"]["name"] == "B" and applied[0]["target_cluster"]["name"] == "A"


def test_failback_sends_back_what_clients_wrote_to_b_before_the_failover(engine, stores, b, clock):
    replicated(stores, 0, 10, observed_max=10, target_offset=100)  # the replicator wrote B's 100..109
    replicated(stores, 1, 5, observed_max=5, target_offset=0)
    b.max = {MessageQueue("broker-a", "orders", 0): 114, MessageQueue("broker-a", "orders", 1): 5}  # clients: 110..113
    run_to_end(engine, "unplanned", clock)

    run = run_to_end(engine, "failback", clock)

    assert run["status"] == "SUCCEEDED", run["error"]
    offsets = {p["queue"]: o["queue_offset"] for p, o in stores.offsets.read_all(reverse_name(NAME)).pairs()}
    assert offsets == {0: 110, 1: 5}


def test_failback_never_moves_a_reverse_link_backwards(engine, stores, b, clock, applied):
    b.max = {mq: 10 for mq in b.max}
    run_to_end(engine, "unplanned", clock)
    stores.offsets.alter(reverse_name(NAME), [({"cluster": "B", "broker": "broker-a", "topic": "orders", "queue": 0},
                                               {"queue_offset": 30})])
    run_to_end(engine, "failback", clock)
    offsets = {p["queue"]: o["queue_offset"] for p, o in stores.offsets.read_all(reverse_name(NAME)).pairs()}
    assert offsets == {0: 30, 1: 10}


def test_failback_needs_a_completed_failover(engine, clock, stores):
    stores.configs.set_target_state(NAME, TargetState.STOPPED)
    run = engine.begin(NAME, "failback")
    with pytest.raises(FailoverError, match="no completed failover"):
        engine.advance(NAME, run["id"])


def test_the_reverse_config_maps_renamed_topics_back():
    from connect_core.connectors.replicator import ReplicatorConfig

    forward = ReplicatorConfig.model_validate({
        "name": "x", "connector": "rocketmq-replicator", "topics": ["orders"], "topic_format": "{source}-{topic}",
        "source_cluster": {"name": "A", "namesrv_addr": "127.0.0.1:1"},
        "target_cluster": {"name": "B", "namesrv_addr": "127.0.0.1:2"}})
    config = reverse_config(forward, "x-failback")
    back = ReplicatorConfig.model_validate(config)
    assert back.topics == ["A-orders"] and back.target_topic("A-orders") == "orders"


def test_only_replicators_fail_over(engine, stores):
    stores.configs.put_connector("other", {"name": "other", "connector": "datagen-source"})
    with pytest.raises(Exception, match="not a replicator"):
        engine.begin("other", "planned")


# -- what the replicator records for it -----------------------------------------------------------

def test_the_replicator_stores_the_max_offset_its_pulls_saw_with_each_watermark():
    from types import SimpleNamespace

    from connect_core.api.connector import TaskContext
    from connect_core.api.record import partition_key
    from connect_core.connectors.replicator import ReplicatorConfig, ReplicatorPublisher, ReplicatorTask
    from connect_core.connectors.rocketmq import H_STORE_TS
    from connect_core.runtime.pipeline import Message as WireMessage
    from connect_core.runtime.telemetry import Telemetry

    stores = Stores.in_memory()
    config = ReplicatorConfig.model_validate({
        "name": NAME, "connector": "rocketmq-replicator", "topics": ["orders"],
        "source_cluster": {"name": "A", "namesrv_addr": "127.0.0.1:1"},
        "target_cluster": {"name": "B", "namesrv_addr": "127.0.0.1:2"}})
    task = object.__new__(ReplicatorTask)  # only what the pulls tell it, no connection
    task.observed = {}
    key = partition_key(partition(0))

    def pulled(max_offset: int, *offsets: int) -> Any:
        messages = [SimpleNamespace(queue_offset=o, store_timestamp=1000 + o) for o in offsets]
        return SimpleNamespace(status="FOUND" if messages else "NO_NEW_MSG", messages=messages, max_offset=max_offset)

    task._observe(key, pulled(12, 0, 1, 2))
    task._observe(key, pulled(10))  # a late answer from before: the max never goes back
    assert (task.observed[key]["max_offset"], task.observed[key]["newest_offset"]) == (12, 2)

    lease = stores.leases.claim(NAME, 0, "tick", 10)
    publisher = ReplicatorPublisher(config, stores, Telemetry(), TaskContext(NAME, 0, lease.epoch))
    publisher.bind(task)
    sent = [WireMessage(b"x", topic="orders", partition=partition(0), offset={"queue_offset": o + 1},
                        headers={H_STORE_TS: str(1000 + o)}) for o in range(3)]
    publisher._syncs.extend(MessageQueue("broker-b", "orders", 0), sent, 40, 1.0, {})
    publisher.before_commit()

    [(_, item)] = stores.offsets.read_all(sync_namespace(NAME)).pairs()
    assert item["watermark"]["source_offset"] == 2
    assert item["source"]["max_offset"] == 12 and item["source"]["newest_store_timestamp"] == 1002
    risk = at_risk.queue_at_risk(partition(0), item)
    assert (risk["messages"], risk["bound"]) == (9, "upper")
