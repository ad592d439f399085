"""RocketMQClient against a real broker: routes, topics, send, explicit-offset pull, offsets, errors,
and the connection pool's reuse and reconnects."""

from __future__ import annotations

import socket
import threading
import time
import uuid

import pytest

from connect_core.errors import RetriableError
from connect_core.rocketmq import (BrokerUnavailableError, ConnectionPool, Message, MessageQueue, RocketMQClient,
                                   RocketMQError, TopicNotFoundError)
from connect_core.rocketmq.connection import Connection
from connect_core.rocketmq.flight import wait_any

pytestmark = pytest.mark.rocketmq

ALL_BYTES = bytes(range(256))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def client(rocketmq_cluster) -> RocketMQClient:
    return RocketMQClient(rocketmq_cluster.namesrv_addr, timeout_s=10, pool=ConnectionPool())


@pytest.fixture
def topic(rocketmq_cluster) -> str:
    name = unique("remoting")
    rocketmq_cluster.create_topic(name, queues=4)
    return name


@pytest.fixture
def mq(client: RocketMQClient, topic: str) -> MessageQueue:
    return client.writable_queues(topic)[0]


def settled(client: RocketMQClient, mq: MessageQueue, count: int, timeout_s: float = 10.0) -> MessageQueue:
    """Wait until the queue holds ``count`` messages: a send returns once the commit log has the message,
    and the broker indexes it into the queue a moment later."""
    deadline = time.monotonic() + timeout_s
    while client.max_offset(mq) < count:
        assert time.monotonic() < deadline, f"{mq} did not reach {count} messages"
        time.sleep(0.01)
    return mq


def send_bodies(client: RocketMQClient, mq: MessageQueue, bodies, **fields) -> None:
    for body in bodies:
        client.send(Message(mq.topic, body, **fields), queue=mq)
    settled(client, mq, len(bodies))


# ------------------------------------------------------------------------------------------------- routes

def test_route_lookup_names_the_broker_and_its_queues(client, topic, rocketmq_cluster):
    route = client.topic_route(topic)

    [broker] = route.brokers.values()
    assert broker.master_addr == rocketmq_cluster.broker_addr
    [queue_data] = route.queues
    assert (queue_data.read_queue_nums, queue_data.write_queue_nums, queue_data.perm) == (4, 4, 6)
    queues = client.message_queues(topic)
    assert queues == [MessageQueue(broker.broker_name, topic, i) for i in range(4)]
    assert client.writable_queues(topic) == queues


def test_create_topic_on_every_master_of_the_cluster(client):
    topic = unique("created")
    cluster = next(iter(client.cluster_info().clusters))

    client.create_topic(topic, read_queues=2, write_queues=3, message_type="NORMAL", cluster=cluster)

    assert [q.queue_id for q in client.message_queues(topic)] == [0, 1]
    assert [q.queue_id for q in client.writable_queues(topic)] == [0, 1, 2]
    client.create_topic(topic, read_queues=2, write_queues=3)  # creating again is an update, not an error


def test_an_unknown_cluster_is_a_clear_error(client):
    with pytest.raises(Exception, match="cluster 'no-such-cluster' is unknown"):
        client.create_topic(unique("t"), cluster="no-such-cluster")


# --------------------------------------------------------------------------------------------------- send

def test_send_keeps_binary_body_keys_tags_user_properties_and_born_timestamp(client, mq):
    message = Message(mq.topic, ALL_BYTES, tags="TagA", keys=["order-1", "user-7"],
                      properties={"color": "grün", "emoji": "🚀", "n": "1"}, flag=3,
                      born_timestamp=1_500_000_000_123)

    sent = client.send(message, queue=mq)

    assert sent.status == "SEND_OK" and sent.queue == mq and sent.queue_offset == 0
    [got] = client.pull(settled(client, mq, 1), sent.queue_offset).messages
    assert got.body == ALL_BYTES and got.tags == "TagA" and got.keys == ["order-1", "user-7"]
    assert got.properties == {"color": "grün", "emoji": "🚀", "n": "1"}
    assert got.flag == 3 and got.born_timestamp == 1_500_000_000_123
    assert got.unique_id == sent.msg_id == got.system_properties["UNIQ_KEY"]
    assert got.msg_id == sent.offset_msg_id and got.queue_offset == 0 and got.queue_id == mq.queue_id
    assert got.store_timestamp > 1_500_000_000_123 and got.broker_name == mq.broker_name


