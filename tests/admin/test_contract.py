"""Kafka Connect's REST contract: every endpoint, its success shape and its error cases."""

from __future__ import annotations

import json
import uuid

import pytest

from connect_core import __version__, aws
from connect_core.admin.api import AdminApi
from connect_core.runtime.controller import ConnectorController

from admin_helpers import Client, datagen, tick

pytestmark = pytest.mark.integration


def error(answer, status: int) -> str:
    assert answer.status == status, answer
    assert set(answer.body) >= {"error_code", "message"} and answer.body["error_code"] == status
    return answer.body["message"]


# -- server ------------------------------------------------------------------------------------------

def test_root_answers_version_commit_and_cluster_id(call, stack):
    answer = call("GET", "/")
    assert answer.status == 200
    assert answer.body == {"version": __version__, "commit": "", "kafka_cluster_id": stack.runtime.stack_name}


def test_unknown_paths_are_404_and_wrong_methods_405_with_allow(call):
    assert "no such resource" in error(call("GET", "/nothing/here"), 404)
    answer = call("DELETE", "/connectors")
    error(answer, 405)
    assert answer.headers["Allow"] == "GET, POST"


# -- connectors --------------------------------------------------------------------------------------

def test_list_shows_the_template_connectors_and_expands_status_and_info(call):
    names = call("GET", "/connectors")
    assert names.status == 200 and {"demo-source", "demo-sink"} <= set(names.body)

    both = call("GET", "/connectors", query="expand=status&expand=info").body
    assert set(both["demo-source"]) == {"status", "info"}
    assert both["demo-source"]["info"]["type"] == "source"
    assert both["demo-source"]["info"]["tasks"] == [{"connector": "demo-source", "task": 0},
                                                    {"connector": "demo-source", "task": 1}]
    assert both["demo-sink"]["status"]["connector"]["state"] == "RUNNING"
    assert set(call("GET", "/connectors", query="expand=status").body["demo-sink"]) == {"status"}
    assert set(call("GET", "/connectors", query="expand=info,status").body["demo-sink"]) == {"status", "info"}
    assert call("GET", "/connectors", query="expand=bogus").body["demo-sink"] == {}


def test_create_answers_201_with_location_and_the_split_tasks(call, name, queue):
    answer = call("POST", "/connectors", {"name": name, "config": datagen(name, queue, max_tasks=2)})

    assert answer.status == 201
    assert answer.headers["Location"] == f"/connectors/{name}"
    assert answer.body["name"] == name and answer.body["type"] == "source"
    assert answer.body["tasks"] == [{"connector": name, "task": 0}, {"connector": name, "task": 1}]
    assert call("GET", f"/connectors/{name}").body == answer.body
    assert call("GET", f"/connectors/{name}/config").body == answer.body["config"]
    assert answer.body["config"]["records"] == 5 and answer.body["config"]["max_tasks"] == 2


def test_create_takes_the_name_from_the_request_and_kafka_key_names(call, name, queue):
    config = datagen(name, queue)
    del config["name"]
    config["connector.class"] = config.pop("connector")
    config["tasks.max"] = config.pop("max_tasks")

    answer = call("POST", "/connectors", {"name": name, "config": config})

    assert answer.status == 201
    assert answer.body["config"]["name"] == name
    assert answer.body["config"]["connector"] == "datagen-source" and answer.body["config"]["max_tasks"] == 1


def test_create_refuses_an_existing_name_with_409(call, name, queue):
    assert call("POST", "/connectors", {"name": name, "config": datagen(name, queue)}).status == 201
    assert error(call("POST", "/connectors", {"name": name, "config": datagen(name, queue)}), 409) == \
        f"Connector {name} already exists"


