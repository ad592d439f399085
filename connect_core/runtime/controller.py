"""Creating, updating and deleting connectors: the one path the template's custom resource (and the
admin API) take.

``apply`` validates first (an invalid config changes nothing), stores the config, runs the
reconfigure state machine to completion and, if that fails, puts the previous config back — so a
failed change leaves the connector as it was.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .. import aws
from ..config import validate_config
from ..errors import ConnectError, NotFoundError
from ..storage import Stores
from .lease_keeper import check_coverage, function_timeout_from
from .reconfigure import SchedulerSettings, teardown

logger = logging.getLogger("connect_core.controller")


class ReconfigureFailed(ConnectError):
    """The reconfigure state machine failed; the previous config was restored.

    ``kind``: the error the state machine failed with (its cause reads ``"Kind: message"``, e.g.
    ``ConfigError``); None when it did not finish in time.
    """

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Applied:
    name: str
    version: int
    generation: int | None
    task_count: int
    execution_arn: str | None


class ConnectorController:
    def __init__(self, stores: Stores, state_machine_arn: str, scheduler: SchedulerSettings | None, *,
                 sleep: Callable[[float], None] = time.sleep, poll_interval_s: float = 0.5,
                 source_timeout_s: float | None = None) -> None:
        self.stores = stores
        self.state_machine_arn = state_machine_arn
        self.scheduler = scheduler
        self.sleep = sleep
        self.poll_interval_s = poll_interval_s
        #: The source function's timeout, against which continuous polling's coverage is checked.
        self.source_timeout_s = source_timeout_s

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None, *,
                         poll_interval_s: float = 0.5) -> "ConnectorController":
        """The controller over the tables, state machine and schedules named in ``env`` (by default
        the process environment, read now: the local runtime swaps ``os.environ``)."""
        env = os.environ if env is None else env
        try:
            arn = env["RECONFIGURE_STATE_MACHINE_ARN"]
        except KeyError:
            raise RuntimeError("environment variable RECONFIGURE_STATE_MACHINE_ARN is not set") from None
        return cls(Stores.from_environment(env=env), arn, SchedulerSettings.from_environment(env),
                   poll_interval_s=poll_interval_s, source_timeout_s=function_timeout_from(env))

    def validate(self, config: Mapping[str, Any]) -> Any:
        """The connector for ``config``, or ConfigError: the config's own rules, and whether this
        stack's source function can run it (continuous polling's timings)."""
        connector = validate_config(config)
        check_coverage(connector.config, self.source_timeout_s)
        return connector

    def apply(self, config: Mapping[str, Any], *, deadline: Callable[[], float] | None = None) -> Applied:
        """Create or update a connector and wait until its tasks run (or the change is undone)."""
        connector = self.validate(config)  # raises ConfigError: nothing is written
        name = connector.config.name
        stored = connector.config.model_dump(mode="json", exclude_unset=True)
        stored.update(name=name, connector=connector.config.connector)
        previous = self.stores.configs.get_connector(name)
        if previous is not None and previous.config == stored and previous.task_generation is not None:
            # Nothing to change (e.g. CloudFormation rolling back to the config that is running).
            return Applied(name, previous.version, previous.task_generation,
                           len(self.stores.configs.get_task_configs(name)), None)
        version = self.stores.configs.put_connector(name, stored,
                                                    expected_version=previous.version if previous else 0)
        try:
            execution = self.reconfigure(name, deadline=deadline)
        except Exception as exc:
            self._restore(name, previous, reason=str(exc))
            raise
        entry = self.stores.configs.get_connector(name)
        return Applied(name, version, entry.task_generation if entry else None,
                       len(self.stores.configs.get_task_configs(name)), execution)

    def reconfigure(self, name: str, *, deadline: Callable[[], float] | None = None) -> str:
        """Run the state machine for ``name`` and wait for it; raises ReconfigureFailed."""
        sfn = aws.client("stepfunctions")
        execution = sfn.start_execution(stateMachineArn=self.state_machine_arn,
                                        name=f"{name[:40]}-{uuid.uuid4().hex[:20]}",
                                        input=json.dumps({"connector": name}))["executionArn"]
        while True:
            described = sfn.describe_execution(executionArn=execution)
            status = described["status"]
            if status == "SUCCEEDED":
                return execution
            if status != "RUNNING":
                cause = described.get("cause") or described.get("error") or status
                raise ReconfigureFailed(f"reconfiguring {name!r} failed: {cause}", kind=cause.partition(":")[0])
            if deadline is not None and deadline() <= 0:
                raise ReconfigureFailed(f"reconfiguring {name!r} did not finish in time ({execution})")
            self.sleep(self.poll_interval_s)

    def delete(self, name: str, *, delete_offsets: bool = False) -> None:
        teardown(self.stores, self.scheduler, name, delete_offsets=delete_offsets)

    def _restore(self, name: str, previous: Any, reason: str) -> None:
        """Undo a change whose reconfiguration failed; the previous generation of tasks kept running."""
        try:
            if previous is None:
                self.delete(name)
                return
            self.stores.configs.put_connector(name, previous.config)
            self.stores.configs.set_target_state(name, previous.target_state)
            if previous.task_generation is not None:
                from ..storage import State

                self.stores.status.put_connector_status(name, State.RUNNING,
                                                        trace=f"the last change was rolled back: {reason}")
        except (NotFoundError, ConnectError):
            logger.exception("restoring the previous config failed", extra={"connector": name})
