"""``connectctl``: the command line of the admin API (Kafka Connect's REST contract).

Exit codes: 0 ok; 1 the API refused (its message is printed), could not be reached, or a config
did not validate; 2 the command line or an input file is wrong (nothing was sent).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

from .. import __version__
from .client import DEFAULT_URL, ApiError, ApiUnreachable, ConnectClient
from .files import UsageError, check_offset_entry, connector_file, offsets_file, parse_json_option
from .sigv4 import RequestSigner, SigningError, signing_target
from .tables import fields, flatten, table, trace_summary

PROG = "connectctl"


class Console:
    """Where results and notes go: tables (or the API's JSON) on stdout, notes and errors on stderr."""

    def __init__(self, output: str, stdout: TextIO, stderr: TextIO) -> None:
        self.json = output == "json"
        self.stdout, self.stderr = stdout, stderr

    def result(self, body: Any, human: Callable[[], str | None]) -> None:
        """``body`` as JSON (nothing for an empty answer), or the human rendering of it."""
        if self.json:
            if body is not None:
                self.stdout.write(json.dumps(body, indent=2) + "\n")
            return
        text = human()
        if text:
            self.stdout.write(text + "\n")

    def note(self, text: str) -> None:
        self.stderr.write(text + "\n")


Handler = Callable[[ConnectClient, argparse.Namespace, Console], int]


# --- connectors --------------------------------------------------------------------------------


def _list(client: ConnectClient, args: argparse.Namespace, console: Console) -> int:
    body = client.connectors(expand=("status", "info"))

    def human() -> str | None:
        if not body:
            console.note("no connectors")
            return None
        if isinstance(body, list):  # an API without ?expand answers with the names only
            return table(["NAME"], [[name] for name in sorted(body)])
        rows = []
        for name in sorted(body):
            status = body[name].get("status") or {}
            info = body[name].get("info") or {}
            config = info.get("config") or {}
            rows.append([name, status.get("type") or info.get("type"),
                         (status.get("connector") or {}).get("state"),
                         _task_states(status.get("tasks")) if "tasks" in status else None,
                         _plugin_of(config)])
        return table(["NAME", "TYPE", "STATE", "TASKS", "CONNECTOR"], rows)

    console.result(body, human)
    return 0


def _plugin_of(config: dict[str, Any]) -> Any:
    """The connector plugin a config names (``connector``, or Kafka's ``connector.class``)."""
    return config.get("connector") or config.get("connector.class")


def _task_states(tasks: list[dict[str, Any]] | None) -> str:
    if not tasks:
        return "none"
    counts: dict[str, int] = {}
    for task in tasks:
        state = task.get("state") or "UNKNOWN"
        counts[state] = counts.get(state, 0) + 1
    return ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))


def _get(client: ConnectClient, args: argparse.Namespace, console: Console) -> int:
    body = client.connector(args.name)
    console.result(body, lambda: _info_text(body))
    return 0


def _info_text(info: dict[str, Any]) -> str:
    tasks = ", ".join(str(t.get("task")) for t in info.get("tasks") or []) or "none"
    head = fields([("Name", info.get("name")), ("Type", info.get("type")), ("Tasks", tasks)])
    config = table(["FIELD", "VALUE"], flatten(info.get("config") or {}))
    return f"{head}\n\n{config}"


def _create(client: ConnectClient, args: argparse.Namespace, console: Console) -> int:
    name, config = connector_file(args.file)
    if name is None:
        raise UsageError(f"{args.file}: no connector name: give 'name' in the file")
    config.setdefault("name", name)
    body = client.create_connector(name, config)
    console.result(body, lambda: f"Created connector {name}{_kind_note(body, config)}.")
    return 0


def _update(client: ConnectClient, args: argparse.Namespace, console: Console) -> int:
    file_name, config = connector_file(args.file)
    name = args.name or file_name
    if name is None:
        raise UsageError(f"{args.file}: no connector name: give NAME or 'name' in the file")
    if file_name is not None and args.name and file_name != args.name:
        raise UsageError(f"{args.file} configures connector {file_name!r}, not {args.name!r}")
    config.setdefault("name", name)
    created, body = client.put_connector_config(name, config)
    verb = "Created" if created else "Updated"
    console.result(body, lambda: f"{verb} connector {name}{_kind_note(body, config)}.")
    return 0


