"""Pause, resume, stop and restart: the state they set persists across invocations (of the admin
function, of the runners, of fresh API instances), and the runners act on it."""

from __future__ import annotations

import json
import uuid

import pytest

from admin_helpers import datagen, drain, invoke, load_event, tick
from connect_core import aws
from connect_core.admin.api import AdminApi
from connect_core.admin.local import admin_settings

pytestmark = pytest.mark.integration


def fresh_api(stack) -> AdminApi:
    """A new API instance: nothing it answers can come from the first one's memory."""
    return AdminApi.from_settings(admin_settings(stack.runtime))


def ticks_of(stack, name: str) -> int:
    poller = stack.runtime.physical_id("SourcePollerFunction")
    return sum(1 for i in stack.runtime.lambdas.history(poller) if (i.event or {}).get("connector") == name)


def state_of(api: AdminApi, name: str) -> tuple[str, list[str]]:
    response = api.handle("GET", f"/connectors/{name}/status")
    body = json.loads(response.body_bytes())
    return body["connector"]["state"], [t["state"] for t in body["tasks"]]


def test_a_pause_through_the_function_persists_across_invocations_until_resumed(call, stack, name, queue):
    status, _, body = invoke(stack, load_event("apigw_post_connector.json", __NAME__=name, __QUEUE_URL__=queue))
    assert status == 201 and body["name"] == name

    status, _, body = invoke(stack, load_event("apigw_put_pause.json", __NAME__=name))
    assert (status, body) == (202, None)

    for _ in range(3):  # the schedule keeps firing: every tick sees the pause
        assert tick(stack, name)["outcome"] == "paused"
    assert drain(queue) == []
    status, _, body = invoke(stack, load_event("apigw_get_status.json", __NAME__=name))
    assert status == 200 and body["connector"]["state"] == "PAUSED" and body["tasks"][0]["state"] == "PAUSED"
    assert state_of(fresh_api(stack), name) == ("PAUSED", ["PAUSED"])

    status, _, body = invoke(stack, load_event("apigw_put_resume.json", __NAME__=name))
    assert (status, body) == (202, None)
    assert state_of(fresh_api(stack), name) == ("RUNNING", ["UNASSIGNED"])
    assert tick(stack, name)["records"] == 10
    assert state_of(fresh_api(stack), name) == ("RUNNING", ["RUNNING"])


def test_a_stop_persists_until_resumed_and_the_tasks_come_back(call, stack, name, queue):
    call("POST", "/connectors", {"name": name, "config": datagen(name, queue, max_tasks=2)})
    call("PUT", f"/connectors/{name}/stop")

    assert {tick(stack, name, task)["outcome"] for task in (0, 1)} == {"stopped"}
    assert state_of(fresh_api(stack), name) == ("STOPPED", [])
    assert drain(queue) == []

    call("PUT", f"/connectors/{name}/resume")
    assert state_of(fresh_api(stack), name) == ("RUNNING", ["UNASSIGNED", "UNASSIGNED"])
    assert sum(tick(stack, name, task)["records"] for task in (0, 1)) == 10


