"""What each Lambda function does, behind its thin handler in ``functions/``.

Runners and stores are created on the first invocation and reused while the instance is warm
(their AWS clients, validated connectors and started tasks with them); nothing here runs at import.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Mapping

from .telemetry import MetricsSink, Telemetry

logger = logging.getLogger("connect_core.functions")

_lock = threading.Lock()
_singletons: dict[tuple[str, tuple[str | None, ...]], Any] = {}

# The settings a warm object depends on. In Lambda they never change within an instance; the local
# runtime runs several stacks' functions in one process, so each set of settings gets its own.
_SETTINGS = ("CONFIGS_TABLE", "OFFSETS_TABLE", "RECONFIGURE_STATE_MACHINE_ARN", "SCHEDULE_GROUP",
             "SOURCE_POLLER_ARN", "SCHEDULER_ROLE_ARN", "AWS_ENDPOINT_URL")


def _once(name: str, factory: Any) -> Any:
    key = (name, tuple(os.environ.get(setting) for setting in _SETTINGS))
    value = _singletons.get(key)
    if value is None:
        with _lock:
            value = _singletons.get(key)
            if value is None:
                value = _singletons[key] = factory()
    return value


def reset() -> None:
    """Forget warm state (tests, and the local runtime between deployments)."""
    with _lock:
        caches = [value for (name, _), value in _singletons.items() if name == "tasks"]
        _singletons.clear()
    for tasks in caches:
        tasks.clear()


def _stores() -> Any:
    from ..storage import Stores

    return _once("stores", Stores.from_environment)


def _tasks() -> Any:
    from .tasks import TaskCache

    return _once("tasks", TaskCache)


#: A recovery tick that itself crashes starts another, this many times in a row at most; then the
#: schedule alone brings the next tick (a task that crashes every tick must not spin).
MAX_RECOVERY_CHAIN = 3


def source_tick(event: Mapping[str, Any], context: Any, metrics: MetricsSink | None = None) -> dict[str, Any]:
    """EventBridge Scheduler input ``{"connector": name, "task": n}``; or, when a tick crashed (killed,
    out of memory, timed out), Lambda's on-failure invocation record for it (the template makes the
    function its own on-failure destination), whose ``requestPayload`` is the crashed tick's event:
    a recovery tick starts at once instead of a schedule period later."""
    from .lease_keeper import TickTimings
    from .source_runner import SourceRunner

    request, depth = _unwrap_invocation_records(event)
    name, task = request["connector"], int(request["task"])
    if depth > MAX_RECOVERY_CHAIN:
        logger.error("recovery ticks keep crashing: leaving the task to its schedule",
                     extra={"connector": name, "task": task, "chain": depth})
        return {"connector": name, "task": task, "outcome": "gave-up", "recovery": depth}
    if depth:
        logger.warning("recovering after a crashed tick", extra={"connector": name, "task": task, "chain": depth,
                                                                 "failure": _failure_of(event)})
    telemetry = Telemetry(metrics)
    telemetry.for_connector(name)
    runner = SourceRunner(_stores(), owner=context.aws_request_id, tasks=_tasks(), telemetry=telemetry,
                          timings=TickTimings.from_environment(), request_reconfiguration=start_reconfiguration)
    result = runner.tick(name, task, context.get_remaining_time_in_millis, recovery=depth > 0).to_dict()
    return {**result, "recovery": depth} if depth else result


def _unwrap_invocation_records(event: Mapping[str, Any]) -> tuple[Mapping[str, Any], int]:
    """The original tick event inside (nested) on-failure invocation records, and how deep it was."""
    depth = 0
    while isinstance(event.get("requestPayload"), Mapping) and "requestContext" in event:
        event, depth = event["requestPayload"], depth + 1
    return event, depth


def _failure_of(record: Mapping[str, Any]) -> str:
    response = record.get("responsePayload")
    if isinstance(response, Mapping):
        return f"{response.get('errorType', 'Error')}: {response.get('errorMessage', '')}"[:500]
    return str((record.get("requestContext") or {}).get("condition", "failed"))


def start_reconfiguration(connector: str, fingerprint: str) -> None:
    """Start the reconfigure state machine once per new partition set: the execution name carries
    the fingerprint, so ticks of several tasks noticing the same change start it only once."""
    import json
    import re

    from .. import aws

    arn = os.environ.get("RECONFIGURE_STATE_MACHINE_ARN")
    if not arn:
        return
    name = re.sub(r"[^0-9A-Za-z_-]", "_", f"{connector[:48]}-resplit-{fingerprint}")[:80]
    sfn = aws.client("stepfunctions")
    try:
        sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps({"connector": connector}))
    except sfn.exceptions.ExecutionAlreadyExists:
        pass


def sink_batch(event: Mapping[str, Any], context: Any, metrics: MetricsSink | None = None) -> dict[str, Any]:
    """An SQS event; returns ``{"batchItemFailures": [...]}``."""
    from .sink_runner import QueuePolicies, SinkRunner

    runner = SinkRunner(_stores(), tasks=_tasks(), telemetry=Telemetry(metrics),
                        policies=_once("policies", QueuePolicies), worker_id=context.aws_request_id)
    return runner.handle(event, context.get_remaining_time_in_millis).response()


def reconfigure_step(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """A Lambda task of the reconfigure state machine: ``{"step": "prepare" | "commit" | "abort", ...}``."""
    from .lease_keeper import function_timeout_from
    from .reconfigure import Reconfigurer, SchedulerSettings

    return Reconfigurer(_stores(), SchedulerSettings.from_environment(),
                        source_timeout_s=function_timeout_from()).handle(event)


def connector_resource(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """A CloudFormation custom resource request for ``Custom::Connector``."""
    from .controller import ConnectorController
    from .custom_resource import ConnectorResource

    controller = _once("controller", ConnectorController.from_environment)
    return ConnectorResource(controller).handle(event, context.get_remaining_time_in_millis)


def admin_api(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """An admin API request from the API Gateway HTTP API (payload format 2.0)."""
    from ..admin.api import AdminApi
    from ..admin.apigateway import handle_http_event

    return handle_http_event(_once("admin_api", AdminApi.from_environment), event, context)