def _kind_note(info: Any, config: dict[str, Any]) -> str:
    kind = info.get("type") if isinstance(info, dict) else None
    connector = _plugin_of(config)
    details = [str(d) for d in (kind, connector) if d]
    return f" ({', '.join(details)})" if details else ""


def _status(client: ConnectClient, args: argparse.Namespace, console: Console) -> int:
    if args.task is not None:
        task = client.task_status(args.name, args.task)
        console.result(task, lambda: _tasks_text([task], args.trace))
        return 0
    body = client.connector_status(args.name)
    console.result(body, lambda: _status_text(body, args.trace))
    return 0


def _status_text(status: dict[str, Any], full_trace: bool) -> str:
    connector = status.get("connector") or {}
    head = table(["CONNECTOR", "TYPE", "STATE", "WORKER", "TRACE"],
                 [[status.get("name"), status.get("type"), connector.get("state"), connector.get("worker_id"),
                   trace_summary(connector.get("trace"))]])
    parts = [head]
    if full_trace and connector.get("trace"):
        parts.append(f"connector trace:\n{connector['trace'].rstrip()}")
    tasks = status.get("tasks") or []
    parts.append(_tasks_text(tasks, full_trace) if tasks else "no tasks")
    return "\n\n".join(parts)


def _tasks_text(tasks: list[dict[str, Any]], full_trace: bool) -> str:
    if any(t.get("lag") for t in tasks):  # source tasks that measured their lag
        rows = [[t.get("id"), t.get("state"), *_lag_cells(t.get("lag")), t.get("worker_id"),
                 trace_summary(t.get("trace"))] for t in tasks]
        parts = [table(["TASK", "STATE", "MSGS_BEHIND", "SECONDS_BEHIND", "WORKER", "TRACE"], rows)]
    else:
        rows = [[t.get("id"), t.get("state"), t.get("worker_id"), trace_summary(t.get("trace"))] for t in tasks]
        parts = [table(["TASK", "STATE", "WORKER", "TRACE"], rows)]
    if full_trace:
        parts += [f"task {t.get('id')} trace:\n{t['trace'].rstrip()}" for t in tasks if t.get("trace")]
    return "\n\n".join(parts)


def _lag_cells(lag: dict[str, Any] | None) -> list[Any]:
    lag = lag or {}
    seconds = lag.get("seconds")
    return [lag.get("messages"), None if seconds is None else f"{seconds:.3f}"]


def _replication(client: ConnectClient, args: argparse.Namespace, console: Console) -> int:
    body = client.replication(args.name)

    def human() -> str:
        rows = [[f"{q['partition'].get('topic')}/{q['partition'].get('broker')}/{q['partition'].get('queue')}",
                 q.get("source_offset"), _ms_iso(q.get("born_timestamp")),
                 "/".join(str(part) for part in q.get("target") or []), q.get("target_offset")]
                for q in body.get("queues") or []]
        queues = table(["SOURCE QUEUE", "VERIFIED OFFSET", "BORN", "TARGET QUEUE", "TARGET OFFSET"], rows) \
            if rows else "no batch acknowledged by the target yet"
        return f"{queues}\n\n{_tasks_text(body.get('tasks') or [], False)}"

    console.result(body, human)
    return 0


# -- failover and failback ------------------------------------------------------------------------

def _failover(client: ConnectClient, args: argparse.Namespace, console: Console) -> int:
    mode = "planned" if args.planned else "unplanned"
    body = client.start_failover(args.name, mode, args.dry_run, args.drain_timeout)
    return _follow(client, args, console, body)


def _failback(client: ConnectClient, args: argparse.Namespace, console: Console) -> int:
    return _follow(client, args, console, client.start_failback(args.name, args.dry_run))


def _run_resume(client: ConnectClient, args: argparse.Namespace, console: Console) -> int:
    return _follow(client, args, console, client.resume_replication_run(args.name, args.run))


