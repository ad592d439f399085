"""The admin API: Kafka Connect's REST contract over the stores and the connector controller.

    api = AdminApi.from_environment()            # in the Lambda (or AdminApi(stores, controller))
    response = api.handle("GET", "/connectors", "expand=status", b"", {})
    response.status, response.json_body

Creates and updates go through :class:`~connect_core.runtime.controller.ConnectorController`, the
path a template's ``Custom::Connector`` takes (validate → store → reconfigure state machine →
restore on failure), so a connector made either way is the same connector. Pause, resume and stop
set the stored target state, which the runners honour. See docs/admin-api.md for the semantics.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, Mapping

from pydantic import BaseModel

from .. import __version__
from ..errors import ConfigError, ConflictError, NotFoundError
from ..runtime.controller import ConnectorController, ReconfigureFailed
from ..storage import ConnectorEntry, State, Stores, TargetState
from . import offsets as offsets_
from . import plugins, views
from .errors import (ApiError, BadRequest, Conflict, MethodNotAllowed, NotFound, ServerError, ServiceUnavailable,
                     Unprocessable, invalid_config)
from .lifecycle import SinkMappings, SourceTicks
from .models import (ConnectorExpansion, ConnectorOffsets, CreateConnectorRequest, FailbackRequest, FailoverRequest,
                     Message, ReplicationPlan, ReplicationRun, ReplicationRuns, ServerInfo)
from .routes import ROUTES
from .routing import Request, Response, Route, normalise_path, parse_query

logger = logging.getLogger("connect_core.admin")

ALTERED = "The offsets for this connector have been altered successfully"
RESET = "The offsets for this connector have been reset successfully"


class AdminApi:
    """Answers requests of Kafka Connect's REST API; transport-independent (see ``handle``).

    ``mappings``: how pausing reaches a sink's event source mappings; ``ticks``: how a restarted
    source task gets its tick at once; ``reconfigure_timeout_s``: how long a create, update or
    restart waits for the state machine when the request has no deadline of its own.
    """

    def __init__(self, stores: Stores, controller: ConnectorController, *,
                 mappings: SinkMappings | None = None, ticks: SourceTicks | None = None,
                 cluster_id: str = "", commit: str = "", worker_id: str = "admin-api",
                 reconfigure_timeout_s: float = 25.0, failover: "FailoverLauncher | None" = None) -> None:
        self.stores = stores
        self.controller = controller
        self.mappings = mappings or SinkMappings()
        self.ticks = ticks or SourceTicks(None)
        self.cluster_id = cluster_id
        self.commit = commit
        self.worker_id = worker_id
        self.reconfigure_timeout_s = reconfigure_timeout_s
        self.failover = failover or FailoverLauncher(None)

    @classmethod
    def from_settings(cls, env: Mapping[str, str], *, poll_interval_s: float = 0.5, **options: Any) -> "AdminApi":
        """The API over the tables, state machine and functions named in ``env`` (the variables the
        template gives the admin function)."""
        controller = ConnectorController.from_environment(env, poll_interval_s=poll_interval_s)
        options.setdefault("cluster_id", env.get("CONNECT_CLUSTER_ID") or env["CONFIGS_TABLE"])
        options.setdefault("commit", env.get("CONNECT_COMMIT", ""))
        options.setdefault("failover", FailoverLauncher(env.get("FAILOVER_STATE_MACHINE_ARN") or None))
        return cls(controller.stores, controller, mappings=SinkMappings(env.get("SINK_CONSUMER_ARN") or None),
                   ticks=SourceTicks(env["SOURCE_POLLER_ARN"]), **options)

    @classmethod
    def from_environment(cls) -> "AdminApi":
        return cls.from_settings(os.environ)

    # -- the transport-independent entry point -------------------------------------------------------

    def handle(self, method: str, path: str, query: str | Mapping[str, Any] | None = None,
               body: bytes | str | None = None, headers: Mapping[str, str] | None = None, *,
               remaining_ms: Callable[[], int] | None = None) -> Response:
        """One request; never raises. ``path`` is the raw (percent-encoded) path, ``query`` the raw
        query string or a mapping of parameter to value(s)."""
        request = Request(method=method.upper(), path=normalise_path(path), query=_query(query),
                          body=body.encode() if isinstance(body, str) else (body or b""),
                          headers={k.lower(): v for k, v in (headers or {}).items()}, remaining_ms=remaining_ms)
        try:
            route, params = self._route(request)
            request = Request(request.method, request.path, request.query, request.body, request.headers,
                              params, remaining_ms)
            response = getattr(self, route.operation)(request)
        except ApiError as exc:
            response = Response(exc.status, exc.body(), exc.headers)
        except ConfigError as exc:
            error = invalid_config(exc)
            response = Response(error.status, error.body())
        except NotFoundError as exc:
            response = Response(404, NotFound(str(exc)).body())
        except ConflictError as exc:
            response = Response(409, Conflict(str(exc)).body())
        except Exception as exc:  # noqa: BLE001 - every failure becomes an answer in Kafka's shape
            logger.exception("admin request failed", extra={"method": request.method, "path": request.path})
            response = Response(500, ServerError(f"{type(exc).__name__}: {exc}").body())
        logger.info("admin request", extra={"method": request.method, "path": request.path,
                                            "status": response.status})
        return response

    def _route(self, request: Request) -> tuple[Route, dict[str, str]]:
        allowed = []
        for route in ROUTES:
            params = route.match(request.path)
            if params is None:
                continue
            if route.method == request.method:
                return route, params
            allowed.append(route.method)
        if allowed:
            raise MethodNotAllowed(f"HTTP method {request.method} is not supported for {request.path}",
                                   headers={"Allow": ", ".join(sorted(set(allowed)))})
        raise NotFound(f"HTTP {request.method} {request.path}: no such resource")

    # -- server -------------------------------------------------------------------------------------

    def server_info(self, request: Request) -> Response:
        return _ok(ServerInfo(version=__version__, commit=self.commit, kafka_cluster_id=self.cluster_id))

    # -- connectors ---------------------------------------------------------------------------------

    def list_connectors(self, request: Request) -> Response:
        names = self.stores.configs.list_connectors()
        if "expand" not in request.query:
            return Response(200, names)
        expansions = {part.strip() for value in request.values("expand") for part in value.split(",")}
        out = {}
        for name in names:
            entry = self.stores.configs.get_connector(name)
            if entry is None:
                continue  # deleted while listing
            count = views.task_count(self.stores, entry) if expansions & {"status", "info"} else None
            item = ConnectorExpansion(
                status=views.connector_status(self.stores, entry, count) if "status" in expansions else None,
                info=views.connector_info(self.stores, entry, count) if "info" in expansions else None)
            out[name] = item.model_dump(mode="json", by_alias=True, exclude_none=True)
        return Response(200, out)

    def create_connector(self, request: Request) -> Response:
        body = request.body_as(CreateConnectorRequest)
        name = body.name.strip()
        config = _named(body.config, name)
        if self.stores.configs.get_connector(name) is not None:
            raise Conflict(f"Connector {name} already exists")
        entry = self._apply(config, request)
        return _ok(views.connector_info(self.stores, entry), 201, headers={"Location": f"/connectors/{name}"})

    def get_connector(self, request: Request) -> Response:
        return _ok(views.connector_info(self.stores, self._entry(request)))

    def get_connector_config(self, request: Request) -> Response:
        return Response(200, self._entry(request).config)

    def put_connector_config(self, request: Request) -> Response:
        name = request.params["name"]
        raw = request.json()
        if not isinstance(raw, dict):
            raise Unprocessable("the request body must be a JSON object holding the connector config")
        config = _named(raw, name)
        created = self.stores.configs.get_connector(name) is None
        entry = self._apply(config, request)
        info = views.connector_info(self.stores, entry)
        if created:
            return _ok(info, 201, headers={"Location": f"/connectors/{name}"})
        return _ok(info)

    def delete_connector(self, request: Request) -> Response:
        entry = self._entry(request)
        self.controller.delete(entry.name)
        return Response(204)

    def get_connector_status(self, request: Request) -> Response:
        return _ok(views.connector_status(self.stores, self._entry(request)))

    def get_replication(self, request: Request) -> Response:
        entry = self._entry(request)
        if entry.config.get("connector") != "rocketmq-replicator":
            raise NotFound(f"Connector {entry.name} is not a replicator (rocketmq-replicator)")
        return _ok(views.replication(self.stores, entry))

    # -- failover and failback ----------------------------------------------------------------------

    def start_failover(self, request: Request) -> Response:
        body = request.body_as(FailoverRequest)
        return self._start_run(request, body.mode, body.dry_run, drain_timeout_s=body.drain_timeout_s)

    def start_failback(self, request: Request) -> Response:
        body = request.body_as(FailbackRequest) if request.body.strip() else FailbackRequest()
        return self._start_run(request, "failback", body.dry_run)

    def list_replication_runs(self, request: Request) -> Response:
        engine = self._engine()
        name = self._entry(request).name
        return _ok(ReplicationRuns(runs=[ReplicationRun.model_validate(r) for r in engine.runs.list(name)]))

    def get_replication_run(self, request: Request) -> Response:
        run = self._engine().runs.get(self._entry(request).name, request.params["run"])
        return _ok(ReplicationRun.model_validate(run))

    def resume_replication_run(self, request: Request) -> Response:
        from ..runtime.failover import RunSuperseded

        engine = self._engine()
        name = self._entry(request).name
        run = engine.runs.get(name, request.params["run"])
        if run["status"] != "FAILED":
            raise Conflict(f"run {run['id']} is {run['status']}: only a FAILED run resumes")
        self.failover.require()
        try:
            run = engine.resume(name, run["id"])
        except RunSuperseded as exc:
            raise Conflict(f"{exc}: look at the run again") from None
        self._launch(engine, run)
        return _ok(ReplicationRun.model_validate(run), 202)

    def _start_run(self, request: Request, kind: str, dry_run: bool, **options: Any) -> Response:
        engine = self._engine()
        entry = self._entry(request)
        if dry_run:
            return _ok(ReplicationPlan.model_validate(engine.plan(entry.name, kind)))
        running = [r["id"] for r in engine.runs.list(entry.name) if r["status"] == "RUNNING"]
        if running:
            raise Conflict(f"run {running[0]} of {entry.name} is still running: wait for it, or look at its "
                           f"report (GET /connectors/{entry.name}/replication/runs/{running[0]})")
        self.failover.require()
        run = engine.begin(entry.name, kind, **{k: v for k, v in options.items() if v is not None})
        self._launch(engine, run)
        logger.info("replication run started", extra={"connector": entry.name, "run": run["id"], "kind": kind})
        return _ok(ReplicationRun.model_validate(run), 202, headers={
            "Location": f"/connectors/{entry.name}/replication/runs/{run['id']}"})

    def _launch(self, engine: Any, run: dict[str, Any]) -> None:
        """Start the run's execution; when it cannot start, the run is FAILED with the reason (so
        it neither blocks the next run nor leaves a waiting client polling) and the answer is 503."""
        try:
            self.failover.start(run["connector"], run["id"], attempt=run["attempt"])
        except Exception as exc:  # noqa: BLE001 - any refusal (no state machine, throttled, denied) ends the run
            reason = f"the failover state machine did not start: {type(exc).__name__}: {exc}"
            engine.fail(run["connector"], run["id"], reason, attempt=run["attempt"])
            logger.warning("replication run not started", extra={"connector": run["connector"], "run": run["id"],
                                                                 "error": reason})
            raise ServiceUnavailable(f"run {run['id']} of {run['connector']} is FAILED: {reason}. Fix the cause, "
                                     f"then resume it (POST /connectors/{run['connector']}/replication/runs/"
                                     f"{run['id']}/resume)") from exc

    def _engine(self) -> Any:
        from ..runtime.failover import FailoverEngine

        return FailoverEngine(self.stores, owner=self.worker_id)

    def get_task_configs(self, request: Request) -> Response:
        infos = views.task_infos(self.stores, self._entry(request))
        return Response(200, [info.model_dump(mode="json") for info in infos])

    def get_task_status(self, request: Request) -> Response:
        entry = self._entry(request)
        task = _task_id(request, entry.name)
        status = views.connector_status(self.stores, entry)
        for state in status.tasks:
            if state.id == task:
                return _ok(state)
        raise NotFound(f"No status found for task {entry.name}-{task}")

    # -- lifecycle ----------------------------------------------------------------------------------

    def pause_connector(self, request: Request) -> Response:
        self._set_target(self._entry(request), TargetState.PAUSED)
        return Response(202)

    def resume_connector(self, request: Request) -> Response:
        self._set_target(self._entry(request), TargetState.RUNNING)
        return Response(202)

    def stop_connector(self, request: Request) -> Response:
        self._set_target(self._entry(request), TargetState.STOPPED)
        return Response(204)

    def restart_connector(self, request: Request) -> Response:
        include_tasks, only_failed = request.flag("includeTasks"), request.flag("onlyFailed")
        entry = self._entry(request)
        if entry.target_state is TargetState.STOPPED:
            raise Conflict(f"Connector {entry.name} is STOPPED: resume it to run it again")
        before = views.connector_status(self.stores, entry)
        failed_tasks = [t.id for t in before.tasks if t.state == State.FAILED.value]
        if not only_failed or before.connector.state == State.FAILED.value:
            self._reconfigure(entry.name, request)
        if include_tasks:
            entry = self._entry(request)
            if not only_failed:
                # A new config version makes every warm function instance build the tasks afresh.
                self.stores.configs.put_connector(entry.name, entry.config, expected_version=entry.version)
            count = views.task_count(self.stores, entry)
            for task in (failed_tasks if only_failed else range(count)):
                if task < count:
                    self._restart_task(entry, task)
        if not include_tasks and not only_failed:
            return Response(204)
        return _ok(views.connector_status(self.stores, self._entry(request)), 202)

    def restart_task(self, request: Request) -> Response:
        entry = self._entry(request)
        task = _task_id(request, entry.name)
        if entry.target_state is TargetState.STOPPED:
            raise Conflict(f"Connector {entry.name} is STOPPED: resume it to run its tasks again")
        if task >= views.task_count(self.stores, entry):
            raise NotFound(f"Task {entry.name}-{task} not found")
        self._restart_task(entry, task)
        return Response(204)

    # -- offsets ------------------------------------------------------------------------------------

    def get_offsets(self, request: Request) -> Response:
        entry = self._entry(request)
        if views.connector_type(entry.config) == "sink":
            return _ok(ConnectorOffsets(offsets=[]))
        return _ok(offsets_.read_offsets(self.stores, entry.name))

    def alter_offsets(self, request: Request) -> Response:
        entry = self._entry(request)
        body = request.body_as(ConnectorOffsets)
        self._offsets_changeable(entry)
        if not body.offsets:
            raise BadRequest("Partitions / offsets need to be provided for an alter offsets request")
        offsets_.alter_offsets(self.stores, entry.name, len(self.stores.configs.get_task_configs(entry.name)),
                               body, self.worker_id)
        return _ok(Message(message=ALTERED))

    def reset_offsets(self, request: Request) -> Response:
        entry = self._entry(request)
        self._offsets_changeable(entry)
        offsets_.reset_offsets(self.stores, entry.name, len(self.stores.configs.get_task_configs(entry.name)),
                               self.worker_id)
        return _ok(Message(message=RESET))

    # -- plugins ------------------------------------------------------------------------------------

    def list_plugins(self, request: Request) -> Response:
        infos = plugins.plugin_infos(connectors_only=request.flag("connectorsOnly", True))
        return Response(200, [info.model_dump(mode="json", by_alias=True) for info in infos])

    def get_plugin_config(self, request: Request) -> Response:
        short, cls = plugins.find_plugin(request.params["plugin"])
        return Response(200, [d.model_dump(mode="json") for d in plugins.config_definitions(short, cls)])

    def validate_config(self, request: Request) -> Response:
        return _ok(plugins.validate_plugin_config(request.params["plugin"], request.json(),
                                                  validate=self.controller.validate))

    # -- internals ----------------------------------------------------------------------------------

    def _entry(self, request: Request) -> ConnectorEntry:
        name = request.params["name"]
        entry = self.stores.configs.get_connector(name)
        if entry is None:
            raise NotFound(f"Connector {name} not found")
        return entry

    def _deadline(self, request: Request) -> Callable[[], float]:
        """Seconds left to wait for the state machine, with a margin to answer in."""
        if request.remaining_ms is not None:
            remaining = request.remaining_ms
            return lambda: remaining() / 1000 - 3
        until = time.monotonic() + self.reconfigure_timeout_s
        return lambda: until - time.monotonic()

    def _apply(self, config: dict[str, Any], request: Request) -> ConnectorEntry:
        try:
            self.controller.apply(config, deadline=self._deadline(request))
        except ReconfigureFailed as exc:
            raise _reconfigure_error(exc) from None
        entry = self.stores.configs.get_connector(config["name"])
        if entry is None:
            raise ServerError(f"connector {config['name']!r} disappeared while it was being applied")
        self._settle(entry)
        return entry

    def _reconfigure(self, name: str, request: Request) -> None:
        try:
            self.controller.reconfigure(name, deadline=self._deadline(request))
        except ReconfigureFailed as exc:
            raise _reconfigure_error(exc) from None
        entry = self.stores.configs.get_connector(name)
        if entry is not None:
            self._settle(entry)

    def _settle(self, entry: ConnectorEntry) -> None:
        """After a reconfiguration (which reports RUNNING): report the target state where it is
        not RUNNING, and let the sink's queue mappings follow it."""
        if entry.target_state is not TargetState.RUNNING:
            self.stores.status.put_connector_status(entry.name, State(entry.target_state.value),
                                                    worker_id=self.worker_id)
        self._follow_queue(entry, entry.target_state)

    def _set_target(self, entry: ConnectorEntry, target: TargetState) -> None:
        self.stores.configs.set_target_state(entry.name, target)
        if target is TargetState.RUNNING:
            reported = self.stores.status.get_status(entry.name)
            if reported is not None and reported.connector.state in (State.PAUSED, State.STOPPED):
                self.stores.status.put_connector_status(entry.name, State.RUNNING, worker_id=self.worker_id)
        else:
            self.stores.status.put_connector_status(entry.name, State(target.value), worker_id=self.worker_id)
        self._follow_queue(entry, target)
        logger.info("target state set", extra={"connector": entry.name, "target_state": target.value})

    def _follow_queue(self, entry: ConnectorEntry, target: TargetState) -> None:
        queue = entry.config.get("source_queue")
        if queue and views.connector_type(entry.config) == "sink":
            self.mappings.set_enabled(queue, target is TargetState.RUNNING)

    def _restart_task(self, entry: ConnectorEntry, task: int) -> None:
        if views.connector_type(entry.config) != "source":
            # A sink task runs with the queue's next batch; until then it is unassigned.
            self.stores.status.put_task_status(entry.name, task, State.UNASSIGNED, worker_id=self.worker_id)
            return
        if entry.target_state is not TargetState.RUNNING:
            return  # a paused task restarts paused: its next tick reports it
        self.stores.status.put_task_status(entry.name, task, State.RESTARTING, worker_id=self.worker_id)
        self.ticks.tick_now(entry.name, task)

    def _offsets_changeable(self, entry: ConnectorEntry) -> None:
        if views.connector_type(entry.config) == "sink":
            raise BadRequest(f"Connector {entry.name} is a sink: it reads an SQS queue, which keeps no offsets "
                             "(consumed messages are deleted); there is nothing to alter or reset")
        if entry.target_state is not TargetState.STOPPED:
            raise Conflict(f"Connectors must be in the STOPPED state before their offsets can be modified. "
                           f"This can be done for the specified connector by issuing a 'PUT' request to the "
                           f"'/connectors/{entry.name}/stop' endpoint")


