"""sqs-sink against real queues on the embedded endpoint: batching and its limits, headers as typed
attributes, FIFO groups and deduplication, per-record failures, and the sink runner around it."""

from __future__ import annotations

from typing import Any

import pytest
from functions_support import load_event
from sqs_support import deliver

from connect_core import aws
from connect_core.api import ConnectRecord, SinkRecordErrors, TaskContext
from connect_core.config import validate_config
from connect_core.connectors.sqs import SqsRecordError
from connect_core.errors import RetriableError
from connect_core.runtime.pipeline import Message
from connect_core.runtime.sink_runner import SinkRunner
from connect_core.runtime.targets import SqsPublisher
from connect_core.testing import dead_letters, deploy, drain, receive_event

pytestmark = pytest.mark.integration


def sink_task(queue, **options):
    connector = validate_config({"name": "to-sqs", "connector": "sqs-sink", "queue": queue.url, **options})
    task = connector.task_class(connector.config, {}, TaskContext("to-sqs", 0))
    task.sleep = lambda seconds: None
    task.start()
    return task


def record(value: Any, n: int = 0, key: Any = None, headers: dict | None = None, **changes: Any) -> ConnectRecord:
    return ConnectRecord(topic="orders", value=value, key=key, partition={"file": "a"}, offset={"line": n},
                         headers=headers or {}, **changes)


class SendCalls:
    """The SendMessageBatch calls the endpoint answered (observed, not altered)."""

    def __init__(self) -> None:
        self.calls: list[list[dict]] = []
        self.events = aws.client("sqs").meta.events

    def __enter__(self) -> "SendCalls":
        self.events.register("provide-client-params.sqs.SendMessageBatch", self._seen, unique_id="send-calls")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.events.unregister("provide-client-params.sqs.SendMessageBatch", unique_id="send-calls")

    def _seen(self, params: dict, **kwargs: Any) -> None:
        self.calls.append(params["Entries"])


def test_records_go_out_in_batches_of_ten_within_the_size_limit(make_queue):
    queue = make_queue()
    task = sink_task(queue)
    small = [record(f"order {i}", i) for i in range(25)]
    large = [record("x" * 100_000, 100 + i) for i in range(5)]

    with SendCalls() as sent:
        task.put(small)
        task.put(large)

    assert [len(c) for c in sent.calls] == [10, 10, 5, 2, 2, 1]
    assert all(sum(len(e["MessageBody"]) for e in call) <= 256 * 1024 for call in sent.calls)
    bodies = sorted(m["Body"] for m in drain(queue.url))
    assert bodies == sorted([f"order {i}" for i in range(25)] + ["x" * 100_000] * 5)


def test_values_become_bodies_and_headers_typed_attributes(make_queue):
    queue = make_queue()
    task = sink_task(queue, key_attribute="order-key")
    task.put([
        record({"id": 7, "total": 12.5}, 0, key="k7", headers={"tenant": "acme", "empty": ""}),
        record(b"\x00\xffbinary", 1),
        record("", 2),
        record("plain text", 3, headers={"amount": "42", "blob": "AAE=",
                                         "sqs.attribute_types": '{"amount":"Number","blob":"Binary"}',
                                         "sqs.message_id": "m-1"}),
    ])

    got = {m["Body"]: m.get("MessageAttributes", {}) for m in drain(queue.url)}

    assert got['{"id":7,"total":12.5}'] == {"tenant": {"DataType": "String", "StringValue": "acme"},
                                            "order-key": {"DataType": "String", "StringValue": "k7"}}
    # Bytes that are not text travel as base64, marked the way the framework's sink runner reads them.
    assert got["AP9iaW5hcnk="]["connect.encoding"]["StringValue"] == "base64"
    assert got["-"]["connect.encoding"]["StringValue"] == "empty"  # SQS refuses empty bodies
    typed = got["plain text"]
    assert typed["amount"] == {"DataType": "Number", "StringValue": "42"}
    assert typed["blob"] == {"DataType": "Binary", "BinaryValue": b"\x00\x01"}
    assert not any(name.startswith("sqs.") for name in typed)  # the source's metadata stays behind


