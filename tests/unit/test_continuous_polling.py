"""Continuous polling and handovers between ticks, in one process: each "invocation" is a thread
with its own runner and started tasks, the stores are shared (in memory; the same rules as
DynamoDB, see test_stores). A test source (tests/streams.py) is fed while ticks run, and every
record's identity is its index, so the capture shows exactly what was lost or published twice.

Leases here live 0.6 s (renewed every 0.2 s) so handovers and takeovers happen within a test;
nothing asserts how long anything took.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any, Callable

import pytest

from connect_core.config import validate_config
from connect_core.errors import ConfigError
from connect_core.runtime.lease_keeper import TickTimings, check_coverage
from connect_core.runtime.source_runner import SourceRunner, TickResult
from connect_core.storage import State, Stores, TargetState
from connect_core.testing import Capture
from streams import Stream, stream_source_config

TIMINGS = TickTimings(lease_ttl_s=0.6, safety_margin_s=0.0, commit_interval_s=0.05, report_interval_s=0.3,
                      claim_poll_s=0.01)
PLENTY_MS = 60_000


@pytest.fixture
def stream():
    stream = Stream()
    yield stream
    stream.release()
    stream.close()


@pytest.fixture
def capture():
    with Capture() as capture:
        yield capture


@pytest.fixture
def stores():
    return Stores.in_memory()


def deploy(stores: Stores, config: dict[str, Any]) -> str:
    connector = validate_config(config)
    stores.configs.put_connector(config["name"], config)
    stores.configs.put_task_configs(config["name"], connector.task_configs(1), generation=1)
    return config["name"]


class Invocation:
    """A tick on its own thread, like a Lambda invocation in a sandbox of its own."""

    def __init__(self, stores: Stores, name: str, owner: str, *, recovery: bool = False,
                 timings: TickTimings = TIMINGS) -> None:
        self.owner = owner
        self.deadline = threading.Event()  # set: the invocation's time is up
        self.result: TickResult | None = None
        runner = SourceRunner(stores, owner=owner, timings=timings)

        def remaining_ms() -> int:
            return 0 if self.deadline.is_set() else PLENTY_MS

        def run() -> None:
            self.result = runner.tick(name, 0, remaining_ms, recovery=recovery)

        self.thread = threading.Thread(target=run, name=owner, daemon=True)
        self.thread.start()

    def end(self) -> TickResult:
        """Let the invocation's time run out and wait for its result."""
        self.deadline.set()
        return self.join()

    def join(self, timeout: float = 30) -> TickResult:
        self.thread.join(timeout)
        assert self.result is not None, f"{self.owner} did not finish"
        return self.result


