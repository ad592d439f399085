"""A failover's ``stop`` and ``fence`` leave no tick at work and nothing written after them, and a
failing replicator tick still says what is at risk. Ticks run over the in-memory stores with the
test source of tests/streams.py (as in test_continuous_polling); the replicator's publisher over a
task that only knows what its pulls told it (no cluster)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from connect_core.api.connector import TaskContext
from connect_core.api.record import OffsetMap, partition_key
from connect_core.connectors import at_risk
from connect_core.connectors.replicator import ReplicatorConfig, ReplicatorPublisher, ReplicatorTask, sync_namespace
from connect_core.connectors.rocketmq import H_STORE_TS, queue_partition
from connect_core.errors import StaleEpochError
from connect_core.rocketmq import MessageQueue
from connect_core.runtime import telemetry as metrics
from connect_core.runtime.pipeline import Message as WireMessage
from connect_core.runtime.source_runner import SourceRunner
from connect_core.runtime.targets import Publisher, PublishError
from connect_core.runtime.telemetry import Telemetry
from connect_core.storage import State, Stores, TargetState
from streams import stream_source_config
from test_continuous_polling import (PLENTY_MS, TIMINGS, capture, delivered, deploy, eventually,  # noqa: F401
                                     stores, stream)

NAME = "orders-a-to-b"


def fence(stores: Stores, name: str) -> None:
    """What the failover's ``fence`` step does once no tick holds the lease: claim it, release it."""
    lease = stores.leases.claim(name, 0, "failover", 10)
    assert lease is not None
    stores.leases.release(lease)


# -- the target state, read again under the lease -------------------------------------------------

@pytest.mark.parametrize("polling", ["drain", "continuous"])
def test_a_tick_that_read_running_before_the_stop_and_claims_after_the_fence_does_nothing(
        stores, stream, capture, polling):
    name = deploy(stores, stream_source_config(stream, capture, polling=polling))
    stream.append(*range(5))
    claim = stores.leases.claim

    def stop_and_fence_first(*args: Any, **kwargs: Any) -> Any:  # the failover runs between read and claim
        stores.leases.claim = claim  # type: ignore[method-assign]
        stores.configs.set_target_state(name, TargetState.STOPPED)
        fence(stores, name)
        return claim(*args, **kwargs)

    stores.leases.claim = stop_and_fence_first  # type: ignore[method-assign]
    result = SourceRunner(stores, owner="late-tick", timings=TIMINGS).tick(name, 0, lambda: PLENTY_MS)

    assert (result.outcome, result.records) == ("stopped", 0)
    assert delivered(capture) == [] and not stores.offsets.read_all(name).pairs()
    assert stores.leases.get(name, 0).released
    assert stores.status.get_status(name).tasks[0].state is State.STOPPED


def test_a_drain_tick_with_a_backlog_notices_a_stop_at_its_next_renewal(stores, stream, capture):
    name = deploy(stores, stream_source_config(stream, capture, polling="drain", batch_size=1))
    stream.append(*range(100))
    stream.hold()
    runner = SourceRunner(stores, owner="draining-tick", timings=TIMINGS)
    results = []
    import threading

    thread = threading.Thread(target=lambda: results.append(runner.tick(name, 0, lambda: PLENTY_MS)), daemon=True)
    thread.start()
    eventually(stream.held.is_set, "the tick is in its first batch")
    stores.configs.set_target_state(name, TargetState.STOPPED)
    time.sleep(TIMINGS.renew_interval_s * 1.5)  # the renewal is due when the batch ends
    stream.release()
    thread.join(30)

    [result] = results
    assert (result.outcome, result.stopped) == ("ran", "stopped")
    assert result.records < 100
    assert stores.leases.get(name, 0).released


# -- the chores of a tick, before its release -----------------------------------------------------

def test_the_chores_of_a_tick_run_before_its_lease_is_released(stores, stream, capture):
    name = deploy(stores, stream_source_config(stream, capture, polling="drain"))
    stream.append(1, 2)
    released_during_report = []
    put = stores.status.put_task_status

    def put_task_status(*args: Any, **kwargs: Any) -> None:
        if kwargs.get("progress") is not None:
            released_during_report.append(stores.leases.get(name, 0).released)
        put(*args, **kwargs)

    stores.status.put_task_status = put_task_status  # type: ignore[method-assign]
    result = SourceRunner(stores, owner="tick", timings=TIMINGS).tick(name, 0, lambda: PLENTY_MS)

    assert (result.outcome, result.stopped) == ("ran", "drained")
    assert released_during_report == [False]  # a failover's fence waits for the report
    assert stores.leases.get(name, 0).released


# -- a failing tick still measures -------------------------------------------------------------

class RefusingPublisher(Publisher):
    """A target that refuses every batch; what the tick could still measure is known."""

    def __init__(self) -> None:
        self.measured: list[Any] = []

    def publish(self, messages: list[Any]) -> None:
        raise PublishError("the target cluster refused a batch")

    def report_failure(self, task: Any, offsets: Any) -> dict[str, float]:
        self.measured.append(offsets)
        return {"at_risk_messages": 5, "at_risk_seconds": 12.0}