def test_a_declared_number_sqs_would_refuse_is_sent_as_a_string(make_queue):
    queue = make_queue()
    longest, too_long = "9" * 38, "1" * 39  # SQS numbers carry up to 38 significant digits
    sink_task(queue).put([record("typed", 0, headers={"longest": longest, "too_long": too_long,
                                                      "sqs.attribute_types": '{"longest":"Number","too_long":"Number"}'})])

    [message] = drain(queue.url)

    assert message["MessageAttributes"] == {"longest": {"DataType": "Number", "StringValue": longest},
                                            "too_long": {"DataType": "String", "StringValue": too_long}}


def test_records_sqs_cannot_carry_fail_alone_with_their_reason(make_queue):
    queue = make_queue()
    task = sink_task(queue)
    records = [record("fine", 0), record(None, 1), record("y" * 300_000, 2),
               record("many headers", 3, headers={f"h{i}": "v" for i in range(11)}),
               record("odd header", 4, headers={"not ok": "v"}), record("fine too", 5)]

    with pytest.raises(SinkRecordErrors) as failure:
        task.put(records)

    errors = failure.value.errors
    assert sorted(errors) == [1, 2, 3, 4]
    assert "tombstone" in str(errors[1]) and "RecordIsTombstone" in str(errors[1])
    assert "262144" in str(errors[2])
    assert "at most 10" in str(errors[3]) and "header_attributes" in str(errors[3])
    assert "'not ok'" in str(errors[4])
    assert sorted(m["Body"] for m in drain(queue.url)) == ["fine", "fine too"]


def test_fifo_group_ids_come_from_the_key_a_header_or_a_field(make_queue):
    queue = make_queue(fifo=True)

    sink_task(queue).put([record("a", 0, key="customer-1"), record("b", 1, key="ключ с пробелом")])
    sink_task(queue, group_id_header="tenant").put([record("c", 2, headers={"tenant": "acme"})])
    sink_task(queue, group_id_field="customer.id", value_converter={"type": "json"}).put(
        [record({"customer": {"id": 42}}, 3)])
    sink_task(queue, default_group_id="no-key").put([record("e", 4)])

    groups = {m["Body"]: m["Attributes"]["MessageGroupId"] for m in drain(queue.url)}
    assert groups["a"] == "customer-1" and groups["c"] == "acme" and groups['{"customer":{"id":42}}'] == "42"
    assert groups["e"] == "no-key"
    # A key SQS does not take as a group id becomes its digest: equal keys still share a group.
    assert groups["b"].startswith("sha256-") and len(groups["b"]) == 71
    with pytest.raises(SinkRecordErrors) as failure:
        sink_task(queue).put([record("no key", 5)])
    assert "default_group_id" in str(failure.value.errors[0])


def test_fifo_redelivery_is_accepted_once_deduplicated_by_source_position(make_queue):
    queue = make_queue(fifo=True)
    task = sink_task(queue)
    batch = [record(f"v{i}", i, key=f"g{i % 3}") for i in range(12)]

    task.put(batch)
    task.put(batch)  # SQS redelivered the batch to the sink
    task.put([record("v0 rewritten", 0, key="g0")])  # same position: the same record, once
    task.put([ConnectRecord(topic="orders", value="no position", key="g9")] * 2)  # content decides

    bodies = [m["Body"] for m in drain(queue.url)]
    assert sorted(bodies) == sorted([f"v{i}" for i in range(12)] + ["no position"])
    assert task.idempotent


