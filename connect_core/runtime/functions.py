"""What each Lambda function does, behind its thin handler in ``functions/``.

Runners and stores are created on the first invocation and reused while the instance is warm
(their AWS clients, validated connectors and started tasks with them); nothing here runs at import.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Mapping

from .telemetry import MetricsSink, Telemetry

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


def source_tick(event: Mapping[str, Any], context: Any, metrics: MetricsSink | None = None) -> dict[str, Any]:
    """EventBridge Scheduler input ``{"connector": name, "task": n}``."""
    from .source_runner import SourceRunner

    name, task = event["connector"], int(event["task"])
    telemetry = Telemetry(metrics)
    telemetry.for_connector(name)
    runner = SourceRunner(_stores(), owner=context.aws_request_id, tasks=_tasks(), telemetry=telemetry,
                          request_reconfiguration=start_reconfiguration)
    return runner.tick(name, task, context.get_remaining_time_in_millis).to_dict()


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
    from .reconfigure import Reconfigurer, SchedulerSettings

    return Reconfigurer(_stores(), SchedulerSettings.from_environment()).handle(event)


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
