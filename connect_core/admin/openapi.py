"""The OpenAPI 3.1 document of the admin API, generated from the route table and the body models.

    python -m connect_core.admin.openapi docs/openapi.json

The committed document is checked against a fresh one by the test suite.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter

from .. import __version__
from ..config.base import NAME_PATTERN
from .routes import ROUTES
from .routing import JSON, Route

_REF = "#/components/schemas/{model}"

_PATH_PARAMS: dict[str, dict[str, Any]] = {
    "name": {"description": "Connector name", "schema": {"type": "string", "pattern": NAME_PATTERN}},
    "task": {"description": "Task id (0, 1, ...)", "schema": {"type": "integer", "minimum": 0}},
    "plugin": {"description": "Connector plugin: short name ('datagen-source'), import path "
                              "('package.module:Class') or class name",
               "schema": {"type": "string", "pattern": r"^[A-Za-z0-9_][A-Za-z0-9_.:-]*$"}},
    "run": {"description": "A failover or failback run's id", "schema": {"type": "string",
                                                                        "pattern": r"^[A-Za-z0-9-]+$"}},
}

_DESCRIPTION = """\
Kafka Connect's REST API for connectors that run as AWS Lambda functions: the same paths, bodies and
status codes, so Kafka Connect clients and scripts work unchanged. Config values are typed JSON
(numbers, booleans, objects) rather than strings.

In AWS the API is an API Gateway HTTP API with IAM authorisation: sign every request with SigV4
(service `execute-api`). `connectctl local up` serves it on http://127.0.0.1:8083 without
authentication, for a stack deployed into the embedded AWS endpoint.
"""


class _Schemas:
    """Collects the components every operation refers to; a name must mean one schema."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def of(self, annotation: Any, mode: Literal["validation", "serialization"]) -> dict[str, Any]:
        schema = TypeAdapter(annotation).json_schema(ref_template=_REF, mode=mode)
        for name, definition in schema.pop("$defs", {}).items():
            self._add(name, definition)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            self._add(annotation.__name__, schema)  # a body that is a model: by reference, like nested ones
            return {"$ref": _REF.format(model=annotation.__name__)}
        return schema

    def _add(self, name: str, definition: dict[str, Any]) -> None:
        known = self.components.setdefault(name, definition)
        if known != definition:
            raise ValueError(f"schema {name!r} differs between requests and responses")


def openapi_document() -> dict[str, Any]:
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "RocketMQ Connect, serverless: admin API", "version": __version__,
                 "description": _DESCRIPTION,
                 "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}},
        "servers": [{"url": "http://127.0.0.1:8083", "description": "connectctl local up"}],
        "security": [{"sigv4": []}, {}],
        "tags": [{"name": "server"}, {"name": "connectors"}, {"name": "tasks"}, {"name": "lifecycle"},
                 {"name": "offsets"}, {"name": "plugins"}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {"sigv4": {
                "type": "apiKey", "in": "header", "name": "Authorization",
                "description": "AWS Signature Version 4 (service execute-api); the local server needs none."}},
        },
    }


def _operation(route: Route, schemas: _Schemas) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": route.operation, "summary": route.summary, "tags": [_tag(route)]}
    if route.description:
        operation["description"] = route.description
    parameters = [{"name": name, "in": "path", "required": True, **_PATH_PARAMS[name]}
                  for name in route.path_params]
    parameters += [{"name": q.name, "in": "query", "required": False, "description": q.description,
                    "schema": q.schema, **({"style": "form", "explode": True} if q.schema.get("type") == "array" else {})}
                   for q in route.query]
    if parameters:
        operation["parameters"] = parameters
    if route.request is not None:
        body: dict[str, Any] = {"required": True,
                                "content": {JSON: {"schema": schemas.of(route.request, "validation")}}}
        if route.request_description:
            body["description"] = route.request_description
        operation["requestBody"] = body
    responses: dict[str, Any] = {}
    for status, (description, annotation) in sorted(route.responses.items()):
        answer: dict[str, Any] = {"description": description}
        if annotation is not None:
            answer["content"] = {JSON: {"schema": schemas.of(annotation, "serialization")}}
        responses[str(status)] = answer
    operation["responses"] = responses
    return operation


def _tag(route: Route) -> str:
    if route.path == "/":
        return "server"
    if route.path.startswith("/connector-plugins"):
        return "plugins"
    if route.path.endswith("/offsets"):
        return "offsets"
    if "/tasks" in route.path:
        return "tasks"
    if route.path.rsplit("/", 1)[-1] in ("restart", "pause", "resume", "stop"):
        return "lifecycle"
    return "connectors"


def render() -> str:
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m connect_core.admin.openapi <file.json>", file=sys.stderr)
        return 2
    path = Path(args[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
