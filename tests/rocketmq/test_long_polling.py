"""Continuous polling against real brokers: ``RocketMQSourceTask.wait`` long-polls the idle queues
and returns when a message arrives; the next poll takes it without waiting on the queues still
held; idle costs no pulls and no CPU; answers read late still count; ``stop`` closes what is in
flight. Timings are only ever bounded generously (a held pull would take far longer)."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid

import pytest

from connect_core import TaskContext
from connect_core.api import OffsetMap
from connect_core.config import validate_config
from connect_core.connectors.rocketmq import client_for
from connect_core.rocketmq import Message, RocketMQClient

pytestmark = pytest.mark.rocketmq

QUEUES = 4
#: Longer than any wait here: a wait (or a poll) that returns well before it was not held by the broker.
HOLD_MS = 30_000


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def topic(a):
    name = unique("idle")
    a.create_topic(name, queues=QUEUES)
    return name


def started(connector, *, long_poll_ms: int = HOLD_MS):
    task = connector.task_class(connector.config, connector.task_configs(1)[0],
                                TaskContext(connector.config.name, 0, remaining_time_ms=lambda: 600_000))
    task.start()
    task.long_poll_ms = long_poll_ms
    return task


@pytest.fixture
def make_task(a, topic):
    tasks = []

    def make(**options):
        connector = validate_config({"name": unique("src"), "connector": "rocketmq-source",
                                     "namesrv_addr": a.namesrv_addr, "cluster": "A", "topics": [topic]})
        tasks.append(started(connector, **options))
        return tasks[-1]

    yield make
    for task in tasks:
        task.stop()


class Pulls:
    """Records every pull a task starts: (queue id, offset, suspend ms), and the calls."""

    def __init__(self, task, monkeypatch) -> None:
        self.started: list[tuple[int, int, int]] = []
        self.calls = []
        real = task.client.start_pull

        def start_pull(mq, offset, **kwargs):
            call = real(mq, offset, **kwargs)
            self.started.append((mq.queue_id, offset, kwargs.get("suspend_ms", 0)))
            self.calls.append(call)
            return call

        monkeypatch.setattr(task.client, "start_pull", start_pull)

    def long_polls(self) -> list[tuple[int, int, int]]:
        return [p for p in self.started if p[2] > 0]


def drain(task, offsets: OffsetMap) -> list[bytes]:
    """Poll until a poll returns nothing, advancing ``offsets`` as the runtime does; the bodies read."""
    bodies = []
    while records := task.poll(offsets):
        for r in records:
            offsets.set(r.partition, r.offset)
            bodies.append(r.value)
    return bodies


def send_later(cluster, topic: str, queue_index: int, body: bytes, delay_s: float = 0.5) -> threading.Timer:
    client = client_for(cluster.namesrv_addr)
    queue = client.writable_queues(topic)[queue_index]
    timer = threading.Timer(delay_s, lambda: client.send(Message(topic, body), queue=queue))
    timer.start()
    return timer


def test_wait_returns_soon_after_a_message_arrives_at_one_of_several_idle_queues(a, topic, make_task):
    task = make_task()
    offsets = OffsetMap()
    assert task.poll(offsets) == []

    sender = send_later(a, topic, 2, b"news")
    began = time.monotonic()
    task.wait(offsets, 20)
    waited = time.monotonic() - began
    sender.join()

    assert waited < 15  # the broker holds an idle queue's pull for 30 s: the message ended the wait
    assert drain(task, offsets) == [b"news"]


def test_the_next_poll_takes_the_message_without_waiting_on_the_queues_still_held(a, topic, make_task,
                                                                                  monkeypatch):
    task = make_task()
    offsets = OffsetMap()
    assert task.poll(offsets) == []
    pulls = Pulls(task, monkeypatch)
    sender = send_later(a, topic, 1, b"only-here")
    task.wait(offsets, 20)
    sender.join()
    long_polls = len(pulls.started)

    began = time.monotonic()
    records = task.poll(offsets)
    polled = time.monotonic() - began

    assert [r.value for r in records] == [b"only-here"]
    assert polled < 10  # reading a held long poll would have taken until the broker's 30 s hold ran out
    assert long_polls == QUEUES
    # The poll took the long poll's answer and pulled only that queue, after the message (it had news);
    # the other queues' long polls stay in flight.
    assert all(queue == 1 and offset == 1 for queue, offset, _ in pulls.started[QUEUES:])
    assert sum(1 for call in pulls.calls[:QUEUES] if not call.ready()) == QUEUES - 1


def test_waiting_on_idle_queues_takes_its_timeout_and_repeats_no_pull(a, topic, make_task, monkeypatch):
    task = make_task()
    offsets = OffsetMap()
    assert task.poll(offsets) == []
    pulls = Pulls(task, monkeypatch)

    cpu, waits = time.process_time(), []
    for _ in range(3):  # as the runtime does: poll, wait, poll, wait...
        began = time.monotonic()
        task.wait(offsets, 1.0)
        waits.append(time.monotonic() - began)
        assert task.poll(offsets) == []
    cpu_used = time.process_time() - cpu

    assert all(w >= 0.9 for w in waits)  # idle queues: nothing ended a wait early
    # One long poll per queue, in flight across the waits and polls; the polls pulled nothing.
    assert sorted(q for q, _, _ in pulls.started) == list(range(QUEUES))
    assert all(suspend == HOLD_MS for _, _, suspend in pulls.started)
    assert cpu_used < 1.0  # over 3 s of waiting: asleep in the kernel, not spinning


def test_a_long_poll_answered_empty_is_dropped_and_asked_again_by_the_next_wait(make_task, monkeypatch):
    task = make_task(long_poll_ms=1_000)  # answered NO_NEW_MSG after 1 s and at most one 5 s hold check
    offsets = OffsetMap()
    assert task.poll(offsets) == []
    pulls = Pulls(task, monkeypatch)

    task.wait(offsets, 8)
    after_first = len(pulls.long_polls())
    task.wait(offsets, 0.2)

    assert after_first == QUEUES  # answered empty within the wait, and not asked again in it
    assert len(pulls.long_polls()) == 2 * QUEUES  # the next wait asks again
    assert task.poll(offsets) == []


def test_a_long_poll_answered_while_the_function_was_frozen_still_yields_its_messages(a, topic, make_task,
                                                                                     monkeypatch):
    task = make_task(long_poll_ms=1_000)
    # A short client timeout: the long polls are read after it has long passed, and after the
    # broker should have answered (overdue), as after a Lambda instance was frozen.
    task.client = RocketMQClient(a.namesrv_addr, timeout_s=0.5)
    offsets = OffsetMap()
    assert task.poll(offsets) == []
    task.wait(offsets, 0.05)  # long polls started; the function is "frozen" right after
    client_for(a.namesrv_addr).send(Message(topic, b"while-frozen"),
                                    queue=client_for(a.namesrv_addr).writable_queues(topic)[3])
    time.sleep(0.5 + 1 + 5 + 1)  # past the long polls' timeout of 0.5 s + 1 s hold + 5 s hold check
    pulls = Pulls(task, monkeypatch)

    records = task.poll(offsets)

    assert [r.value for r in records] == [b"while-frozen"]
    assert (3, 0) not in {(queue, offset) for queue, offset, _ in pulls.started}  # the long poll's answer


def test_a_failed_long_poll_fails_neither_the_poll_nor_the_wait(a, topic, make_task, monkeypatch):
    task = make_task()
    offsets = OffsetMap()
    assert task.poll(offsets) == []
    pulls = Pulls(task, monkeypatch)
    task.wait(offsets, 0.05)
    for call in pulls.calls:  # the connections fail under the held pulls
        with socket.socket(fileno=os.dup(call.fileno())) as sock:
            sock.shutdown(socket.SHUT_RDWR)

    sender = send_later(a, topic, 0, b"after-failure", delay_s=0)
    sender.join()
    client_for(a.namesrv_addr).wait_for_messages(topic, 1)
    bodies = drain(task, offsets)
    task.wait(offsets, 0.05)

    assert bodies == [b"after-failure"]
    assert len(pulls.long_polls()) == 2 * QUEUES  # the failed ones were asked again


def open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except FileNotFoundError:  # the descriptor listdir itself used
            pass
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts sockets in /proc")
def test_stop_closes_the_long_polls_in_flight(make_task, monkeypatch):
    task = make_task()
    offsets = OffsetMap()
    assert task.poll(offsets) == []
    pulls = Pulls(task, monkeypatch)
    before = open_sockets()

    task.wait(offsets, 0.05)
    assert all(call.fileno() >= 0 and not call.ready() for call in pulls.calls)
    task.stop()

    assert len(pulls.calls) == QUEUES and all(call.fileno() == -1 for call in pulls.calls)
    assert open_sockets() <= before  # new connections closed; pooled ones taken for long polls too


def test_the_replicator_waits_for_messages_the_same_way(a, rocketmq_clusters, topic):
    b = rocketmq_clusters["B"]
    b.create_topic(topic, queues=QUEUES)
    connector = validate_config({"name": unique("repl"), "connector": "rocketmq-replicator", "topics": [topic],
                                 "source_cluster": {"name": "A", "namesrv_addr": a.namesrv_addr},
                                 "target_cluster": {"name": "B", "namesrv_addr": b.namesrv_addr}})
    task = started(connector)
    try:
        offsets = OffsetMap()
        assert task.poll(offsets) == []
        sender = send_later(a, topic, 0, b"replicate-me")
        began = time.monotonic()
        task.wait(offsets, 20)
        waited = time.monotonic() - began
        sender.join()

        assert waited < 15
        assert drain(task, offsets) == [b"replicate-me"]
    finally:
        task.stop()