def _follow(client: ConnectClient, args: argparse.Namespace, console: Console, body: Any) -> int:
    """A dry run's plan is printed as it came; a run is waited for (unless --no-wait) at most
    --wait-timeout, then reported: exit 1 when it FAILED, 3 when it still runs."""
    if body.get("dry_run"):
        console.result(body, lambda: _plan_text(body))
        return 0
    if not args.no_wait:
        console.note(f"run {body['id']} started; waiting for it at most {args.wait_timeout:g} s "
                     "(Ctrl-C stops waiting, not the run)")
        deadline = time.monotonic() + args.wait_timeout
        while body["status"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(max(0.0, min(args.poll, deadline - time.monotonic())))
            body = client.replication_run(args.name, body["id"])
    console.result(body, lambda: _run_text(body))
    if body["status"] == "RUNNING" and not args.no_wait:
        console.note(f"{PROG}: run {body['id']} is still RUNNING after {args.wait_timeout:g} s; stopped waiting "
                     f"(the run goes on): `{PROG} replication status {args.name} {body['id']}` shows it")
        return 3
    return 1 if body["status"] == "FAILED" else 0


def _replication_status(client: ConnectClient, args: argparse.Namespace, console: Console) -> int:
    """A run's report, or the link's data at risk and its runs."""
    if args.run:
        body = client.replication_run(args.name, args.run)
        console.result(body, lambda: _run_text(body))
        return 0
    replication = client.replication(args.name)
    runs = client.replication_runs(args.name)["runs"]
    body = {"data_at_risk": replication.get("data_at_risk"), "runs": runs}

    def human() -> str:
        rows = [[r["id"], r["kind"], r["status"], _s_iso(r["created_at"]), _s_iso(r["finished_at"]),
                 (r.get("data_at_risk") or {}).get("messages")] for r in runs]
        text = _risk_text(body["data_at_risk"])
        if rows:
            text += "\n\n" + table(["RUN", "KIND", "STATUS", "STARTED", "FINISHED", "AT RISK (MSGS)"], rows)
            text += "\n\n" + _run_text(runs[0])
        return text

    console.result(body, human)
    return 0


def _risk_text(risk: dict[str, Any] | None) -> str:
    if not risk:
        return "data at risk: unknown (nothing replicated yet)"
    head = (f"data at risk: {risk['messages']} messages, {risk['seconds']:.3f} s of source production "
            f"(as observed at {_s_iso(risk.get('observed_at'))}; later production is unknown)")
    rows = [[f"{q['partition'].get('topic')}/{q['partition'].get('broker')}/{q['partition'].get('queue')}",
             q["verified_offset"], q["known_max_offset"], q["messages"], q["seconds"], q["bound"]]
            for q in risk.get("queues") or [] if q["messages"]]
    if rows:
        head += "\n" + table(["SOURCE QUEUE", "VERIFIED UP TO", "KNOWN MAX", "MESSAGES", "SECONDS", "BOUND"], rows)
    return head


def _run_text(run: dict[str, Any]) -> str:
    lines = [f"run {run['id']} ({run['kind']}) {run['status']}" + (f": {run['error']}" if run.get("error") else "")]
    lines.append(table(["STEP", "STATUS", "SECONDS", "DETAIL"],
                       [[s["name"], s["status"], s["seconds"], _step_detail(s)] for s in run["steps"]]))
    detail = next((s["detail"] for s in run["steps"] if s["name"] == "apply_offsets" and s["status"] == "done"), {})
    applied = detail.get("offsets")
    if applied:
        lines.append(table(["GROUP", "TARGET QUEUE", "OFFSET", "WAS", "APPLIED"],
                           [[o["group"], f"{o['topic']}/{o['broker']}/{o['queue']}", o["offset"], o.get("previous"),
                             o.get("applied")] for o in applied]))
    if detail.get("not_translated"):
        lines.append(_not_translated_text(detail["not_translated"]))
    if run.get("data_at_risk"):
        lines.append(_risk_text(run["data_at_risk"]))
    return "\n\n".join(lines)


def _not_translated_text(missing: list[dict[str, Any]]) -> str:
    """Groups and source queues left where they are on the target, and why."""
    return "not translated (these groups are not moved on these queues):\n" + table(
        ["GROUP", "SOURCE QUEUE", "REASON"],
        [[m["group"], f"{m['partition'].get('topic')}/{m['partition'].get('broker')}/{m['partition'].get('queue')}",
          m["reason"]] for m in missing])


def _step_detail(step: dict[str, Any]) -> str:
    detail = step.get("detail") or {}
    if "waiting_for" in detail and step["status"] != "done":
        return f"waiting for {detail['waiting_for']}"
    if step["name"] == "apply_offsets" and "offsets" in detail:
        return f"{sum(1 for o in detail['offsets'] if o.get('applied'))} of {len(detail['offsets'])} applied"
    if step["name"] == "report" and "messages" in detail:
        return f"{detail['messages']} messages at risk"
    if "reverse_connector" in detail:
        return str(detail["reverse_connector"])
    return ""


def _plan_text(plan: dict[str, Any]) -> str:
    lines = [f"dry run of a {plan['kind']} run of {plan['connector']}: nothing was changed",
             "steps: " + " -> ".join(plan["steps"])]
    if plan.get("offsets") is not None:
        lines.append(table(["GROUP", "TARGET QUEUE", "OFFSET"],
                           [[o["group"], f"{o['topic']}/{o['broker']}/{o['queue']}", o["offset"]]
                            for o in plan["offsets"]]) if plan["offsets"] else "no group offsets to apply")
    if plan.get("not_translated"):
        lines.append(_not_translated_text(plan["not_translated"]))
    if plan.get("data_at_risk") is not None:
        lines.append(_risk_text(plan["data_at_risk"]))
    if plan.get("reverse_connector"):
        lines.append(f"reverse connector: {plan['reverse_connector']['name']}, starting at "
                     + ", ".join(f"{o['partition']['topic']}/{o['partition']['queue']}@{o['offset']['queue_offset']}"
                                 for o in plan.get("reverse_offsets") or []))
    return "\n\n".join(lines)


def _s_iso(seconds: Any) -> str | None:
    return None if seconds is None else _ms_iso(seconds * 1000)


def _ms_iso(ms: Any) -> str | None:
    if ms is None:
        return None
    import datetime

    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).isoformat(timespec="milliseconds")


