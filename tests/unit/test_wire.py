"""Records as SQS messages: every field survives, whatever the bytes, within SQS's limits."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_core.runtime.pipeline import Message
from connect_core.runtime.wire import (
    MAX_MESSAGE_BYTES,
    MessageTooLargeError,
    batches,
    entry_size,
    from_lambda_record,
    from_sqs,
    to_sqs_entry,
)

json_scalars = st.one_of(st.integers(-2**53, 2**53), st.text(max_size=20), st.booleans())
messages = st.builds(
    Message,
    value=st.one_of(st.none(), st.binary(max_size=300), st.text(max_size=300).map(str.encode)),
    key=st.one_of(st.none(), st.binary(max_size=40), st.text(max_size=40).map(str.encode)),
    topic=st.one_of(st.none(), st.text(min_size=1, max_size=20)),
    headers=st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=20), max_size=15),
    partition=st.dictionaries(st.text(min_size=1, max_size=8), json_scalars, max_size=3),
    offset=st.dictionaries(st.text(min_size=1, max_size=8), json_scalars, max_size=2),
    timestamp=st.one_of(st.none(), st.integers(0, 2**45)),
)


def as_lambda_record(entry, message_id="m-1", receive_count="1"):
    """The shape the SQS event source mapping hands a function (lower-case attribute keys)."""
    return {
        "messageId": message_id,
        "body": entry["MessageBody"],
        "attributes": {"ApproximateReceiveCount": receive_count},
        "messageAttributes": {name: {"stringValue": a["StringValue"], "dataType": a["DataType"]}
                              for name, a in entry["MessageAttributes"].items()},
    }


@settings(max_examples=150, deadline=None)
@given(messages)
def test_every_field_round_trips_through_the_lambda_event_shape(message):
    entry = to_sqs_entry(message, "0")

    back = from_lambda_record(as_lambda_record(entry))

    assert (back.value, back.key, back.topic, back.headers, back.timestamp) == (
        message.value, message.key, message.topic, message.headers, message.timestamp)
    if message.partition:
        assert (back.partition, back.offset) == (message.partition, message.offset)
    assert back.id == "m-1" and back.attempts == 1


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=200))
def test_bodies_are_always_sqs_legal_text(data):
    body = to_sqs_entry(Message(data), "0")["MessageBody"]
    assert body and all(c in "\t\n\r" or " " <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or c >= "\U00010000"
                        for c in body)


def test_text_values_travel_as_readable_bodies():
    entry = to_sqs_entry(Message(b'{"order": 1}', b"k1", "orders"), "0")
    assert entry["MessageBody"] == '{"order": 1}'
    assert entry["MessageAttributes"]["connect.encoding"]["StringValue"] == "utf-8"


def test_tombstones_and_empty_values_are_told_apart():
    tombstone = from_sqs(**_receive(to_sqs_entry(Message(None, b"k"), "0")))
    empty = from_sqs(**_receive(to_sqs_entry(Message(b"", b"k"), "0")))
    assert tombstone.value is None and empty.value == b""


def test_a_plain_sqs_message_is_a_bare_value_with_attributes_as_headers():
    record = {"messageId": "x", "body": "hello", "attributes": {"ApproximateReceiveCount": "3"},
              "messageAttributes": {"source": {"stringValue": "web", "dataType": "String"}}}

    message = from_lambda_record(record)

    assert (message.value, message.key, message.headers, message.attempts) == (b"hello", None, {"source": "web"}, 3)


def test_too_large_records_are_refused_with_their_position():
    with pytest.raises(MessageTooLargeError, match="offset {'n': 7}"):
        to_sqs_entry(Message(b"x" * MAX_MESSAGE_BYTES, topic="t", partition={"p": 0}, offset={"n": 7}), "0")


def test_batches_respect_the_entry_count_and_size_limits():
    entries = [to_sqs_entry(Message(b"x" * 60_000), str(i)) for i in range(12)]

    grouped = list(batches(entries))

    assert [e["Id"] for b in grouped for e in b] == [str(i) for i in range(12)]
    assert all(len(b) <= 10 and sum(map(entry_size, b)) <= MAX_MESSAGE_BYTES for b in grouped)
    assert [len(b) for b in grouped] == [4, 4, 4]
    assert [len(b) for b in batches([to_sqs_entry(Message(b"x"), str(i)) for i in range(23)])] == [10, 10, 3]


def _receive(entry):
    return {"body": entry["MessageBody"], "attributes": entry["MessageAttributes"]}
