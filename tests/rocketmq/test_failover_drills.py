"""Disaster-recovery drills between real clusters: the Replicator runs continuously (each tick the real
source poller handler in a process sandbox, stores in DynamoDB on the embedded endpoint) while
messages are produced into A and a consumer group reads them there; then the link fails over.

* unplanned: every JVM of A is SIGKILLed (a cluster pair of the drill's own), the failover never
  calls A; on B every message up to the verified watermark is there, the group re-reads at most what
  it consumed on A after the last checkpoint, and the messages lost are exactly those the run
  counted as at risk;
* planned: nothing lost, nothing duplicated, the group continues on B exactly where it was;
* failback: what is produced on B reaches A once - after the failover, and before it (clients that
  moved to B before the operator ran the failover) - and A → B replication resumed next to it sends
  none of it back.

The failover runs through ``FailoverEngine.advance``, the code the failover state machine's Lambda
step runs, with the state machine's waits. No assertion depends on how long anything took; the time
from the failover command to the group reading on B is printed (bench/failover_drill.py measures it).
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter, defaultdict
from typing import Any, Iterator

import pytest

from connect_core.config import validate_config
from connect_core.connectors.replicator import P_SOURCE_OFFSET, P_SOURCE_QUEUE, checkpoint_namespace, sync_namespace
from connect_core.connectors.rocketmq import client_for
from connect_core.rocketmq import Message, MessageQueue
from connect_core.runtime.failover import FailoverEngine, reverse_name
from connect_core.storage import Stores, TargetState
from test_continuous_replication import (POLLER, Producer, eventually, fault, poller, progress,  # noqa: F401
                                         tick, unique)

pytestmark = [pytest.mark.rocketmq, pytest.mark.integration]

GROUP = "billing"


@pytest.fixture
def doomed(tmp_path) -> Iterator[tuple[Any, Any]]:
    """A cluster pair of this test's own: the drill kills its A."""
    from connect_core.rocketmq.broker import BrokerStartError, RocketMQClusters, RocketMQUnavailable

    try:
        clusters = RocketMQClusters.start(("DA", "DB"), tmp_path / "rocketmq")
    except (RocketMQUnavailable, BrokerStartError) as exc:
        reason: str | None = str(exc)
    else:
        reason = None
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"RocketMQ brokers are required under CI=true: {reason}", pytrace=False)
        pytest.skip(f"no RocketMQ brokers (set CI=true to make this a failure): {reason}")
    try:
        yield clusters["DA"], clusters["DB"]
    finally:
        clusters.stop()
        left = {c.name: c.live_pids() for c in clusters if c.live_pids()}
        assert not left, f"RocketMQ JVMs still running after stop(): {left}"


@pytest.fixture
def stores(tables) -> Stores:
    return Stores.dynamodb(*tables)


def deploy(stores: Stores, config: dict[str, Any]) -> None:
    """What the reconfigure state machine leaves behind: the config and its tasks."""
    connector = validate_config(config)
    stores.configs.put_connector(config["name"], config)
    stores.configs.put_task_configs(config["name"], connector.task_configs(connector.config.max_tasks),
                                    generation=1)


def replicator(stores: Stores, a: Any, b: Any, topic: str, **options: Any) -> str:
    config = {"name": unique("dr"), "connector": "rocketmq-replicator", "topics": [topic], "max_tasks": 1,
              "groups": [GROUP], "source_cluster": {"name": "A", "namesrv_addr": a.namesrv_addr},
              "target_cluster": {"name": "B", "namesrv_addr": b.namesrv_addr}, **options}
    deploy(stores, config)
    return config["name"]


def run_to_end(engine: FailoverEngine, name: str, kind: str) -> dict[str, Any]:
    """As the state machine runs it: Advance, Wait the seconds it asks, Advance ..."""
    run = engine.begin(name, kind)
    while (answer := engine.advance(name, run["id"]))["status"] == "RUNNING":
        time.sleep(answer["wait_s"])
    return engine.runs.get(name, run["id"])


def queues_of(client: Any, topic: str) -> list[MessageQueue]:
    client.invalidate_route(topic)
    return sorted(client.message_queues(topic), key=lambda mq: mq.queue_id)


def read_from(client: Any, mq: MessageQueue, offset: int) -> list[Any]:
    out = []
    while (result := client.pull(mq, offset)).status == "FOUND":
        out.extend(result.messages)
        offset = result.next_offset
    return out


