"""template.yaml end to end through the local runtime: schedules fire source ticks, the event source
mapping feeds the sink, Custom::Connector resources go through the real custom resource handler and
reconfigure state machine. Time is a virtual clock: nothing here sleeps or depends on timing."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from connect_core import aws
from connect_core.local.clock import VirtualClock
from connect_core.local.deploy import DeploymentError
from connect_core.local.runtime import LocalRuntime
from connect_core.runtime.reconfigure import schedule_name
from connect_core.storage import State, Stores, TargetState
from connect_core.storage.dynamodb import DynamoDBOffsetStore

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RECORDS = 25      # per partition
PARTITIONS = 4    # DemoSource in template.yaml
EVERY_RECORD = {(p, s) for p in range(PARTITIONS) for s in range(RECORDS)}


@pytest.fixture
def runtime(embedded_aws, tmp_path):
    params = {"Environment": "local", "DemoRecords": RECORDS, "DemoOutputPath": str(tmp_path / "out.jsonl")}
    rt = LocalRuntime(ROOT / "template.yaml", params, clock=VirtualClock(), endpoint=embedded_aws,
                      stack_name=f"e2e{uuid.uuid4().hex[:8]}")
    with rt:
        yield rt


@pytest.fixture
def stores(runtime):
    return Stores.dynamodb(runtime.outputs["ConfigsTableName"], runtime.outputs["OffsetsTableName"])


def written(runtime) -> list[tuple[int, int]]:
    path = Path(runtime.parameters["DemoOutputPath"])
    if not path.exists():
        return []
    return [(r["partition"]["partition"], r["offset"]["seq"]) for r in map(json.loads, path.read_text().splitlines())]


def schedules(runtime) -> list[str]:
    group = runtime.physical_id("ConnectorSchedules")
    return sorted(s["Name"] for s in aws.client("scheduler").list_schedules(GroupName=group)["Schedules"])


def dead_letters(runtime) -> list[dict]:
    sqs = aws.client("sqs")
    url = runtime.outputs["DemoDeadLetterQueueUrl"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in got]


@pytest.fixture
def edited_template():
    """A copy of template.yaml, edited as a user would edit theirs (next to it: CodeUri stays valid)."""
    made = []

    def edit(*replacements: tuple[str, str]) -> Path:
        text = (ROOT / "template.yaml").read_text()
        for old, new in replacements:
            assert old in text, old
            text = text.replace(old, new)
        path = ROOT / f".template-e2e-{uuid.uuid4().hex[:8]}.yaml"
        path.write_text(text)
        made.append(path)
        return path

    yield edit
    for path in made:
        path.unlink(missing_ok=True)


def test_the_deploy_creates_both_connectors_through_the_custom_resource(runtime, stores):
    assert stores.configs.list_connectors() == ["demo-sink", "demo-source"]
    assert stores.configs.get_task_configs("demo-source") == [{"partitions": [0, 2]}, {"partitions": [1, 3]}]
    assert schedules(runtime) == [schedule_name("demo-source", 0), schedule_name("demo-source", 1)]
    assert stores.status.get_status("demo-source").connector.state is State.RUNNING
    assert stores.configs.connector_for_queue(stores.configs.get_connector("demo-sink").config["source_queue"]) \
        == "demo-sink"


def test_ticks_poll_publish_and_commit_and_the_sink_receives_every_record(runtime, stores):
    runtime.advance(60)

    assert sorted(written(runtime)) == sorted(EVERY_RECORD)
    assert {p["partition"]: o["seq"] for p, o in stores.offsets.read_all("demo-source").pairs()} == \
        {p: RECORDS - 1 for p in range(PARTITIONS)}
    assert [t.state for t in stores.status.get_status("demo-source").tasks] == [State.RUNNING] * 2

    runtime.advance(120)  # later ticks find the source drained: nothing is written twice
    assert len(written(runtime)) == len(EVERY_RECORD)


def test_a_failing_record_goes_to_the_dlq_with_its_context_and_the_rest_is_delivered(runtime):
    aws.client("sqs").send_message(QueueUrl=runtime.outputs["DemoRecordsQueueUrl"], MessageBody="{not json")

    runtime.advance(60)

    assert sorted(written(runtime)) == sorted(EVERY_RECORD)
    [letter] = dead_letters(runtime)
    assert letter["connector"] == "demo-sink" and letter["stage"] == "value_converter"
    assert letter["error"]["type"] == "ConversionError"
    assert letter["record"]["value_base64"] == "e25vdCBqc29u"


def test_pause_stops_the_flow_and_resume_restarts_it(runtime, stores):
    stores.configs.set_target_state("demo-source", TargetState.PAUSED)
    runtime.advance(180)
    assert written(runtime) == []
    assert {t.state for t in stores.status.get_status("demo-source").tasks} == {State.PAUSED}

    stores.configs.set_target_state("demo-source", TargetState.RUNNING)
    runtime.advance(60)
    assert sorted(written(runtime)) == sorted(EVERY_RECORD)


def test_overlapping_ticks_of_one_task_never_poll_twice(runtime, stores):
    held = stores.leases.claim("demo-source", 0, "a-tick-still-running", ttl_s=900)

    result = runtime.invoke("SourcePollerFunction", {"connector": "demo-source", "task": 0})

    assert (result["outcome"], result["records"]) == ("busy", 0)
    stores.leases.release(held)
    assert runtime.invoke("SourcePollerFunction", {"connector": "demo-source", "task": 0})["outcome"] == "ran"


def test_a_crash_between_publish_and_commit_duplicates_nothing_with_an_idempotent_sink(runtime, monkeypatch):
    real_commit = DynamoDBOffsetStore.commit
    crashes = []

    def crash_once(self, *args, **kwargs):
        if not crashes:
            crashes.append(1)
            raise RuntimeError("invocation killed between publish and commit")
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBOffsetStore, "commit", crash_once)
    runtime.advance(120)  # the crashed tick's records were published; the next tick publishes them again

    out = written(runtime)
    assert crashes and set(out) == EVERY_RECORD  # nothing lost
    assert len(out) == len(EVERY_RECORD)  # the demo sink deduplicates: exactly one copy


def test_an_update_re_splits_the_tasks_and_their_schedules(runtime, stores, edited_template):
    runtime.advance(60)
    path = edited_template(("        max_tasks: 2\n        partitions: 4", "        max_tasks: 3\n        partitions: 6"))

    runtime.redeploy(path)

    assert stores.configs.get_task_configs("demo-source") == [{"partitions": [0, 3]}, {"partitions": [1, 4]},
                                                              {"partitions": [2, 5]}]
    assert schedules(runtime) == [schedule_name("demo-source", t) for t in range(3)]
    runtime.advance(60)
    assert {p for p, _ in written(runtime)} == set(range(6))
    assert len(written(runtime)) == 6 * RECORDS  # the old partitions resumed from their offsets

    shrink = edited_template(("        max_tasks: 2\n        partitions: 4", "        max_tasks: 1\n        partitions: 6"))
    runtime.redeploy(shrink)
    assert schedules(runtime) == [schedule_name("demo-source", 0)]
    assert len(stores.configs.get_task_configs("demo-source")) == 1


def test_an_invalid_config_fails_the_deploy_with_the_reason_and_changes_nothing(runtime, stores, edited_template):
    before = stores.configs.get_connector("demo-source")
    tasks_before = stores.configs.get_task_configs("demo-source")
    path = edited_template(("        batch_size: 100", "        batch_size: 0\n        colour: blue"))

    with pytest.raises(DeploymentError) as failure:
        runtime.redeploy(path)

    assert "batch_size" in str(failure.value) and "colour" in str(failure.value)
    after = stores.configs.get_connector("demo-source")
    assert (after.config, after.version, after.task_generation) == (before.config, before.version,
                                                                    before.task_generation)
    assert stores.configs.get_task_configs("demo-source") == tasks_before
    assert schedules(runtime) == [schedule_name("demo-source", 0), schedule_name("demo-source", 1)]


def test_a_continuous_connector_the_source_function_cannot_cover_fails_the_deploy(runtime, stores, edited_template):
    # continuous polling with a one-minute schedule needs a source function timeout of 90 s or more
    path = edited_template(("        batch_size: 100", "        batch_size: 100\n        polling: continuous"))

    with pytest.raises(DeploymentError) as failure:
        runtime.redeploy(path, parameters={"SourceTickSeconds": 60})

    assert "schedule" in str(failure.value) and "at least 90 s" in str(failure.value)
    assert "SourceTickSeconds" in str(failure.value)
    assert stores.configs.get_connector("demo-source").config.get("polling") is None  # unchanged
    runtime.redeploy(path, parameters={"SourceTickSeconds": 120})  # a timeout that covers it
    assert stores.configs.get_connector("demo-source").config["polling"] == "continuous"


def test_delete_stops_the_tasks_and_removes_their_schedules_but_keeps_offsets(runtime, stores):
    runtime.advance(60)

    runtime.redeploy(parameters={"DeployDemo": "false"})

    assert stores.configs.list_connectors() == []
    assert schedules(runtime) == []
    assert len(stores.offsets.read_all("demo-source")) == PARTITIONS
