"""The local runtime: a SAM template deployed into the embedded endpoint, behaving like AWS.

    with LocalRuntime("template.yaml", {"Environment": "local"}, clock=VirtualClock(start)) as rt:
        rt.advance(300)                      # fire due schedules in order, drain the queues
        rt.invoke("SourcePollerFunction", {"connector": "demo", "task": 0})
        rt.outputs["ConfigsTableName"]

On start it starts the emulator (or uses the one it is given), routes moto's Lambda invocations
to the real handlers (``moto_hooks``), and deploys the template (``deploy``). Then:

- ``step()``: fire the schedules due by now, and one pass of every enabled SQS mapping;
- ``run_until_idle()``: repeat until a round fires nothing, invokes nothing and no state
  machine execution is running;
- ``advance(seconds)``: move a ``VirtualClock`` forward, firing every occurrence in order and
  draining the queues after each;
- ``run_forever()``: the same in real time, in the foreground (Ctrl-C stops it).

Schedules invoke their functions asynchronously, as on AWS, and a failed asynchronous
invocation is retried at its time on the runtime's clock (``advance`` stops there) and sent to
its destination as the function's ``EventInvokeConfig`` says (``async_invoke``).

``sandboxed``: the logical IDs of functions that run in process sandboxes (``sandbox``) rather
than in this process: concurrent invocations of one function overlap, and a test can watch and
kill them through ``runtime.lambdas``:

    with LocalRuntime("template.yaml", params, sandboxed={"SourcePollerFunction"},
                      sandbox=SandboxOptions(preload=("my_faults",))) as rt:
        rt.lambdas.running("SourcePollerFunction")     # a logical ID works here too
        rt.lambdas.kill(request_id, signal.SIGKILL)

``state_dir``: at ``stop()`` every DynamoDB table of the stack is saved to
``<state_dir>/dynamodb/<logical id>.json``, and on the next start each table is filled from its
file right after it is created (before anything that depends on it), so offsets survive.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from .clock import Clock, SystemClock, VirtualClock
from .deploy import Stack, StackDeployer, StackResource
from .esm import BatchResult, SqsEventSourcePoller
from .lambdas import LambdaService
from .scheduler import Firing, Scheduler
from .snapshot import restore_table, save_table, snapshot_path
from .template import load_template

if TYPE_CHECKING:
    from .emulator import EmbeddedAWS
    from .sandbox import SandboxOptions

log = logging.getLogger(__name__)

_FUNCTION = "AWS::Lambda::Function"
_TABLE = "AWS::DynamoDB::Table"
_STATE_MACHINE = "AWS::StepFunctions::StateMachine"


class NotIdleError(RuntimeError):
    """``run_until_idle`` ran out of rounds while work was still being done."""


@dataclass
class StepReport:
    """What one ``step()`` did."""

    fired: list[Firing] = field(default_factory=list)
    batches: list[BatchResult] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        return bool(self.fired) or any(batch.invoked for batch in self.batches)


class LocalRuntime:
    """A stack from ``template_path`` running on the embedded endpoint. See the module doc.

    ``clock``: a ``VirtualClock`` for tests (needed by ``advance``); the wall clock by default.
    ``immediate_retry``: failed SQS messages are visible again at once instead of after the
    queue's visibility timeout (see ``esm``). ``endpoint``: an ``EmbeddedAWS`` to use instead of
    starting one; then ``stop()`` also deletes the stack (``delete_on_stop``), since the endpoint
    outlives the runtime. ``sandboxed``: logical IDs of functions run in process sandboxes, set up
    by ``sandbox``. ``async_retry_delays``: the waits before the retries of a failed asynchronous
    invocation, on ``clock`` (AWS: about a minute, then two).
    """

    def __init__(self, template_path: str | Path, parameters: Mapping[str, Any] | None = None, *,
                 clock: Clock | None = None, state_dir: str | Path | None = None,
                 immediate_retry: bool = True, stack_name: str = "local",
                 endpoint: "EmbeddedAWS | None" = None, region: str | None = None,
                 delete_on_stop: bool | None = None, sandboxed: Iterable[str] = (),
                 sandbox: "SandboxOptions | None" = None,
                 async_retry_delays: Sequence[float] | None = None) -> None:
        self.template_path = Path(template_path)
        self.parameters = dict(parameters or {})
        self.clock = clock or SystemClock()
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.immediate_retry = immediate_retry
        self.stack_name = stack_name
        self.endpoint = endpoint
        self._region = region
        self._delete_on_stop = delete_on_stop
        self.sandboxed = frozenset(sandboxed)
        self.sandbox = sandbox
        self.async_retry_delays = async_retry_delays
        self._owns_endpoint = False
        self._activated = False
        self._started = False
        self.lambdas: LambdaService | None = None
        self.deployer: StackDeployer | None = None
        self.scheduler: Scheduler | None = None
        self.event_sources: SqsEventSourcePoller | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "LocalRuntime":
        if self._started:
            return self
        from . import moto_hooks
        from .emulator import EmbeddedAWS

        try:
            if self.endpoint is None:
                self.endpoint = EmbeddedAWS(**({"region": self._region} if self._region else {}))
            if not self.endpoint.running:
                self.endpoint.start()
                self._owns_endpoint = True
            if not self._points_at_endpoint():
                self.endpoint.activate()
                self._activated = True
            region = self._region or self.endpoint.region
            self.lambdas = LambdaService(clock=self.clock, sandboxed=self.sandboxed,
                                         sandbox=self.sandbox,
                                         **({"async_retry_delays": self.async_retry_delays}
                                            if self.async_retry_delays is not None else {}))
            moto_hooks.install(self.lambdas)
            self.deployer = StackDeployer(self.stack_name, lambdas=self.lambdas, region=region,
                                          on_created=self._restore)
            self.scheduler = Scheduler(self.lambdas, self.clock)
            self.event_sources = SqsEventSourcePoller(self.lambdas, self.clock,
                                                      immediate_retry=self.immediate_retry,
                                                      region=region)
            self._started = True
            self.deployer.deploy(load_template(self.template_path, self.parameters, region=region),
                                 self.parameters)
            self.scheduler.refresh()   # rate schedules start now, when they were deployed
        except BaseException:
            self._started = True
            self._shutdown(snapshot=False, delete=False)
            raise
        return self

    def stop(self) -> None:
        """Save the tables (with ``state_dir``), then undo what ``start()`` did."""
        if not self._started:
            return
        self._shutdown(snapshot=self.state_dir is not None, delete=self._deletes_on_stop())

    def __enter__(self) -> "LocalRuntime":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _deletes_on_stop(self) -> bool:
        return self._delete_on_stop if self._delete_on_stop is not None else not self._owns_endpoint

    def _shutdown(self, *, snapshot: bool, delete: bool) -> None:
        from . import moto_hooks

        try:
            if self.lambdas is not None:
                self.lambdas.wait_async(10)
            if snapshot and self.deployer is not None:
                self.save_state()
            if delete and self.deployer is not None and self.deployer.stack.resources:
                try:
                    self.deployer.delete()
                except Exception as exc:  # noqa: BLE001 - stopping must go on
                    log.warning("deleting stack %s: %s", self.stack_name, exc)
        finally:
            if self.lambdas is not None:
                self.lambdas.stop()           # every sandbox process ends with the runtime
                moto_hooks.uninstall(self.lambdas)
            if self.endpoint is not None:
                if self._owns_endpoint:
                    self.endpoint.stop()
                elif self._activated:
                    self.endpoint.deactivate()
            self._owns_endpoint = self._activated = self._started = False

    def _points_at_endpoint(self) -> bool:
        assert self.endpoint is not None
        return os.environ.get("AWS_ENDPOINT_URL") == self.endpoint.endpoint_url

    # --- the stack ---------------------------------------------------------------------------

    @property
    def stack(self) -> Stack:
        return self._require(self.deployer).stack

    @property
    def outputs(self) -> dict[str, Any]:
        return dict(self.stack.outputs)

    def physical_id(self, logical_id: str) -> str:
        return self.stack.physical_id(logical_id)

    def redeploy(self, template_path: str | Path | None = None,
                 parameters: Mapping[str, Any] | None = None, *,
                 disable_rollback: bool = False) -> Stack:
        """Update the stack to an edited template and/or changed parameter values (merged into
        the previous ones). Raises ``DeploymentError`` if the update fails and rolls back."""
        deployer = self._require(self.deployer)
        path = Path(template_path) if template_path is not None else self.template_path
        merged = {**self.parameters, **(parameters or {})}
        stack = deployer.deploy(load_template(path, merged, region=deployer.region), merged,
                                disable_rollback=disable_rollback)
        self.template_path, self.parameters = path, merged
        self._require(self.scheduler).refresh()
        return stack

    def save_state(self) -> None:
        """Write every table of the stack to ``state_dir`` now."""
        if self.state_dir is None:
            raise RuntimeError("this runtime has no state_dir")
        from .. import aws

        client = aws.client("dynamodb")
        for resource in self.stack.resources.values():
            if resource.type == _TABLE:
                count = save_table(client, resource.physical_id,
                                   snapshot_path(self.state_dir, resource.logical_id))
                log.info("saved %d items of %s", count, resource.logical_id)

    def _restore(self, resource: StackResource) -> None:
        if self.state_dir is None or resource.type != _TABLE:
            return
        from .. import aws

        count = restore_table(aws.client("dynamodb"), resource.physical_id,
                              snapshot_path(self.state_dir, resource.logical_id))
        if count:
            log.info("restored %d items into %s", count, resource.logical_id)

    # --- running -----------------------------------------------------------------------------

    def invoke(self, function: str, event: Any = None, *, raise_errors: bool = True) -> Any:
        """Invoke a function by logical ID, name or ARN; its JSON-round-tripped result."""
        return self._require(self.lambdas).invoke(self._function_name(function), event,
                                                  raise_errors=raise_errors)

    def invoke_async(self, function: str, event: Any = None) -> str:
        """Invoke a function asynchronously (``Event``), as a schedule does; the request ID."""
        return self._require(self.lambdas).call_async(self._function_name(function), event)

    def execute(self, state_machine: str, input: Any = None, *,
                timeout: float = 30.0) -> dict[str, Any]:
        """Run a state machine (logical ID or ARN) to its end; ``describe_execution``'s answer."""
        from .. import aws

        arn = state_machine
        resource = self.stack.resources.get(state_machine)
        if resource is not None and resource.type == _STATE_MACHINE:
            arn = resource.physical_id
        sfn = aws.client("stepfunctions")
        execution = sfn.start_execution(stateMachineArn=arn, name=f"local-{uuid.uuid4()}",
                                        input=json.dumps({} if input is None else input))
        deadline = time.monotonic() + timeout
        while True:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if described["status"] != "RUNNING":
                return described
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution of {state_machine} still running after {timeout} s")
            time.sleep(0.02)

    def step(self) -> StepReport:
        """Fire the schedules due by now and make one pass over every enabled SQS mapping."""
        scheduler = self._require(self.scheduler)
        fired = scheduler.fire_due()
        return StepReport(fired=fired, batches=self._require(self.event_sources).poll())

    def run_until_idle(self, max_rounds: int = 100, *, execution_timeout: float = 30.0) -> int:
        """Step until a round does nothing (and no execution runs); the number of busy rounds.

        Unlike ``step()``, a round lets the invocations its schedules started finish before it
        polls the queues, so what they sent is consumed in the same round."""
        busy = 0
        for _ in range(max_rounds):
            report, waited = self._round(fire=True, timeout=execution_timeout)
            if not report.busy and not waited:
                return busy
            busy += 1
        raise NotIdleError(f"still busy after {max_rounds} rounds (a message that always fails "
                           "without a redrive policy keeps the runtime busy)")

    def advance(self, seconds: float, *, max_rounds: int = 100) -> list[Firing]:
        """Move the virtual clock ``seconds`` forward: each occurrence fires at its time, each
        retry of a failed asynchronous invocation runs at its time, and the queues are drained
        before the clock moves on."""
        scheduler = self._require(self.scheduler)
        lambdas = self._require(self.lambdas)
        if not isinstance(self.clock, VirtualClock):
            raise TypeError("advance() needs the runtime to have a VirtualClock")
        fired = scheduler.advance(seconds, between=lambda: self._drain(max_rounds),
                                  wakeups=lambda: lambdas.next_retry_due(after=self.clock.now()))
        self._drain(max_rounds)
        return fired

    def run_forever(self, *, poll_interval: float = 1.0,
                    stop: threading.Event | None = None) -> None:
        """Run in real time until ``stop`` is set or Ctrl-C (a virtual clock follows real time)."""
        scheduler = self._require(self.scheduler)
        stop = stop or threading.Event()
        last = time.monotonic()
        try:
            while not stop.is_set():
                if isinstance(self.clock, VirtualClock):
                    now = time.monotonic()
                    self.clock.advance(now - last)
                    last = now
                report = self.step()
                if report.busy:
                    continue
                due = scheduler.next_due()
                pause = poll_interval if due is None else min(poll_interval,
                                                             max(0.0, due - self.clock.now()))
                stop.wait(pause)
        except KeyboardInterrupt:
            log.info("stopped")

    def _drain(self, max_rounds: int) -> None:
        for _ in range(max_rounds):
            report, waited = self._round(fire=False, timeout=30.0)
            if not report.busy and not waited:
                return
        raise NotIdleError(f"queues still busy after {max_rounds} rounds")

    def _round(self, *, fire: bool, timeout: float) -> tuple[StepReport, bool]:
        """Fire what is due (with ``fire``), let the background work finish, poll the queues once
        and let what that started finish; what happened, and whether there was background work.

        Waiting before the poll matters: schedules invoke asynchronously, and what a tick sends
        while the queues are being polled would otherwise wait for a later round (or, with a
        batching window, for the clock to move)."""
        fired = self._require(self.scheduler).fire_due() if fire else []
        waited = self._wait_for_background(timeout)
        batches = self._require(self.event_sources).poll()
        waited = self._wait_for_background(timeout) or waited
        return StepReport(fired=fired, batches=batches), waited

    def _wait_for_background(self, timeout: float) -> bool:
        """Wait for asynchronous invocations and running executions; True if there were any."""
        lambdas = self._require(self.lambdas)
        waited = lambdas.pending_async > 0
        lambdas.wait_async(timeout)
        from .. import aws

        sfn = aws.client("stepfunctions")
        deadline = time.monotonic() + timeout
        for resource in list(self.stack.resources.values()):
            if resource.type != _STATE_MACHINE:
                continue
            while sfn.list_executions(stateMachineArn=resource.physical_id,
                                      statusFilter="RUNNING").get("executions"):
                waited = True
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{resource.logical_id} executions still running after "
                                       f"{timeout} s")
                time.sleep(0.02)
        return waited

    def _function_name(self, function: str) -> str:
        resource = self.stack.resources.get(function)
        if resource is not None and resource.type == _FUNCTION:
            return resource.physical_id
        return function

    @staticmethod
    def _require(value: Any) -> Any:
        if value is None:
            raise RuntimeError("the local runtime is not started: call start() or use it as a "
                               "context manager")
        return value
