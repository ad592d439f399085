"""Secured clusters: TLS enforced on every port and ACL 2.0 on, real 5.5.0 brokers (``secure_clusters``).

The client verifies the brokers' certificate against the session's CA, signs every request, and
says clearly - naming the cluster, the request and the reason, never a secret - why a cluster
refused it. The Replicator copies A to B with a user that may only read the source topic and
write the target topic, its keys resolved from SSM parameters on the embedded AWS endpoint."""

from __future__ import annotations

import threading
import uuid

import pytest

from connect_core import aws
from connect_core.config import validate_config
from connect_core.config.secrets import clear_cache
from connect_core.connectors.rocketmq import client_for
from connect_core.rocketmq import (AuthenticationError, Message, PermissionDeniedError, RocketMQClient, TlsError,
                                   TlsRequiredError)
from connect_core.rocketmq.broker import make_ca
from connect_core.rocketmq.codes import RequestCode
from connect_core.rocketmq.connection import ConnectionPool
from connect_core.rocketmq.protocol import RemotingCommand
from connect_core.rocketmq.security import Credentials, Security, Tls
from connect_core.runtime.source_runner import SourceRunner
from connect_core.storage import Stores

pytestmark = [pytest.mark.rocketmq, pytest.mark.integration]

FOREVER = lambda: 600_000  # noqa: E731


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def secured(secure_clusters):
    return secure_clusters["A"], secure_clusters["B"], secure_clusters.secure_setup


@pytest.fixture
def topic(secured):
    a, b, _ = secured
    name = unique("secure")
    for cluster in (a, b):
        cluster.create_topic(name, queues=2)
    return name


def admin_client(cluster, setup) -> RocketMQClient:
    return client_for(cluster.namesrv_addr, setup.admin_security(), cluster=cluster.name)


def produce(cluster, setup, topic: str, count: int, first: int = 0) -> list[Message]:
    """Messages ``first`` .. ``first + count - 1`` (property ``order``), sent to A and visible there."""
    client = admin_client(cluster, setup)
    sent = []
    for i in range(first, first + count):
        message = Message(topic=topic, body=bytes([i, 0, 255]) + f"secret-cargo-{i}".encode() + bytes(range(i % 5)),
                          tags=f"t{i % 2}", keys=[f"k-{i}"], properties={"order": str(i), "région": "A"},
                          born_timestamp=1_700_000_000_000 + i)
        client.send(message)
        sent.append(message)
    client.wait_for_messages(topic, first + count)
    return sent


def put_secret(value: str) -> str:
    name = f"/connect/test/{uuid.uuid4().hex[:10]}"
    aws.client("ssm").put_parameter(Name=name, Value=value, Type="SecureString")
    return f"ssm:{name}"


def replicator(a, b, setup, topic: str, polling: str) -> tuple[dict, Stores, str]:
    """A stored replicator config A -> B for ``topic``, with a user that may only read it on A and
    write it on B, its keys resolved from SSM; and that user's password."""
    user, password = unique("repl"), f"pw-{uuid.uuid4().hex}"
    for cluster in (a, b):
        cluster.create_user(user, password)
    a.grant_replication(user, read_topics=[topic], groups=["CONNECT_PULL"])
    b.grant_replication(user, write_topics=[topic])
    clear_cache()
    refs = {"access_key": put_secret(user), "secret_key": put_secret(password)}
    side = {"tls": True, "tls_ca_file": str(setup.ca_cert), **refs}
    config = {"name": unique("repl"), "connector": "rocketmq-replicator", "topics": [topic], "max_tasks": 1,
              "polling": polling,
              "source_cluster": {"name": "A", "namesrv_addr": a.namesrv_addr, **side},
              "target_cluster": {"name": "B", "namesrv_addr": b.namesrv_addr, **side}}
    stores = Stores.in_memory()
    stores.configs.put_connector(config["name"], config)
    stores.configs.put_task_configs(config["name"], validate_config(config).task_configs(1), generation=1)
    return config, stores, password