def test_an_invalid_config_is_400_with_every_field_error_and_creates_nothing(call, name):
    answer = call("POST", "/connectors", {"name": name, "config": {
        "connector": "datagen-source", "records": -1, "max_tasks": 0, "colour": "red",
        "target": {"type": "sqs", "queue_url": "not a url"}}})

    message = error(answer, 400)
    assert message.startswith("Connector configuration is invalid and contains the following 4 error(s):")
    assert answer.body["errors"] == {
        "records": ["Input should be greater than or equal to 0"],
        "max_tasks": ["Input should be greater than or equal to 1"],
        "colour": ["unknown option (misspelt, or not an option of this connector)"],
        "target.queue_url": ["must be an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)"],
    }
    assert name not in call("GET", "/connectors").body
    error(call("GET", f"/connectors/{name}"), 404)


def test_an_unknown_connector_class_is_a_field_error(call, name):
    answer = call("POST", "/connectors", {"name": name, "config": {"connector": "no.such.module:Thing"}})
    error(answer, 400)
    assert list(answer.body["errors"]) == ["connector"]


def test_a_config_name_other_than_the_request_name_is_400(call, name, queue):
    message = error(call("POST", "/connectors", {"name": name, "config": datagen("other", queue)}), 400)
    assert message == f"Connector name configuration (other) doesn't match connector name in the URL ({name})"
    message = error(call("PUT", f"/connectors/{name}/config", datagen("other", queue)), 400)
    assert "doesn't match" in message


@pytest.mark.parametrize(("cause", "status"), [("ConfigError: max_tasks: too many", 400),
                                                 ("ConflictError: the config changed meanwhile", 409),
                                                 ("States.Timeout: a task's schedule took too long", 500)])
def test_a_failed_reconfiguration_answers_by_its_kind_whatever_the_connector_is_called(stack, queue, cause, status):
    sfn = aws.client("stepfunctions")
    failing = {"StartAt": "Fail", "States": {"Fail": {"Type": "Fail", "Error": "ReconfigureFailed", "Cause": cause}}}
    machine = sfn.create_state_machine(name=f"fail-{uuid.uuid4().hex[:8]}", definition=json.dumps(failing),
                                       roleArn="arn:aws:iam::123456789012:role/states")["stateMachineArn"]
    controller = ConnectorController(stack.api.stores, machine, stack.api.controller.scheduler, poll_interval_s=0.05)
    call = Client(AdminApi(stack.api.stores, controller))
    name = f"ConfigError-{uuid.uuid4().hex[:8]}"  # a legal name that mentions an error kind
    try:
        message = error(call("POST", "/connectors", {"name": name, "config": datagen(name, queue)}), status)
        assert message.endswith(f"{cause}; the connector was left as it was")
        error(call("GET", f"/connectors/{name}"), 404)  # the failed create was undone
    finally:
        sfn.delete_state_machine(stateMachineArn=machine)


def test_malformed_json_is_400_wrong_shape_422_other_media_415(call, name):
    assert "not valid JSON" in error(call("POST", "/connectors", raw=b"{nope"), 400)
    assert "needs a JSON body" in error(call("POST", "/connectors", raw=b""), 400)
    wrong = call("POST", "/connectors", {"name": name, "config": ["a", "list"]})
    error(wrong, 422)
    assert list(wrong.body["errors"]) == ["config"]
    assert list(call("POST", "/connectors", {"config": {}}).body["errors"]) == ["name"]
    error(call("POST", "/connectors", {"name": name, "config": {}, "extra": 1}), 422)
    error(call("PUT", f"/connectors/{name}/config", ["not", "an", "object"]), 422)
    error(call("POST", "/connectors", raw=b"name=x", headers={"Content-Type": "application/x-www-form-urlencoded"}),
          415)


def test_unknown_connectors_are_404_on_every_connector_path(call):
    for method, path in [("GET", "/connectors/nope"), ("GET", "/connectors/nope/config"),
                         ("GET", "/connectors/nope/status"), ("GET", "/connectors/nope/tasks"),
                         ("GET", "/connectors/nope/tasks/0/status"), ("POST", "/connectors/nope/restart"),
                         ("POST", "/connectors/nope/tasks/0/restart"), ("PUT", "/connectors/nope/pause"),
                         ("PUT", "/connectors/nope/resume"), ("PUT", "/connectors/nope/stop"),
                         ("DELETE", "/connectors/nope"), ("GET", "/connectors/nope/offsets"),
                         ("DELETE", "/connectors/nope/offsets")]:
        assert error(call(method, path), 404) == "Connector nope not found", (method, path)
    error(call("PATCH", "/connectors/nope/offsets", {"offsets": [{"partition": {"a": 1}, "offset": None}]}), 404)


