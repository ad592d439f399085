"""sqs-source through real source ticks (SourceRunner.tick) against SQS and DynamoDB on the embedded
endpoint: messages become records, and are deleted only after delivery and the offset commit."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqs_support import FOREVER

from connect_core.runtime import telemetry as m
from connect_core.runtime.source_runner import SourceRunner
from connect_core.runtime.telemetry import Telemetry
from connect_core.storage import State
from connect_core.testing import CommitFailsOnce, dead_letters, deploy

pytestmark = pytest.mark.integration


def source_config(queue, out: Path, **options):
    """An sqs-source handing its records straight to a file-sink that writes them whole."""
    values = "json" if options.get("value_format") == "json" else "string"
    return {"name": "from-sqs", "connector": "sqs-source", "queue": queue.url, "wait_time_s": 0,
            "target": {"type": "direct", "sink": {"name": "to-file", "connector": "file-sink", "path": str(out),
                                                  "format": "record", "value_converter": {"type": values}}},
            **options}


def written(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def tick(stores, clock, owner="tick", **options):
    return SourceRunner(stores, owner=owner, clock=clock, **options).tick("from-sqs", 0, FOREVER)


class KilledBetweenPublishAndCommit(BaseException):
    """A killed invocation runs no clean-up code: neither does a BaseException the runner does not catch."""


def test_a_tick_turns_every_message_into_a_record_and_deletes_it_after_the_commit(stores, clock, make_queue,
                                                                                  tmp_path):
    queue = make_queue()
    ids = [queue.send(f"order {i}", {"tenant": {"DataType": "String", "StringValue": f"t{i % 3}"},
                                     "amount": {"DataType": "Number", "StringValue": str(i * 10)},
                                     "digest": {"DataType": "Binary", "BinaryValue": bytes([i, 255])},
                                     "count": {"DataType": "Number.int", "StringValue": "7"}})
           for i in range(25)]
    deploy(stores, source_config(queue, tmp_path / "out.jsonl"))
    telemetry = Telemetry()

    result = tick(stores, clock, telemetry=telemetry)

    assert (result.outcome, result.records, result.batches, result.drained) == ("ran", 25, 1, True)
    records = written(tmp_path / "out.jsonl")
    assert sorted(r["value"] for r in records) == sorted(f"order {i}" for i in range(25))
    first = next(r for r in records if r["value"] == "order 1")
    assert first["topic"] == queue.name and first["key"] is None
    assert first["partition"] == {"queue": queue.url} and first["offset"] == {"message_id": ids[1]}
    headers = first["headers"]
    assert (headers["tenant"], headers["amount"], headers["count"]) == ("t1", "10", "7")
    assert base64.b64decode(headers["digest"]) == bytes([1, 255])
    assert json.loads(headers["sqs.attribute_types"]) == {"amount": "Number", "count": "Number.int",
                                                          "digest": "Binary"}
    assert headers["sqs.message_id"] == ids[1] and headers["sqs.receive_count"] == "1"
    assert first["timestamp"] == int(headers["sqs.sent_timestamp"])
    assert queue.counts() == (0, 0)  # every message deleted once delivered
    [(partition, offset)] = stores.offsets.read_all("from-sqs").pairs()
    assert partition == {"queue": queue.url} and offset["message_id"] in ids
    assert telemetry.totals[m.SOURCE_LAG] == 0
    assert stores.status.get_status("from-sqs").tasks[0].state is State.RUNNING


def test_a_fifo_queue_keeps_group_order_and_the_group_is_the_key(stores, clock, make_queue, tmp_path):
    queue = make_queue(fifo=True)
    for i in range(12):
        queue.send(json.dumps({"n": i}), MessageGroupId=f"g{i % 2}", MessageDeduplicationId=f"d{i}")
    deploy(stores, source_config(queue, tmp_path / "out.jsonl", value_format="json", max_messages=5))

    result = tick(stores, clock)

    records = written(tmp_path / "out.jsonl")
    assert result.records == 12 and queue.counts() == (0, 0)
    for group in ("g0", "g1"):
        mine = [r for r in records if r["key"] == group]
        assert [r["value"]["n"] for r in mine] == [n for n in range(12) if f"g{n % 2}" == group]
        assert {r["headers"]["sqs.group_id"] for r in mine} == {group}
        assert all(r["headers"]["sqs.sequence_number"].isdigit() for r in mine)
    assert {r["headers"]["sqs.deduplication_id"] for r in records} == {f"d{i}" for i in range(12)}


def test_a_crash_before_the_commit_leaves_the_messages_on_the_queue_and_the_retry_delivers_them(
        stores, clock, make_queue, tmp_path):
    queue = make_queue()
    for i in range(15):
        queue.send(f"m{i}")
    deploy(stores, source_config(queue, tmp_path / "out.jsonl", max_messages=10))
    stores = replace(stores, offsets=CommitFailsOnce(stores.offsets))  # the first commit fails

    crashed = tick(stores, clock, owner="t1")

    assert crashed.outcome == "failed" and "between publish and commit" in crashed.error
    # Nothing was deleted, and the failed tick handed its messages back at once.
    assert queue.counts() == (15, 0)
    retried = tick(stores, clock, owner="t2")

    values = [r["value"] for r in written(tmp_path / "out.jsonl")]
    assert retried.outcome == "ran" and set(values) == {f"m{i}" for i in range(15)}  # nothing lost
    assert len(values) == 15 + 10  # the crashed poll's ten were delivered twice: at least once
    assert queue.counts() == (0, 0)


def test_a_killed_invocation_loses_nothing_its_messages_reappear_after_the_visibility_timeout(
        stores, clock, make_queue, tmp_path):
    queue = make_queue()
    for i in range(5):
        queue.send(f"m{i}")
    deploy(stores, source_config(queue, tmp_path / "out.jsonl", visibility_timeout_s=1))
    stores = replace(stores, offsets=CommitFailsOnce(stores.offsets, error=KilledBetweenPublishAndCommit))

    with pytest.raises(KilledBetweenPublishAndCommit):
        tick(stores, clock, owner="t1")

    assert queue.counts() == (0, 5)  # still on the queue, hidden until the visibility timeout ends
    deadline = time.monotonic() + 30
    while queue.counts() != (5, 0):
        assert time.monotonic() < deadline, "the messages never became visible again"
        time.sleep(0.2)
    clock.advance(16 * 60)  # a killed invocation never releases its lease: it expires
    retried = tick(stores, clock, owner="t2")

    assert retried.outcome == "ran" and retried.records == 5
    assert sorted(r["value"] for r in written(tmp_path / "out.jsonl")) == sorted([f"m{i}" for i in range(5)] * 2)
    assert queue.counts() == (0, 0)


def test_with_tolerance_all_an_unreadable_message_goes_to_the_dead_letter_queue_and_is_deleted(
        stores, clock, make_queue, tmp_path):
    queue, dlq = make_queue(), make_queue()
    queue.send('{"ok": 1}')
    bad = queue.send("{not json")
    queue.send('{"ok": 2}')
    deploy(stores, source_config(queue, tmp_path / "out.jsonl", value_format="json",
                                 errors={"tolerance": "all", "dead_letter_queue": dlq.url}))

    telemetry = Telemetry()

    result = tick(stores, clock, telemetry=telemetry)

    assert (result.outcome, result.records, result.dead_lettered) == ("ran", 2, 1)  # counted like any dead letter
    assert telemetry.totals[m.RECORDS_DEAD_LETTERED] == 1
    assert sorted(r["value"]["ok"] for r in written(tmp_path / "out.jsonl")) == [1, 2]
    [letter] = dead_letters(dlq.url)
    assert (letter["connector"], letter["stage"], letter["record"]["id"]) == ("from-sqs", "value_converter", bad)
    assert "not JSON" in letter["error"]["message"]
    assert base64.b64decode(letter["record"]["value_base64"]) == b"{not json"
    assert letter["record"]["offset"] == {"message_id": bad}
    assert queue.counts() == (0, 0)


def test_with_tolerance_none_an_unreadable_message_stays_for_the_queue_redrive_and_its_group_waits(
        stores, clock, make_queue, tmp_path):
    queue = make_queue(fifo=True)
    queue.send('{"n": 0}', MessageGroupId="a", MessageDeduplicationId="a0")
    queue.send("{not json", MessageGroupId="a", MessageDeduplicationId="a1")
    queue.send('{"n": 2}', MessageGroupId="a", MessageDeduplicationId="a2")
    queue.send('{"n": 3}', MessageGroupId="b", MessageDeduplicationId="b3")
    deploy(stores, source_config(queue, tmp_path / "out.jsonl", value_format="json"))

    result = tick(stores, clock)

    assert result.outcome == "ran"
    # Group a stops at the unreadable message (its successor waits, in order); group b flows.
    assert sorted(r["value"]["n"] for r in written(tmp_path / "out.jsonl")) == [0, 3]
    assert queue.counts() == (0, 2)  # not deleted: SQS delivers them again, then redrives to its DLQ