def test_a_failing_tick_reports_what_its_publisher_still_measures(stores, stream, capture, monkeypatch):
    name = deploy(stores, stream_source_config(stream, capture, polling="drain"))
    stream.append(*range(5))
    publisher = RefusingPublisher()
    monkeypatch.setattr(SourceRunner, "_publisher", lambda *args: publisher)

    result = SourceRunner(stores, owner="tick", timings=TIMINGS).tick(name, 0, lambda: PLENTY_MS)

    assert result.outcome == "failed"
    assert len(publisher.measured) == 1
    status = stores.status.get_status(name).tasks[0]
    assert (status.state, status.progress) == (State.FAILED, {"at_risk_messages": 5, "at_risk_seconds": 12.0})


# -- the replicator's writes and measurements ---------------------------------------------------

QUEUE = MessageQueue("broker-a", "orders", 0)


@pytest.fixture
def config() -> ReplicatorConfig:
    return ReplicatorConfig.model_validate({
        "name": NAME, "connector": "rocketmq-replicator", "topics": ["orders"],
        "source_cluster": {"name": "A", "namesrv_addr": "127.0.0.1:1"},
        "target_cluster": {"name": "B", "namesrv_addr": "127.0.0.1:2"}})


@pytest.fixture
def task(config) -> ReplicatorTask:
    task = object.__new__(ReplicatorTask)  # only what the pulls told it, no connection
    task.queues = [QUEUE]
    task.observed = {}
    return task


def partition(config: ReplicatorConfig) -> dict[str, Any]:
    return queue_partition(config.cluster, QUEUE)


def publisher_under(stores: Stores, config: ReplicatorConfig, task: ReplicatorTask, epoch: int,
                    telemetry: Telemetry | None = None) -> ReplicatorPublisher:
    publisher = ReplicatorPublisher(config, stores, telemetry or Telemetry(), TaskContext(NAME, 0, epoch))
    publisher.bind(task)
    return publisher


def test_the_offset_syncs_of_a_tick_whose_lease_was_taken_over_are_not_written(config, task):
    stores = Stores.in_memory()
    stale = stores.leases.claim(NAME, 0, "blocked-tick", 10)
    publisher = publisher_under(stores, config, task, stale.epoch)
    sent = [WireMessage(b"x", topic="orders", partition=partition(config), offset={"queue_offset": o + 1},
                        headers={H_STORE_TS: str(1000 + o)}) for o in range(3)]
    publisher._syncs.extend(MessageQueue("broker-b", "orders", 0), sent, 40, 1.0, {})
    stores.leases.release(stale)
    fence(stores, NAME)  # the failover's fence: the blocked tick's epoch is over

    with pytest.raises(StaleEpochError):
        publisher.before_commit()

    assert not stores.offsets.read_all(sync_namespace(NAME)).pairs()


def test_a_failing_replicator_tick_stores_and_emits_its_data_at_risk_without_calling_a_cluster(config, task):
    stores = Stores.in_memory()
    lease = stores.leases.claim(NAME, 0, "tick", 10)
    telemetry = Telemetry()
    publisher = publisher_under(stores, config, task, lease.epoch, telemetry)
    now = time.time()
    key = partition_key(partition(config))
    task.observed[key] = {"max_offset": 10, "observed_at": round(now, 3), "newest_offset": 9,
                          "newest_store_timestamp": int(now * 1000)}
    publisher._unacked[key] = (0, int(now * 1000) - 30_000)  # its send was refused: nothing acknowledged

    progress = publisher.report_failure(task, OffsetMap())

    assert progress == {"at_risk_messages": 10, "at_risk_seconds": 30.0}
    assert telemetry.totals[metrics.DATA_AT_RISK_SECONDS] == 30.0
    assert telemetry.totals[metrics.DATA_AT_RISK_UNREPORTED] == 0  # started (+1), reported (-1)
    [(_, item)] = stores.offsets.read_all(sync_namespace(NAME)).pairs()
    assert item["source"]["max_offset"] == 10  # what the failover's report reads
    assert item["history"] == [] and "watermark" not in item


def test_a_tick_that_never_reports_counts_as_a_link_not_reporting(config, task):
    telemetry = Telemetry()
    publisher_under(Stores.in_memory(), config, task, 1, telemetry)

    assert telemetry.totals[metrics.DATA_AT_RISK_UNREPORTED] == 1


def test_a_queue_without_a_watermark_is_at_risk_since_its_first_unreplicated_message_or_first_observation():
    p = {"cluster": "A", "broker": "broker-a", "topic": "orders", "queue": 0}
    source = {"max_offset": 10, "observed_at": 100.0, "first_observed_at": 40.0}

    pulled = at_risk.queue_at_risk(p, {"source": {**source, "oldest_unreplicated": {"offset": 0, "store_timestamp": 25_000}}})
    observed_only = at_risk.queue_at_risk(p, {"source": source})
    total = at_risk.total([observed_only])

    assert (pulled["messages"], pulled["seconds"]) == (10, 75.0)
    assert (observed_only["messages"], observed_only["seconds"]) == (10, 60.0)
    assert total.seconds == 60.0  # never left out of the totals
