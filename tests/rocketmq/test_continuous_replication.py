"""The Replicator in continuous polling between two real clusters, driven like AWS drives it: each
tick an invocation of the real source poller handler in a process sandbox of its own (the local
Lambda service), the poller its own on-failure destination, the stores in DynamoDB on the embedded
endpoint. Messages are produced into A all the while.

What a disaster-recovery operator needs is checked: across handovers every message arrives once and
in order per queue; ticks killed with SIGKILL at random moments and at exact points (a pull in
flight, a send in flight, a batch acknowledged but not committed) lose nothing and duplicate only
what the dead tick sent after its last commit, and a recovery tick takes the task over every time; a
frozen tick whose lease was taken over can never commit; of successors racing, one wins.

Leases live 1.5 s here so takeovers are quick; no assertion depends on how long anything took.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from connect_core import aws
from connect_core.connectors.replicator import P_SOURCE_OFFSET, P_SOURCE_QUEUE
from connect_core.connectors.rocketmq import client_for
from connect_core.local.async_invoke import AsyncInvokeConfig
from connect_core.local.lambdas import LambdaService, LocalFunction
from connect_core.local.sandbox import SandboxOptions
from connect_core.rocketmq import BrokerBusyError, Message
from connect_core.storage import Stores, TargetState

pytestmark = [pytest.mark.rocketmq, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
POLLER = "source-poller"
POLLER_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{POLLER}"
LEASE_TTL_S = 1.5


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def eventually(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    until = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < until, f"timed out waiting until {what}"
        time.sleep(0.02)


@pytest.fixture
def clusters(rocketmq_clusters):
    return rocketmq_clusters["A"], rocketmq_clusters["B"]


@pytest.fixture
def topic(clusters) -> str:
    name = unique("drill")
    for cluster in clusters:
        cluster.create_topic(name, queues=4)
    return name


@pytest.fixture
def stores(tables) -> Stores:
    return Stores.dynamodb(*tables)


@pytest.fixture
def fault(tmp_path) -> Path:
    return tmp_path / "fault"


@pytest.fixture
def poller(tables, fault, tmp_path) -> Iterator[LambdaService]:
    """The source poller as the template deploys it: sandboxed, no async retries, its own
    on-failure destination. ``faults`` is loaded into every sandbox (see faults.py)."""
    service = LambdaService(sandboxed=True, sandbox=SandboxOptions(preload=("faults",),
                                                                   log_path=tmp_path / "ticks.log"))
    service.register(LocalFunction(
        name=POLLER, arn=POLLER_ARN, handler="app.handler", code_dir=ROOT / "functions" / "source_poller",
        timeout=300, memory_size=512,
        environment={"CONFIGS_TABLE": tables[0], "OFFSETS_TABLE": tables[1], "SOURCE_TICK_SECONDS": "300",
                     "SOURCE_LEASE_TTL_SECONDS": str(LEASE_TTL_S), "CONNECT_FAULT_FILE": str(fault),
                     # a drill crashes its ticks on purpose, many times a minute: recover every time
                     "SOURCE_RECOVERY_CRASH_LIMIT": "1000",
                     "POWERTOOLS_SERVICE_NAME": "drill", "POWERTOOLS_METRICS_NAMESPACE": "RocketMQConnect",
                     "POWERTOOLS_LOG_LEVEL": "WARNING", "HOME": str(tmp_path)}))
    service.set_async_config(POLLER, AsyncInvokeConfig(maximum_retry_attempts=0, maximum_event_age_s=60,
                                                       on_failure=POLLER_ARN))
    try:
        yield service
    finally:
        service.stop()
        assert not service.sandbox_pids(), "sandboxes left running"


class Producer:
    """Batches of messages into every queue of the topic on A, until stopped."""

    def __init__(self, cluster: Any, topic: str) -> None:
        self.client = client_for(cluster.namesrv_addr)
        self.topic = topic
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="producer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        queues = self.client.writable_queues(self.topic)
        n = 0
        while not self._stop.is_set():
            queue = queues[n % len(queues)]
            batch = [Message(topic=self.topic, body=f"message {self.sent + i}".encode() + bytes(200),
                             keys=[f"k-{self.sent + i}"], properties={"seq": str(self.sent + i)})
                     for i in range(10)]
            try:
                self.client.send_batch(batch, queue=queue)
            except BrokerBusyError:  # a loaded machine: the broker asks to come back
                self._stop.wait(0.1)
                continue
            self.sent += len(batch)
            n += 1
            self._stop.wait(0.02)

    def stop(self) -> int:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)
        return self.sent


@pytest.fixture
def produce(clusters, topic) -> Iterator[Callable[[], Producer]]:
    """Starts producing into A; stopped at the end of the test whatever happens."""
    started: list[Producer] = []

    def start() -> Producer:
        started.append(Producer(clusters[0], topic))
        return started[-1]

    yield start
    for producer in started:
        producer.stop()


def replicator(stores: Stores, a: Any, b: Any, topic: str) -> str:
    """A replicator with its defaults (continuous polling), one task."""
    from connect_core.config import validate_config

    config = {"name": unique("drill"), "connector": "rocketmq-replicator", "topics": [topic], "max_tasks": 1,
              "source_cluster": {"name": "A", "namesrv_addr": a.namesrv_addr},
              "target_cluster": {"name": "B", "namesrv_addr": b.namesrv_addr}}
    connector = validate_config(config)
    assert connector.config.polling == "continuous"
    stores.configs.put_connector(config["name"], config)
    stores.configs.put_task_configs(config["name"], connector.task_configs(1), generation=1)
    return config["name"]


def tick(poller: LambdaService, name: str) -> str:
    return poller.call_async(POLLER, {"connector": name, "task": 0})


def holder(stores: Stores, poller: LambdaService, name: str) -> Any:
    """The running invocation that holds the task's lease, once there is one."""
    def find() -> Any:
        lease = stores.leases.get(name, 0)
        if lease is None or not lease.is_live(time.time()):
            return None
        return next((r for r in poller.running(POLLER) if r.request_id == lease.owner), None)
    return eventually(find, "a running tick holds the lease")