class FailoverLauncher:
    """Starts the failover state machine for a run: one execution per attempt, each with a name of
    its own (execution names are never reused), carrying the attempt it runs."""

    def __init__(self, state_machine_arn: str | None) -> None:
        self.state_machine_arn = state_machine_arn

    def require(self) -> None:
        """Refuse before anything is stored when there is no state machine to start."""
        if not self.state_machine_arn:
            raise ServiceUnavailable("this deployment has no failover state machine (FAILOVER_STATE_MACHINE_ARN "
                                     "is not set): nothing was started")

    def start(self, connector: str, run_id: str, *, attempt: int = 0) -> None:
        import json
        import uuid

        from .. import aws

        self.require()
        aws.client("stepfunctions").start_execution(
            stateMachineArn=self.state_machine_arn, name=execution_name(connector, run_id, attempt, uuid.uuid4().hex[:8]),
            input=json.dumps({"connector": connector, "run": run_id, "attempt": attempt}))


def execution_name(connector: str, run_id: str, attempt: int, unique: str) -> str:
    """At most 80 characters, the unique part always kept."""
    return f"{connector[:80 - len(run_id) - len(unique) - len(str(attempt)) - 5]}-{run_id}-a{attempt}-{unique}"


def _query(query: str | Mapping[str, Any] | None) -> dict[str, list[str]]:
    if query is None or isinstance(query, str):
        return parse_query(query)
    out: dict[str, list[str]] = {}
    for key, value in query.items():
        out[key] = [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
    return out


def _named(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The config with the name from the URL (Kafka's rule: a different 'name' is an error)."""
    out = plugins.kafka_aliases(config)
    included = out.get("name")
    if included is not None and included != name:
        raise BadRequest(f"Connector name configuration ({included}) doesn't match connector name in the "
                         f"URL ({name})")
    if not name:
        raise BadRequest("the connector needs a name")
    out["name"] = name
    return out


def _task_id(request: Request, connector: str) -> int:
    raw = request.params["task"]
    if not raw.isdigit():
        raise NotFound(f"Task {connector}-{raw} not found: task ids are numbers from 0")
    return int(raw)


def _reconfigure_error(exc: ReconfigureFailed) -> ApiError:
    text = f"{exc}; the connector was left as it was"
    if exc.kind == ConfigError.__name__:
        return BadRequest(text)
    if exc.kind == ConflictError.__name__:
        return Conflict(text)
    return ServerError(text)


def _ok(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, model.model_dump(mode="json", by_alias=True), headers or {})