def _tasks(client: ConnectClient, args: argparse.Namespace, console: Console) -> int:
    body = client.task_configs(args.name)

    def human() -> str:
        if not body:
            return "no tasks"
        return table(["TASK", "CONFIG"], [[(t.get("id") or {}).get("task"), t.get("config")] for t in body])

    console.result(body, human)
    return 0


def _lifecycle(action: str, verb: str) -> Handler:
    def run(client: ConnectClient, args: argparse.Namespace, console: Console) -> int:
        body = getattr(client, f"{action}_connector")(args.name)
        console.result(body, lambda: f"{verb} connector {args.name}.")
        return 0

    return run


def _delete(client: ConnectClient, args: argparse.Namespace, console: Console) -> int:
    body = client.delete_connector(args.name)
    console.result(body, lambda: f"Deleted connector {args.name}.")
    return 0


def _restart(client: ConnectClient, args: argparse.Namespace, console: Console) -> int:
    if args.task is not None:
        if args.include_tasks or args.only_failed:
            raise UsageError("--task restarts one task: it does not combine with --include-tasks/--only-failed")
        body = client.restart_task(args.name, args.task)
        console.result(body, lambda: f"Restarted task {args.task} of connector {args.name}.")
        return 0
    body = client.restart_connector(args.name, include_tasks=args.include_tasks, only_failed=args.only_failed)

    def human() -> str:
        line = f"Restarting connector {args.name}" + (" and its tasks" if args.include_tasks else "") + \
            (" (only failed instances)" if args.only_failed else "") + "."
        return f"{line}\n\n{_status_text(body, False)}" if isinstance(body, dict) else line

    console.result(body, human)
    return 0


# --- offsets -----------------------------------------------------------------------------------


def _offsets_get(client: ConnectClient, args: argparse.Namespace, console: Console) -> int:
    body = client.offsets(args.name)

    def human() -> str | None:
        entries = (body or {}).get("offsets") or []
        if not entries:
            console.note(f"connector {args.name} has no committed offsets")
            return None
        rows = sorted(([e.get("partition"), e.get("offset")] for e in entries),
                      key=lambda row: json.dumps(row[0], sort_keys=True))
        return table(["PARTITION", "OFFSET"], rows)

    console.result(body, human)
    return 0


def _offsets_alter(client: ConnectClient, args: argparse.Namespace, console: Console) -> int:
    if args.file is not None:
        if args.partition is not None or args.offset is not None:
            raise UsageError("give either -f FILE or --partition with --offset, not both")
        offsets = offsets_file(args.file)
    else:
        if args.partition is None or args.offset is None:
            raise UsageError("give -f FILE, or --partition JSON together with --offset JSON")
        entry = {"partition": parse_json_option("--partition", args.partition),
                 "offset": parse_json_option("--offset", args.offset)}
        check_offset_entry(entry, "--partition/--offset")
        offsets = [entry]
    body = client.alter_offsets(args.name, offsets)
    console.result(body, lambda: _message(body, f"Altered {len(offsets)} offset(s) of connector {args.name}."))
    return 0