def test_replication_over_tls_with_a_least_privilege_user_is_byte_identical(secured, topic, embedded_aws):
    # GIVEN a user that may read the topic on A and write it on B, and nothing else
    a, b, setup = secured
    sent = produce(a, setup, topic, 12)
    config, stores, password = replicator(a, b, setup, topic, "drain")

    # WHEN one tick replicates
    result = SourceRunner(stores, owner=unique("tick")).tick(config["name"], 0, FOREVER)

    # THEN B holds the same messages, byte for byte
    assert (result.outcome, result.published) == ("ran", 12), result.error
    copies = admin_client(b, setup)
    copies.wait_for_messages(topic, 12)
    by_order = {m.properties["order"]: m for m in copies.read_all(topic)}
    assert len(by_order) == 12
    for i, original in enumerate(sent):
        copy = by_order[str(i)]
        assert copy.body == original.body and copy.tags == original.tags and copy.keys == original.keys
        assert copy.born_timestamp == original.born_timestamp and copy.properties["région"] == "A"
    assert password not in repr(validate_config(config).config) and password not in str(config)  # only references


def test_continuous_replication_over_tls_copies_what_arrives_while_it_long_polls(secured, topic, embedded_aws):
    # GIVEN a continuous replicator over TLS, running, that has copied a first batch and is idle
    a, b, setup = secured
    config, stores, _ = replicator(a, b, setup, topic, "continuous")
    stop = threading.Event()
    results = []
    tick = threading.Thread(target=lambda: results.append(SourceRunner(stores, owner=unique("tick")).tick(
        config["name"], 0, lambda: 0 if stop.is_set() else 600_000)), daemon=True)
    sent = produce(a, setup, topic, 6)
    copies = admin_client(b, setup)
    tick.start()
    try:
        copies.wait_for_messages(topic, 6, timeout_s=60)

        # WHEN more messages arrive on A while its queues are long-polled
        sent += produce(a, setup, topic, 6, first=6)

        # THEN the replicator copies them too, byte for byte
        copies.wait_for_messages(topic, 12, timeout_s=60)
    finally:
        stop.set()
        tick.join(timeout=60)
    assert not tick.is_alive(), "the continuous tick did not end once its time was up"
    (result,) = results
    assert (result.outcome, result.published) == ("ran", 12), result.error
    by_order = {m.properties["order"]: m for m in copies.read_all(topic)}
    assert len(by_order) == 12
    for original in sent:
        copy = by_order[original.properties["order"]]
        assert copy.body == original.body and copy.keys == original.keys
        assert copy.born_timestamp == original.born_timestamp


def test_a_request_without_credentials_is_refused_as_unauthenticated(secured, topic):
    a, _, setup = secured
    client = RocketMQClient(a.namesrv_addr, security=Security(tls=setup.tls()), cluster="A")

    with pytest.raises(AuthenticationError) as info:
        client.max_offset(client.message_queues(topic)[0])

    text = str(info.value)
    assert "cluster 'A'" in text and "GET_MAX_OFFSET(30)" in text and a.broker_addr in text
    assert "username cannot be null" in text and "no credentials" in text


def test_a_wrong_secret_is_a_signature_mismatch_and_the_secret_is_never_shown(secured, topic):
    a, _, setup = secured
    wrong = "wrong-secret-" + uuid.uuid4().hex
    client = RocketMQClient(a.namesrv_addr, cluster="A",
                            security=Security(tls=setup.tls(), credentials=Credentials("admin", wrong)))

    with pytest.raises(AuthenticationError) as info:
        client.send(Message(topic, b"x"))

    text = str(info.value)
    assert "SEND_MESSAGE_V2(310)" in text and "check signature failed" in text and "access key 'admin'" in text
    assert wrong not in text and wrong not in repr(info.value) and wrong not in repr(client)
    assert setup.admin.secret_key not in text


def test_a_user_lacking_a_permission_gets_an_error_naming_it(secured, topic):
    a, _, setup = secured
    user, password = unique("reader"), uuid.uuid4().hex
    a.create_user(user, password)
    a.grant(user, [f"Topic:{topic}"], ["Sub", "Get"])  # may read, not write
    client = RocketMQClient(a.namesrv_addr, cluster="A",
                            security=Security(tls=setup.tls(), credentials=Credentials(user, password)))
    assert client.max_offset(client.message_queues(topic)[0]) >= 0  # reading is allowed

    with pytest.raises(PermissionDeniedError) as info:
        client.send(Message(topic, b"not allowed"))

    text = str(info.value)
    assert f"User:{user} has no permission to access Topic:{topic}" in text
    assert "needs Pub on the topic" in text and password not in text


