"""The route table: every operation of the admin API with its path, bodies and answers.

``AdminApi`` dispatches by it and ``openapi`` documents it, so the two cannot drift apart.
Paths and status codes follow Kafka Connect's REST API.
"""

from __future__ import annotations

from typing import Any, Union

from .models import (
    ConfigInfos,
    ConfigKeyInfo,
    ConnectorExpansion,
    ConnectorInfo,
    ConnectorOffsets,
    ConnectorStateInfo,
    CreateConnectorRequest,
    ErrorMessage,
    FailbackRequest,
    FailoverRequest,
    Message,
    PluginInfo,
    ReplicationInfo,
    ReplicationPlan,
    ReplicationRun,
    ReplicationRuns,
    ServerInfo,
    TaskInfo,
    TaskState,
)
from .routing import QueryParam, Route

_ERRORS = {
    400: "Malformed JSON, an invalid connector config (every field error in 'errors'), or a request "
         "that contradicts itself",
    404: "No connector, task or plugin of that name",
    409: "The connector exists already, is not in the state this needs, or a concurrent change won",
    415: "The body is not application/json",
    422: "The body is JSON of the wrong shape",
    500: "An unexpected failure, or a reconfiguration that failed (the previous config was restored)",
    503: "The failover state machine is not configured or did not start (a run that was stored is FAILED "
         "with the reason)",
}


def _errors(*codes: int) -> dict[int, tuple[str, Any]]:
    return {code: (_ERRORS[code], ErrorMessage) for code in (*codes, 500)}


_BODY = (400, 415, 422)


def _flag(name: str, description: str) -> QueryParam:
    return QueryParam(name, description, {"type": "boolean", "default": False})


