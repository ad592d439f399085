"""ACL 1.0: users and permissions from ``plain_acl.yml``, against a real 5.5.0 broker.

5.3+ brokers have no ACL 1.0 engine: they read plain_acl.yml once, at first start
(``migrateAuthFromV1Enabled=true``), into ACL 2.0 users and policies. What a client sees is ACL 1.0's:
the accounts' access and secret keys, requests signed as ``AclClientRPCHook`` signs them, PUB and SUB
per topic and group. One plaintext cluster (TLS is tested with ACL 2.0), started only for this module."""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest

from connect_core.rocketmq import AuthenticationError, Message, PermissionDeniedError, RocketMQClient
from connect_core.rocketmq.broker import PlainAclAccount, RocketMQClusters, Secured
from connect_core.rocketmq.security import Credentials, Security

pytestmark = [pytest.mark.rocketmq, pytest.mark.integration]

TOPIC, GROUP = "acl1-orders", "acl1-readers"
WRITER = PlainAclAccount("acl1-writer", "writer-" + uuid.uuid4().hex, topic_perms={TOPIC: "PUB"})
READER = PlainAclAccount("acl1-reader", "reader-" + uuid.uuid4().hex, topic_perms={TOPIC: "SUB"},
                         group_perms={GROUP: "SUB"})


@pytest.fixture(scope="module")
def acl1(start_clusters, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RocketMQClusters]:
    for clusters in start_clusters(("V1",), tmp_path_factory.mktemp("rocketmq-acl1"),
                                     secure=Secured(tls=False, acl="1.0", accounts=(WRITER, READER))):
        clusters["V1"].create_topic(TOPIC, queues=1)  # signed by plain_acl.yml's admin account
        yield clusters


def client(clusters: RocketMQClusters, credentials: Credentials) -> RocketMQClient:
    return RocketMQClient(clusters["V1"].namesrv_addr, cluster="V1", security=Security(credentials=credentials))


def test_plain_acl_accounts_write_and_read_with_their_keys(acl1):
    # GIVEN a writer with PUB on the topic and a reader with SUB on the topic and its group
    writer, reader = client(acl1, WRITER.credentials), client(acl1, READER.credentials)
    queue = writer.message_queues(TOPIC)[0]
    body = b"signed the ACL 1.0 way " + uuid.uuid4().bytes

    # WHEN the writer sends and the reader pulls from the first offset
    sent = writer.send(Message(TOPIC, body), queue=queue)
    pulled = reader.pull(queue, 0, max_messages=32, consumer_group=GROUP)

    # THEN the message is there
    assert sent.status == "SEND_OK"
    assert body in [m.body for m in pulled.messages]


def test_a_wrong_secret_key_is_refused_and_never_shown(acl1):
    wrong = "not-the-secret-" + uuid.uuid4().hex
    writer = client(acl1, Credentials(WRITER.access_key, wrong))

    with pytest.raises(AuthenticationError) as info:
        writer.send(Message(TOPIC, b"x"))

    text = f"{info.value} {info.value!r}"
    assert "check signature failed" in text and f"access key {WRITER.access_key!r}" in text
    assert "cluster 'V1'" in text and "SEND_MESSAGE_V2(310)" in text
    assert wrong not in text and WRITER.secret_key not in text


def test_an_account_without_pub_on_the_topic_cannot_send(acl1):
    reader = client(acl1, READER.credentials)

    with pytest.raises(PermissionDeniedError) as info:
        reader.send(Message(TOPIC, b"not allowed"))

    text = str(info.value)
    assert f"User:{READER.access_key} has no permission to access Topic:{TOPIC}" in text
    assert "needs Pub on the topic" in text and READER.secret_key not in text


def test_sub_does_not_grant_reading_offsets_on_5_3_and_later(acl1):
    # A 5.5.0 fact the docs rely on: GET_MAX_OFFSET needs ACL 2.0's Get, which no ACL 1.0 permission
    # word migrates to, so an ACL 1.0 reader needs a Get grant on top to find where a queue ends.
    reader = client(acl1, READER.credentials)

    with pytest.raises(PermissionDeniedError) as info:
        reader.max_offset(reader.message_queues(TOPIC)[0])

    assert "GET_MAX_OFFSET(30)" in str(info.value) and "needs Get on the topic" in str(info.value)
