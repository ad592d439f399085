"""The Lambda steps of the reconfigure state machine (statemachine/reconfigure.asl.json).

    prepare → Map over tasks: stage the task config (DynamoDB PutItem) and create or update its
    schedule (Scheduler) → commit | on any error: abort

``prepare`` validates the stored config and splits it (``task_configs(max_tasks)``) into a new
generation; the Map stages each task config where nothing reads it yet; ``commit`` promotes the
whole generation at once, removes tasks (and schedules) that no longer exist and reports RUNNING.
``abort`` drops what the failed run staged, removes schedules it created for tasks that never went
live, and reports FAILED with the reason — the running generation is untouched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Any, Mapping

from .. import aws
from ..config import validate_config
from ..errors import ConfigError, NotFoundError
from ..storage import State, Stores
from .lease_keeper import check_coverage

logger = logging.getLogger("connect_core.reconfigure")

_SCHEDULE_NAME = re.compile(r"[^0-9A-Za-z_.-]")


def schedule_name(connector: str, task: int) -> str:
    """A Scheduler-legal name (≤ 64 of [0-9A-Za-z-_.]) that is unique per connector and task."""
    base = f"{_SCHEDULE_NAME.sub('_', connector)}-task-{task}"
    if len(base) <= 64:
        return base
    digest = hashlib.sha256(connector.encode()).hexdigest()[:10]
    suffix = f"-{digest}-task-{task}"
    return connector[: 64 - len(suffix)] + suffix


@dataclass(frozen=True)
class SchedulerSettings:
    """Where schedules live and what they invoke (from the function's environment)."""

    group: str
    poller_arn: str
    role_arn: str

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> "SchedulerSettings":
        """The settings named in ``env`` (by default the process environment, read now)."""
        env = os.environ if env is None else env
        try:
            return cls(env["SCHEDULE_GROUP"], env["SOURCE_POLLER_ARN"], env["SCHEDULER_ROLE_ARN"])
        except KeyError as exc:
            raise RuntimeError(f"environment variable {exc.args[0]} is not set") from None

    def upsert(self, connector: str, task: int, expression: str) -> None:
        """Create or update one task's schedule (what the Map does with direct integrations)."""
        scheduler = aws.client("scheduler")
        args = dict(Name=schedule_name(connector, task), GroupName=self.group, ScheduleExpression=expression,
                    FlexibleTimeWindow={"Mode": "OFF"}, State="ENABLED",
                    Target={"Arn": self.poller_arn, "RoleArn": self.role_arn,
                            "Input": json.dumps({"connector": connector, "task": task}),
                            "RetryPolicy": {"MaximumRetryAttempts": 0}})
        try:
            scheduler.create_schedule(**args)
        except scheduler.exceptions.ConflictException:
            scheduler.update_schedule(**args)

    def delete(self, connector: str, tasks: list[int]) -> None:
        scheduler = aws.client("scheduler")
        for task in tasks:
            try:
                scheduler.delete_schedule(Name=schedule_name(connector, task), GroupName=self.group)
            except scheduler.exceptions.ResourceNotFoundException:
                pass

    def existing(self, connector: str) -> list[int]:
        """Task ids of the connector's schedules that exist now."""
        scheduler = aws.client("scheduler")
        prefix = schedule_name(connector, 0)[: -len("-task-0")] + "-task-"
        found = []
        token = None
        while True:
            kwargs: dict[str, Any] = {"GroupName": self.group, "NamePrefix": prefix}
            if token:
                kwargs["NextToken"] = token
            page = scheduler.list_schedules(**kwargs)
            for schedule in page.get("Schedules", []):
                tail = schedule["Name"][len(prefix):]
                if tail.isdigit():
                    found.append(int(tail))
            token = page.get("NextToken")
            if not token:
                return sorted(found)


class Reconfigurer:
    def __init__(self, stores: Stores, scheduler: SchedulerSettings | None, *,
                 source_timeout_s: float | None = None) -> None:
        self.stores = stores
        self.scheduler = scheduler
        #: The source function's timeout, against which continuous polling's coverage is checked.
        self.source_timeout_s = source_timeout_s

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        step = event.get("step")
        if step == "prepare":
            return self.prepare(event["connector"])
        if step == "commit":
            return self.commit(event)
        if step == "abort":
            return self.abort(event)
        raise ValueError(f"unknown reconfigure step {step!r} (prepare, commit, abort)")

    def prepare(self, name: str) -> dict[str, Any]:
        entry = self.stores.configs.get_connector(name)
        if entry is None:
            raise NotFoundError(f"connector {name!r} does not exist")
        connector = validate_config(entry.config)
        check_coverage(connector.config, self.source_timeout_s)
        max_tasks = connector.config.max_tasks
        task_configs = connector.task_configs(max_tasks)
        if connector.kind == "sink":
            task_configs = task_configs[:1]  # a sink scales with the queue's concurrency, not tasks
        if not task_configs:
            raise ConfigError.single("max_tasks", "the connector produced no tasks")
        if len(task_configs) > max_tasks:
            raise ConfigError.single("max_tasks", f"the connector split into {len(task_configs)} tasks, "
                                                  f"more than max_tasks={max_tasks}")
        previous = self.stores.configs.get_task_configs(name)
        generation = (entry.task_generation or 0) + 1
        scheduled = connector.kind == "source"
        expression = getattr(connector.config, "schedule", None)
        self.stores.status.put_connector_status(name, State.RESTARTING if previous else State.UNASSIGNED)
        return {
            "connector": name,
            "kind": connector.kind,
            "generation": generation,
            "task_count": len(task_configs),
            "previous_task_count": len(previous),
            "tasks": [{"connector": name, "task": i, "generation": generation, "config": config,
                       "scheduled": scheduled, "schedule_name": schedule_name(name, i),
                       "schedule_expression": expression, "input": {"connector": name, "task": i}}
                      for i, config in enumerate(task_configs)],
        }

    def commit(self, event: Mapping[str, Any]) -> dict[str, Any]:
        name, generation, count = event["connector"], int(event["generation"]), int(event["task_count"])
        self.stores.configs.promote_staged(name, generation, count)
        removed: list[int] = []
        if self.scheduler is not None and event.get("kind") == "source":
            removed = [t for t in self.scheduler.existing(name) if t >= count]
            self.scheduler.delete(name, removed)
        entry = self.stores.configs.get_connector(name)
        queue = entry.config.get("source_queue") if entry else None
        if queue:
            self.stores.configs.bind_queue(queue, name)
        self.stores.status.put_connector_status(name, State.RUNNING)
        for task in range(count):
            self.stores.status.put_task_status(name, task, State.UNASSIGNED)
        logger.info("reconfigured", extra={"connector": name, "generation": generation, "tasks": count,
                                           "removed_tasks": removed})
        return {"connector": name, "generation": generation, "task_count": count, "removed_tasks": removed}

    def abort(self, event: Mapping[str, Any]) -> dict[str, Any]:
        name = event["connector"]
        error = event.get("error") or {}
        reason = _reason(error)
        prepared = (event.get("state") or {}).get("prepared") or event.get("prepared") or {}
        generation = prepared.get("generation")
        discarded = self.stores.configs.discard_staged(name, generation) if generation else 0
        live = len(self.stores.configs.get_task_configs(name))
        orphaned: list[int] = []
        if self.scheduler is not None and prepared.get("kind") == "source":
            orphaned = [t for t in self.scheduler.existing(name) if t >= live]
            self.scheduler.delete(name, orphaned)
        if self.stores.configs.get_connector(name) is not None:
            self.stores.status.put_connector_status(name, State.FAILED, trace=reason)
        logger.error("reconfigure failed", extra={"connector": name, "reason": reason})
        return {"connector": name, "status": "FAILED", "reason": reason, "discarded": discarded,
                "removed_schedules": orphaned}


def _reason(error: Mapping[str, Any]) -> str:
    """The Catch output ({Error, Cause}) as one line; a Lambda error's Cause is its JSON."""
    cause = error.get("Cause", "")
    try:
        parsed = json.loads(cause)
        cause = parsed.get("errorMessage", cause)
    except (TypeError, ValueError):
        pass
    kind = error.get("Error", "Error")
    return f"{kind}: {cause}" if cause else str(kind)


def teardown(stores: Stores, scheduler: SchedulerSettings | None, name: str, *, delete_offsets: bool = False) -> None:
    """Stop a connector for good: its schedules, queue binding, configs and status go; offsets stay
    unless asked (a connector created again with the same name then resumes where it stopped)."""
    entry = stores.configs.get_connector(name)
    if scheduler is not None:
        scheduler.delete(name, scheduler.existing(name))
    if entry is not None:
        queue = entry.config.get("source_queue")
        if queue:
            stores.configs.unbind_queue(queue, name)
        stores.configs.delete_connector(name)
    if delete_offsets:
        stores.offsets.reset(name)