def _offsets_reset(client: ConnectClient, args: argparse.Namespace, console: Console) -> int:
    if args.partition:
        # Kafka's way to reset some partitions only: PATCH them with a null offset.
        offsets = [{"partition": parse_json_option("--partition", p), "offset": None} for p in args.partition]
        for entry in offsets:
            check_offset_entry(entry, "--partition")
        body = client.alter_offsets(args.name, offsets)
    else:
        body = client.reset_offsets(args.name)
    console.result(body, lambda: _message(body, f"Reset the offsets of connector {args.name}."))
    return 0


def _message(body: Any, fallback: str) -> str:
    return body["message"] if isinstance(body, dict) and isinstance(body.get("message"), str) else fallback


# --- plugins, validate, info -------------------------------------------------------------------


def _plugins(client: ConnectClient, args: argparse.Namespace, console: Console) -> int:
    if args.plugin is not None:
        if args.all:
            raise UsageError("--all lists plugins: it does not combine with a plugin name")
        keys = client.plugin_config(args.plugin)
        console.result(keys, lambda: table(
            ["KEY", "TYPE", "REQUIRED", "DEFAULT", "DOCUMENTATION"],
            [[k.get("name"), k.get("type"), "yes" if k.get("required") else "no", k.get("default_value"),
              k.get("documentation")] for k in keys or []]))
        return 0
    body = client.connector_plugins(connectors_only=not args.all)
    console.result(body, lambda: table(["CLASS", "TYPE", "VERSION"],
                                       [[p.get("class"), p.get("type"), p.get("version")] for p in body or []]))
    return 0


def _validate(client: ConnectClient, args: argparse.Namespace, console: Console) -> int:
    _, config = connector_file(args.file)
    plugin = args.plugin or _plugin_of(config)
    if not isinstance(plugin, str) or not plugin:
        raise UsageError(f"{args.file}: no 'connector' in the config: give it, or --plugin NAME")
    body = client.validate_config(plugin, config)
    errors = _validation_errors(body)
    label = config.get("name") or plugin
    if console.json:
        console.result(body, lambda: None)
    elif errors:
        listed = "\n".join(f"  {field or '(config)'}: {message}" for field, message in errors)
        console.note(f"{PROG}: config of {label} is invalid ({len(errors)} error"
                     f"{'s' if len(errors) != 1 else ''}):\n{listed}")
    else:
        console.result(body, lambda: f"Config of {label} is valid (connector {plugin}).")
    return 1 if errors else 0


def _validation_errors(body: Any) -> list[tuple[str, str]]:
    """(field, message) pairs from Kafka's answer: ``configs[].value.{name, errors}``."""
    if not isinstance(body, dict):
        return []
    out = []
    for entry in body.get("configs") or []:
        value = entry.get("value") or {}
        for message in value.get("errors") or []:
            out.append((value.get("name") or "", str(message)))
    if not out and isinstance(body.get("error_count"), int) and body["error_count"] > 0:
        out.append(("", f"{body['error_count']} error(s), not itemised by the API"))
    return out


def _info(client: ConnectClient, args: argparse.Namespace, console: Console) -> int:
    body = client.server_info()
    console.result(body, lambda: fields([("URL", client.url), *((body or {}).items())]))
    return 0


# --- local -------------------------------------------------------------------------------------


def _local_up(args: argparse.Namespace, console: Console) -> int:
    template = Path(args.template)
    if not template.is_file():
        raise UsageError(f"--template: no such file: {template}")
    parameters: dict[str, str] = {}
    for item in args.parameter or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--parameter: expected KEY=VALUE, not {item!r}")
        parameters[key] = value
    from ..admin.local import run

    try:
        run(args.port, template, parameters or None, Path(args.state_dir) if args.state_dir else None)
    except ModuleNotFoundError as exc:  # moto and samtranslator come with the dev extra only
        console.note(f"{PROG}: local up needs the dev extra (pip install '.[dev]'): missing {exc.name}")
        return 1
    return 0