def consume_on_b(b_client: Any, topic: str) -> dict[int, list[int]]:
    """The group on B, from the offsets the failover applied: per source queue, the source offsets read."""
    read: dict[int, list[int]] = defaultdict(list)
    for mq in queues_of(b_client, topic):
        start = b_client.query_consumer_offset(GROUP, mq)
        assert start is not None, f"no offset applied for the group on {mq}"
        for m in read_from(b_client, mq, start):
            if P_SOURCE_QUEUE in m.properties:  # a copy from A, not a message written on B
                read[int(m.properties[P_SOURCE_QUEUE])].append(int(m.properties[P_SOURCE_OFFSET]))
    return read


def copies(b_client: Any, topic: str) -> Counter[tuple[int, int]]:
    return Counter((int(m.properties[P_SOURCE_QUEUE]), int(m.properties[P_SOURCE_OFFSET]))
                   for m in b_client.read_all(topic) if P_SOURCE_QUEUE in m.properties)


def watermarks(stores: Stores, name: str) -> dict[int, dict[str, Any]]:
    return {p["queue"]: item for p, item in stores.offsets.read_all(sync_namespace(name)).pairs()}


def stop(stores: Stores, poller: Any, *names: str) -> None:
    for name in names:
        if stores.configs.get_connector(name) is not None:
            stores.configs.set_target_state(name, TargetState.STOPPED)
    eventually(lambda: not poller.running(POLLER), "the ticks notice the stop and end", timeout=60)