def eventually(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    until = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < until, f"timed out waiting until {what}"
        time.sleep(0.01)


def delivered(capture: Capture) -> list[int]:
    return [record.value["n"] for record in capture.records]


def test_a_continuous_tick_keeps_polling_while_idle_and_delivers_what_arrives(stores, stream, capture):
    name = deploy(stores, stream_source_config(stream, capture))
    tick = Invocation(stores, name, "tick-1")

    for start in (0, 5, 10):  # the source goes idle between bursts; the tick waits, not ends
        eventually(lambda: len(delivered(capture)) == start, f"{start} delivered")
        stream.append(*range(start, start + 5))
    eventually(lambda: len(delivered(capture)) == 15, "every record delivered")
    result = tick.end()

    assert (result.outcome, result.stopped, result.records, result.drained) == ("ran", "deadline", 15, False)
    assert delivered(capture) == list(range(15))
    assert stores.offsets.read_all(name).by_key() == {f'{{"stream":"{stream.id}"}}': {"next": 15}}
    assert stores.leases.get(name, 0).released


def test_the_next_tick_takes_over_by_handover_and_nothing_is_lost_or_sent_twice(stores, stream, capture):
    name = deploy(stores, stream_source_config(stream, capture))
    producing = threading.Event()
    producing.set()

    def produce() -> None:
        n = 0
        while producing.is_set():
            stream.append(n)
            n += 1
            time.sleep(0.002)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    ticks = [Invocation(stores, name, "tick-0")]
    results = []
    for successor in range(1, 4):  # three handovers while production goes on
        running = ticks[-1].owner
        eventually(lambda: stores.leases.get(name, 0).owner == running, f"{running} holds the task")
        seen = len(delivered(capture))
        eventually(lambda: len(delivered(capture)) > seen + 20, f"{running} delivers")
        ticks.append(Invocation(stores, name, f"tick-{successor}"))
        results.append(ticks[-2].join())
    producing.clear()
    producer.join()
    eventually(lambda: len(delivered(capture)) == len(stream.values), "the last tick catches up")
    last = ticks[-1].end()

    assert [(r.outcome, r.stopped) for r in results] == [("ran", "handover")] * 3
    got = delivered(capture)
    assert got == list(range(len(stream.values)))  # every value once, in order
    epochs = [r.epoch for r in results] + [last.epoch]
    assert epochs == sorted(set(epochs))  # every tick had its own, newer epoch
    for tick in ticks[1:]:
        assert tick.result.took_over == "handover" and tick.result.gap_ms is not None


def test_a_successor_arriving_mid_batch_waits_for_the_batch_to_be_committed(stores, stream, capture):
    name = deploy(stores, stream_source_config(stream, capture, batch_size=3))
    stream.append(0, 1, 2)
    first = Invocation(stores, name, "tick-1")
    eventually(lambda: delivered(capture) == [0, 1, 2], "the first batch is delivered")
    stream.hold()
    stream.append(3, 4, 5)
    eventually(stream.held.is_set, "the tick is in the middle of its second batch")

    second = Invocation(stores, name, "tick-2")
    eventually(lambda: stores.leases.get(name, 0).handover_requested_by == "tick-2", "the successor asks")
    stream.release()
    handed = first.join()
    stream.append(6, 7)
    eventually(lambda: len(delivered(capture)) == 8, "the successor delivers what came next")
    taken = second.end()

    assert (handed.stopped, handed.records) == ("handover", 6)
    assert (taken.outcome, taken.took_over, taken.records) == ("ran", "handover", 2)
    assert delivered(capture) == list(range(8))


def test_of_racing_successors_one_takes_the_task_and_the_other_exits(stores, stream, capture):
    name = deploy(stores, stream_source_config(stream, capture))
    first = Invocation(stores, name, "tick-1")
    eventually(lambda: stores.leases.get(name, 0) is not None, "the first tick holds the lease")

    racers = [Invocation(stores, name, f"racer-{i}") for i in range(3)]
    eventually(lambda: sum(r.result is not None for r in racers) == 2, "all but one racer exit")
    winner = next(r for r in racers if r.result is None)
    stream.append(1, 2, 3)
    eventually(lambda: len(delivered(capture)) == 3, "the winner delivers")
    outcomes = Counter(r.result.outcome for r in racers if r.result is not None)

    assert first.join().stopped == "handover"
    assert outcomes == {"busy": 2}
    assert winner.end().outcome == "ran"
    assert stores.leases.get(name, 0).owner == winner.owner


def test_a_dead_holder_is_waited_out_and_its_task_taken_over(stores, stream, capture):
    name = deploy(stores, stream_source_config(stream, capture))
    dead = stores.leases.claim(name, 0, "crashed-tick", TIMINGS.lease_ttl_s)  # it never renews or answers
    stream.append(1, 2)

    successor = Invocation(stores, name, "tick-2")
    eventually(lambda: len(delivered(capture)) == 2, "the successor delivers")
    result = successor.end()

    assert (result.outcome, result.took_over, result.epoch) == ("ran", "takeover", dead.epoch + 1)
    assert result.gap_ms is not None


def test_a_drain_tick_exits_on_a_held_lease_but_a_recovery_tick_waits_it_out(stores, stream, capture):
    name = deploy(stores, stream_source_config(stream, capture, polling="drain"))
    stores.leases.claim(name, 0, "crashed-tick", TIMINGS.lease_ttl_s)
    stream.append(1, 2)

    scheduled = Invocation(stores, name, "tick-2").join()
    recovery = Invocation(stores, name, "tick-3", recovery=True).join()

    assert scheduled.outcome == "busy"
    assert (recovery.outcome, recovery.took_over, recovery.stopped, recovery.records) == \
        ("ran", "takeover", "drained", 2)


@pytest.mark.parametrize("change, stopped, state", [
    (lambda stores, name: stores.configs.set_target_state(name, TargetState.PAUSED), "paused", State.PAUSED),
    (lambda stores, name: stores.configs.set_target_state(name, TargetState.STOPPED), "stopped", State.STOPPED),
    (lambda stores, name: stores.configs.put_connector(name, stores.configs.get_connector(name).config),
     "reconfigured", State.RUNNING),
])
def test_a_running_tick_stops_when_the_connector_is_paused_stopped_or_changed(stores, stream, capture,
                                                                            change, stopped, state):
    name = deploy(stores, stream_source_config(stream, capture))
    stream.append(1)
    tick = Invocation(stores, name, "tick-1")
    eventually(lambda: len(delivered(capture)) == 1, "the tick runs")

    change(stores, name)
    result = tick.join()

    assert (result.outcome, result.stopped) == ("ran", stopped)
    assert stores.status.get_status(name).tasks[0].state is state
    assert stores.leases.get(name, 0).released


def test_offsets_are_committed_at_an_interval_and_always_before_the_lease_is_given_back(stores, stream, capture):
    name = deploy(stores, stream_source_config(stream, capture, batch_size=1))
    slow = TickTimings(lease_ttl_s=0.6, safety_margin_s=0.0, commit_interval_s=3600, claim_poll_s=0.01)
    stream.append(*range(20))
    tick = Invocation(stores, name, "tick-1", timings=slow)
    eventually(lambda: len(delivered(capture)) == 20, "every record is delivered")
    stream.append(20)  # arrives while the tick waits: published, then committed on the way out
    eventually(lambda: len(delivered(capture)) == 21, "the late record is delivered")
    result = tick.end()

    assert (result.batches, result.commits) == (21, 1)  # not after every batch, nor whenever idle
    assert stores.offsets.read_all(name).by_key() == {f'{{"stream":"{stream.id}"}}': {"next": 21}}


def test_a_tick_whose_source_fails_first_commits_what_the_target_acknowledged(stores, stream, capture):
    name = deploy(stores, stream_source_config(stream, capture))
    slow_commits = TickTimings(lease_ttl_s=0.6, safety_margin_s=0.0, commit_interval_s=600, report_interval_s=600,
                               claim_poll_s=0.01)
    tick = Invocation(stores, name, "tick-1", timings=slow_commits)
    stream.append(*range(7))
    eventually(lambda: len(delivered(capture)) == 7, "every record delivered")
    assert not stores.offsets.read_all(name).pairs()  # delivered, not committed yet

    stream.broken = True
    stream.append(7)  # wakes the waiting tick, whose next poll fails
    result = tick.join()

    assert result.outcome == "failed" and "went away" in (result.error or "")
    assert stores.offsets.read_all(name).by_key() == {f'{{"stream":"{stream.id}"}}': {"next": 7}}


def test_a_long_tick_renews_its_lease_and_reports_its_lag(stores, stream, capture):
    name = deploy(stores, stream_source_config(stream, capture))
    tick = Invocation(stores, name, "tick-1")
    eventually(lambda: stores.leases.get(name, 0) is not None, "the tick holds the lease")
    first = stores.leases.get(name, 0)
    eventually(lambda: stores.leases.get(name, 0).renewed_at > first.renewed_at, "the lease is renewed")
    eventually(lambda: (stores.status.get_status(name) or None) is not None
               and stores.status.get_status(name).tasks[0].progress is not None, "the lag is reported")

    assert stores.status.get_status(name).tasks[0].progress == {"lag_messages": 0}
    assert stores.leases.get(name, 0).expires_at <= time.time() + TIMINGS.lease_ttl_s
    tick.end()


def test_a_lease_never_outlives_the_invocation_that_holds_it(stores, stream, capture):
    name = deploy(stores, stream_source_config(stream, capture, polling="drain"))
    runner = SourceRunner(stores, owner="short-lived", timings=TickTimings(lease_ttl_s=600))
    seen = []
    original = stores.leases.claim
    stores_leases = stores.leases

    def claim(*args: Any, **kwargs: Any):
        lease = original(*args, **kwargs)
        seen.append(lease)
        return lease

    stores_leases.claim = claim  # type: ignore[method-assign]
    before = time.time()
    runner.tick(name, 0, lambda: 15_000)  # 15 s left in the invocation, leases of 600 s

    assert seen[0].expires_at <= before + 15 + 1


def test_continuous_polling_needs_a_rate_schedule_and_a_function_timeout_that_covers_it(stream, capture):
    with pytest.raises(ConfigError, match="needs a rate"):
        validate_config(stream_source_config(stream, capture, schedule="cron(0/5 * * * ? *)"))
    config = validate_config(stream_source_config(stream, capture, schedule="rate(2 minutes)")).config

    with pytest.raises(ConfigError, match="schedule: .*at least 150 s") as refused:
        check_coverage(config, function_timeout_s=120)
    check_coverage(config, function_timeout_s=150)  # period + takeover allowance + safety margin
    check_coverage(validate_config(stream_source_config(stream, capture, polling="drain")).config, 30)
    assert "SourceTickSeconds" in str(refused.value)


def test_a_successor_that_loses_its_claim_to_a_just_in_time_renewal_still_gets_the_handover():
    """The holder's lease lapses for a moment (a late renewal on a loaded machine); the successor
    sees it lapsed and claims, but the holder renews first. The successor keeps waiting - the holder
    still answers its request - instead of exiting busy and leaving nobody to take the task."""
    from connect_core.runtime.lease_keeper import LeaseKeeper
    from connect_core.storage.memory import InMemoryLeaseStore, MemoryTables

    now = [0.0]
    leases = InMemoryLeaseStore(MemoryTables(), clock=lambda: now[0])
    timings = TickTimings(lease_ttl_s=1.5)
    holder = leases.claim("c", 0, "holder", 1.5)

    class RenewsJustInTime:
        """The lease store as the successor sees it: the holder renews between its look and its claim."""
        claims = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(leases, name)

        def claim(self, connector: str, task: int, owner: str, ttl_s: float) -> Any:
            self.claims += 1
            if self.claims == 2:  # the first claim after the request, on a lapsed lease
                leases.renew(holder, 1.5)
            return leases.claim(connector, task, owner, ttl_s)

    steps = iter([
        lambda: now.__setitem__(0, 2.0),  # the holder is late: its lease lapses
        lambda: now.__setitem__(0, 2.1),  # it noticed the request meanwhile, and answers
        lambda: leases.release(holder),
    ])

    def sleep(_: float) -> None:
        next(steps, lambda: now.__setitem__(0, now[0] + 0.1))()

    keeper = LeaseKeeper(RenewsJustInTime(), "c", 0, "successor", timings, lambda: 60_000,
                         clock=lambda: now[0], sleep=sleep)
    lease = keeper.acquire(wait=True)
    assert lease is not None and lease.owner == "successor" and lease.epoch == holder.epoch + 1