def test_resending_a_pulled_message_keeps_its_identity(client, topic):
    source, target = client.writable_queues(topic)[:2]
    original = Message(topic, b"original", tags="T", keys=["k"], properties={"p": "v"}, born_timestamp=42)
    client.send(original, queue=source)
    [pulled] = client.pull(settled(client, source, 1), 0).messages

    client.send(pulled, queue=target)

    [copy] = client.pull(settled(client, target, 1), 0).messages
    assert (copy.body, copy.tags, copy.keys, copy.properties, copy.born_timestamp, copy.unique_id) == \
        (b"original", "T", ["k"], {"p": "v"}, 42, pulled.unique_id)


def test_send_without_a_queue_spreads_over_the_writable_queues(client, topic):
    results = [client.send(Message(topic, b"x")) for _ in range(8)]
    assert {r.queue.queue_id for r in results} == {0, 1, 2, 3}


def test_send_batch_stores_the_messages_in_order(client, mq):
    messages = [Message(mq.topic, ALL_BYTES[i:], tags=f"T{i}", keys=[f"k{i}"], properties={"i": str(i)},
                        born_timestamp=1_600_000_000_000) for i in range(3)]

    sent = client.send_batch(messages, queue=mq)

    assert sent.status == "SEND_OK" and sent.queue_offset == 0 and len(sent.msg_ids) == 3
    assert sent.msg_id == ",".join(sent.msg_ids) and len(sent.offset_msg_id.split(",")) == 3
    got = client.pull(settled(client, mq, 3), 0).messages
    assert [m.queue_offset for m in got] == [0, 1, 2]
    assert [(m.body, m.tags, m.keys, m.properties) for m in got] == \
        [(ALL_BYTES[i:], f"T{i}", [f"k{i}"], {"i": str(i)}) for i in range(3)]
    assert [m.unique_id for m in got] == list(sent.msg_ids)
    assert {m.born_timestamp for m in got} == {1_600_000_000_000}


def test_send_batch_keeps_each_born_timestamp(client, mq):
    borns = [1_000, 1_000, 2_000, 3_000]

    sent = client.send_batch([Message(mq.topic, b"m%d" % i, born_timestamp=b) for i, b in enumerate(borns)], queue=mq)

    got = client.pull(settled(client, mq, 4), 0).messages
    assert [m.born_timestamp for m in got] == borns and [m.body for m in got] == [b"m0", b"m1", b"m2", b"m3"]
    assert [m.unique_id for m in got] == list(sent.msg_ids) and sent.queue_offset == 0


def test_user_properties_may_not_use_system_names(client, mq):
    with pytest.raises(ValueError, match="'TAGS' is a reserved RocketMQ system property"):
        client.send(Message(mq.topic, b"x", properties={"TAGS": "sneaky"}), queue=mq)


# --------------------------------------------------------------------------------------------------- pull

def test_pull_from_explicit_offsets_progresses_to_no_new_messages(client, mq):
    send_bodies(client, mq, [b"m%d" % i for i in range(10)])

    first = client.pull(mq, 0, max_messages=4)
    middle = client.pull(mq, 5, max_messages=2)
    rest = client.pull(mq, first.next_offset)
    end = client.pull(mq, rest.next_offset)

    assert first.status == "FOUND" and [m.body for m in first.messages] == [b"m0", b"m1", b"m2", b"m3"]
    assert first.next_offset == 4 and (first.min_offset, first.max_offset) == (0, 10)
    assert [m.queue_offset for m in middle.messages] == [5, 6] and middle.next_offset == 7
    assert [m.queue_offset for m in rest.messages] == list(range(4, 10)) and rest.next_offset == 10
    assert end.status == "NO_NEW_MSG" and end.messages == [] and end.next_offset == 10


def test_pull_filters_by_tag(client, mq):
    for i, tag in enumerate(["A", "B", "A", "C", None]):
        client.send(Message(mq.topic, b"m%d" % i, tags=tag), queue=mq)
    settled(client, mq, 5)

    only_a = client.pull(mq, 0, tag_expression="A")
    a_or_c = client.pull(mq, 0, tag_expression="A || C")
    everything = client.pull(mq, 0, tag_expression="*")
    nothing = client.pull(mq, 0, tag_expression="Z")

    assert [m.body for m in only_a.messages] == [b"m0", b"m2"] and only_a.next_offset == 5
    assert [m.body for m in a_or_c.messages] == [b"m0", b"m2", b"m3"]
    assert len(everything.messages) == 5
    assert nothing.status == "NO_MATCHED_MSG" and nothing.messages == [] and nothing.next_offset == 5