def test_put_config_creates_201_then_updates_200_and_re_splits(call, name, queue):
    created = call("PUT", f"/connectors/{name}/config", datagen(name, queue))
    assert created.status == 201 and len(created.body["tasks"]) == 1

    updated = call("PUT", f"/connectors/{name}/config", datagen(name, queue, max_tasks=2, records=7))

    assert updated.status == 200
    assert updated.body["tasks"] == [{"connector": name, "task": 0}, {"connector": name, "task": 1}]
    assert call("GET", f"/connectors/{name}/config").body["records"] == 7
    tasks = call("GET", f"/connectors/{name}/tasks").body
    assert tasks == [{"id": {"connector": name, "task": 0}, "config": {"partitions": [0]}},
                     {"id": {"connector": name, "task": 1}, "config": {"partitions": [1]}}]


def test_an_invalid_update_is_400_and_leaves_the_running_config(call, name, queue):
    call("PUT", f"/connectors/{name}/config", datagen(name, queue))
    answer = call("PUT", f"/connectors/{name}/config", datagen(name, queue, batch_size=0))
    assert answer.body["errors"] == {"batch_size": ["Input should be greater than or equal to 1"]}
    assert call("GET", f"/connectors/{name}/config").body == datagen(name, queue)


def test_status_tasks_and_task_status_in_kafka_shape(call, stack, name, queue):
    call("POST", "/connectors", {"name": name, "config": datagen(name, queue)})
    before = call("GET", f"/connectors/{name}/status").body
    assert before == {"name": name, "type": "source",
                      "connector": {"state": "RUNNING", "worker_id": "reconfigure"},
                      "tasks": [{"id": 0, "state": "UNASSIGNED", "worker_id": "unassigned"}]}

    result = tick(stack, name)

    task = call("GET", f"/connectors/{name}/tasks/0/status").body
    assert task["state"] == "RUNNING" and task["id"] == 0
    assert task["worker_id"] not in ("unassigned", "admin-api")  # the Lambda request that ran it
    assert result["outcome"] == "ran" and result["records"] == 10
    assert "No status found" in error(call("GET", f"/connectors/{name}/tasks/1/status"), 404)
    error(call("GET", f"/connectors/{name}/tasks/x/status"), 404)


def test_a_failed_task_reports_its_trace(call, stack, name):
    missing = "http://127.0.0.1:1/123456789012/no-such-queue"
    call("POST", "/connectors", {"name": name, "config": datagen(name, missing)})
    tick(stack, name)
    status = call("GET", f"/connectors/{name}/status").body
    assert status["tasks"][0]["state"] == "FAILED"
    assert "Traceback" in status["tasks"][0]["trace"]


def test_delete_is_204_removes_the_connector_and_keeps_its_offsets(call, stack, name, queue):
    call("POST", "/connectors", {"name": name, "config": datagen(name, queue)})
    tick(stack, name)

    assert call("DELETE", f"/connectors/{name}").status == 204

    error(call("GET", f"/connectors/{name}"), 404)
    assert name not in call("GET", "/connectors").body
    # Created again, it resumes where it was: nothing left to poll.
    call("POST", "/connectors", {"name": name, "config": datagen(name, queue)})
    assert len(call("GET", f"/connectors/{name}/offsets").body["offsets"]) == 2
    assert tick(stack, name)["records"] == 0


# -- lifecycle ---------------------------------------------------------------------------------------

