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


#: Crashed ticks restart at once (the poller is its own on-failure destination), unless the last
#: crashes came in a quick row: more than this many, each within ``CRASH_LOOP_S`` of the one before
#: (a recovery tick that dies soon after taking over). A task that crashes every time it starts must
#: not spin; the schedule alone then brings its next tick. ``SOURCE_RECOVERY_CRASH_LIMIT`` overrides.
RECOVERY_CRASH_LIMIT = 3
CRASH_LOOP_S = 30.0


def source_tick(event: Mapping[str, Any], context: Any, metrics: MetricsSink | None = None) -> dict[str, Any]:
    """EventBridge Scheduler input ``{"connector": name, "task": n}``; or, when a tick crashed (killed,
    out of memory, timed out), Lambda's on-failure invocation record for it, whose ``requestPayload``
    is the crashed tick's event (a record again when a recovery tick crashed): a recovery tick starts
    at once instead of a schedule period later, and waits out the dead tick's lease."""
    from .lease_keeper import TickTimings
    from .source_runner import SourceRunner

    request, crashes = _unwrap_invocation_records(event)
    name, task = request["connector"], int(request["task"])
    limit = int(os.environ.get("SOURCE_RECOVERY_CRASH_LIMIT", RECOVERY_CRASH_LIMIT))
    in_a_row = _crashes_in_a_row(crashes)
    if in_a_row > limit:
        logger.error("ticks of this task keep crashing: leaving it to its schedule",
                     extra={"connector": name, "task": task, "crashes_in_a_row": in_a_row})
        return {"connector": name, "task": task, "outcome": "gave-up", "recovery": len(crashes)}
    if crashes:
        logger.warning("recovering after a crashed tick", extra={"connector": name, "task": task,
                                                                 "failure": _failure_of(event)})
    telemetry = Telemetry(metrics)
    telemetry.for_connector(name)
    runner = SourceRunner(_stores(), owner=context.aws_request_id, tasks=_tasks(), telemetry=telemetry,
                          timings=TickTimings.from_environment(), request_reconfiguration=start_reconfiguration)
    result = runner.tick(name, task, context.get_remaining_time_in_millis, recovery=bool(crashes)).to_dict()
    return {**result, "recovery": len(crashes)} if crashes else result


def _unwrap_invocation_records(event: Mapping[str, Any]) -> tuple[Mapping[str, Any], list[float]]:
    """The original tick event inside (nested) on-failure invocation records, and when each of those
    crashes was recorded, newest first."""
    crashes = []
    while isinstance(event.get("requestPayload"), Mapping) and "requestContext" in event:
        crashes.append(_epoch(event.get("timestamp")))
        event = event["requestPayload"]
    return event, crashes


def _crashes_in_a_row(crashes: list[float]) -> int:
    """How many of the newest crashes each came within ``CRASH_LOOP_S`` of the one before it."""
    count = min(1, len(crashes))
    for newer, older in zip(crashes, crashes[1:]):
        if newer - older > CRASH_LOOP_S:
            break
        count += 1
    return count


def _epoch(timestamp: Any) -> float:
    """An invocation record's ISO timestamp; now when it has none."""
    import datetime
    import time

    try:
        return datetime.datetime.fromisoformat(str(timestamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


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


def failover_step(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """A Lambda task of the failover state machine: ``{"action": "advance" | "fail", "connector", "run",
    "attempt"}``; an execution whose attempt a resume superseded changes nothing."""
    from .failover import FailoverEngine

    def apply(config: dict[str, Any]) -> Any:  # a failback's reverse connector, like an API create
        controller = _once("controller", _controller)
        return controller.apply(config, deadline=lambda: context.get_remaining_time_in_millis() / 1000 - 10)

    engine = FailoverEngine(_stores(), apply=apply, owner=f"failover-{context.aws_request_id}")
    if event.get("action") == "fail":
        error = event.get("error")
        if isinstance(error, Mapping):
            error = f"{error.get('Error', 'Error')}: {error.get('Cause', '')}"[:2000]
        run = engine.fail(event["connector"], event["run"], str(error), attempt=event.get("attempt"))
        return {"status": run["status"]}
    return engine.advance(event["connector"], event["run"], attempt=event.get("attempt"))


def _controller() -> Any:
    from .controller import ConnectorController

    return ConnectorController.from_environment()


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