def test_offsets_out_of_range_are_offset_illegal_with_the_corrected_offset(client, mq):
    send_bodies(client, mq, [b"a", b"b", b"c"])

    below = client.pull(mq, -1)
    beyond = client.pull(mq, 1000)

    assert below.status == "OFFSET_ILLEGAL" and below.next_offset == 0 and below.messages == []
    assert beyond.status == "OFFSET_ILLEGAL" and beyond.next_offset == 3


def test_an_empty_queue_has_nothing_at_offset_zero(client, mq):
    assert client.pull(mq, 0).status == "NO_NEW_MSG"


def test_long_poll_returns_when_a_message_arrives(client, mq):
    sender = threading.Timer(0.5, lambda: client.send(Message(mq.topic, b"late"), queue=mq))
    sender.start()
    try:
        started = time.monotonic()
        result = client.pull(mq, 0, suspend_ms=10_000)
        waited = time.monotonic() - started
    finally:
        sender.join()
    assert result.status == "FOUND" and [m.body for m in result.messages] == [b"late"]
    assert 0.3 < waited < 8


def test_a_long_poll_with_nothing_to_find_outlasts_its_suspend_time_within_its_timeout(rocketmq_cluster, mq):
    # The broker answers a held pull at its hold service's first check (every 5 s) at or after the
    # suspend time: up to 5 s later. A client timeout of 0.5 s + the suspend time would give up on it.
    client = RocketMQClient(rocketmq_cluster.namesrv_addr, timeout_s=0.5, pool=ConnectionPool())

    started = time.monotonic()
    result = client.pull(mq, 0, suspend_ms=1_000)  # blocking: read under the client's timeout

    assert result.status == "NO_NEW_MSG" and time.monotonic() - started >= 1.0


def test_long_polls_of_several_queues_are_waited_on_together_and_only_the_one_with_news_is_ready(client, topic):
    queues = client.writable_queues(topic)
    calls = [client.start_pull(q, 0, suspend_ms=20_000) for q in queues]
    client.send(Message(topic, b"wake"), queue=queues[2])

    assert wait_any(calls, 15) == [calls[2]]  # well before the 20 s hold: the message woke it
    assert [m.body for m in calls[2].result().messages] == [b"wake"]
    assert not any(call.ready() for call in calls[:2] + calls[3:])
    for call in calls:
        call.cancel()


# ------------------------------------------------------------------------------------------------ offsets

def test_min_and_max_offsets(client, mq):
    assert (client.min_offset(mq), client.max_offset(mq)) == (0, 0)
    send_bodies(client, mq, [b"a", b"b", b"c"])
    assert (client.min_offset(mq), client.max_offset(mq)) == (0, 3)


def test_offset_for_timestamp_finds_the_first_message_stored_at_or_after_it(client, mq):
    send_bodies(client, mq, [b"early-1", b"early-2"])
    time.sleep(0.05)
    boundary = int(time.time() * 1000)
    time.sleep(0.05)
    send_bodies(client, mq, [b"late-1", b"late-2"])

    assert client.offset_for_timestamp(mq, boundary) == 2
    assert client.offset_for_timestamp(mq, 0) == 0
    assert client.offset_for_timestamp(mq, boundary + 3_600_000) == 4


def test_consumer_offsets_update_and_query(client, topic):
    mq, other_mq = client.message_queues(topic)[:2]
    group = unique("group")

    assert client.query_consumer_offset(group, mq) is None
    client.update_consumer_offset(group, mq, 5)  # the group does not exist yet: it is created
    client.update_consumer_offset(group, mq, 7)

    assert client.query_consumer_offset(group, mq) == 7
    assert client.query_consumer_offset(group, other_mq) is None
    assert client.query_consumer_offset(unique("other-group"), mq) is None


# ------------------------------------------------------------------------------------------------- errors

def test_a_missing_topic_is_a_clear_error(client, rocketmq_cluster):
    missing = unique("missing")
    with pytest.raises(TopicNotFoundError, match=f"topic '{missing}' does not exist"):
        client.topic_route(missing)
    with pytest.raises(TopicNotFoundError):
        client.send(Message(missing, b"x"))
    with pytest.raises(TopicNotFoundError):
        client.pull(MessageQueue("any-broker", missing, 0), 0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_closed_port_is_broker_unavailable_and_retriable():
    client = RocketMQClient(f"127.0.0.1:{free_port()}", timeout_s=2, pool=ConnectionPool())

    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError, match="no name server answered") as caught:
        client.topic_route("anything")

    assert isinstance(caught.value, RetriableError) and time.monotonic() - started < 2