def test_pause_resume_and_stop_answer_like_kafka_and_show_in_status(call, name, queue):
    call("POST", "/connectors", {"name": name, "config": datagen(name, queue)})

    assert call("PUT", f"/connectors/{name}/pause").status == 202
    paused = call("GET", f"/connectors/{name}/status").body
    assert paused["connector"]["state"] == "PAUSED" and paused["tasks"][0]["state"] == "PAUSED"

    assert call("PUT", f"/connectors/{name}/resume").status == 202
    resumed = call("GET", f"/connectors/{name}/status").body
    assert resumed["connector"]["state"] == "RUNNING" and resumed["tasks"][0]["state"] == "UNASSIGNED"

    assert call("PUT", f"/connectors/{name}/stop").status == 204
    stopped = call("GET", f"/connectors/{name}/status").body
    assert stopped["connector"]["state"] == "STOPPED" and stopped["tasks"] == []
    assert call("GET", f"/connectors/{name}/tasks").body == []
    assert call("GET", f"/connectors/{name}").body["tasks"] == []


def test_restart_variants_answer_204_or_202_with_the_status(call, name, queue):
    call("POST", "/connectors", {"name": name, "config": datagen(name, queue)})

    assert call("POST", f"/connectors/{name}/restart").status == 204
    all_tasks = call("POST", f"/connectors/{name}/restart", query="includeTasks=true")
    assert all_tasks.status == 202
    assert all_tasks.body["connector"]["state"] == "RUNNING"
    assert [t["state"] for t in all_tasks.body["tasks"]] == ["RESTARTING"]
    only_failed = call("POST", f"/connectors/{name}/restart", query="includeTasks=true&onlyFailed=true")
    assert only_failed.status == 202 and only_failed.body["name"] == name
    assert call("POST", f"/connectors/{name}/tasks/0/restart").status == 204
    assert "true or false" in error(call("POST", f"/connectors/{name}/restart", query="includeTasks=yes"), 400)
    error(call("POST", f"/connectors/{name}/tasks/3/restart"), 404)


def test_restarting_a_stopped_connector_is_409(call, name, queue):
    call("POST", "/connectors", {"name": name, "config": datagen(name, queue)})
    call("PUT", f"/connectors/{name}/stop")
    assert "STOPPED" in error(call("POST", f"/connectors/{name}/restart"), 409)
    error(call("POST", f"/connectors/{name}/tasks/0/restart"), 409)


# -- offsets -----------------------------------------------------------------------------------------

def test_offsets_of_a_source_by_partition(call, stack, name, queue):
    call("POST", "/connectors", {"name": name, "config": datagen(name, queue)})
    assert call("GET", f"/connectors/{name}/offsets").body == {"offsets": []}
    tick(stack, name)
    assert call("GET", f"/connectors/{name}/offsets").body == {"offsets": [
        {"partition": {"datagen": name, "partition": 0}, "offset": {"seq": 4}},
        {"partition": {"datagen": name, "partition": 1}, "offset": {"seq": 4}}]}


def test_offsets_change_only_while_stopped_and_only_for_sources(call, name, queue):
    call("POST", "/connectors", {"name": name, "config": datagen(name, queue)})
    change = {"offsets": [{"partition": {"datagen": name, "partition": 0}, "offset": {"seq": 1}}]}

    assert "STOPPED state" in error(call("PATCH", f"/connectors/{name}/offsets", change), 409)
    error(call("DELETE", f"/connectors/{name}/offsets"), 409)
    call("PUT", f"/connectors/{name}/pause")
    error(call("PATCH", f"/connectors/{name}/offsets", change), 409)
    call("PUT", f"/connectors/{name}/stop")
    assert "need to be provided" in error(call("PATCH", f"/connectors/{name}/offsets", {"offsets": []}), 400)
    error(call("PATCH", f"/connectors/{name}/offsets", {"offsets": [{"partition": {}, "offset": {"a": 1}}]}), 422)
    error(call("PATCH", f"/connectors/{name}/offsets", {"partitions": []}), 422)

    assert call("GET", "/connectors/demo-sink/offsets").body == {"offsets": []}
    call("PUT", "/connectors/demo-sink/stop")
    try:
        assert "sink" in error(call("PATCH", "/connectors/demo-sink/offsets", change), 400)
        assert "sink" in error(call("DELETE", "/connectors/demo-sink/offsets"), 400)
    finally:
        call("PUT", "/connectors/demo-sink/resume")