def test_unplanned_failover_when_every_jvm_of_a_is_killed(doomed, stores, poller):
    a, b = doomed
    topic = unique("drill")
    for cluster in (a, b):
        cluster.create_topic(topic, queues=4)
    a_client, b_client = client_for(a.namesrv_addr), client_for(b.namesrv_addr)
    # a rate limit below the production rate: B lags, so there is data at risk when A dies
    name = replicator(stores, a, b, topic, max_messages_per_second=150, max_poll_records=10, pull_batch_size=10)
    producer = Producer(a, topic)
    try:
        tick(poller, name)
        progress(b, topic, 200)
        # GIVEN a consumer group on A that has read part of what was replicated, checkpointed ...
        first = {q: item["watermark"]["source_offset"] // 2 for q, item in watermarks(stores, name).items()}
        a_queues = queues_of(a_client, topic)
        for mq in a_queues:
            a_client.update_consumer_offset(GROUP, mq, first.get(mq.queue_id, 0))

        def checkpointed() -> bool:
            stored = {p["queue"]: c["source_offset"] for p, c in
                      stores.offsets.read_all(checkpoint_namespace(name)).pairs() if p["group"] == GROUP}
            return all(stored.get(mq.queue_id) == first.get(mq.queue_id, 0) for mq in a_queues)
        eventually(checkpointed, "the group's offsets are checkpointed", timeout=60)
        # ... and that read on after the checkpoint
        consumed = {q: item["watermark"]["source_offset"] for q, item in watermarks(stores, name).items()}
        for mq in a_queues:
            a_client.update_consumer_offset(GROUP, mq, consumed.get(mq.queue_id, 0))
    finally:
        producer.stop()
    truth = {mq.queue_id: a_client.max_offset(mq) for mq in a_queues}

    def observed_everything() -> bool:  # what A held is what the replicator last saw of it
        marks = watermarks(stores, name)
        return all(marks.get(q, {}).get("source", {}).get("max_offset") == m for q, m in truth.items())
    eventually(observed_everything, "the replicator observed A's last max offsets", timeout=60)

    # WHEN every JVM of A dies and the link fails over, unplanned
    for pid in a.live_pids():
        os.kill(pid, signal.SIGKILL)
    eventually(lambda: not a.live_pids(), "A's JVMs are gone")
    started = time.monotonic()
    run = run_to_end(FailoverEngine(stores, owner="drill"), name, "unplanned")
    read = consume_on_b(b_client, topic)
    print(f"\nunplanned failover: run {run['status']} in {run['finished_at'] - run['created_at']:.2f} s; "
          f"the group read on B {time.monotonic() - started:.2f} s after the command")

    # THEN
    assert run["status"] == "SUCCEEDED", run["error"]
    on_b = copies(b_client, topic)
    marks = watermarks(stores, name)
    risk = run["data_at_risk"]
    for q, total in truth.items():
        verified = marks[q]["watermark"]["source_offset"] + 1
        assert all(on_b[(q, o)] for o in range(verified)), f"queue {q}: a verified message is missing on B"
        checkpoint = first.get(q, 0)
        reread = [o for o in read[q] if o < consumed.get(q, 0)]
        assert len(reread) <= consumed.get(q, 0) - checkpoint, f"queue {q}: re-read beyond the bound"
        assert set(read[q]) >= {o for (sq, o) in on_b if sq == q and o >= consumed.get(q, 0)}, \
            f"queue {q}: the group skipped a message on B"
    lost = {(q, o) for q, total in truth.items() for o in range(total) if not on_b[(q, o)]}
    assert lost, "nothing was at risk: the drill proves nothing"
    assert len(lost) == risk["messages"]
    counted = {(r["partition"]["queue"], o) for r in risk["queues"]
               for o in range(r["verified_offset"], r["known_max_offset"])}
    assert lost == counted
    assert stores.configs.get_connector(name).target_state is TargetState.STOPPED
    stop(stores, poller, name)


def test_planned_failover_then_failback(rocketmq_clusters, stores, poller):
    a, b = rocketmq_clusters["A"], rocketmq_clusters["B"]
    topic = unique("drill")
    for cluster in (a, b):
        cluster.create_topic(topic, queues=4)
    a_client, b_client = client_for(a.namesrv_addr), client_for(b.namesrv_addr)
    name = replicator(stores, a, b, topic)
    producer = Producer(a, topic)
    try:
        tick(poller, name)
        progress(b, topic, 300)
        a_queues = queues_of(a_client, topic)
        consumed = {mq.queue_id: a_client.max_offset(mq) // 2 for mq in a_queues}
        for mq in a_queues:
            a_client.update_consumer_offset(GROUP, mq, consumed[mq.queue_id])
    finally:
        produced = producer.stop()  # the runbook: producers stop writing to A first
    a_client.wait_for_messages(topic, produced, timeout_s=60)
    eventually(lambda: len(copies(b_client, topic)) >= produced, "the replicator copied everything", timeout=120)
    b_queues = queues_of(b_client, topic)
    for i in range(20):  # clients that moved to B before the failover command
        b_client.send(Message(topic=topic, body=f"written on B early {i}".encode(), keys=[f"b-early-{i}"],
                              properties={"origin": "B", "seq": str(100 + i)}), queue=b_queues[i % len(b_queues)])

    # WHEN the link fails over, planned
    started = time.monotonic()
    engine = FailoverEngine(stores, apply=lambda config: deploy(stores, config), owner="drill")
    run = run_to_end(engine, name, "planned")
    read = consume_on_b(b_client, topic)
    print(f"\nplanned failover: run {run['status']} in {run['finished_at'] - run['created_at']:.2f} s; "
          f"the group read on B {time.monotonic() - started:.2f} s after the command")

    # THEN nothing is lost or duplicated, and the group continues exactly where it was
    assert run["status"] == "SUCCEEDED", run["error"]
    assert run["data_at_risk"]["messages"] == 0
    on_b = copies(b_client, topic)
    assert len(on_b) == produced and set(on_b.values()) == {1}
    for mq in a_queues:
        q = mq.queue_id
        assert sorted(read[q]) == list(range(consumed[q], a_client.max_offset(mq))), f"queue {q}"

    # AND after producing on B, a failback copies exactly what was written on B to A - before and after
    # the failover - and nothing echoes back to B
    for i in range(40):
        b_client.send(Message(topic=topic, body=f"written on B {i}".encode(), keys=[f"b-{i}"],
                              properties={"origin": "B", "seq": str(i)}), queue=b_queues[i % len(b_queues)])
    on_b_before = b_client.message_count(topic)
    back = run_to_end(engine, name, "failback")
    assert back["status"] == "SUCCEEDED", back["error"]
    reverse = reverse_name(name)
    tick(poller, reverse)

    def from_b() -> list[Any]:
        return [m for m in a_client.read_all(topic) if m.properties.get("origin") == "B"]
    eventually(lambda: len(from_b()) >= 60, "what was written on B reaches A", timeout=120)
    # A -> B resumed next to B -> A: the copies on A came from B, so none goes back
    stores.configs.set_target_state(name, TargetState.RUNNING)
    tick(poller, name)

    def forward_caught_up() -> bool:
        committed = {p["queue"]: o["queue_offset"] for p, o in stores.offsets.read_all(name).pairs()}
        return all(committed.get(mq.queue_id) == a_client.max_offset(mq) for mq in a_queues)
    eventually(forward_caught_up, "A -> B has read everything on A again", timeout=120)
    stop(stores, poller, name, reverse)
    assert sorted(int(m.properties["seq"]) for m in from_b()) == list(range(40)) + list(range(100, 120))  # once each
    assert b_client.message_count(topic) == on_b_before  # nothing echoed
    assert len(from_b()) == 60