def test_the_next_name_server_is_asked_when_the_first_is_down(rocketmq_cluster, topic):
    client = RocketMQClient(f"127.0.0.1:{free_port()};{rocketmq_cluster.namesrv_addr}", pool=ConnectionPool())
    assert len(client.message_queues(topic)) == 4


# ------------------------------------------------------------------------------------------- connections

def test_connections_are_reused_across_calls_and_clients(rocketmq_cluster, topic):
    pool = ConnectionPool()
    client = RocketMQClient(rocketmq_cluster.namesrv_addr, pool=pool)
    mq = client.writable_queues(topic)[0]
    client.send(Message(topic, b"x"), queue=mq)
    [broker_conn] = pool.idle_connections(rocketmq_cluster.broker_addr)
    port = broker_conn.local_port

    for _ in range(5):
        client.pull(mq, 0)
        client.max_offset(mq)
    # a new client (the next warm invocation) on the same pool
    RocketMQClient(rocketmq_cluster.namesrv_addr, pool=pool).pull(mq, 0)

    assert pool.opened == 2  # one to the name server, one to the broker
    assert [c.local_port for c in pool.idle_connections(rocketmq_cluster.broker_addr)] == [port]
    assert broker_conn.requests == 12


class DroppingForwarder:
    """A TCP forwarder in front of the broker that can drop its connections, as a broker restart, an
    idle timeout or a NAT would: ``drop_idle()`` closes them now; ``drop_on_next_request()`` closes a
    connection when its next request arrives, without passing it on."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.server = socket.create_server(("127.0.0.1", 0))
        self.addr = f"127.0.0.1:{self.server.getsockname()[1]}"
        self.sockets: list[socket.socket] = []
        self.drop_next = threading.Event()
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        try:
            while data := src.recv(65536):
                if from_client and self.drop_next.is_set():
                    self.drop_next.clear()
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def drop_idle(self) -> None:
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def drop_on_next_request(self) -> None:
        self.drop_next.set()

    def close(self) -> None:
        self.server.close()
        self.drop_idle()


@pytest.fixture
def forwarded(rocketmq_cluster):
    """A client whose broker connections pass through a DroppingForwarder."""
    forwarder = DroppingForwarder(rocketmq_cluster.broker_addr)

    def opener(addr: str, timeout_s: float) -> Connection:
        return Connection.open(forwarder.addr if addr == rocketmq_cluster.broker_addr else addr, timeout_s)

    pool = ConnectionPool(opener=opener)
    yield RocketMQClient(rocketmq_cluster.namesrv_addr, pool=pool), pool, forwarder
    forwarder.close()


def test_a_connection_dropped_while_idle_is_replaced(forwarded, topic):
    client, pool, forwarder = forwarded
    mq = client.writable_queues(topic)[0]
    client.send(Message(topic, b"before"), queue=mq)

    forwarder.drop_idle()
    time.sleep(0.2)
    client.send(Message(topic, b"after"), queue=mq)

    assert [m.body for m in client.pull(settled(client, mq, 2), 0).messages] == [b"before", b"after"]
    assert forwarder.accepted == 2


def test_a_connection_dropped_during_a_request_is_retried_once_on_a_new_one(forwarded, topic):
    client, pool, forwarder = forwarded
    mq = client.writable_queues(topic)[0]
    client.send(Message(topic, b"first"), queue=mq)
    settled(client, mq, 1)

    forwarder.drop_on_next_request()
    result = client.pull(mq, 0)

    assert [m.body for m in result.messages] == [b"first"]
    assert forwarder.accepted == 2 and pool.opened == 3  # name server, broker, broker again


def test_a_local_mode_proxy_serves_routes_but_forwards_no_broker_request(rocketmq_cluster, topic):
    """The harness's proxy runs in Local mode: its remoting port answers routes (naming its gRPC port)
    and refuses everything it would forward. A Cluster-mode proxy forwards by broker name."""
    client = RocketMQClient(rocketmq_cluster.proxy_remoting, pool=ConnectionPool(), via_proxy=True)
    mq = client.message_queues(topic)[0]

    with pytest.raises(RocketMQError, match="not implemented in LocalMessageService"):
        client.max_offset(mq)