# --- the parser --------------------------------------------------------------------------------


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Also accepted after the command (`connectctl connectors list -o json`); a value given after
    # the command wins, and where none is given the one before the command stays.
    default = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("API options")
    group.add_argument("--url", default=default,
                       help=f"base URL of the admin API (env CONNECTCTL_URL; default {DEFAULT_URL})")
    group.add_argument("-o", "--output", choices=("table", "json"), default=default,
                       help="table (default) or the API's JSON")
    group.add_argument("--sigv4", action="store_true", default=False if top else argparse.SUPPRESS,
                       help="sign requests with AWS SigV4 (automatic for execute-api and Lambda URL hosts; "
                            "env CONNECTCTL_SIGV4=1)")
    group.add_argument("--region", default=default,
                       help="AWS region to sign for (default: from the host name, else AWS_REGION)")
    group.add_argument("--timeout", type=_seconds, default=default, metavar="SECONDS",
                       help="seconds to wait for an answer (default 60)")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, not {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Manage connectors through the admin API (Kafka Connect's REST contract).",
        epilog="Exit codes: 0 ok, 1 the API refused or could not be reached (or a config is invalid), "
               "2 usage error.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _global_options(parser, top=True)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, top=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(group: Any, name: str, handler: Handler | None, help_text: str) -> argparse.ArgumentParser:
        sub = group.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    connectors = commands.add_parser("connectors", help="list, create, change and control connectors")
    on_connectors = connectors.add_subparsers(dest="action", metavar="ACTION", required=True)
    command(on_connectors, "list", _list, "connectors with their type, state and tasks")
    command(on_connectors, "get", _get, "a connector's config and tasks").add_argument("name")
    sub = command(on_connectors, "create", _create, "create a connector from a JSON file")
    sub.add_argument("-f", "--file", required=True,
                     help='{"name": ..., "config": {...}} or a bare config with a name; - reads stdin')
    sub = command(on_connectors, "update", _update, "create or replace a connector's config from a JSON file")
    sub.add_argument("name", nargs="?", help="connector name (default: the name in the file)")
    sub.add_argument("-f", "--file", required=True, help="like create; - reads stdin")
    sub = command(on_connectors, "status", _status, "the state of a connector and its tasks")
    sub.add_argument("name")
    sub.add_argument("--task", type=int, metavar="ID", help="one task only")
    sub.add_argument("--trace", action="store_true", help="print failure traces in full")
    command(on_connectors, "tasks", _tasks, "the task configs of a connector").add_argument("name")
    command(on_connectors, "replication", _replication,
            "a replicator's verified watermark per source queue and its tasks' lag").add_argument("name")
    for action, verb, help_text in (
            ("pause", "Pausing", "pause a connector: its tasks stop polling or consuming, offsets stay"),
            ("resume", "Resuming", "resume a paused or stopped connector"),
            ("stop", "Stopping", "stop a connector (its tasks are shut down; offsets can then be changed)")):
        command(on_connectors, action, _lifecycle(action, verb), help_text).add_argument("name")
    sub = command(on_connectors, "restart", _restart, "restart a connector, its tasks, or one task")
    sub.add_argument("name")
    sub.add_argument("--include-tasks", action="store_true", help="restart the tasks too")
    sub.add_argument("--only-failed", action="store_true", help="restart only instances that FAILED")
    sub.add_argument("--task", type=int, metavar="ID", help="restart this one task")
    command(on_connectors, "delete", _delete, "delete a connector").add_argument("name")

    replication = commands.add_parser("replication", help="fail a replication link over or back, and its reports")
    on_replication = replication.add_subparsers(dest="action", metavar="ACTION", required=True)

    def waits(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--no-wait", action="store_true", help="print the started run and return")
        sub.add_argument("--poll", type=_seconds, default=2.0, metavar="SECONDS", help="how often to look (2)")
        # not --timeout: that is every command's wait for one API answer
        sub.add_argument("--wait-timeout", type=_seconds, default=900.0, metavar="SECONDS",
                         help="stop waiting after this long, exit 3; the run goes on (900)")

    sub = command(on_replication, "failover", _failover,
                  "stop replicating A -> B and move the consumer groups to B (docs/disaster-recovery.md)")
    sub.add_argument("name")
    how = sub.add_mutually_exclusive_group(required=True)
    how.add_argument("--planned", action="store_true", help="A is healthy: drain first, nothing is lost")
    how.add_argument("--unplanned", action="store_true", help="A is unreachable: never call it; report the data at risk")
    sub.add_argument("--dry-run", action="store_true", help="print the steps and offsets; change nothing")
    sub.add_argument("--drain-timeout", type=_seconds, metavar="SECONDS", help="planned: wait this long to drain (300)")
    waits(sub)
    sub = command(on_replication, "failback", _failback,
                  "replicate B -> A from the failover point (connector NAME-failback)")
    sub.add_argument("name")
    sub.add_argument("--dry-run", action="store_true", help="print what would happen; change nothing")
    waits(sub)
    sub = command(on_replication, "status", _replication_status,
                  "the link's data at risk and its runs, or one run's report")
    sub.add_argument("name")
    sub.add_argument("run", nargs="?", help="a run id: its report")
    sub = command(on_replication, "resume", _run_resume, "resume a FAILED run (steps already done are skipped)")
    sub.add_argument("name")
    sub.add_argument("run")
    waits(sub)

    offsets = commands.add_parser("offsets", help="read, alter or reset a connector's committed offsets")
    on_offsets = offsets.add_subparsers(dest="action", metavar="ACTION", required=True)
    command(on_offsets, "get", _offsets_get, "the committed offsets of a connector").add_argument("name")
    sub = command(on_offsets, "alter", _offsets_alter, "set offsets of a STOPPED connector")
    sub.add_argument("name")
    sub.add_argument("-f", "--file", help='{"offsets": [{"partition": {...}, "offset": {...}}]} (- reads stdin)')
    sub.add_argument("--partition", metavar="JSON", help="one partition, e.g. '{\"shard\": 0}'")
    sub.add_argument("--offset", metavar="JSON", help="its new offset, e.g. '{\"position\": 42}'")
    sub = command(on_offsets, "reset", _offsets_reset, "forget offsets of a STOPPED connector")
    sub.add_argument("name")
    sub.add_argument("--partition", action="append", metavar="JSON",
                     help="reset only this partition (repeatable); default: every partition")

    sub = command(commands, "plugins", _plugins, "the connector plugins the API offers, or one plugin's config keys")
    sub.add_argument("plugin", nargs="?", metavar="NAME", help="show the config keys of this connector plugin")
    sub.add_argument("--all", action="store_true", help="also transforms, predicates and converters")
    sub = command(commands, "validate", _validate, "validate a connector config file without creating it")
    sub.add_argument("-f", "--file", required=True, help="like create; - reads stdin")
    sub.add_argument("--plugin", help="connector plugin to validate against (default: the config's 'connector')")
    command(commands, "info", _info, "the API's version")

    local = commands.add_parser("local", help="run the admin API locally")
    on_local = local.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = on_local.add_parser("up", help="deploy a template on the embedded AWS endpoint and serve the API "
                                         "until interrupted")
    sub.set_defaults(handler=None)
    sub.add_argument("--port", type=int, default=8083, help="port on 127.0.0.1 (default 8083)")
    sub.add_argument("--template", default="template.yaml", help="SAM template (default template.yaml)")
    sub.add_argument("--parameter", action="append", metavar="KEY=VALUE", help="template parameter (repeatable)")
    sub.add_argument("--state-dir", help="keep the tables here between runs (default: in memory)")
    return parser


def _client(args: argparse.Namespace) -> ConnectClient:
    url = args.url or os.environ.get("CONNECTCTL_URL") or DEFAULT_URL
    force = args.sigv4 or os.environ.get("CONNECTCTL_SIGV4", "").lower() in ("1", "true", "yes")
    try:
        target = signing_target(url, force=force, region=args.region)
        return ConnectClient(url, signer=RequestSigner(target) if target else None,
                             timeout=args.timeout or 60.0, user_agent=f"{PROG}/{__version__}")
    except ValueError as exc:
        raise UsageError(f"--url: {exc}") from None


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    args = build_parser().parse_args(argv)
    console = Console(getattr(args, "output", None) or "table", stdout, stderr)
    try:
        if args.handler is None:
            return _local_up(args, console)
        return args.handler(_client(args), args, console)
    except UsageError as exc:
        console.note(f"{PROG}: {exc}")
        return 2
    except ApiError as exc:
        first, newline, rest = exc.message.partition("\n")
        console.note(f"{PROG}: {first} (HTTP {exc.status}){newline}{rest}")
        return 1
    except (ApiUnreachable, SigningError) as exc:
        console.note(f"{PROG}: {exc}")
        return 1
    except BrokenPipeError:
        # The reader went away (`connectctl ... | head`); stop quietly like other command-line tools.
        if stdout is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
