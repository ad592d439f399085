"""CloudFormation's custom resource protocol, as a provider function sees it.

CloudFormation sends the provider an event (``RequestType`` Create/Update/Delete, ``ResponseURL``,
``ResourceProperties``, ...) and waits for the provider to PUT its answer to ``ResponseURL``:
``{"Status": "SUCCESS"|"FAILED", "Reason", "PhysicalResourceId", "Data", ...}``. Here the
``ResponseURL`` is a one-shot HTTP server on 127.0.0.1, and the provider is a local function.

As in CloudFormation, every scalar in ``ResourceProperties`` (and ``OldResourceProperties``)
arrives as a string: ``Count: 2`` is ``"2"``, ``Enabled: true`` is ``"true"``.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from .lambdas import LambdaService

RESPONSE_LIMIT_BYTES = 4096
_NO_RESPONSE_GRACE_S = 5.0


class CustomResourceError(RuntimeError):
    """The provider answered FAILED, answered nonsense, or never answered.

    ``reason`` is CloudFormation's status reason; ``physical_id`` is what the provider answered
    (CloudFormation sends it the Delete of a rollback).
    """

    def __init__(self, reason: str, physical_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.physical_id = physical_id


@dataclass(frozen=True)
class CustomResourceResponse:
    physical_id: str
    data: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    no_echo: bool = False


def stringify(value: Any) -> Any:
    """Properties as CloudFormation hands them to a custom resource: every scalar a string."""
    if isinstance(value, dict):
        return {k: stringify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [stringify(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or isinstance(value, str):
        return value
    return str(value)


def send_request(lambdas: "LambdaService", *, request_type: str, service_token: str, stack_id: str,
                 logical_id: str, resource_type: str, properties: Mapping[str, Any],
                 old_properties: Mapping[str, Any] | None = None,
                 physical_id: str | None = None) -> CustomResourceResponse:
    """Send one request to the provider behind ``service_token`` and return its SUCCESS answer.

    Raises ``CustomResourceError`` with CloudFormation's reason on FAILED or no valid answer.
    """
    function = lambdas.get(service_token)
    if function is None:
        raise CustomResourceError(f"ServiceToken {service_token} is not a function of this stack's "
                                  "local runtime (only Lambda-backed custom resources run locally)")
    request_id = str(uuid.uuid4())
    with _ResponseReceiver() as receiver:
        event: dict[str, Any] = {
            "RequestType": request_type,
            "ServiceToken": service_token,
            "ResponseURL": receiver.url(stack_id, logical_id, request_id),
            "StackId": stack_id,
            "RequestId": request_id,
            "LogicalResourceId": logical_id,
            "ResourceType": resource_type,
            "ResourceProperties": stringify(dict(properties)),
        }
        if request_type != "Create":
            event["PhysicalResourceId"] = physical_id
        if request_type == "Update":
            event["OldResourceProperties"] = stringify(dict(old_properties or {}))
        invocation = lambdas.call(service_token, event)
        # A provider may answer from another thread just after returning; one that raised won't.
        body = receiver.wait(_NO_RESPONSE_GRACE_S if invocation.ok else 0.0)
    if body is None:
        if not invocation.ok:
            error = invocation.error or {}
            raise CustomResourceError(
                f"the custom resource provider failed without responding: "
                f"{error.get('errorType')}: {error.get('errorMessage')} (RequestId: {request_id})")
        raise CustomResourceError("the custom resource provider returned without sending a "
                                  f"response to the ResponseURL (RequestId: {request_id})")
    return _parse(body, request_id)


def _parse(body: bytes, request_id: str) -> CustomResourceResponse:
    if len(body) > RESPONSE_LIMIT_BYTES:
        raise CustomResourceError("Response object is too long.")
    try:
        response = json.loads(body)
    except ValueError:
        raise CustomResourceError("Invalid response object: the response is not JSON") from None
    if not isinstance(response, dict):
        raise CustomResourceError("Invalid response object: the response is not a JSON object")
    status = response.get("Status")
    physical_id = response.get("PhysicalResourceId")
    if status == "FAILED":
        reason = response.get("Reason") or "no reason given"
        raise CustomResourceError(f"Received response status [FAILED] from custom resource. "
                                  f"Message returned: {reason} (RequestId: {request_id})",
                                  physical_id if isinstance(physical_id, str) else None)
    if status != "SUCCESS":
        raise CustomResourceError(f"Invalid response object: Status must be SUCCESS or FAILED, "
                                  f"not {status!r}")
    if not isinstance(physical_id, str) or not physical_id:
        raise CustomResourceError("Invalid PhysicalResourceId")
    data = response.get("Data") or {}
    if not isinstance(data, dict):
        raise CustomResourceError("Invalid response object: Data must be a JSON object")
    return CustomResourceResponse(physical_id=physical_id, data=data,
                                  reason=str(response.get("Reason") or ""),
                                  no_echo=bool(response.get("NoEcho")))


class _ResponseReceiver:
    """An HTTP server on 127.0.0.1 that keeps the first PUT it receives."""

    def __init__(self) -> None:
        self._body: bytes | None = None
        self._received = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if not receiver._received.is_set():
                    receiver._body = body
                    receiver._received.set()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="custom-resource-response", daemon=True)

    def __enter__(self) -> "_ResponseReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def url(self, stack_id: str, logical_id: str, request_id: str) -> str:
        port = self._server.server_address[1]
        stack = stack_id.rsplit("/", 2)[-2] if "/" in stack_id else stack_id
        return (f"http://127.0.0.1:{port}/cloudformation-custom-resource-response/"
                f"{stack}/{logical_id}/{request_id}")

    def wait(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while not self._received.wait(0.02):
            if time.monotonic() >= deadline:
                break
        return self._body