ROUTES: tuple[Route, ...] = (
    Route("GET", "/", "server_info", "Version of the service",
          {200: ("Version information", ServerInfo), **_errors()}),
    Route("GET", "/connectors", "list_connectors", "List connectors",
          {200: ("Connector names, or with 'expand' a map of name to the requested expansions",
                 Union[list[str], dict[str, ConnectorExpansion]]),
           **_errors()},
          query=(QueryParam("expand", "Include each connector's 'status' and/or 'info' (repeat the "
                                      "parameter for both); unknown values are ignored.",
                            {"type": "array", "items": {"type": "string"}, "examples": [["status", "info"]]}),)),
    Route("POST", "/connectors", "create_connector", "Create a connector",
          {201: ("Created; the tasks of its first split are running", ConnectorInfo),
           **_errors(*_BODY, 409)},
          request=CreateConnectorRequest),
    Route("GET", "/connectors/{name}", "get_connector", "A connector's config and tasks",
          {200: ("The connector", ConnectorInfo), **_errors(404)}),
    Route("DELETE", "/connectors/{name}", "delete_connector", "Delete a connector",
          {204: ("Deleted: its schedules, queue binding, configs and status are gone; offsets stay", None),
           **_errors(404)},
          description="Offsets stay, so a connector created again with the same name resumes where this "
                      "one stopped (reset them first to start over)."),
    Route("GET", "/connectors/{name}/config", "get_connector_config", "A connector's config",
          {200: ("The stored config", dict[str, Any]), **_errors(404)}),
    Route("PUT", "/connectors/{name}/config", "put_connector_config", "Create or update a connector",
          {200: ("Updated and re-split", ConnectorInfo), 201: ("Created", ConnectorInfo),
           **_errors(*_BODY, 409)},
          request=dict[str, Any], request_description="The whole connector config; 'name', when given, "
                                                      "must be the name in the path."),
    Route("GET", "/connectors/{name}/status", "get_connector_status", "A connector's state and its tasks' states",
          {200: ("The connector's status", ConnectorStateInfo), **_errors(404)}),
    Route("GET", "/connectors/{name}/tasks", "get_task_configs", "A connector's tasks and their configs",
          {200: ("The tasks (none while STOPPED)", list[TaskInfo]), **_errors(404)}),
    Route("GET", "/connectors/{name}/tasks/{task}/status", "get_task_status", "One task's state",
          {200: ("The task's status", TaskState), **_errors(404)}),
    Route("POST", "/connectors/{name}/restart", "restart_connector", "Restart a connector (and its tasks)",
          {202: ("Restarting: the connector's status after the restart was started", ConnectorStateInfo),
           204: ("Restarted the connector (includeTasks and onlyFailed both false)", None),
           **_errors(400, 404, 409)},
          query=(_flag("includeTasks", "Also restart the tasks."),
                 _flag("onlyFailed", "Restart only what is FAILED.")),
          description="Restarting the connector re-runs the reconfigure state machine (validate, split, "
                      "stage, promote). Restarting a task clears its FAILED state; a source task ticks at "
                      "once, a sink task runs with the next batch. See docs/admin-api.md."),
    Route("POST", "/connectors/{name}/tasks/{task}/restart", "restart_task", "Restart one task",
          {204: ("Restarted", None), **_errors(404, 409)}),
    Route("PUT", "/connectors/{name}/pause", "pause_connector", "Pause a connector",
          {202: ("Paused: ticks end at once and the sink's queue mappings are disabled", None),
           **_errors(404)}),
    Route("PUT", "/connectors/{name}/resume", "resume_connector", "Resume a paused or stopped connector",
          {202: ("Resumed", None), **_errors(404)}),
    Route("PUT", "/connectors/{name}/stop", "stop_connector", "Stop a connector (its offsets can then change)",
          {204: ("Stopped: no task runs; the config and offsets stay", None), **_errors(404)}),
    Route("GET", "/connectors/{name}/replication", "get_replication", "A replicator's verified watermarks and lag",
          {200: ("Per source queue, the highest offset the target cluster acknowledged (with that message's "
                 "born time and where it landed); per task, the lag it last measured", ReplicationInfo),
           **_errors(404)},
          description="Only for rocketmq-replicator connectors. The watermarks move as batches are "
                      "acknowledged (stored with the offset syncs, before the offsets are committed); "
                      "see docs/rocketmq.md."),
    Route("POST", "/connectors/{name}/replication/failover", "start_failover", "Fail a replication link over",
          {202: ("Started: the run (poll GET .../replication/runs/{id} for its report)", ReplicationRun),
           200: ("dry_run: what the run would do; nothing changed", ReplicationPlan),
           **_errors(*_BODY, 404, 409, 503)},
          request=FailoverRequest,
          description="Runs the failover state machine: planned (drain, stop, fence, apply the translated "
                      "group offsets on the target, record the divergence point, report) or unplanned (the "
                      "same without draining, offsets from the stored checkpoints, the source never called). "
                      "See docs/disaster-recovery.md."),
    Route("POST", "/connectors/{name}/replication/failback", "start_failback",
          "Start replicating back from the target (after a failover)",
          {202: ("Started", ReplicationRun), 200: ("dry_run: what the run would do", ReplicationPlan),
           **_errors(*_BODY, 404, 409, 503)},
          request=FailbackRequest,
          description="Creates or updates the reverse replicator '<name>-failback' (target → source) starting "
                      "at the target's offsets at the failover point, and starts it."),
    Route("GET", "/connectors/{name}/replication/runs", "list_replication_runs", "A link's failover and failback runs",
          {200: ("Runs, newest first", ReplicationRuns), **_errors(404)}),
    Route("GET", "/connectors/{name}/replication/runs/{run}", "get_replication_run", "One run and its report",
          {200: ("The run", ReplicationRun), **_errors(404)}),
    Route("POST", "/connectors/{name}/replication/runs/{run}/resume", "resume_replication_run",
          "Resume a failed run",
          {202: ("Resumed: steps already done are skipped", ReplicationRun), **_errors(404, 409, 503)}),
    Route("GET", "/connectors/{name}/offsets", "get_offsets", "A connector's committed offsets",
          {200: ("Source offsets by partition (a sink reads SQS, which has none: an empty list)",
                 ConnectorOffsets), **_errors(404)}),
    Route("PATCH", "/connectors/{name}/offsets", "alter_offsets", "Alter a stopped source connector's offsets",
          {200: ("Altered", Message), **_errors(*_BODY, 404, 409)},
          request=ConnectorOffsets,
          request_description="Offsets to write; an offset of null removes that partition's offset."),
    Route("DELETE", "/connectors/{name}/offsets", "reset_offsets", "Reset a stopped source connector's offsets",
          {200: ("Reset: the source starts over when resumed", Message), **_errors(400, 404, 409)}),
    Route("GET", "/connector-plugins", "list_plugins", "Connector plugins",
          {200: ("The connectors (and, with connectorsOnly=false, transforms, predicates and converters)",
                 list[PluginInfo]), **_errors(400)},
          query=(QueryParam("connectorsOnly", "List only connectors (the default).",
                            {"type": "boolean", "default": True}),)),
    Route("GET", "/connector-plugins/{plugin}/config", "get_plugin_config", "A connector plugin's config keys",
          {200: ("Every key with its type, default and documentation", list[ConfigKeyInfo]), **_errors(404)}),
    Route("PUT", "/connector-plugins/{plugin}/config/validate", "validate_config",
          "Validate a config against a connector plugin",
          {200: ("Every key with its value and errors (error_count 0: valid)", ConfigInfos),
           **_errors(*_BODY, 404)},
          request=dict[str, Any], request_description="A connector config; its 'connector', when given, must "
                                                      "name the plugin in the path."),
)