def test_plaintext_to_the_tls_only_name_server_says_tls_may_be_required(secured):
    a, _, _ = secured

    with pytest.raises(TlsRequiredError) as info:
        RocketMQClient(a.namesrv_addr).topic_route(a.cluster_name)

    assert "the server may require TLS" in str(info.value) and a.namesrv_addr in str(info.value)


def test_plaintext_to_the_tls_only_broker_says_tls_may_be_required(secured, topic):
    a, _, _ = secured
    pool = ConnectionPool()

    with pytest.raises(TlsRequiredError) as info:
        pool.request(a.broker_addr, RemotingCommand.request(RequestCode.GET_MAX_OFFSET,
                                                            {"topic": topic, "queueId": 0}), 5.0)

    assert "may require TLS" in str(info.value) and a.broker_addr in str(info.value)


def test_tls_with_an_unknown_ca_fails_verification_clearly(secured, tmp_path):
    a, _, _ = secured
    other_ca = make_ca(tmp_path / "other.key", tmp_path / "other.pem", "some other CA")
    client = RocketMQClient(a.namesrv_addr, cluster="A", security=Security(tls=Tls(ca_file=str(other_ca))))

    with pytest.raises(TlsError) as info:
        client.topic_route(a.cluster_name)

    text = str(info.value)
    assert "certificate verify failed" in text and str(other_ca) in text and "cluster 'A'" in text


def test_tls_verifies_the_host_name(secured):
    a, _, setup = secured
    client = RocketMQClient(a.namesrv_addr, security=Security(tls=Tls(ca_file=str(setup.ca_cert),
                                                                      server_name="broker.example.com")))

    with pytest.raises(TlsError, match="Hostname mismatch.*broker.example.com"):
        client.topic_route(a.cluster_name)


def test_the_name_server_answers_routes_without_credentials_over_tls(secured, topic):
    # A fact of 5.5.0 the docs rely on: the name server checks no ACL; only brokers (and proxies) do.
    a, _, setup = secured
    route = RocketMQClient(a.namesrv_addr, security=Security(tls=setup.tls())).topic_route(topic)
    assert route.readable_queues


def test_the_official_grpc_client_sends_with_credentials_over_tls(secured, topic, tmp_path, monkeypatch):
    pytest.importorskip("rocketmq", reason="the proxy extra (rocketmq-python-client) is not installed")
    from connect_core.rocketmq.errors import SendFailedError
    from connect_core.rocketmq.proxy import ProxyProducer

    a, _, setup = secured
    monkeypatch.delenv("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", raising=False)  # gRPC's default roots: public CAs only
    monkeypatch.setenv("HOME", str(tmp_path))
    user, password = unique("grpc"), uuid.uuid4().hex
    a.create_user(user, password)
    a.grant(user, [f"Topic:{topic}"], ["Pub"])

    # gRPC's default roots do not trust the session's CA: the same producer without it cannot connect
    untrusting = ProxyProducer(a.proxy_grpc, [topic], tls=True, credentials=Credentials(user, password),
                               sleep=lambda s: None)
    try:
        with pytest.raises(SendFailedError, match="route"):
            untrusting.send(Message(topic, b"never sent"))
    finally:
        untrusting.shutdown()

    # ... with tls_ca_file's CA it verifies the proxy's certificate and sends
    producer = ProxyProducer(a.proxy_grpc, [topic], tls=setup.tls(), credentials=Credentials(user, password),
                             sleep=lambda s: None)
    try:
        producer.send(Message(topic, b"via the proxy"))
    finally:
        producer.shutdown()
    bodies = [m.body for m in admin_client(a, setup).read_all(topic)]
    assert bodies == [b"via the proxy"]

    reader, reader_pw = unique("grpc-reader"), uuid.uuid4().hex
    a.create_user(reader, reader_pw)
    a.grant(reader, [f"Topic:{topic}"], ["Sub"])  # may look the topic up, not write it
    denied = ProxyProducer(a.proxy_grpc, [topic], tls=setup.tls(), credentials=Credentials(reader, reader_pw),
                           sleep=lambda s: None)
    try:
        with pytest.raises(SendFailedError, match=f"User:{reader} has no permission"):
            denied.send(Message(topic, b"refused"))
    finally:
        denied.shutdown()
