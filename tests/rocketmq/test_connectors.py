"""rocketmq-source and rocketmq-sink against real brokers, run by the source runner (in-memory stores)."""

from __future__ import annotations

import time
import uuid
import zlib

import pytest

from connect_core import ConnectRecord, TaskContext
from connect_core.api import OffsetMap
from connect_core.config import validate_config
from connect_core.connectors.rocketmq import client_for, queue_partition
from connect_core.rocketmq import Message
from connect_core.runtime.source_runner import SourceRunner
from connect_core.storage import Stores

pytestmark = pytest.mark.rocketmq

FOREVER = lambda: 600_000  # noqa: E731


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def source(a, topic, **overrides):
    config = {"name": unique("src"), "connector": "rocketmq-source", "namesrv_addr": a.namesrv_addr,
              "cluster": "A", "topics": [topic], **overrides}
    return validate_config(config)


def task_of(connector, index=0, task_configs=None):
    task_config = (task_configs or connector.task_configs(connector.config.max_tasks))[index]
    task = connector.task_class(connector.config, task_config, TaskContext(connector.config.name, index))
    task.start()
    return task


def send(cluster, topic, count, **fields):
    client = client_for(cluster.namesrv_addr)
    before = client.message_count(topic)
    for i in range(count):
        client.send(Message(topic=topic, body=f"body-{i}".encode(), tags=fields.get("tags", f"t{i % 2}"),
                            keys=[f"k{i}"], properties={"n": str(i)}))
    client.wait_for_messages(topic, before + count)


def drain(task) -> list[ConnectRecord]:
    offsets, out = OffsetMap(), []
    while records := task.poll(offsets):
        out.extend(records)
        for r in records:
            offsets.set(r.partition, r.offset)
    return out


def test_task_configs_divide_the_queues_over_max_tasks(a):
    topic = unique("split")
    a.create_topic(topic, queues=8)

    configs = source(a, topic, max_tasks=3).task_configs(3)

    assert [len(c["queues"]) for c in configs] == [3, 3, 2]
    assert sorted(q[2] for c in configs for q in c["queues"]) == list(range(8))
    assert len({c["fingerprint"] for c in configs}) == 1
    assert len(source(a, topic).task_configs(20)) == 8  # never more tasks than queues


def test_records_keep_every_message_attribute(a):
    topic = unique("attrs")
    a.create_topic(topic, queues=2)
    send(a, topic, 6)

    records = drain(task_of(source(a, topic)))

    assert len(records) == 6
    r = next(r for r in records if r.headers["n"] == "3")
    assert r.value == b"body-3" and r.key == "k3" and r.topic == topic
    assert r.partition == {"cluster": "A", "broker": r.partition["broker"], "topic": topic,
                           "queue": int(r.headers["rocketmq.queue_id"])}
    assert r.offset == {"queue_offset": int(r.headers["rocketmq.queue_offset"]) + 1}
    for header in ("rocketmq.tags", "rocketmq.keys", "rocketmq.msg_id", "rocketmq.unique_id", "rocketmq.born_timestamp",
                   "rocketmq.born_host", "rocketmq.store_timestamp", "rocketmq.store_host", "rocketmq.broker"):
        assert r.headers[header], header
    assert r.timestamp == int(r.headers["rocketmq.born_timestamp"])


def test_tag_filter_reads_only_matching_messages(a):
    topic = unique("tags")
    a.create_topic(topic, queues=2)
    send(a, topic, 10)

    records = drain(task_of(source(a, topic, tag_filter="t1")))

    assert sorted(r.headers["n"] for r in records) == ["1", "3", "5", "7", "9"]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_polls_share_the_budget_so_no_queue_starves(a, concurrency):
    # Queue 0 has a backlog, queue 3 a few messages, queues 1 and 2 none; a poll's budget is smaller
    # than one pull of each queue. Every poll keeps to its budget, and queue 3 is read in the first
    # polls rather than after queue 0's backlog (or never: a drained queue must not use up the budget).
    topic = unique("fair")
    a.create_topic(topic, queues=4)
    client = client_for(a.namesrv_addr)
    queues = client.writable_queues(topic)
    for i in range(30):
        client.send(Message(topic=topic, body=f"q0-{i}".encode()), queue=queues[0])
    for i in range(3):
        client.send(Message(topic=topic, body=f"q3-{i}".encode()), queue=queues[3])
    client.wait_for_messages(topic, 33)
    task = task_of(source(a, topic, max_poll_records=8, pull_batch_size=8, pull_concurrency=concurrency))

    offsets, polls = OffsetMap(), []
    while records := task.poll(offsets):
        polls.append([r.value.decode() for r in records])
        for r in records:
            offsets.set(r.partition, r.offset)

    assert all(len(batch) <= 8 for batch in polls)
    bodies = [body for batch in polls for body in batch]
    assert sorted(bodies) == sorted([f"q0-{i}" for i in range(30)] + [f"q3-{i}" for i in range(3)])
    assert any(body.startswith("q3-") for batch in polls[:2] for body in batch)
    assert [b for b in bodies if b.startswith("q0-")] == [f"q0-{i}" for i in range(30)]  # queue order kept


