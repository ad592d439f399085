"""Source ticks and sink batches against DynamoDB and SQS on the embedded endpoint.

The event source mapping is played by ``deliver``: receive, hand the Lambda-shaped event to the
sink runner, delete what it did not report as failed (the local runtime does the same, with more).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connect_core import aws
from connect_core.errors import StaleEpochError
from connect_core.runtime.sink_runner import SinkRunner
from connect_core.runtime.source_runner import SourceRunner
from connect_core.storage import State, Stores, TargetState
from connect_core.testing import PollBudget, PolledTasks, dead_letters as drain_dead_letters, play_queue

pytestmark = pytest.mark.integration

FOREVER = lambda: 600_000  # noqa: E731 - remaining Lambda time that never runs out


@pytest.fixture
def stores(tables, clock):
    return Stores.dynamodb(*tables, clock=clock)


def deploy(stores, config: dict, task_configs: list[dict]) -> None:
    stores.configs.put_connector(config["name"], config)
    stores.configs.put_task_configs(config["name"], task_configs, generation=1)
    if config.get("source_queue"):
        stores.configs.bind_queue(config["source_queue"], config["name"])


def source_config(queues, **overrides):
    return {"name": "gen", "connector": "datagen-source", "partitions": 2, "records": 25, "batch_size": 10,
            "target": {"type": "sqs", "queue_url": queues["url"]}, **overrides}


def sink_config(queues, path: Path, **overrides):
    return {"name": "files", "connector": "file-sink", "path": str(path), "format": "record",
            "source_queue": queues["arn"], **overrides}


def deliver(queues, runner: SinkRunner, rounds: int = 20) -> list[dict]:
    """Play the event source mapping until the queue is empty; returns the responses."""
    return [response for _, response in
            play_queue(queues["url"], queues["arn"], lambda event: runner.handle(event).response(), rounds=rounds)]


def dead_letters(queues) -> list[dict]:
    return drain_dead_letters(queues["dlq_url"])


def written(path: Path) -> list[tuple[int, int]]:
    if not path.exists():
        return []
    return [(r["value"]["partition"], r["value"]["seq"]) for r in map(json.loads, path.read_text().splitlines())]


EVERY_RECORD = sorted((p, s) for p in range(2) for s in range(25))


def test_a_tick_polls_publishes_and_commits_and_the_sink_receives_every_record(stores, queues, tmp_path, clock):
    deploy(stores, source_config(queues), [{"partitions": [0, 1]}])
    deploy(stores, sink_config(queues, tmp_path / "out.jsonl"), [{}])

    result = SourceRunner(stores, owner="tick-1", clock=clock).tick("gen", 0, FOREVER)
    deliver(queues, SinkRunner(stores, clock=clock))

    assert (result.outcome, result.records, result.published, result.drained) == ("ran", 50, 50, True)
    assert sorted(written(tmp_path / "out.jsonl")) == EVERY_RECORD
    assert stores.offsets.read_all("gen").by_key() == {'{"datagen":"gen","partition":0}': {"seq": 24},
                                                       '{"datagen":"gen","partition":1}': {"seq": 24}}
    assert stores.status.get_status("gen").tasks[0].state is State.RUNNING
    # the next tick finds nothing new and publishes nothing
    again = SourceRunner(stores, owner="tick-2", clock=clock).tick("gen", 0, FOREVER)
    assert (again.records, again.drained) == (0, True)


def test_ticks_stop_at_the_safety_margin_and_resume_where_they_stopped(stores, queues, tmp_path, clock):
    deploy(stores, source_config(queues), [{"partitions": [0, 1]}])
    deploy(stores, sink_config(queues, tmp_path / "out.jsonl"), [{}])
    tasks = PolledTasks(PollBudget(2))  # time for two polls only

    first = SourceRunner(stores, owner="t1", clock=clock, tasks=tasks).tick("gen", 0, tasks.budget)
    rest = SourceRunner(stores, owner="t2", clock=clock).tick("gen", 0, FOREVER)
    deliver(queues, SinkRunner(stores, clock=clock))

    assert (first.batches, first.records, first.drained, first.stopped) == (2, 20, False, "deadline")
    assert rest.records == 30
    assert sorted(written(tmp_path / "out.jsonl")) == EVERY_RECORD


def test_paused_and_stopped_connectors_do_not_poll_and_resume_restarts_the_flow(stores, queues, clock):
    deploy(stores, source_config(queues), [{"partitions": [0, 1]}])

    stores.configs.set_target_state("gen", TargetState.PAUSED)
    paused = SourceRunner(stores, owner="t1", clock=clock).tick("gen", 0, FOREVER)
    stores.configs.set_target_state("gen", TargetState.STOPPED)
    stopped = SourceRunner(stores, owner="t2", clock=clock).tick("gen", 0, FOREVER)

    assert (paused.outcome, paused.records, stopped.outcome) == ("paused", 0, "stopped")
    assert stores.offsets.read_all("gen").by_key() == {}
    stores.configs.set_target_state("gen", TargetState.RUNNING)
    assert SourceRunner(stores, owner="t3", clock=clock).tick("gen", 0, FOREVER).records == 50


def test_overlapping_ticks_of_one_task_never_poll_twice(stores, queues, clock):
    deploy(stores, source_config(queues), [{"partitions": [0, 1]}])
    held = stores.leases.claim("gen", 0, "a-running-invocation", ttl_s=900)

    overlapping = SourceRunner(stores, owner="t2", clock=clock).tick("gen", 0, FOREVER)

    assert (overlapping.outcome, overlapping.records) == ("busy", 0)
    assert stores.offsets.read_all("gen").by_key() == {}
    stores.leases.release(held)
    assert SourceRunner(stores, owner="t3", clock=clock).tick("gen", 0, FOREVER).outcome == "ran"


class CrashOnce:
    """Fail the first offset commit: the invocation died after publishing, before committing."""

    def __init__(self, stores):
        self.stores, self.crashed = stores, False
        self.commit = stores.offsets.commit
        stores.offsets.commit = self

    def __call__(self, *args, **kwargs):
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("invocation killed between publish and commit")
        return self.commit(*args, **kwargs)


@pytest.mark.parametrize("deduplicate", [False, True])
def test_a_crash_between_publish_and_commit_duplicates_at_most_and_never_loses(
        stores, queues, tmp_path, clock, deduplicate):
    deploy(stores, source_config(queues, records=10), [{"partitions": [0, 1]}])
    deploy(stores, sink_config(queues, tmp_path / "out.jsonl", deduplicate=deduplicate), [{}])
    CrashOnce(stores)

    crashed = SourceRunner(stores, owner="t1", clock=clock).tick("gen", 0, FOREVER)
    retried = SourceRunner(stores, owner="t2", clock=clock).tick("gen", 0, FOREVER)
    deliver(queues, SinkRunner(stores, clock=clock))

    out = written(tmp_path / "out.jsonl")
    assert crashed.outcome == "failed" and "killed" in crashed.error
    assert stores.status.get_status("gen").tasks[0].state is State.RUNNING  # the retry healed it
    assert retried.records == 20
    assert set(out) == {(p, s) for p in range(2) for s in range(10)}  # nothing lost
    if deduplicate:
        assert sorted(out) == sorted(set(out))  # exactly one copy
    else:
        assert len(out) == 20 + 10  # the first batch (10 records) was published twice


def test_a_stale_invocation_cannot_commit_after_its_lease_was_taken_over(stores, queues, clock):
    deploy(stores, source_config(queues), [{"partitions": [0, 1]}])
    zombie = stores.leases.claim("gen", 0, "zombie", ttl_s=60)
    clock.advance(120)  # the zombie's lease expired...
    successor = stores.leases.claim("gen", 0, "successor", ttl_s=60)  # ...and a new tick took over

    with pytest.raises(StaleEpochError):
        stores.offsets.commit("gen", [({"datagen": "gen", "partition": 0}, {"seq": 99})], task=0,
                              epoch=zombie.epoch, order=("seq",))

    assert successor.epoch == zombie.epoch + 1
    assert stores.offsets.read_all("gen").by_key() == {}


def test_a_poison_record_goes_to_the_dlq_with_its_context_and_the_rest_is_delivered(stores, queues, tmp_path, clock):
    deploy(stores, sink_config(queues, tmp_path / "out.jsonl", errors={"tolerance": "all"}), [{}])
    deploy(stores, source_config(queues, records=5, partitions=1), [{"partitions": [0]}])
    SourceRunner(stores, owner="t1", clock=clock).tick("gen", 0, FOREVER)
    aws.client("sqs").send_message(QueueUrl=queues["url"], MessageBody="{not json")

    responses = deliver(queues, SinkRunner(stores, clock=clock))

    assert all(r == {"batchItemFailures": []} for r in responses)
    assert sorted(written(tmp_path / "out.jsonl")) == [(0, s) for s in range(5)]
    [letter] = dead_letters(queues)
    assert letter["connector"] == "files" and letter["stage"] == "value_converter"
    assert letter["error"]["type"] == "ConversionError" and letter["error"]["message"]
    assert letter["record"]["value_base64"] == "e25vdCBqc29u"  # the original bytes, "{not json"
    assert letter["deliveries"] == 1


def test_with_tolerance_none_a_poison_record_is_retried_then_dead_lettered_with_context(
        stores, queues, tmp_path, clock):
    deploy(stores, sink_config(queues, tmp_path / "out.jsonl"), [{}])
    aws.client("sqs").send_message(QueueUrl=queues["url"], MessageBody="{not json")
    aws.client("sqs").send_message(QueueUrl=queues["url"], MessageBody='{"ok": true}')

    responses = deliver(queues, SinkRunner(stores, clock=clock))

    failed_rounds = [r for r in responses if r["batchItemFailures"]]
    assert len(failed_rounds) == 2  # delivered 3 times: failed twice, dead-lettered on the last try
    [letter] = dead_letters(queues)
    assert letter["deliveries"] == 3 and letter["stage"] == "value_converter"
    assert [json.loads(line)["value"] for line in (tmp_path / "out.jsonl").read_text().splitlines()] == [{"ok": True}]


@pytest.mark.parametrize("tolerance", ["none", "all"])
def test_a_message_whose_record_attribute_is_malformed_fails_alone(stores, queues, tmp_path, clock, tolerance):
    deploy(stores, sink_config(queues, tmp_path / "out.jsonl", errors={"tolerance": tolerance}), [{}])
    sqs = aws.client("sqs")
    sqs.send_message(QueueUrl=queues["url"], MessageBody='{"ok": 1}')
    sqs.send_message(QueueUrl=queues["url"], MessageBody='{"ok": 2}', MessageAttributes={
        "connect.record": {"DataType": "String", "StringValue": "{truncated"}})

    responses = deliver(queues, SinkRunner(stores, clock=clock))

    assert [json.loads(line)["value"] for line in (tmp_path / "out.jsonl").read_text().splitlines()] == [{"ok": 1}]
    [letter] = dead_letters(queues)
    assert letter["stage"] == "wire" and letter["error"]["message"]
    assert letter["record"]["value_base64"] == "eyJvayI6IDJ9"  # the body as it arrived, '{"ok": 2}'
    assert letter["record"]["headers"]["connect.record"] == "{truncated"
    # tolerance none: returned to the queue until its last delivery, then dead-lettered with the cause
    assert letter["deliveries"] == (3 if tolerance == "none" else 1)
    assert sum(1 for r in responses if r["batchItemFailures"]) == (2 if tolerance == "none" else 0)


def test_direct_mode_hands_records_to_the_sink_in_the_same_invocation(stores, tmp_path, clock):
    sink = {"name": "direct-files", "connector": "file-sink", "path": str(tmp_path / "direct.jsonl"),
            "format": "record"}
    config = {"name": "gen", "connector": "datagen-source", "partitions": 2, "records": 25,
              "target": {"type": "direct", "sink": sink}}
    deploy(stores, config, [{"partitions": [0, 1]}])

    result = SourceRunner(stores, owner="t1", clock=clock).tick("gen", 0, FOREVER)

    assert (result.outcome, result.published) == ("ran", 50)
    assert sorted(written(tmp_path / "direct.jsonl")) == EVERY_RECORD


def test_a_source_without_a_target_fails_its_tick_with_a_clear_reason(stores, clock):
    deploy(stores, {"name": "gen", "connector": "datagen-source"}, [{"partitions": [0]}])

    result = SourceRunner(stores, owner="t1", clock=clock).tick("gen", 0, FOREVER)

    assert result.outcome == "failed" and "has no target" in result.error
    assert stores.status.get_status("gen").tasks[0].state is State.FAILED
    assert "has no target" in stores.status.get_status("gen").tasks[0].trace
