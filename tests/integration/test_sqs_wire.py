"""Records survive a real SQS round trip (SendMessageBatch -> ReceiveMessage) on the endpoint."""

import uuid

import pytest

from connect_core import aws
from connect_core.runtime.pipeline import Message
from connect_core.runtime.wire import batches, from_sqs, to_sqs_entry

pytestmark = pytest.mark.integration


def test_batch_send_and_receive_preserves_every_field(embedded_aws):
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=f"wire-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sent = [Message(b'{"n": %d}' % i if i % 3 else bytes([0, 255, i]), f"k{i}".encode(), "orders",
                    {f"h{j}": str(j) for j in range(12)}, {"p": i % 2}, {"seq": i}, 1_700_000_000_000 + i)
            for i in range(25)]
    sent.append(Message(None, b"gone", "orders", {}, {"p": 0}, {"seq": 99}))

    for batch in batches([to_sqs_entry(m, str(i)) for i, m in enumerate(sent)]):
        response = sqs.send_message_batch(QueueUrl=url, Entries=batch)
        assert not response.get("Failed")

    received = []
    while len(received) < len(sent):
        response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                       AttributeNames=["ApproximateReceiveCount"])
        for item in response.get("Messages", []):
            received.append(from_sqs(item["Body"], item.get("MessageAttributes", {}), item["MessageId"],
                                     int(item["Attributes"]["ApproximateReceiveCount"])))

    def fields(m):
        return (m.value, m.key, m.topic, m.headers, m.partition, m.offset, m.timestamp)

    assert sorted(map(fields, received), key=repr) == sorted(map(fields, sent), key=repr)