def test_a_pull_made_ahead_is_used_only_where_the_next_poll_starts(a):
    # Each poll starts the next poll's pulls ahead of time. When the records were not committed (a
    # failed publish), the next poll starts where the last one did and must read the same messages.
    topic = unique("ahead")
    a.create_topic(topic, queues=1)
    send(a, topic, 20)
    task = task_of(source(a, topic, max_poll_records=8, pull_batch_size=8, pull_concurrency=4))

    first = task.poll(OffsetMap())
    again = task.poll(OffsetMap())  # nothing was committed
    committed = OffsetMap.last_of(again)
    second = task.poll(committed)
    third = task.poll(OffsetMap.last_of(second))

    def bodies(records):
        return [r.value.decode() for r in records]
    assert bodies(first) == bodies(again) == [f"body-{i}" for i in range(8)]
    assert bodies(second) == [f"body-{i}" for i in range(8, 16)]
    assert bodies(third) == [f"body-{i}" for i in range(16, 20)]
    task.stop()


def test_start_at_latest_or_at_a_timestamp(a):
    topic = unique("start")
    a.create_topic(topic, queues=1)
    send(a, topic, 3)
    time.sleep(0.05)
    middle = int(time.time() * 1000)
    time.sleep(0.05)
    send(a, topic, 2)

    assert drain(task_of(source(a, topic, start="latest"))) == []
    at_timestamp = drain(task_of(source(a, topic, start="timestamp", start_timestamp_ms=middle)))
    assert [r.value for r in at_timestamp] == [b"body-0", b"body-1"]  # the second batch restarted numbering
    assert len(drain(task_of(source(a, topic)))) == 5


def test_the_source_resumes_from_committed_offsets_through_the_runtime(a, b, tmp_path):
    topic = unique("resume")
    a.create_topic(topic, queues=2)
    send(a, topic, 10)
    stores = Stores.in_memory()
    out = tmp_path / "out.jsonl"
    config = {"name": unique("src"), "connector": "rocketmq-source", "namesrv_addr": a.namesrv_addr,
              "cluster": "A", "topics": [topic], "polling": "drain",
              "target": {"type": "direct", "sink": {"name": "files", "connector": "file-sink", "path": str(out),
                                                    "format": "record", "value_converter": {"type": "bytes"}}}}
    connector = validate_config(config)
    stores.configs.put_connector(config["name"], config)
    stores.configs.put_task_configs(config["name"], connector.task_configs(1), generation=1)

    first = SourceRunner(stores, owner="t1").tick(config["name"], 0, FOREVER)
    send(a, topic, 5)
    second = SourceRunner(stores, owner="t2").tick(config["name"], 0, FOREVER)

    assert (first.published, second.published) == (10, 5)
    assert len(out.read_text().splitlines()) == 15
    committed = stores.offsets.read_all(config["name"])
    maxima = {mq.queue_id: client_for(a.namesrv_addr).max_offset(mq)
              for mq in client_for(a.namesrv_addr).message_queues(topic)}
    assert {p["queue"]: o["queue_offset"] for p, o in committed.pairs()} == maxima


def started_sink(**config):
    sink = validate_config({"name": unique("sink"), "connector": "rocketmq-sink", **config})
    task = sink.task_class(sink.config, {}, TaskContext(sink.config.name, 0))
    task.start()
    return task


def test_the_sink_restores_attributes_orders_by_key_and_batches(b):
    topic = unique("sink")
    b.create_topic(topic, queues=4)
    task = started_sink(namesrv_addr=b.namesrv_addr, topic=topic)
    records = [ConnectRecord(topic="ignored", value=f"v{i}".encode(), key=f"customer-{i % 3}",
                             headers={"rocketmq.tags": "billing", "region": "eu", "rocketmq.born_timestamp": "1700000000123"})
               for i in range(12)]

    try:
        task.put(records)
    finally:
        task.stop()

    client = client_for(b.namesrv_addr)
    client.wait_for_messages(topic, 12)
    by_queue = {}
    for mq in client.message_queues(topic):
        result = client.pull(mq, 0, max_messages=32)
        by_queue[mq.queue_id] = result.messages if result.status == "FOUND" else []
    messages = [m for ms in by_queue.values() for m in ms]
    assert len(messages) == 12
    assert all(m.tags == "billing" and m.properties["region"] == "eu" for m in messages)
    assert all(m.born_timestamp == 1700000000123 for m in messages)
    for queue_id, ms in by_queue.items():  # same key, same queue; order kept within the queue
        for m in ms:
            assert zlib.crc32(m.keys[0].encode()) % 4 == queue_id
        assert [m.body for m in ms] == sorted((m.body for m in ms), key=lambda body: int(body[1:]))


def test_the_sink_writes_through_a_5x_proxy_with_the_official_client(b):
    topic = unique("proxy")
    b.create_topic(topic, queues=1)
    task = started_sink(proxy_endpoint=b.proxy_grpc, topic=topic)
    try:
        task.put([ConnectRecord(value=b"via-proxy", key="k1", headers={"rocketmq.tags": "p", "region": "eu"})])
    finally:
        task.stop()

    client = client_for(b.namesrv_addr)
    client.wait_for_messages(topic, 1)
    [mq] = client.message_queues(topic)
    [message] = client.pull(mq, 0).messages
    assert (message.body, message.tags, message.keys, message.properties["region"]) == (b"via-proxy", "p", ["k1"], "eu")


def test_a_sink_needs_exactly_one_target():
    from connect_core import ConfigError

    with pytest.raises(ConfigError, match="exactly one of namesrv_addr"):
        validate_config({"name": "s", "connector": "rocketmq-sink"})


def test_queue_partitions_name_the_cluster_so_two_clusters_never_mix():
    from connect_core.rocketmq import MessageQueue

    mq = MessageQueue("broker-a", "orders", 3)
    assert queue_partition("eu", mq) != queue_partition("us", mq)
