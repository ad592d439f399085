"""The one place that reaches into moto's internals (tested with moto 5.2.5, pinned in pyproject).

The embedded endpoint runs in this process, so its Lambda backend can hand invocations to the
local ``LambdaService``:

- ``LambdaFunction.invoke`` (what the ``Invoke`` API and the Step Functions interpreter's Lambda
  tasks reach: ``arn:aws:states:::lambda:invoke`` with ``Payload`` and a bare function ARN alike)
  runs the registered handler and answers like Lambda: the payload, or the error payload with
  ``X-Amz-Function-Error: Unhandled`` so a state's Retry/Catch sees the handler's ``errorType``.
  ``InvocationType=Event`` runs on a background thread and answers 202 at once, as Lambda does
  (it also keeps a handler that invokes another asynchronously from waiting on itself). The
  backend used when moto's ``lambda.use_docker`` is false is wrapped the same way.
- ``LambdaBackend.create_event_source_mapping`` still creates the mapping (so the Lambda API
  lists, updates and deletes it), but detaches it from the queue, table or stream: moto would
  otherwise invoke the function one record at a time inside ``SendMessage`` (or inside a
  DynamoDB write). The local runtime polls SQS mappings itself (``esm``).

- moto's SQS reads the clock through ``unix_time``/``unix_time_millis``, which build datetimes;
  it does so for every message in the queue on every send and receive (queue attributes count
  visible messages), so a queue of a few thousand messages took over a second per call. The
  same values are taken from ``time.time()`` directly in ``moto.sqs.models``.

Functions the service does not know fall through to moto's own behaviour. ``uninstall()`` puts
every original back once the last service that installed the hooks is gone.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .lambdas import LambdaService

log = logging.getLogger(__name__)

_lock = threading.Lock()
_services: list["LambdaService"] = []
_originals: dict[tuple[Any, str], Callable[..., Any]] = {}


def install(service: "LambdaService") -> None:
    """Route moto's Lambda invocations of ``service``'s functions to it (idempotent per service)."""
    with _lock:
        if any(s is service for s in _services):
            return
        if not _originals:
            _patch()
        _services.append(service)


def uninstall(service: "LambdaService | None" = None) -> None:
    """Forget ``service`` (or every service); restore moto once none is left."""
    with _lock:
        if service is None:
            _services.clear()
        else:
            _services[:] = [s for s in _services if s is not service]
        if not _services and _originals:
            for (owner, name), original in _originals.items():
                setattr(owner, name, original)
            _originals.clear()


def installed() -> bool:
    return bool(_originals)


def _find(function_arn: str, function_name: str) -> tuple["LambdaService", str] | None:
    for service in list(_services):
        for key in (function_arn, function_name):
            if key and service.get(key) is not None:
                return service, key
    return None


def _patch() -> None:
    try:
        from moto.awslambda.models import LambdaBackend, LambdaFunction
        from moto.awslambda_simple.models import LambdaSimpleBackend
    except ImportError as exc:  # pragma: no cover - moto is a dev dependency
        raise RuntimeError("the local runtime needs moto[server] (pip install -e '.[dev]')") from exc
    for owner, name in ((LambdaFunction, "invoke"), (LambdaSimpleBackend, "invoke"),
                        (LambdaBackend, "create_event_source_mapping")):
        if not callable(owner.__dict__.get(name)):
            raise RuntimeError(f"moto changed: {owner.__name__}.{name} is gone; the local runtime "
                               "is tested with moto 5.2.5")

    original_function_invoke = LambdaFunction.invoke
    original_simple_invoke = LambdaSimpleBackend.invoke
    original_create_mapping = LambdaBackend.create_event_source_mapping

    def function_invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
        found = _find(self.function_arn, self.function_name)
        if found is None:
            return original_function_invoke(self, body, request_headers, response_headers)
        return _invoke(found, body, request_headers, response_headers)

    def simple_invoke(self: Any, function_name: str, qualifier: Any, body: Any, headers: Any,
                      response_headers: Any) -> Any:
        fn = self.get_function(function_name, qualifier)
        found = _find(fn.function_arn, fn.function_name)
        if found is None:
            return original_simple_invoke(self, function_name, qualifier, body, headers,
                                          response_headers)
        payload = _invoke(found, body, headers, response_headers)
        response_headers["Content-Length"] = str(len(payload))
        return payload

    def create_mapping(self: Any, spec: dict[str, Any]) -> Any:
        mapping = original_create_mapping(self, spec)
        _detach(self, mapping)
        return mapping

    import moto.sqs.models as sqs_models

    original_unix_time = sqs_models.unix_time
    original_unix_time_millis = sqs_models.unix_time_millis

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else original_unix_time(dt)

    def unix_time_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else original_unix_time_millis(dt)

    _originals[(sqs_models, "unix_time")] = original_unix_time
    _originals[(sqs_models, "unix_time_millis")] = original_unix_time_millis
    sqs_models.unix_time = unix_time
    sqs_models.unix_time_millis = unix_time_millis
    _originals[(LambdaFunction, "invoke")] = original_function_invoke
    _originals[(LambdaSimpleBackend, "invoke")] = original_simple_invoke
    _originals[(LambdaBackend, "create_event_source_mapping")] = original_create_mapping
    LambdaFunction.invoke = function_invoke
    LambdaSimpleBackend.invoke = simple_invoke
    LambdaBackend.create_event_source_mapping = create_mapping


def _invoke(found: tuple["LambdaService", str], body: Any, request_headers: Any,
            response_headers: dict[str, Any]) -> bytes:
    service, key = found
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    try:
        event = json.loads(body) if body else {}
    except ValueError:
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": "InvalidRequestContentException",
                           "errorMessage": "Could not parse request body into json"}).encode()
    invocation_type = (request_headers.get("X-Amz-Invocation-Type")
                       or request_headers.get("x-amz-invocation-type") or "RequestResponse")
    if invocation_type == "DryRun":
        return b""
    if invocation_type == "Event":
        service.call_async(key, event)
        return b""
    from .lambdas import LambdaInvocationError

    try:
        invocation = service.call(key, event)
    except LambdaInvocationError as exc:
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(exc.payload).encode()
    if not invocation.ok:
        response_headers["x-amz-function-error"] = "Unhandled"
    return json.dumps(invocation.result).encode()


def _detach(backend: Any, mapping: Any) -> None:
    """Take a new mapping off its event source so moto never invokes through it."""
    arn = getattr(mapping, "event_source_arn", "")
    function_arn = getattr(mapping, "function_arn", None)
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    try:
        if service == "sqs":
            from moto.sqs.models import sqs_backends

            for queue in sqs_backends[backend.account_id][backend.region_name].queues.values():
                if queue.queue_arn == arn:
                    queue.lambda_event_source_mappings.pop(function_arn, None)
        elif service == "dynamodb":
            from moto.dynamodb.models import dynamodb_backends

            for table in dynamodb_backends[backend.account_id][backend.region_name].tables.values():
                table.lambda_event_source_mappings.pop(function_arn, None)
        elif service == "kinesis":
            from moto.kinesis.models import kinesis_backends

            for stream in kinesis_backends[backend.account_id][backend.region_name].streams.values():
                stream.lambda_event_source_mappings.pop(arn, None)
    except (AttributeError, KeyError) as exc:  # pragma: no cover - moto changed shape
        raise RuntimeError(f"moto changed: cannot detach event source mapping from {arn} ({exc}); "
                           "the local runtime is tested with moto 5.2.5") from exc
    if service not in ("sqs", ""):
        log.warning("event source mapping from %s: only SQS mappings are polled locally", arn)
