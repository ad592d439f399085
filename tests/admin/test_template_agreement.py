"""The API and template deploys manage the same connectors: a template's connector is visible and
manageable in the API, the API's connectors outlive deploys, and where both change one connector
the next deploy that changes it wins (like any out-of-band change to a CloudFormation resource)."""

from __future__ import annotations

import pytest

from admin_helpers import datagen, tick

pytestmark = pytest.mark.integration


def template_config(stack) -> dict:
    """What template.yaml's DemoSource says now."""
    p = stack.runtime.parameters
    return {"name": "demo-source", "connector": "datagen-source", "max_tasks": 2, "partitions": 4,
            "records": int(p["DemoRecords"]), "batch_size": 100, "schedule": "rate(1 minute)",
            "target": {"type": "sqs", "queue_url": stack.runtime.outputs["DemoRecordsQueueUrl"]},
            "transforms": [{"type": "InsertField", "static_field": "pipeline", "static_value": "demo"}]}


def test_a_template_connector_is_in_the_api_as_deployed(call, stack):
    info = call("GET", "/connectors/demo-source").body
    assert info["config"] == template_config(stack)
    assert info["type"] == "source" and len(info["tasks"]) == 2
    assert call("GET", "/connectors/demo-sink").body["config"]["source_queue"].endswith(
        stack.runtime.physical_id("DemoRecordsQueue").rsplit("/", 1)[-1])


def test_an_api_change_stays_until_a_deploy_changes_that_connector(call, stack):
    edited = {**template_config(stack), "batch_size": 50, "max_tasks": 1}
    assert call("PUT", "/connectors/demo-source/config", edited).status == 200

    stack.runtime.redeploy(parameters={"SinkBatchSize": 20})  # DemoSource's properties are unchanged
    assert call("GET", "/connectors/demo-source/config").body == edited
    assert len(call("GET", "/connectors/demo-source").body["tasks"]) == 1

    stack.runtime.redeploy(parameters={"DemoRecords": 12})  # the template's config of DemoSource changes
    assert call("GET", "/connectors/demo-source/config").body == template_config(stack)
    assert call("GET", "/connectors/demo-source/config").body["records"] == 12
    assert len(call("GET", "/connectors/demo-source").body["tasks"]) == 2


def test_a_pause_through_the_api_survives_a_deploy_of_a_new_config(call, stack):
    call("PUT", "/connectors/demo-source/pause")
    try:
        stack.runtime.redeploy(parameters={"DemoRecords": 14})
        assert call("GET", "/connectors/demo-source/config").body["records"] == 14
        status = call("GET", "/connectors/demo-source/status").body
        assert status["connector"]["state"] == "PAUSED" and {t["state"] for t in status["tasks"]} == {"PAUSED"}
        assert tick(stack, "demo-source")["outcome"] == "paused"
    finally:
        call("PUT", "/connectors/demo-source/resume")
    assert call("GET", "/connectors/demo-source/status").body["connector"]["state"] == "RUNNING"


def test_connectors_made_through_the_api_outlive_deploys(call, stack, name, queue):
    call("POST", "/connectors", {"name": name, "config": datagen(name, queue)})
    stack.runtime.redeploy(parameters={"DemoRecords": 15})
    assert call("GET", f"/connectors/{name}/config").body == datagen(name, queue)
    assert call("GET", f"/connectors/{name}/status").body["connector"]["state"] == "RUNNING"


def test_a_template_connector_deleted_through_the_api_returns_with_the_next_deploy_that_changes_it(call, stack):
    assert call("DELETE", "/connectors/demo-source").status == 204
    assert call("GET", "/connectors/demo-source").status == 404

    stack.runtime.redeploy(parameters={"DemoRecords": 16})

    assert call("GET", "/connectors/demo-source/config").body == template_config(stack)
    assert call("GET", "/connectors/demo-source/status").body["connector"]["state"] == "RUNNING"
