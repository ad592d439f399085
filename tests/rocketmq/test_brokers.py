"""The real brokers themselves (connect_core.rocketmq.broker): two clusters on loopback, topics and
their queues, independence, a message through the proxy's gRPC endpoint with the official client,
the CLI's bookkeeping, clear errors, and nothing left running after stop()."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from connect_core.rocketmq import broker
from connect_core.rocketmq.broker import BrokerStartError, RemotingError, RocketMQCluster, RocketMQUnavailable

pytestmark = pytest.mark.rocketmq

LOOPBACK_ADDRESSES = {"127.0.0.1", "::ffff:127.0.0.1"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def port_of(endpoint: str) -> int:
    host, _, port = endpoint.rpartition(":")
    assert host == "127.0.0.1", endpoint
    return int(port)


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a listening TCP socket on ``port``, from /proc/net/tcp and tcp6."""
    found = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        path = Path("/proc/net") / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # host-order 32-bit words
            found.add(socket.inet_ntop(family, words))
    return found


def queue_counts(route: dict) -> list[tuple[str, int, int]]:
    return [(q["brokerName"], q["readQueueNums"], q["writeQueueNums"]) for q in route["queueDatas"]]


# --- clusters -----------------------------------------------------------------------------------

def test_two_clusters_start_with_every_endpoint_on_loopback(rocketmq_clusters):
    a, b = rocketmq_clusters["A"], rocketmq_clusters["B"]
    endpoints = [getattr(c, e) for c in (a, b) for e in ("namesrv_addr", "broker_addr", "proxy_grpc", "proxy_remoting")]

    ports = [port_of(e) for e in endpoints]

    assert len(set(ports)) == len(ports)
    for port in ports:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    if Path("/proc/net/tcp").exists():  # the name server and broker bind loopback only
        for cluster in (a, b):
            for endpoint in (cluster.namesrv_addr, cluster.broker_addr):
                assert listening_addresses(port_of(endpoint)) <= LOOPBACK_ADDRESSES, endpoint
    assert all(c.running and set(c.pids) == {"namesrv", "proxy"} for c in (a, b))


def test_the_broker_is_registered_under_its_cluster_and_broker_names(rocketmq_cluster):
    route = rocketmq_cluster.topic_route(rocketmq_cluster.cluster_name)

    [broker_data] = route["brokerDatas"]
    assert broker_data["cluster"] == rocketmq_cluster.cluster_name
    assert broker_data["brokerName"] == rocketmq_cluster.broker_name
    assert broker_data["brokerAddrs"] == {"0": rocketmq_cluster.broker_addr}


def test_the_clusters_are_independent(rocketmq_clusters):
    a, b = rocketmq_clusters["A"], rocketmq_clusters["B"]
    topic = unique("only-on-a")

    a.create_topic(topic, queues=2)

    assert queue_counts(a.topic_route(topic)) == [(a.broker_name, 2, 2)]
    assert b.topic_route(topic) is None and b.topic_config(topic) is None
    assert (a.cluster_name, a.broker_name) != (b.cluster_name, b.broker_name)
    assert a.dir != b.dir and not set(a.pids.values()) & set(b.pids.values())


# --- topics -------------------------------------------------------------------------------------

def test_a_topic_is_created_and_its_queues_raised(rocketmq_cluster):
    topic = unique("orders")

    rocketmq_cluster.create_topic(topic, queues=4)
    created = queue_counts(rocketmq_cluster.topic_route(topic))
    rocketmq_cluster.update_topic_queues(topic, 8)

    assert created == [(rocketmq_cluster.broker_name, 4, 4)]
    assert queue_counts(rocketmq_cluster.topic_route(topic)) == [(rocketmq_cluster.broker_name, 8, 8)]
    config = rocketmq_cluster.topic_config(topic)
    assert (config["readQueueNums"], config["writeQueueNums"], config["perm"]) == (8, 8, 6)


def test_a_message_type_is_kept_when_queues_change(rocketmq_cluster):
    topic = unique("fifo")

    rocketmq_cluster.create_topic(topic, queues=2, message_type="fifo")
    rocketmq_cluster.update_topic_queues(topic, 3)

    config = rocketmq_cluster.topic_config(topic)
    assert config["attributes"] == {"message.type": "FIFO"} and config["writeQueueNums"] == 3


def test_the_broker_explains_what_it_refuses(rocketmq_cluster):
    with pytest.raises(RemotingError, match="illegal characters") as refused:
        rocketmq_cluster.create_topic("no spaces allowed")
    assert refused.value.code and refused.value.remark

    with pytest.raises(RemotingError, match="does not exist"):
        rocketmq_cluster.update_topic_queues(unique("missing"), 8)
    with pytest.raises(ValueError, match="message_type"):
        rocketmq_cluster.create_topic(unique("t"), message_type="URGENT")


def test_mqadmin_runs_against_the_cluster(rocketmq_cluster):
    topic = unique("listed")
    rocketmq_cluster.create_topic(topic, queues=1)

    assert topic in rocketmq_cluster.mqadmin("topicList").split()


# --- a message through the proxy's gRPC endpoint ------------------------------------------------

