"""The deployed admin function with captured API Gateway HTTP API events (payload format 2.0)."""

from __future__ import annotations

import pytest

from admin_helpers import datagen, invoke, load_event
from connect_core import __version__

pytestmark = pytest.mark.integration


def test_the_root_route(stack):
    status, headers, body = invoke(stack, load_event("apigw_get_root.json"))
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert body["version"] == __version__ and body["kafka_cluster_id"] == stack.runtime.stack_name


def test_repeated_query_parameters_come_from_the_raw_query_string(stack):
    status, _, body = invoke(stack, load_event("apigw_get_connectors_expand.json"))
    assert status == 200 and set(body["demo-source"]) == {"status", "info"}


def test_a_base64_body_without_content_type_is_decoded(stack):
    status, _, body = invoke(stack, load_event("apigw_put_validate_base64.json"))
    assert status == 200 and body["error_count"] == 1
    errors = {c["definition"]["name"]: c["value"]["errors"] for c in body["configs"] if c["value"]["errors"]}
    assert errors == {"records": ["Input should be greater than or equal to 0"]}


def test_offsets_patched_through_the_function(call, stack, name, queue):
    call("POST", "/connectors", {"name": name, "config": datagen(name, queue)})
    event = load_event("apigw_patch_offsets.json", __NAME__=name)

    status, _, body = invoke(stack, event)
    assert status == 409 and body["error_code"] == 409

    call("PUT", f"/connectors/{name}/stop")
    status, _, body = invoke(stack, event)
    assert (status, body) == (200, {"message": "The offsets for this connector have been altered successfully"})
    assert call("GET", f"/connectors/{name}/offsets").body["offsets"] == [
        {"partition": {"datagen": name, "partition": 0}, "offset": {"seq": 2}}]


def test_a_named_stage_in_the_path_is_not_part_of_the_route(stack):
    event = load_event("apigw_get_root.json")
    event["requestContext"]["stage"] = "prod"
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/prod/connectors"
    status, _, body = invoke(stack, event)
    assert status == 200 and "demo-source" in body


def test_errors_come_back_in_kafkas_shape(stack):
    event = load_event("apigw_get_status.json", __NAME__="no-such-connector")
    status, _, body = invoke(stack, event)
    assert (status, body) == (404, {"error_code": 404, "message": "Connector no-such-connector not found"})