def test_with_tolerance_none_the_rest_of_a_failed_records_group_waits(make_queue):
    queue = make_queue(fifo=True)
    task = sink_task(queue)
    records = [record("a0", 0, key="a"), record(None, 1, key="a"), record("a2", 2, key="a"),
               record("b0", 3, key="b")]

    with pytest.raises(SinkRecordErrors) as failure:
        task.put(records)

    assert sorted(failure.value.errors) == [1, 2]
    assert "earlier record of its message group" in str(failure.value.errors[2])
    assert sorted(m["Body"] for m in drain(queue.url)) == ["a0", "b0"]
    # With tolerance 'all' the failed record goes to the dead-letter queue: the group goes on.
    sink_task(queue, errors={"tolerance": "all"}).put(records[2:3])
    assert [m["Body"] for m in drain(queue.url)] == ["a2"]


class FlakySqs:
    """A fake in front of the real client, for what the embedded SQS never does: report entries as
    failed on its side (SenderFault false), refuse one (SenderFault true), or fail a whole call.
    Entries it fails are not forwarded; everything else reaches the real queue."""

    def __init__(self, real: Any, script: list[Any]) -> None:
        self.real, self.script = real, script

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:
        step = self.script.pop(0) if self.script else {}
        if isinstance(step, Exception):
            raise step
        forward = [e for e in Entries if e["MessageBody"] not in step]
        response = self.real.send_message_batch(QueueUrl=QueueUrl, Entries=forward) if forward else {}
        failed = [{"Id": e["Id"], "SenderFault": step[e["MessageBody"]], "Code": "InternalError",
                   "Message": "try again"} for e in Entries if e["MessageBody"] in step]
        return {"Successful": response.get("Successful", []), "Failed": failed}


def test_entries_sqs_fails_on_its_side_are_resent_and_refused_ones_fail_alone(make_queue):
    from botocore.exceptions import ClientError

    queue = make_queue()
    task = sink_task(queue)
    task._sqs = FlakySqs(task._sqs, [{"m1": False, "m2": True}, {"m1": False}, {}])

    with pytest.raises(SinkRecordErrors) as failure:
        task.put([record(f"m{i}", i) for i in range(4)])

    assert list(failure.value.errors) == [2] and "InternalError" in str(failure.value.errors[2])
    assert sorted(m["Body"] for m in drain(queue.url)) == ["m0", "m1", "m3"]  # m1 on the third try

    # A whole call failing after an earlier call went through: only the unsent records fail, retriably.
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"},
                             "ResponseMetadata": {"HTTPStatusCode": 400}}, "SendMessageBatch")
    task._sqs = FlakySqs(task._sqs.real, [{}, throttled])
    with pytest.raises(SinkRecordErrors) as failure:
        task.put([record(f"n{i}", i) for i in range(15)])
    assert sorted(failure.value.errors) == list(range(10, 15))
    assert all(isinstance(e, RetriableError) for e in failure.value.errors.values())
    assert len(drain(queue.url)) == 10

    # The first call failing: nothing was sent, so the whole put is retriable as one.
    task._sqs = FlakySqs(task._sqs.real, [throttled])
    with pytest.raises(RetriableError, match="ThrottlingException"):
        task.put([record("o", 0)])


def test_a_missing_queue_fails_the_put_with_the_reason(make_queue):
    queue = make_queue()
    task = sink_task(queue)
    aws.client("sqs").delete_queue(QueueUrl=queue.url)

    with pytest.raises(SqsRecordError, match="NonExistentQueue|QueueDoesNotExist"):
        task.put([record("lost?", 0)])


# -- through the sink runner (the SQS-triggered function) -------------------------------------------