def replicated(b: Any, topic: str) -> int:
    return client_for(b.namesrv_addr).message_count(topic)


def progress(b: Any, topic: str, beyond: int) -> None:
    eventually(lambda: replicated(b, topic) > beyond, f"replication goes past {beyond}")


def results(poller: LambdaService) -> list[dict[str, Any]]:
    return [i.result for i in poller.history(POLLER) if i.ok and isinstance(i.result, dict)]


def stop_and_settle(stores: Stores, poller: LambdaService, name: str, producer: Producer, a: Any, b: Any,
                    topic: str) -> tuple[list[Any], list[Any]]:
    """Stop producing, let replication catch up, stop the connector; every message of A and B."""
    produced = producer.stop()
    client_for(a.namesrv_addr).wait_for_messages(topic, produced, timeout_s=60)
    originals = client_for(a.namesrv_addr).read_all(topic)

    def caught_up() -> bool:
        copies = client_for(b.namesrv_addr).read_all(topic)
        return {m.unique_id for m in copies} >= {m.unique_id for m in originals}
    eventually(caught_up, "B has every message of A", timeout=120)
    stores.configs.set_target_state(name, TargetState.STOPPED)
    eventually(lambda: not poller.running(POLLER), "the ticks notice the stop and end")
    return originals, client_for(b.namesrv_addr).read_all(topic)


def copies_by_source(copies: list[Any]) -> dict[tuple[int, int], int]:
    counts: dict[tuple[int, int], int] = defaultdict(int)
    for m in copies:
        counts[(int(m.properties[P_SOURCE_QUEUE]), int(m.properties[P_SOURCE_OFFSET]))] += 1
    return counts


def assert_order_kept(copies: list[Any]) -> None:
    """Each target queue holds its source queue's messages in source order (first copies)."""
    seen: dict[int, list[int]] = defaultdict(list)
    first: set[tuple[int, int]] = set()
    for m in sorted(copies, key=lambda m: (m.queue_id, m.queue_offset)):
        key = (int(m.properties[P_SOURCE_QUEUE]), int(m.properties[P_SOURCE_OFFSET]))
        if key not in first:
            first.add(key)
            seen[m.queue_id].append(key[1])
    for queue, offsets in seen.items():
        assert offsets == sorted(offsets), f"target queue {queue} is out of source order"


def test_across_three_handovers_every_message_arrives_once_and_in_order(clusters, topic, stores, poller, produce):
    a, b = clusters
    name = replicator(stores, a, b, topic)
    producer = produce()
    tick(poller, name)

    for _ in range(3):  # the next "scheduled" tick asks the running one for the task
        running = holder(stores, poller, name)
        progress(b, topic, replicated(b, topic) + 50)
        tick(poller, name)
        eventually(lambda: stores.leases.get(name, 0).owner != running.request_id, "the successor took over")
    originals, copies = stop_and_settle(stores, poller, name, producer, a, b, topic)

    counts = copies_by_source(copies)
    assert len(originals) == len(counts) == len(copies)  # every message, none twice
    assert {m.unique_id for m in copies} == {m.unique_id for m in originals}
    assert_order_kept(copies)
    ran = results(poller)
    assert [r["stopped"] for r in ran].count("handover") == 3
    assert [r["took_over"] for r in ran].count("handover") == 3


