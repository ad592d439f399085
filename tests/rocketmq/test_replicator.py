"""The Replicator between two real RocketMQ clusters (A and B), run by the serverless runtime's
source runner with in-memory stores (the stores' own behaviour is tested against DynamoDB elsewhere).

What RocketMQ Connect users complain about is what is checked: messages going to the wrong
cluster, attributes lost, duplicates after restarts, loops in two-way links, consumers that must
start over after a failover."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter

import pytest

from connect_core.config import validate_config
from connect_core.connectors.replicator import (P_PATH, P_SOURCE_MSG_ID, P_SOURCE_OFFSET, TokenBucket, append_runs,
                                                translate)
from connect_core.connectors.rocketmq import client_for
from connect_core.rocketmq import BrokerUnavailableError, Message
from connect_core.runtime.source_runner import SourceRunner
from connect_core.storage import Stores

pytestmark = pytest.mark.rocketmq

FOREVER = lambda: 600_000  # noqa: E731


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def replicator_config(a, b, topic: str, **overrides) -> dict:
    """A one-task replicator whose ticks end once the source is caught up (``polling: drain``): these
    tests look at what one tick did. Continuous polling has its tests in test_continuous_replication."""
    return {"name": unique("repl"), "connector": "rocketmq-replicator", "topics": [topic], "max_tasks": 1,
            "polling": "drain", "source_cluster": {"name": "A", "namesrv_addr": a.namesrv_addr},
            "target_cluster": {"name": "B", "namesrv_addr": b.namesrv_addr}, **overrides}


def deploy(stores: Stores, config: dict) -> None:
    connector = validate_config(config)
    stores.configs.put_connector(config["name"], config)
    stores.configs.put_task_configs(config["name"], connector.task_configs(config.get("max_tasks", 1)), generation=1)


def tick(stores: Stores, name: str, task: int = 0, **kwargs):
    return SourceRunner(stores, owner=unique("tick"), **kwargs).tick(name, task, FOREVER)


def produce(cluster, topic: str, count: int, *, prefix: str = "m") -> list[Message]:
    client = client_for(cluster.namesrv_addr)
    before = client.message_count(topic)
    sent = []
    for i in range(count):
        body = bytes([i % 256, 0, 255]) + f"{prefix}-{i}".encode() + bytes(range(i % 7))
        message = Message(topic=topic, body=body, tags=f"tag{i % 3}", keys=[f"{prefix}-key-{i}", f"alt-{i}"],
                          properties={"order": str(i), "région": "eu-west-1", "note": "a b\tc"},
                          born_timestamp=1_700_000_000_000 + i)
        client.send(message)
        sent.append(message)
    client.wait_for_messages(topic, before + count)
    return sent


def read_all(cluster, topic: str, expect: int | None = None) -> list:
    """Every message of every queue of the topic, pulled by explicit offset (after waiting for
    ``expect`` messages to be indexed, where the test knows how many were sent)."""
    client = client_for(cluster.namesrv_addr)
    if expect is not None:
        client.wait_for_messages(topic, expect)
    return client.read_all(topic)


@pytest.fixture
def clusters(rocketmq_clusters):
    return rocketmq_clusters["A"], rocketmq_clusters["B"]


@pytest.fixture
def topic(clusters):
    name = unique("orders")
    for cluster in clusters:
        cluster.create_topic(name, queues=4)
    return name


def test_messages_are_replicated_with_full_fidelity(clusters, topic):
    a, b = clusters
    sent = produce(a, topic, 40)
    stores = Stores.in_memory()
    config = replicator_config(a, b, topic)
    deploy(stores, config)

    result = tick(stores, config["name"])

    assert (result.outcome, result.published) == ("ran", 40), result.error
    replicated = read_all(b, topic, expect=40)
    assert len(replicated) == 40
    by_order = {m.properties["order"]: m for m in replicated}
    for i, original in enumerate(sent):
        copy = by_order[str(i)]
        assert copy.body == original.body  # byte-identical, binary included
        assert copy.tags == original.tags and copy.keys == original.keys
        assert copy.properties["région"] == "eu-west-1" and copy.properties["note"] == "a b\tc"
        assert copy.born_timestamp == original.born_timestamp
        assert copy.properties[P_PATH] == "A"
        assert copy.properties["CONNECT_SOURCE_TOPIC"] == topic
    originals = read_all(a, topic)
    source = {(m.queue_id, m.queue_offset, m.unique_id) for m in originals}
    kept = {(int(m.properties["CONNECT_SOURCE_QUEUE"]), int(m.properties[P_SOURCE_OFFSET]),
             m.properties[P_SOURCE_MSG_ID]) for m in replicated}
    assert kept == source
    # the message id (UNIQ_KEY) is the source's: consumers deduplicating by it do so across regions
    assert {m.unique_id for m in replicated} == {m.unique_id for m in originals}
    # the same source queue went to the same target queue, in order
    for m in replicated:
        assert m.queue_id == int(m.properties["CONNECT_SOURCE_QUEUE"]) % 4


def test_replicated_messages_read_back_with_the_official_client_are_intact(clusters, topic, tmp_path, monkeypatch):
    a, b = clusters
    sent = {m.properties["order"]: m for m in produce(a, topic, 20)}
    stores = Stores.in_memory()
    config = replicator_config(a, b, topic)
    deploy(stores, config)
    tick(stores, config["name"])
    monkeypatch.setenv("HOME", str(tmp_path))  # the official client writes its logs under $HOME
    import rocketmq as official

    group = unique("readers")
    b.create_consumer_group(group)
    settings = official.ClientConfiguration(b.proxy_grpc, official.Credentials(), request_timeout=10)
    consumer = official.SimpleConsumer(settings, group, {topic: official.FilterExpression("*")}, await_duration=3,
                                       tls_enable=False)
    consumer.startup()
    received, deadline = [], time.monotonic() + 60
    try:
        while len(received) < 20 and time.monotonic() < deadline:
            try:
                batch = consumer.receive(16, 15)
            except Exception:  # noqa: BLE001 - the first receive may come before the proxy knows the group
                time.sleep(0.5)
                continue
            for message in batch:
                consumer.ack(message)
                received.append(message)
    finally:
        consumer.shutdown()

    assert len(received) == 20
    for message in received:
        original = sent[message.properties["order"]]
        assert message.body == original.body
        assert message.tag == original.tags and set(message.keys) == set(original.keys)
        assert message.properties["région"] == "eu-west-1" and message.properties[P_PATH] == "A"
        assert message.born_timestamp == original.born_timestamp


def test_tag_filter_and_topic_renaming(clusters):
    a, b = clusters
    source_topic = unique("events")
    a.create_topic(source_topic, queues=2)
    b.create_topic(f"A-{source_topic}", queues=2)
    produce(a, source_topic, 12)
    stores = Stores.in_memory()
    config = replicator_config(a, b, source_topic, tag_filter="tag0 || tag2", topic_format="{source}-{topic}")
    deploy(stores, config)

    tick(stores, config["name"])

    replicated = read_all(b, f"A-{source_topic}", expect=8)
    assert sorted(m.tags for m in replicated) == sorted(["tag0"] * 4 + ["tag2"] * 4)


def test_killed_invocations_lose_nothing_and_duplicate_only_where_a_commit_was_lost(clusters, topic, monkeypatch):
    a, b = clusters
    produce(a, topic, 300)
    stores = Stores.in_memory()
    config = replicator_config(a, b, topic, max_poll_records=20, pull_batch_size=8)
    deploy(stores, config)
    rng = random.Random(7)
    lost_commits = []

    from connect_core.connectors import replicator as module

    real_publish, real_commit = module.ReplicatorPublisher.publish, stores.offsets.commit

    def flaky_publish(self, messages):
        point = rng.random()
        if point < 0.15:
            raise RuntimeError("killed before send")
        if point < 0.25 and len(messages) > 1:
            real_publish(self, messages[: len(messages) // 2])  # mid-batch: half was sent
            raise RuntimeError("killed mid-batch")
        real_publish(self, messages)

    def flaky_commit(*args, **kwargs):
        if rng.random() < 0.15:
            offsets = args[1]
            lost_commits.append(len(offsets))
            raise RuntimeError("killed after send, before commit")
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(module.ReplicatorPublisher, "publish", flaky_publish)
    stores.offsets.commit = flaky_commit
    outcomes = Counter(tick(stores, config["name"]).outcome for _ in range(60))
    monkeypatch.setattr(module.ReplicatorPublisher, "publish", real_publish)
    stores.offsets.commit = real_commit
    for _ in range(10):
        tick(stores, config["name"])

    assert outcomes["failed"] > 5  # the kills really happened
    copies = Counter(m.properties[P_SOURCE_MSG_ID] for m in read_all(b, topic))
    source_ids = {m.unique_id for m in read_all(a, topic)}
    assert set(copies) == source_ids  # nothing lost
    duplicates = sum(n - 1 for n in copies.values())
    assert duplicates <= 20 * (len(lost_commits) + outcomes["failed"])  # only re-sent batches


def test_a_send_that_fails_while_others_are_in_flight_commits_nothing_and_loses_nothing(clusters, topic, monkeypatch):
    # The target queues are written at the same time; the third send's answer never comes.
    a, b = clusters
    produce(a, topic, 40)
    stores = Stores.in_memory()
    config = replicator_config(a, b, topic)
    deploy(stores, config)
    target = client_for(b.namesrv_addr)
    real_start_send, started = target.start_send, []

    class Unanswered:
        def __init__(self, call):
            self.call = call

        def result(self):
            self.call.cancel()
            raise BrokerUnavailableError("no answer within 5s (request code 320)")

        def cancel(self):
            self.call.cancel()

    def start_send(messages, *, queue):
        started.append(queue)
        call = real_start_send(messages, queue=queue)
        return Unanswered(call) if len(started) == 3 else call

    monkeypatch.setattr(target, "start_send", start_send)
    failed = tick(stores, config["name"])
    monkeypatch.undo()
    again = tick(stores, config["name"])

    assert failed.outcome == "failed" and "refused a batch" in failed.error and "no answer" in failed.error
    assert len({q.queue_id for q in started}) > 1  # sends to several queues were under way
    assert again.outcome == "ran" and again.published == 40  # nothing was committed by the failed tick
    copies = Counter(m.properties[P_SOURCE_MSG_ID] for m in read_all(b, topic))
    assert set(copies) == {m.unique_id for m in read_all(a, topic)}


def test_two_way_replication_never_echoes(clusters, topic):
    a, b = clusters
    produce(a, topic, 10, prefix="from-a")
    produce(b, topic, 10, prefix="from-b")
    stores = Stores.in_memory()
    a_to_b = replicator_config(a, b, topic)
    b_to_a = {**replicator_config(a, b, topic),
              "source_cluster": {"name": "B", "namesrv_addr": b.namesrv_addr},
              "target_cluster": {"name": "A", "namesrv_addr": a.namesrv_addr}}
    deploy(stores, a_to_b)
    deploy(stores, b_to_a)

    for _ in range(3):
        tick(stores, a_to_b["name"])
        tick(stores, b_to_a["name"])

    for cluster in (a, b):
        bodies = Counter(m.body for m in read_all(cluster, topic, expect=20))
        assert len(bodies) == 20 and set(bodies.values()) == {1}, "every message once in each cluster"


def test_a_consumer_group_fails_over_to_the_translated_offset(clusters, topic):
    a, b = clusters
    group = unique("billing")
    produce(a, topic, 80)
    stores = Stores.in_memory()
    config = replicator_config(a, b, topic, groups=[group], sync_group_offsets=True)
    deploy(stores, config)
    source, target = client_for(a.namesrv_addr), client_for(b.namesrv_addr)
    consumed = {}
    for mq in source.message_queues(topic):  # the group has read k messages of each queue on A
        k = 7 + mq.queue_id
        source.update_consumer_offset(group, mq, k)
        consumed[mq.queue_id] = k

    tick(stores, config["name"])  # replicates, then checkpoints

    for mq in target.message_queues(topic):
        resumed = target.query_consumer_offset(group, mq)
        first = target.pull(mq, resumed, max_messages=1).messages[0]
        # it resumes exactly at the next unread message: nothing skipped, nothing re-read
        assert int(first.properties[P_SOURCE_OFFSET]) == consumed[mq.queue_id]


def test_offset_translation_is_exact_inside_runs_and_never_skips_between_them():
    # source 10..14 went to target 100..104; 15..19 were filtered out; 20..21 went to 105..106
    q = ["broker-b", "orders", 1]
    history = [{"source_offset": 10, "target_offset": 100, "count": 5, "target": q},
               {"source_offset": 20, "target_offset": 105, "count": 2, "target": q}]
    assert translate(history, 5) is None      # behind everything replicated: nothing safe to say
    assert translate(history, 10) == (("broker-b", "orders", 1), 100)
    assert translate(history, 13).offset == 103      # exact inside a run
    assert translate(history, 17).offset == 105      # in the filtered gap: the next replicated message
    assert translate(history, 21).offset == 106
    assert translate(history, 30).offset == 107      # past the last run: its end


def test_a_translation_names_the_target_queue_of_the_run_it_used():
    # the target topic grew from 2 queues to 4: source queue 3 went to target queue 1, then to 3
    history = [{"source_offset": 0, "target_offset": 50, "count": 10, "target": ["broker-b", "orders", 1]},
               {"source_offset": 10, "target_offset": 0, "count": 5, "target": ["broker-b", "orders", 3]}]
    assert translate(history, 4) == (("broker-b", "orders", 1), 54)
    assert translate(history, 12) == (("broker-b", "orders", 3), 2)


def test_a_steady_stream_keeps_one_run_of_offset_syncs_however_often_it_commits():
    target, other = ["broker-b", "orders", 1], ["broker-b", "orders", 2]
    history: list = []
    for second in range(300):  # a commit a second for five minutes
        history = append_runs(history, [{"source_offset": 10 * second, "target_offset": 500 + 10 * second,
                                         "count": 10, "target": target}])
    assert history == [{"source_offset": 0, "target_offset": 500, "count": 3000, "target": target}]

    resent = append_runs(history, [{"source_offset": 2990, "target_offset": 3500, "count": 5, "target": target}])
    assert resent == [history[0], {"source_offset": 2990, "target_offset": 3500, "count": 5, "target": target}]
    moved = append_runs(history, [{"source_offset": 3000, "target_offset": 3500, "count": 1, "target": other}])
    assert len(moved) == 2  # the same offsets on another queue are another run


def test_adding_queues_to_the_source_topic_requests_a_re_split(clusters):
    a, b = clusters
    topic = unique("growing")
    a.create_topic(topic, queues=2)
    b.create_topic(topic, queues=2)
    stores = Stores.in_memory()
    config = replicator_config(a, b, topic, max_tasks=4)
    deploy(stores, config)
    requested = []

    tick(stores, config["name"], request_reconfiguration=lambda *args: requested.append(args))
    assert requested == []
    a.update_topic_queues(topic, 4)
    for task in range(2):
        tick(stores, config["name"], task, request_reconfiguration=lambda *args: requested.append(args))

    assert requested and {name for name, _ in requested} == {config["name"]}
    assert len({fingerprint for _, fingerprint in requested}) == 1  # one new queue set, one re-split
    assert len(validate_config(config).task_configs(4)) == 4


def test_the_rate_limit_really_limits():
    now = [0.0]
    bucket = TokenBucket(100, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))

    for _ in range(10):
        bucket.acquire(50)

    assert now[0] == pytest.approx(4.0)  # 500 messages at 100/s, the first second's worth at once


def test_heartbeats_reach_the_target(clusters, topic):
    a, b = clusters
    heartbeats = unique("heartbeats")
    b.create_topic(heartbeats, queues=1)
    stores = Stores.in_memory()
    config = replicator_config(a, b, topic, heartbeat_topic=heartbeats)
    deploy(stores, config)

    tick(stores, config["name"])
    tick(stores, config["name"])

    beats = read_all(b, heartbeats, expect=2)
    assert len(beats) == 2 and all(m.tags == "heartbeat" for m in beats)


def test_a_replicator_without_its_target_topic_fails_validation(clusters):
    a, b = clusters
    topic = unique("only-on-a")
    a.create_topic(topic, queues=1)
    from connect_core import ConfigError

    with pytest.raises(ConfigError, match="target_cluster"):
        validate_config(replicator_config(a, b, topic))