# -- plugins -----------------------------------------------------------------------------------------

def test_plugins_list_connectors_and_on_request_transforms_predicates_converters(call):
    plugins = call("GET", "/connector-plugins").body
    assert {"class": "datagen-source", "type": "source", "version": "1.0.0"} in plugins
    assert {"class": "file-sink", "type": "sink", "version": "1.0.0"} in plugins
    assert {p["type"] for p in plugins} == {"source", "sink"}

    everything = call("GET", "/connector-plugins", query="connectorsOnly=false").body
    assert {"class": "InsertField", "type": "transformation", "version": __version__} in everything
    assert {"class": "RecordIsTombstone", "type": "predicate", "version": __version__} in everything
    assert {p["class"] for p in everything if p["type"] == "converter"} == {"json", "string", "bytes"}


def test_a_plugins_config_keys_with_types_defaults_and_groups(call):
    keys = {k["name"]: k for k in call("GET", "/connector-plugins/datagen-source/config").body}
    assert keys["name"]["required"] is True and keys["name"]["importance"] == "HIGH"
    assert keys["name"]["default_value"] is None and keys["name"]["group"] == "Common"
    assert keys["records"]["type"] == "LONG" and keys["records"]["group"] == "datagen-source"
    assert keys["max_tasks"]["type"] == "INT" and keys["max_tasks"]["default_value"] == "1"
    assert keys["schedule"]["default_value"] == '"rate(1 minute)"' and keys["schedule"]["group"] == "Source"
    assert keys["transforms"]["type"] == "LIST" and keys["errors"]["type"] == "OBJECT"
    # Kafka Connect's aliases name the same plugin.
    for alias in ("DataGenSourceConnector", "DataGenSource", "connect_core.connectors.datagen:DataGenSourceConnector"):
        assert call("GET", f"/connector-plugins/{alias}/config").status == 200
    assert "not found" in error(call("GET", "/connector-plugins/nope/config"), 404)


def test_validate_answers_every_key_with_its_errors(call, queue):
    answer = call("PUT", "/connector-plugins/datagen-source/config/validate",
                  {"name": "v", "records": -1, "colour": "red", "transforms": [{"type": "Nope"}]})

    assert answer.status == 200
    body = answer.body
    assert body["name"] == "datagen-source" and body["error_count"] == 3
    assert body["groups"][:2] == ["Common", "Converters"] and "Unknown" in body["groups"]
    by_key = {c["definition"]["name"]: c for c in body["configs"]}
    assert by_key["records"]["value"] == {"name": "records", "value": -1, "recommended_values": [],
                                          "errors": ["Input should be greater than or equal to 0"], "visible": True}
    assert by_key["colour"]["value"]["errors"] == ["unknown option (misspelt, or not an option of this connector)"]
    assert by_key["transforms"]["value"]["errors"][0].startswith("transforms[0]")
    assert by_key["connector"]["value"]["value"] == "datagen-source"
    assert "file-sink" in by_key["connector"]["value"]["recommended_values"]
    assert by_key["max_tasks"]["value"]["value"] == 1  # the default, where none is given

    valid = call("PUT", "/connector-plugins/DataGenSource/config/validate", datagen("v", queue)).body
    assert valid["error_count"] == 0


def test_validate_refuses_another_connector_and_unknown_plugins(call):
    message = error(call("PUT", "/connector-plugins/datagen-source/config/validate",
                         {"name": "v", "connector": "file-sink"}), 400)
    assert "does not match request type" in message
    error(call("PUT", "/connector-plugins/nope/config/validate", {"name": "v"}), 404)
    error(call("PUT", "/connector-plugins/datagen-source/config/validate", ["x"]), 400)
