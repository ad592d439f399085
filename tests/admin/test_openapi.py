"""The OpenAPI document: generated from the code, committed up to date, valid, and kept by the
server (schemathesis drives the local HTTP server with requests generated from it)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import positive_data_acceptance

from admin_helpers import ROOT
from connect_core.admin.openapi import openapi_document, render
from connect_core.admin.routes import ROUTES

COMMITTED = ROOT / "docs" / "openapi.json"

schema = schemathesis.openapi.from_dict(openapi_document())

#: Their body is a connector config, whose keys depend on the connector class it names: the document
#: can only say "an object", so most generated configs are rightly refused (400 with field errors).
CONFIG_BODIES = {"POST /connectors", "PUT /connectors/{name}/config", "PUT /connector-plugins/{plugin}/config/validate"}


def test_the_committed_document_is_current():
    assert COMMITTED.read_text(encoding="utf-8") == render(), (
        "docs/openapi.json is stale: run `python -m connect_core.admin.openapi docs/openapi.json`")


def test_the_document_is_valid_openapi_and_lists_every_route():
    document = json.loads(COMMITTED.read_text(encoding="utf-8"))
    validate(document)
    listed = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    assert listed == {(route.method, route.path) for route in ROUTES}
    assert len(listed) == 27
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "500" in operation["responses"], (method, path)
            if "{name}" in path and (method, path) != ("put", "/connectors/{name}/config"):  # that one creates
                assert "404" in operation["responses"], (method, path)
            if "requestBody" in operation:
                assert {"400", "415", "422"} <= set(operation["responses"]), (method, path)


@pytest.mark.integration
@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_the_local_server_keeps_the_documented_contract(case, stack):
    excluded = [positive_data_acceptance] if case.operation.label in CONFIG_BODIES else []
    case.call_and_validate(base_url=stack.url, excluded_checks=excluded)


def test_importing_the_package_and_the_server_loads_no_aws_sdk_or_models():
    code = ("import sys, connect_core.admin, connect_core.admin.server; "
            "print(','.join(m for m in ('boto3', 'botocore', 'pydantic', 'moto') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