def test_ticks_killed_at_random_moments_and_exact_points_lose_nothing(clusters, topic, stores, poller, fault, produce):
    a, b = clusters
    name = replicator(stores, a, b, topic)
    producer = produce()
    tick(poller, name)
    kills = ["pull", "send", "commit"] * 3 + ["anywhere"] * 11
    random.Random(11).shuffle(kills)
    resumed_from = []  # the committed offsets each successor resumes from

    for point in kills:
        victim = holder(stores, poller, name)
        progress(b, topic, replicated(b, topic) + 20)
        committed = resumed_from[-1] if resumed_from else {}
        eventually(lambda: stores.offsets.read_all(name).by_key() != committed, "the tick commits")
        if point == "anywhere":
            time.sleep(random.uniform(0, 0.3))
            poller.kill(victim.request_id, signal.SIGKILL)
        else:
            fault.write_text(point)  # the tick kills itself when it next gets there
        eventually(lambda: victim.request_id not in {r.request_id for r in poller.running(POLLER)},
                   f"the tick dies ({point})")
        resumed_from.append(stores.offsets.read_all(name).by_key())  # the dead cannot commit any more
    holder(stores, poller, name)  # the last recovery tick took over too
    originals, copies = stop_and_settle(stores, poller, name, producer, a, b, topic)

    counts = copies_by_source(copies)
    assert len(counts) == len(originals)  # nothing lost
    assert_order_kept(copies)
    duplicated = {key for key, n in counts.items() if n > 1}
    for queue, offset in duplicated:  # re-sent only from where a successor resumed
        starts = [offset_["queue_offset"] for committed in resumed_from
                  for key, offset_ in committed.items() if json.loads(key)["queue"] == queue]
        assert any(start <= offset for start in starts), f"queue {queue} offset {offset} sent twice"
    # a dead tick's uncommitted sends: at most a commit interval's worth and a poll (2000 records)
    assert sum(n - 1 for n in counts.values()) <= len(kills) * 2500
    crashed = [i for i in poller.history(POLLER) if not i.ok]
    assert len(crashed) == len(kills) and all(i.error["errorType"] == "Runtime.ExitError" for i in crashed)
    # every crash started a recovery tick (on-failure destination) that took the task over: one
    # claim, one new epoch, per kill
    recoveries = [i for i in poller.history(POLLER) if "requestContext" in (i.event or {})]
    assert len(recoveries) == len(kills)
    assert stores.leases.get(name, 0).epoch == len(kills) + 1
    [last] = results(poller)
    assert (last["took_over"], last["recovery"]) == ("takeover", len(kills))  # a chain of recoveries


def test_a_frozen_tick_whose_lease_was_taken_over_can_never_commit(clusters, topic, stores, poller, produce):
    a, b = clusters
    name = replicator(stores, a, b, topic)
    producer = produce()
    tick(poller, name)
    frozen = holder(stores, poller, name)
    progress(b, topic, 50)
    frozen_epoch = stores.leases.get(name, 0).epoch

    os.kill(frozen.pid, signal.SIGSTOP)  # hung: it neither renews nor answers
    try:
        tick(poller, name)
        eventually(lambda: stores.leases.get(name, 0).epoch > frozen_epoch, "the successor takes over")
        progress(b, topic, replicated(b, topic) + 50)
    finally:
        os.kill(frozen.pid, signal.SIGCONT)
    eventually(lambda: any(r.get("outcome") == "fenced" for r in results(poller)), "the stale tick is fenced")
    originals, copies = stop_and_settle(stores, poller, name, producer, a, b, topic)

    items = aws.client("dynamodb").query(TableName=stores.offsets.offsets_table,
                                         KeyConditionExpression="pk = :pk",
                                         ExpressionAttributeValues={":pk": {"S": name}})["Items"]
    assert items and all(int(item["epoch"]["N"]) > frozen_epoch for item in items)
    assert len(copies_by_source(copies)) == len(originals)


def test_of_successors_racing_for_the_task_exactly_one_takes_it(clusters, topic, stores, poller, produce):
    a, b = clusters
    name = replicator(stores, a, b, topic)
    producer = produce()
    tick(poller, name)
    first = holder(stores, poller, name)
    progress(b, topic, 30)

    racers = {tick(poller, name) for _ in range(3)}
    eventually(lambda: stores.leases.get(name, 0).owner in racers, "a racer takes over")
    eventually(lambda: sum(1 for i in poller.history(POLLER) if i.request_id in racers) == 2,
               "all racers but the holder exit")
    winner = stores.leases.get(name, 0).owner
    originals, copies = stop_and_settle(stores, poller, name, producer, a, b, topic)

    ended = {i.request_id: i.result for i in poller.history(POLLER)}
    assert ended[first.request_id]["stopped"] == "handover"
    # Racers that ask together: one takes the task, the others exit busy. On a loaded machine a racer
    # may start only once another has taken the task: it then asks that one for a handover in turn,
    # which is a handover, not a race. Either way one tick at a time holds the task.
    ran = {r for r in racers if ended[r]["outcome"] == "ran"}
    assert winner in ran and all(ended[r]["outcome"] == "busy" for r in racers - ran)
    assert all(ended[r]["took_over"] == "handover" for r in ran)
    assert all(ended[r]["stopped"] == "handover" for r in ran - {winner})
    assert len(copies) == len(copies_by_source(copies)) == len(originals)