@pytest.fixture
def sink(call, stack, tmp_path):
    """A file-sink fed by a queue of its own through the sink function (an event source mapping
    created at run time, as a user's template would declare it)."""
    sqs, lam = aws.client("sqs"), aws.client("lambda")
    name = f"s-{uuid.uuid4().hex[:8]}"
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=name, Attributes={
        "VisibilityTimeout": "360",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=stack.runtime.physical_id("SinkConsumerFunction"), BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"])["UUID"]
    out = tmp_path / "sink.jsonl"
    assert call("POST", "/connectors", {"name": name, "config": {
        "connector": "file-sink", "source_queue": arn, "path": str(out)}}).status == 201
    yield {"name": name, "url": url, "dlq": dlq, "mapping": mapping, "out": out}
    call("DELETE", f"/connectors/{name}")
    lam.delete_event_source_mapping(UUID=mapping)
    sqs.delete_queue(QueueUrl=url)
    sqs.delete_queue(QueueUrl=dlq)


def depth(url: str) -> int:
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    return sum(int(v) for v in attributes["Attributes"].values())


def test_a_paused_sink_leaves_its_records_in_the_queue_and_none_reach_the_dlq(call, stack, sink):
    sqs, lam = aws.client("sqs"), aws.client("lambda")
    call("PUT", f"/connectors/{sink['name']}/pause")
    assert lam.get_event_source_mapping(UUID=sink["mapping"])["State"] == "Disabled"

    for i in range(5):
        sqs.send_message(QueueUrl=sink["url"], MessageBody=json.dumps({"n": i}))
    for _ in range(4):  # more rounds than the redrive policy's maxReceiveCount
        stack.runtime.run_until_idle()

    assert not sink["out"].exists()
    assert depth(sink["url"]) == 5 and depth(sink["dlq"]) == 0

    call("PUT", f"/connectors/{sink['name']}/resume")
    assert lam.get_event_source_mapping(UUID=sink["mapping"])["State"] == "Enabled"
    stack.runtime.run_until_idle()
    assert sorted(json.loads(line)["n"] for line in sink["out"].read_text().splitlines()) == [0, 1, 2, 3, 4]
    assert depth(sink["url"]) == 0 and depth(sink["dlq"]) == 0


def test_a_stopped_sink_waits_too_and_its_status_says_so(call, stack, sink):
    call("PUT", f"/connectors/{sink['name']}/stop")
    aws.client("sqs").send_message(QueueUrl=sink["url"], MessageBody='{"n": 1}')
    stack.runtime.run_until_idle()
    assert depth(sink["url"]) == 1
    assert state_of(fresh_api(stack), sink["name"]) == ("STOPPED", [])
    call("PUT", f"/connectors/{sink['name']}/resume")
    stack.runtime.run_until_idle()
    assert sink["out"].read_text().count("\n") == 1


def test_restarting_a_failed_task_ticks_it_at_once(call, stack, name):
    sqs = aws.client("sqs")
    queue_name = f"late-{uuid.uuid4().hex[:8]}"
    endpoint = stack.runtime.endpoint.endpoint_url
    url = f"{endpoint}/123456789012/{queue_name}"
    call("POST", "/connectors", {"name": name, "config": datagen(name, url)})
    assert tick(stack, name)["outcome"] == "failed"  # the queue does not exist yet
    assert state_of(fresh_api(stack), name) == ("RUNNING", ["FAILED"])
    sqs.create_queue(QueueName=queue_name)
    ticks_before = ticks_of(stack, name)

    answer = call("POST", f"/connectors/{name}/restart", query="includeTasks=true&onlyFailed=true")

    assert answer.status == 202 and [t["state"] for t in answer.body["tasks"]] == ["RESTARTING"]
    stack.runtime.lambdas.wait_async(30)  # the tick the restart started; no schedule fired meanwhile
    assert ticks_of(stack, name) == ticks_before + 1
    assert state_of(fresh_api(stack), name) == ("RUNNING", ["RUNNING"])
    assert len(drain(url)) == 10
    sqs.delete_queue(QueueUrl=url)


def test_only_failed_restarts_nothing_when_nothing_failed(call, stack, name, queue):
    call("POST", "/connectors", {"name": name, "config": datagen(name, queue)})
    tick(stack, name)
    entry = stack.api.stores.configs.get_connector(name)

    answer = call("POST", f"/connectors/{name}/restart", query="includeTasks=true&onlyFailed=true")

    assert [t["state"] for t in answer.body["tasks"]] == ["RUNNING"]
    after = stack.api.stores.configs.get_connector(name)
    assert (after.version, after.task_generation) == (entry.version, entry.task_generation)


def test_restarting_the_connector_re_runs_the_split_and_all_tasks_rebuild(call, stack, name, queue):
    call("POST", "/connectors", {"name": name, "config": datagen(name, queue)})
    before = stack.api.stores.configs.get_connector(name)

    assert call("POST", f"/connectors/{name}/restart").status == 204
    split_again = stack.api.stores.configs.get_connector(name)
    assert split_again.task_generation == before.task_generation + 1
    assert split_again.version == before.version  # the config itself is unchanged

    call("POST", f"/connectors/{name}/restart", query="includeTasks=true")
    rebuilt = stack.api.stores.configs.get_connector(name)
    # A new config version: every warm function instance builds the connector and its tasks afresh.
    assert rebuilt.version == before.version + 1 and rebuilt.config == before.config
    stack.runtime.run_until_idle()
    assert state_of(fresh_api(stack), name) == ("RUNNING", ["RUNNING"])


def test_a_paused_connector_stays_paused_through_a_restart_and_an_update(call, stack, name, queue):
    call("POST", "/connectors", {"name": name, "config": datagen(name, queue)})
    call("PUT", f"/connectors/{name}/pause")

    call("POST", f"/connectors/{name}/restart", query="includeTasks=true")
    call("PUT", f"/connectors/{name}/config", datagen(name, queue, records=9))

    assert state_of(fresh_api(stack), name) == ("PAUSED", ["PAUSED"])
    stack.runtime.run_until_idle()
    assert tick(stack, name)["outcome"] == "paused"
    assert drain(queue) == []