@pytest.fixture(scope="module")
def rocketmq_client(tmp_path_factory):
    """The official 5.x client. It makes $HOME/logs/rocketmq_python/ at import: give it a temporary HOME."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(tmp_path_factory.mktemp("client-home")))
        import rocketmq
    return rocketmq


def receive(consumer, count: int, timeout: float = 30.0) -> list:
    """Receive and ack until ``count`` messages came. The first receive may be refused while the proxy
    is still registering the consumer's settings (startup() does not wait for that): retry it."""
    received, failure = [], None
    deadline = time.monotonic() + timeout
    while len(received) < count and time.monotonic() < deadline:
        try:
            messages = consumer.receive(16, 15)
        except Exception as exc:  # noqa: BLE001 - the client raises plain and internal errors alike
            failure = exc
            time.sleep(0.5)
            continue
        for message in messages:
            consumer.ack(message)
            received.append(message)
    assert len(received) >= count, f"received {len(received)} of {count} (last error: {failure!r})"
    return received


def test_a_message_goes_through_the_proxy_grpc_endpoint_and_back(rocketmq_cluster, rocketmq_client):
    mq = rocketmq_client
    topic, group = unique("grpc"), unique("readers")
    rocketmq_cluster.create_topic(topic, queues=2)
    rocketmq_cluster.create_consumer_group(group)
    config = mq.ClientConfiguration(rocketmq_cluster.proxy_grpc, mq.Credentials(), request_timeout=10)

    producer = mq.Producer(config, (topic,), tls_enable=False)
    producer.startup()
    try:
        message = mq.Message()
        message.topic, message.body, message.tag = topic, b"\x00hello\xff", "greeting"
        message.keys = "key-1"
        receipt = producer.send(message)
    finally:
        producer.shutdown()
    consumer = mq.SimpleConsumer(config, group, {topic: mq.FilterExpression("greeting")}, await_duration=3,
                                 tls_enable=False)
    consumer.startup()
    try:
        [got] = receive(consumer, 1)
    finally:
        consumer.shutdown()

    assert (got.topic, got.body, got.tag, got.keys) == (topic, b"\x00hello\xff", "greeting", {"key-1"})
    assert got.message_id == receipt.message_id


# --- the CLI's records --------------------------------------------------------------------------

def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "connect_core.rocketmq.broker", *args],
                          capture_output=True, text=True, timeout=60)


def test_status_lists_the_recorded_clusters(rocketmq_clusters):
    workdir = rocketmq_clusters.state_file.parent
    recorded = json.loads(rocketmq_clusters.state_file.read_text())["clusters"]

    status = run_cli("status", "--workdir", str(workdir))

    assert status.returncode == 0, status.stdout + status.stderr
    assert recorded["A"]["proxy_grpc"] == rocketmq_clusters["A"].proxy_grpc
    assert recorded["B"]["pids"] == rocketmq_clusters["B"].pids
    for name in ("A", "B"):
        assert f"grpc {rocketmq_clusters[name].proxy_grpc}" in status.stdout


def test_down_signals_only_recorded_pids_that_are_still_our_java_processes(tmp_path):
    # GIVEN a record whose PID now belongs to some other process
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        marker = f"-Duser.home={tmp_path / 'A'}"
        (tmp_path / "clusters.json").write_text(json.dumps({"version": broker.ROCKETMQ_VERSION, "clusters": {
            "A": {"namesrv_addr": "127.0.0.1:1", "broker_addr": "127.0.0.1:2", "proxy_grpc": "127.0.0.1:3",
                  "proxy_remoting": "127.0.0.1:4", "cluster_name": "ClusterA", "broker_name": "broker-a",
                  "pids": {"namesrv": stranger.pid}, "dir": str(tmp_path / "A"), "marker": marker}}}))

        # WHEN status and down run
        status = run_cli("status", "--workdir", str(tmp_path))
        down = run_cli("down", "--workdir", str(tmp_path))

        # THEN the stranger is reported gone, left alone, and the record is removed
        assert status.returncode == 3 and f"namesrv {stranger.pid} (gone)" in status.stdout
        assert down.returncode == 0 and "stopped 0" in down.stdout
        assert stranger.poll() is None
        assert not (tmp_path / "clusters.json").exists()
    finally:
        stranger.kill()
        stranger.wait()


# --- errors and stopping ------------------------------------------------------------------------

def test_missing_java_or_maven_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)

    with pytest.raises(RocketMQUnavailable, match="`java` is not on PATH"):
        broker.find_java()
    with pytest.raises(RocketMQUnavailable, match="`mvn` is not on PATH"):
        broker.resolve_jars("0.0.0-not-cached", cache_dir=tmp_path)


def test_a_broker_that_does_not_come_up_shows_its_log(rocketmq_clusters, tmp_path):
    cluster = RocketMQCluster("broken", tmp_path, jvm_options=("-XX:+NoSuchOption",))

    with pytest.raises(BrokerStartError) as failed:
        cluster.start()

    assert "namesrv of cluster broken exited" in str(failed.value)
    assert "Unrecognized VM option 'NoSuchOption'" in str(failed.value)  # the JVM's own words, from the log
    assert cluster.live_pids() == []


def test_stop_leaves_no_java_process_behind(rocketmq_clusters, tmp_path):
    cluster = RocketMQCluster("S", tmp_path).start()
    pids = cluster.pids
    assert cluster.live_pids() == sorted(pids.values())

    stopped = cluster.stop()

    assert sorted(stopped) == sorted(pids.values())
    assert cluster.live_pids() == [] and not cluster.running
    for pid in pids.values():
        assert not Path(f"/proc/{pid}").exists() or broker._command_line(pid) == []
    assert all(c.running for c in rocketmq_clusters)  # the session's clusters were not touched