def test_the_sink_runner_delivers_a_batch_and_poison_records_go_to_the_dlq_with_context(stores, make_queue):
    inbound, target, dlq = make_queue(), make_queue(fifo=True), make_queue()
    deploy(stores, {"name": "to-fifo", "connector": "sqs-sink", "queue": target.arn, "source_queue": inbound.arn,
                    "errors": {"tolerance": "all", "dead_letter_queue": dlq.arn}})
    good = [Message(f"order {i}".encode(), f"customer-{i % 2}".encode(), "orders", {"region": "eu"},
                    {"db": "orders"}, {"id": i}) for i in range(12)]
    poison = [Message(None, b"customer-0", "orders", {}, {"db": "orders"}, {"id": 90}),
              Message(b"no key", None, "orders", {}, {"db": "orders"}, {"id": 91})]
    SqsPublisher(inbound.url).publish(good + poison)

    responses = deliver(inbound, SinkRunner(stores))

    assert all(r == {"batchItemFailures": []} for r in responses)
    out = drain(target.url)
    assert sorted(m["Body"] for m in out) == sorted(f"order {i}" for i in range(12))
    assert {m["Attributes"]["MessageGroupId"] for m in out} == {"customer-0", "customer-1"}
    assert all(m["MessageAttributes"]["region"]["StringValue"] == "eu" for m in out)
    letters = sorted(dead_letters(dlq.url), key=lambda d: d["record"]["offset"]["id"])
    assert [(d["stage"], d["error"]["type"], d["record"]["offset"]) for d in letters] == [
        ("put", "SqsRecordError", {"id": 90}), ("put", "SqsRecordError", {"id": 91})]
    assert "tombstone" in letters[0]["error"]["message"] and "default_group_id" in letters[1]["error"]["message"]


def test_a_redelivered_batch_is_written_once_to_a_fifo_queue(stores, make_queue):
    inbound, target = make_queue(), make_queue(fifo=True)
    deploy(stores, {"name": "to-fifo", "connector": "sqs-sink", "queue": target.url, "source_queue": inbound.arn})
    SqsPublisher(inbound.url).publish([Message(f"v{i}".encode(), b"k", "t", {}, {"p": 0}, {"seq": i}) for i in range(5)])
    event, _ = receive_event(inbound.url, inbound.arn)
    runner = SinkRunner(stores)

    first, again = runner.handle(event), runner.handle(event)  # the function ran twice for one batch

    assert (first.written, again.written, again.failures) == (5, 5, [])
    assert [m["Body"] for m in drain(target.url)] == [f"v{i}" for i in range(5)]  # once, in order


def test_with_tolerance_none_failed_records_are_reported_for_redelivery(stores, make_queue):
    inbound, target = make_queue(), make_queue()
    deploy(stores, {"name": "to-q", "connector": "sqs-sink", "queue": target.url, "source_queue": inbound.arn})
    SqsPublisher(inbound.url).publish([Message(b"ok", None, "t", {}, {"p": 0}, {"seq": 0}),
                           Message(None, None, "t", {}, {"p": 0}, {"seq": 1})])
    event, received = receive_event(inbound.url, inbound.arn)
    tombstone_id = next(m["MessageId"] for m in received if m["MessageAttributes"]["connect.encoding"]["StringValue"]
                        == "null")

    response = SinkRunner(stores).handle(event).response()

    assert response == {"batchItemFailures": [{"itemIdentifier": tombstone_id}]}
    assert [m["Body"] for m in drain(target.url)] == ["ok"]


def test_plain_messages_from_any_producer_are_forwarded_once_with_their_attributes(stores, make_queue):
    inbound, target = make_queue(fifo=True), make_queue(fifo=True)
    deploy(stores, {"name": "orders-copy", "connector": "sqs-sink", "queue": target.url,
                    "source_queue": inbound.arn, "group_id_header": "tenant"})
    event = load_event("sqs_fifo_plain_batch", source_arn=inbound.arn)
    runner = SinkRunner(stores)

    first, again = runner.handle(event), runner.handle(event)  # the same batch, delivered twice

    assert (first.written, first.failures, again.failures) == (2, [], [])
    out = drain(target.url)
    # Without a source position the content is the deduplication id: the second run changed nothing.
    assert [m["Body"] for m in out] == ['{"order":1042,"total":99.5}', '{"order":1043,"total":12}']
    assert {m["Attributes"]["MessageGroupId"] for m in out} == {"acme"}
    assert all(m["MessageAttributes"]["tenant"] == {"DataType": "String", "StringValue": "acme"} for m in out)
