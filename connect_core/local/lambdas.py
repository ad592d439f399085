"""The local Lambda service: runs the project's real handlers the way Lambda would, in this
process (the default) or in process sandboxes.

    service = LambdaService()
    service.register(LocalFunction(name="echo", arn=..., handler="app.handler",
                                   code_dir=Path("functions/echo"), environment={"TABLE": "t"}))
    service.invoke("echo", {"hello": "world"})         # the handler's JSON-round-tripped result

What a handler sees, as in Lambda:

- its module is loaded once per function (a "cold start"; a configuration change loads it again),
  from the function's own code directory under a private module name, so two functions' ``app.py``
  never collide; sibling modules it imports from its code directory are kept per function too;
- the event is a JSON round trip of what the caller passed, and so is the result;
- ``os.environ`` holds the function's variables plus Lambda's reserved ones
  (``AWS_LAMBDA_FUNCTION_NAME``, ``LAMBDA_TASK_ROOT``, ...) and ``AWS_SAM_LOCAL=true``, the marker
  ``sam local invoke`` sets (Powertools' tracer stays off) - in the handler's thread only (see
  ``environment``); the process's endpoint variables stay, so ``connect_core.aws.client()``
  reaches the emulator;
- a ``LambdaContext`` whose ``get_remaining_time_in_millis()`` counts down the function's Timeout;
- an exception becomes Lambda's error payload ``{"errorMessage", "errorType", "stackTrace"}``;
  a handler that runs past its Timeout has its result replaced by a ``Sandbox.Timedout`` error
  (Python cannot stop it early, so its side effects remain).

Concurrency: different functions run at once (a custom resource handler can wait for a state
machine whose tasks invoke another function, as on AWS), but one function runs one invocation
at a time - like a single Lambda sandbox, so module-level state is never shared between
concurrent calls. A handler that synchronously invokes its own function would wait on itself;
the wait gives up once the running call is past its Timeout and returns an error instead.
Modules outside a function's code directory (``connect_core``, boto3, ...) are shared by all
functions, as a layer would be - and so is their module-level state (Powertools' metrics, say)
between two functions that run at once, which Lambda would keep apart.

Process sandboxes: the functions named in ``sandboxed`` (names, ARNs or template logical IDs)
run instead in child processes (``sandbox``), as Lambda runs them: concurrent invocations of one
function run at the same time, each sandbox stays warm for the next invocation, a handler past
its Timeout is killed (``Sandbox.Timedout``), and a test can watch and kill running invocations:

    service = LambdaService(sandboxed={"poller"}, sandbox=SandboxOptions(preload=("faults",)))
    request_id = service.call_async("poller", {"task": 0})
    service.wait_for_running("poller")
    service.kill(request_id, signal.SIGKILL)   # the invocation fails with Runtime.ExitError
    service.stop()                             # every sandbox process is gone

An error in a sandbox comes back as Lambda's error payload only (no exception object crosses
the process boundary), so ``invoke()`` raises ``LambdaInvocationError`` for it.

Asynchronous invocations (``call_async``, the ``Event`` invocation type) are retried and sent to
destinations as the function's async invoke config says (``async_invoke``).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import importlib.util
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import traceback
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Deque, Iterable, Iterator, Mapping, Sequence

from .async_invoke import DEFAULT_RETRY_DELAYS, AsyncInvokeConfig, AsyncInvoker
from .clock import Clock, SystemClock
from .environment import function_environment

if TYPE_CHECKING:
    from .sandbox import Sandbox, SandboxOptions, SandboxPool

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT = "123456789012"
_HISTORY = 10_000
_LOCK_GRACE_S = 2.0


class LambdaInvocationError(RuntimeError):
    """An invocation failed outside the handler's own code (timeout, bad response, no such function).

    ``payload`` is the error as Lambda reports it: ``{"errorMessage", "errorType", ...}``.
    """

    def __init__(self, payload: Mapping[str, Any]) -> None:
        super().__init__(f"{payload.get('errorType')}: {payload.get('errorMessage')}")
        self.payload = dict(payload)


class ResourceNotFoundError(LookupError):
    """No function of that name or ARN is registered."""


@dataclass(frozen=True)
class LocalFunction:
    """What the service needs to run a function: its code, handler and configuration."""

    name: str
    handler: str
    code_dir: Path | None = None
    inline_code: str | None = None          # AWS::Lambda::Function Code.ZipFile (index.py)
    arn: str | None = None
    runtime: str = "python3.11"
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout: int = 3
    memory_size: int = 128
    layers: tuple[str, ...] = ()
    region: str = "us-east-1"
    account_id: str = DEFAULT_ACCOUNT
    logical_id: str | None = None           # the template's name for it, when deployed from one

    @property
    def function_arn(self) -> str:
        return self.arn or f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.name}"

    def check(self) -> None:
        """Raise ``ValueError`` if this function cannot run in-process."""
        if not self.runtime.startswith("python"):
            raise ValueError(f"function {self.name}: runtime {self.runtime} cannot run in-process "
                             "(only Python handlers do)")
        module_path, _, attr = self.handler.rpartition(".")
        if not module_path or not attr:
            raise ValueError(f"function {self.name}: handler {self.handler!r} is not module.function")
        if self.inline_code is None:
            if self.code_dir is None:
                raise ValueError(f"function {self.name}: no local code (its code is not a local "
                                 "path in the template)")
            if _module_file(self.code_dir, module_path) is None:
                raise ValueError(f"function {self.name}: handler module {module_path!r} not found "
                                 f"in {self.code_dir}")


@dataclass
class Invocation:
    """One invocation: what went in, what came out, when and how long."""

    function_name: str
    request_id: str
    event: Any
    result: Any = None                        # the response payload (the error payload on error)
    error: dict[str, Any] | None = None
    started_at: float = 0.0                   # on the service's clock (virtual in tests)
    duration_s: float = 0.0                   # real time the handler ran
    exception: BaseException | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class RunningInvocation:
    """An invocation in progress. ``pid`` is its sandbox's process, or None when it runs in this
    process (an in-process invocation cannot be killed)."""

    function_name: str
    request_id: str
    pid: int | None
    event: Any
    started_at: float                         # on the service's clock


class LambdaContext:
    """The context object Lambda's Python runtime passes (same attributes; memory is a string)."""

    def __init__(self, function: LocalFunction, request_id: str, deadline: float,
                 timer: Callable[[], float], invoked_arn: str | None = None) -> None:
        self.function_name = function.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = invoked_arn or function.function_arn
        self.memory_limit_in_mb = str(function.memory_size)
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function.name}"
        self.log_stream_name = _log_stream(request_id)
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = deadline
        self._timer = timer

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._timer()) * 1000))

    def __repr__(self) -> str:
        return (f"LambdaContext(function_name={self.function_name!r}, "
                f"aws_request_id={self.aws_request_id!r})")


class LambdaService:
    """A registry of local functions and the one place that runs their handlers.

    ``clock`` stamps invocations and times asynchronous retries (the runtime's clock, virtual in
    tests); ``timer`` measures how long an in-process handler runs against its Timeout (real,
    monotonic time unless a test injects one; sandboxes are always timed in real time).
    ``sandboxed``: the functions (names, ARNs or logical IDs; ``True``: all) that run in process
    sandboxes, set up by ``sandbox``. ``async_retry_delays``: the waits before an asynchronous
    event's first and second retry, on ``clock``.
    """

    def __init__(self, *, clock: Clock | None = None, timer: Callable[[], float] = time.monotonic,
                 enforce_timeout: bool = True, history: int = _HISTORY,
                 sandboxed: bool | Iterable[str] = (), sandbox: "SandboxOptions | None" = None,
                 async_retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS) -> None:
        self.clock = clock or SystemClock()
        self.timer = timer
        self.enforce_timeout = enforce_timeout
        self.invocations: Deque[Invocation] = collections.deque(maxlen=history)
        self.sandbox_options = sandbox
        self._sandboxed = sandboxed if isinstance(sandboxed, bool) else frozenset(sandboxed)
        self._functions: dict[str, LocalFunction] = {}
        self._arns: dict[str, str] = {}
        self._logical_ids: dict[str, str] = {}
        self._loaded: dict[str, _LoadedHandler] = {}
        self._registry_lock = threading.Lock()
        self._run_locks: dict[str, _RunLock] = {}
        self._pools: dict[str, "SandboxPool"] = {}
        self._running: dict[str, tuple[RunningInvocation, "Sandbox | None"]] = {}
        self._running_changed = threading.Condition()
        self._stopping = threading.Event()
        self._reaper: threading.Thread | None = None
        self._async = AsyncInvoker(self, async_retry_delays)

    # --- the registry ------------------------------------------------------------------------

    def register(self, function: LocalFunction) -> None:
        """Add or replace a function; a replaced one starts cold (its module is loaded again,
        its idle sandboxes stop; running invocations finish on the old configuration)."""
        function.check()
        pool = self._new_pool(function) if self.is_sandboxed(function) else None
        with self._registry_lock:
            old = self._functions.get(function.name)
            if old is not None:
                self._forget(old)
            self._functions[function.name] = function
            self._arns[function.function_arn] = function.name
            if function.logical_id:
                self._logical_ids[function.logical_id] = function.name
            self._loaded.pop(function.name, None)
            old_pool = self._pools.pop(function.name, None)
            if pool is not None:
                self._pools[function.name] = pool
        if old_pool is not None:
            old_pool.retire()

    def unregister(self, name_or_arn: str) -> None:
        with self._registry_lock:
            name = self._name(name_or_arn)
            if name is None:
                return
            function = self._functions.pop(name)
            self._forget(function)
            self._loaded.pop(name, None)
            pool = self._pools.pop(name, None)
        self._async.set_config(name, None)
        if pool is not None:
            pool.retire()

    def _forget(self, function: LocalFunction) -> None:
        self._arns.pop(function.function_arn, None)
        if function.logical_id and self._logical_ids.get(function.logical_id) == function.name:
            del self._logical_ids[function.logical_id]

    def get(self, name_or_arn: str) -> LocalFunction | None:
        """A function by name, ARN (qualified or not) or the logical ID it was deployed as."""
        name = self._name(name_or_arn)
        return self._functions.get(name) if name else None

    @property
    def functions(self) -> dict[str, LocalFunction]:
        return dict(self._functions)

    def is_sandboxed(self, function: LocalFunction | str) -> bool:
        """Whether a function (or the registered one of that name or ARN) runs in sandboxes."""
        if isinstance(function, str):
            found = self.get(function)
            return found is not None and found.name in self._pools
        if isinstance(self._sandboxed, bool):
            return self._sandboxed
        return bool({function.name, function.function_arn, function.logical_id} & self._sandboxed)

    def _name(self, name_or_arn: str) -> str | None:
        if name_or_arn.startswith("arn:"):
            parts = name_or_arn.split(":")
            if len(parts) >= 7 and parts[5] == "function":
                base = ":".join(parts[:7])
                name = self._arns.get(base)
                if name is None and parts[6] in self._functions:
                    name = parts[6]
                return name
            return None
        name = name_or_arn.split(":", 1)[0]   # "name:qualifier"
        if name in self._functions:
            return name
        return self._logical_ids.get(name)    # a template's logical ID, for tests' convenience

    def _require(self, name_or_arn: str) -> LocalFunction:
        function = self.get(name_or_arn)
        if function is None:
            raise ResourceNotFoundError(f"Function not found: {name_or_arn}")
        return function

    # --- asynchronous invocation settings -----------------------------------------------------

    def async_config(self, name_or_arn: str) -> AsyncInvokeConfig:
        """The function's asynchronous invocation settings (AWS's defaults if none were set)."""
        return self._async.config(self._require(name_or_arn).name)

    def set_async_config(self, name_or_arn: str, config: AsyncInvokeConfig | None) -> None:
        """Set (or with None, remove) what ``PutFunctionEventInvokeConfig`` would."""
        self._async.set_config(self._require(name_or_arn).name, config)

    # --- invoking ----------------------------------------------------------------------------

    def invoke(self, name_or_arn: str, event: Any = None, *, raise_errors: bool = True) -> Any:
        """The handler's result. On error: re-raise the handler's exception (or a
        ``LambdaInvocationError``, always for a sandboxed function) if ``raise_errors``, else
        return Lambda's error payload."""
        invocation = self.call(name_or_arn, event)
        if invocation.ok or not raise_errors:
            return invocation.result
        if invocation.exception is not None:
            raise invocation.exception
        raise LambdaInvocationError(invocation.error or {})

    def call(self, name_or_arn: str, event: Any = None) -> Invocation:
        """Run the function's handler once, synchronously (``RequestResponse``). A sandboxed
        function with every sandbox busy at its maximum concurrency is throttled
        (``LambdaInvocationError``, ``TooManyRequestsException``)."""
        return self._call(name_or_arn, event, wait=False)

    def call_async(self, name_or_arn: str, event: Any = None) -> str:
        """Accept an ``Event`` invocation and return its request ID; it runs on its own thread,
        with the retries and destinations of the function's async config (``async_invoke``)."""
        function = self._require(name_or_arn)
        payload = _json_copy(event, function)
        return self._async.submit(function.name, function.function_arn, name_or_arn, payload)

    @property
    def pending_async(self) -> int:
        """Asynchronous events running, or with a retry due by the clock's now."""
        return self._async.pending

    def wait_async(self, timeout: float = 30.0) -> bool:
        """Wait for pending ``Event`` invocations; True if none is left. A retry parked until a
        later time on the clock is not waited for (``next_retry_due``)."""
        return self._async.wait(timeout)

    def next_retry_due(self, after: float | None = None) -> float | None:
        """The clock time of the earliest parked asynchronous retry (strictly after ``after``)."""
        return self._async.next_retry_due(after)

    def history(self, name_or_arn: str | None = None) -> list[Invocation]:
        """Past invocations, oldest first, of one function or all."""
        if name_or_arn is None:
            return list(self.invocations)
        function = self.get(name_or_arn)
        name = function.name if function else name_or_arn
        return [i for i in self.invocations if i.function_name == name]

    def _call(self, name_or_arn: str, event: Any, *, request_id: str | None = None,
              wait: bool) -> Invocation:
        """One invocation; ``wait``: for a free sandbox rather than be throttled."""
        function = self._require(name_or_arn)
        invocation = Invocation(function_name=function.name,
                                request_id=request_id or str(uuid.uuid4()),
                                event=_json_copy(event, function), started_at=self.clock.now())
        if function.name in self._pools:
            self._run_sandboxed(function, invocation, name_or_arn, wait=wait)
        else:
            with self._registry_lock:
                run_lock = self._run_locks.setdefault(function.name, _RunLock(self.timer))
            with run_lock.holding(function), self._tracking(invocation, None):
                self._run(function, invocation, name_or_arn)
        self.invocations.append(invocation)
        return invocation

    # --- running invocations -----------------------------------------------------------------

    def running(self, name_or_arn: str | None = None) -> list[RunningInvocation]:
        """Invocations in progress, oldest first, of one function or all."""
        with self._running_changed:
            entries = [entry for entry, _ in self._running.values()]
        if name_or_arn is None:
            return entries
        function = self.get(name_or_arn)
        name = function.name if function else name_or_arn
        return [entry for entry in entries if entry.function_name == name]

    def wait_for_running(self, name_or_arn: str | None = None, *, count: int = 1,
                         timeout: float = 30.0) -> list[RunningInvocation]:
        """Wait until at least ``count`` invocations run; them. ``TimeoutError`` otherwise."""
        deadline = time.monotonic() + timeout
        with self._running_changed:
            while len(found := self.running(name_or_arn)) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(found)} of {count} invocations of "
                                       f"{name_or_arn or 'any function'} running after {timeout} s")
                self._running_changed.wait(remaining)
            return found

    def kill(self, request_id: str, signum: int = signal.SIGKILL) -> bool:
        """Send ``signum`` to the sandbox running ``request_id``; False if it is not running.
        The invocation then fails with ``Runtime.ExitError`` (Lambda's words for the signal)."""
        with self._running_changed:
            entry = self._running.get(request_id)
        if entry is None:
            return False
        running, sandbox = entry
        if sandbox is None:
            raise ValueError(f"{request_id} runs in this process ({running.function_name} is not "
                             "sandboxed): it cannot be killed")
        return sandbox.signal(signum)

    def sandbox_pids(self, name_or_arn: str | None = None) -> list[int]:
        """The processes of live sandboxes, idle or busy, of one function or all."""
        with self._registry_lock:
            pools = dict(self._pools)
        if name_or_arn is not None:
            function = self.get(name_or_arn)
            pools = {function.name: pools[function.name]} if function and \
                function.name in pools else {}
        return [pid for pool in pools.values() for pid in pool.pids]

    @contextlib.contextmanager
    def _tracking(self, invocation: Invocation, sandbox: "Sandbox | None") -> Iterator[None]:
        entry = RunningInvocation(function_name=invocation.function_name,
                                  request_id=invocation.request_id,
                                  pid=sandbox.pid if sandbox is not None else None,
                                  event=invocation.event, started_at=invocation.started_at)
        with self._running_changed:
            self._running[invocation.request_id] = (entry, sandbox)
            self._running_changed.notify_all()
        try:
            yield
        finally:
            with self._running_changed:
                self._running.pop(invocation.request_id, None)
                self._running_changed.notify_all()

    # --- stopping ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Drop parked asynchronous retries and stop every sandbox (a running invocation in one
        fails as terminated). Sandboxed functions cannot be invoked afterwards."""
        self._stopping.set()
        self._async.stop()
        with self._registry_lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.close()
        if self._reaper is not None and self._reaper is not threading.current_thread():
            self._reaper.join(timeout=5)

    # --- one run in a sandbox ----------------------------------------------------------------

    def _new_pool(self, function: LocalFunction) -> "SandboxPool":
        from .sandbox import SandboxOptions, SandboxPool

        if self._stopping.is_set():
            raise RuntimeError("the local Lambda service is stopped")
        if self.sandbox_options is None:
            self.sandbox_options = SandboxOptions()
        _live_services.add(self)
        self._start_reaper()
        return SandboxPool(function, self.sandbox_options, _parent_sys_path)

    def _run_sandboxed(self, function: LocalFunction, invocation: Invocation, invoked_as: str, *,
                       wait: bool) -> None:
        from .sandbox import PoolRetired, SandboxInitError

        while True:
            with self._registry_lock:
                pool = self._pools.get(function.name)
            if pool is None:
                raise ResourceNotFoundError(f"Function not found: {invoked_as}")
            try:
                sandbox = pool.acquire(invocation.request_id, wait=wait)
                break
            except PoolRetired:
                if self._stopping.is_set():
                    raise LambdaInvocationError({
                        "errorType": "ServiceException",
                        "errorMessage": "the local Lambda service is stopped"}) from None
                # re-registered meanwhile: the new configuration's pool takes it
            except SandboxInitError as exc:
                invocation.error = invocation.result = exc.payload
                return
        options = pool.options
        limit = function.timeout + options.timeout_grace_s if self.enforce_timeout else None
        try:
            with self._tracking(invocation, sandbox):
                started = time.monotonic()
                invocation.result, invocation.error = sandbox.invoke(
                    invocation.request_id, invocation.event,
                    invoked_as if invoked_as.startswith("arn:") else None, limit)
                invocation.duration_s = time.monotonic() - started
        finally:
            pool.release(sandbox)

    def _start_reaper(self) -> None:
        with self._registry_lock:
            if self._reaper is not None:
                return
            self._reaper = threading.Thread(target=self._stop_idle_sandboxes, daemon=True,
                                            name="lambda-sandbox-reaper")
        self._reaper.start()

    def _stop_idle_sandboxes(self) -> None:
        assert self.sandbox_options is not None
        idle_s = self.sandbox_options.idle_timeout_s
        while not self._stopping.wait(max(0.05, min(idle_s / 4, 5.0))):
            with self._registry_lock:
                pools = list(self._pools.values())
            for pool in pools:
                pool.stop_idle(idle_s)

    # --- one run in this process -------------------------------------------------------------

    def _run(self, function: LocalFunction, invocation: Invocation, invoked_as: str) -> None:
        env = _lambda_environment(function, invocation.request_id)
        code_dir = str(function.code_dir) if function.code_dir else None
        with function_environment(env), _ImportPath(code_dir):
            try:
                handler = self._handler(function)
            except BaseException as exc:  # noqa: BLE001 - an init error is the invocation's error
                invocation.error = _error_payload(exc, "Runtime.ImportModuleError",
                                                  request_id=invocation.request_id)
                invocation.result = invocation.error
                invocation.exception = exc
                return
            started = self.timer()
            deadline = started + function.timeout
            context = LambdaContext(function, invocation.request_id, deadline, self.timer,
                                    invoked_as if invoked_as.startswith("arn:") else None)
            try:
                result = handler(invocation.event, context)
            except Exception as exc:  # noqa: BLE001 - becomes Lambda's error payload
                invocation.duration_s = self.timer() - started
                invocation.error = _error_payload(exc, request_id=invocation.request_id)
                invocation.result = invocation.error
                invocation.exception = exc
                return
            finally:
                with _import_lock:
                    self._loaded[function.name].stash_private_modules()
            invocation.duration_s = self.timer() - started
        if self.enforce_timeout and invocation.duration_s > function.timeout:
            invocation.error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {invocation.request_id} Error: Task timed out after "
                                f"{function.timeout:.2f} seconds"}
            invocation.result = invocation.error
            return
        try:
            invocation.result = json.loads(json.dumps(result))
        except (TypeError, ValueError) as exc:
            invocation.error = {"errorType": "Runtime.MarshalError",
                                "errorMessage": f"Unable to marshal response: {exc}",
                                "requestId": invocation.request_id, "stackTrace": []}
            invocation.result = invocation.error

    def _handler(self, function: LocalFunction) -> Callable[[Any, LambdaContext], Any]:
        with _import_lock:
            loaded = self._loaded.get(function.name)
            if loaded is None:
                loaded = _LoadedHandler.load(function)
                self._loaded[function.name] = loaded
            loaded.restore_private_modules()
            return loaded.handler


# --- loading handlers ------------------------------------------------------------------------------

_counter = iter(range(1, 1 << 62))


def _module_file(code_dir: Path, module_path: str) -> Path | None:
    relative = Path(*re.split(r"[./]", module_path))
    for candidate in (code_dir / relative.with_suffix(".py"), code_dir / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


class _LoadedHandler:
    """A function's handler module, loaded under a private name, and its private sibling modules."""

    def __init__(self, function: LocalFunction, module: ModuleType,
                 handler: Callable[..., Any] | None, before: set[str]) -> None:
        self.function = function
        self.module = module
        self.handler = handler
        self._private: dict[str, ModuleType] = {}
        self._known = set(before)
        # Packages already loaded before this function's are shared (like a layer), never private.
        self._shared = {name.split(".", 1)[0] for name in before}
        self.stash_private_modules()

    @classmethod
    def load(cls, function: LocalFunction) -> "_LoadedHandler":
        module_path, _, attr = function.handler.rpartition(".")
        safe = re.sub(r"\W", "_", function.name)
        unique = f"_local_lambda_{safe}_{next(_counter)}"
        before = set(sys.modules)
        if function.inline_code is not None:
            module = ModuleType(unique)
            module.__file__ = f"<inline code of {function.name}>"
            sys.modules[unique] = module
            exec(compile(function.inline_code, module.__file__, "exec"), module.__dict__)  # noqa: S102
        else:
            assert function.code_dir is not None
            path = _module_file(function.code_dir, module_path)
            if path is None:
                raise ImportError(f"Unable to import module '{module_path}': no such file in "
                                  f"{function.code_dir}")
            spec = importlib.util.spec_from_file_location(unique, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[unique] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(unique, None)
                cls(function, module, None, before)  # drop what the failed init imported privately
                raise
        handler = getattr(module, attr, None)
        if not callable(handler):
            raise AttributeError(f"Handler '{attr}' missing on module '{module_path}'")
        return cls(function, module, handler, before)

    def stash_private_modules(self) -> None:
        """Move modules imported from this function's code directory out of ``sys.modules``."""
        code_dir = self.function.code_dir
        if code_dir is None:
            return
        root = str(code_dir.resolve())
        for name in list(self._private):
            if name in sys.modules:
                self._private[name] = sys.modules.pop(name)
        for name in set(sys.modules) - self._known:
            module = sys.modules.get(name)
            top = name.split(".", 1)[0]
            if top.startswith("_local_lambda_") or top in self._shared:
                continue
            file = getattr(module, "__file__", None) or ""
            paths = list(getattr(module, "__path__", []) or [])
            if any(str(p).startswith(root) for p in [file, *paths] if p):
                self._private[name] = sys.modules.pop(name)
        self._known = set(sys.modules)

    def restore_private_modules(self) -> None:
        sys.modules.update(self._private)


def _lambda_environment(function: LocalFunction, request_id: str) -> dict[str, str]:
    env = {str(k): str(v) for k, v in function.environment.items()}
    env.update({
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": _log_stream(request_id),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "LAMBDA_TASK_ROOT": str(function.code_dir or ""),
        "_HANDLER": function.handler,
        "AWS_REGION": function.region,
        "AWS_DEFAULT_REGION": function.region,
        "AWS_SAM_LOCAL": "true",
    })
    return env


def _json_copy(event: Any, function: LocalFunction) -> Any:
    """The event as the handler gets it: a JSON round trip (``None`` is ``{}``)."""
    try:
        return json.loads(json.dumps({} if event is None else event))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the event for {function.name} is not JSON: {exc}") from exc


def _parent_sys_path() -> list[str]:
    """This process's ``sys.path`` for a sandbox: absolute (a sandbox has its own idea of the
    current directory's role), without the code directories in-process calls put there."""
    with _import_lock:
        borrowed = set(_path_users)
        return [os.path.abspath(entry) if entry else os.getcwd() for entry in sys.path
                if isinstance(entry, str) and entry not in borrowed]


def _log_stream(request_id: str) -> str:
    return time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime()) + request_id.replace("-", "")


def _error_payload(exc: BaseException, error_type: str | None = None, *,
                   request_id: str = "") -> dict[str, Any]:
    here = __file__
    frames = traceback.format_list([frame for frame in traceback.extract_tb(exc.__traceback__)
                                    if frame.filename != here])
    return {"errorMessage": str(exc), "errorType": error_type or type(exc).__name__,
            "requestId": request_id, "stackTrace": frames}


_import_lock = threading.RLock()      # loading handlers and swapping private modules
_path_users: dict[str, int] = {}


class _ImportPath:
    """A function's code directory on ``sys.path`` (Lambda's /var/task) while any call of it runs."""

    def __init__(self, directory: str | None) -> None:
        self.directory = directory

    def __enter__(self) -> None:
        if self.directory:
            with _import_lock:
                _path_users[self.directory] = _path_users.get(self.directory, 0) + 1
                if _path_users[self.directory] == 1:
                    sys.path.insert(0, self.directory)

    def __exit__(self, *exc_info: Any) -> None:
        if self.directory:
            with _import_lock:
                _path_users[self.directory] -= 1
                if _path_users[self.directory] == 0:
                    del _path_users[self.directory]
                    try:
                        sys.path.remove(self.directory)
                    except ValueError:
                        pass


class _RunLock:
    """One invocation of a function at a time, and a way out when it hangs past its Timeout."""

    def __init__(self, timer: Callable[[], float]) -> None:
        self._lock = threading.Lock()
        self._timer = timer
        self._holder: tuple[LocalFunction, float] | None = None

    def holding(self, function: LocalFunction) -> "_Held":
        return _Held(self, function)

    def acquire(self, function: LocalFunction) -> None:
        while not self._lock.acquire(timeout=0.05):
            holder = self._holder
            if holder is None:
                continue
            running, since = holder
            if self._timer() - since > running.timeout + _LOCK_GRACE_S:
                raise LambdaInvocationError({
                    "errorType": "TooManyRequestsException",
                    "errorMessage": f"{function.name} waited for its running invocation, which is "
                                    f"past its {running.timeout} s timeout: the local runtime runs "
                                    "one invocation of a function at a time, so a function that "
                                    "synchronously invokes itself cannot complete in-process"})
        self._holder = (function, self._timer())

    def release(self) -> None:
        self._holder = None
        self._lock.release()


class _Held:
    def __init__(self, lock: _RunLock, function: LocalFunction) -> None:
        self.lock = lock
        self.function = function

    def __enter__(self) -> None:
        self.lock.acquire(self.function)

    def __exit__(self, *exc_info: Any) -> None:
        self.lock.release()


# Services with sandboxes: whatever ends this process, their child processes end first.
_live_services: "weakref.WeakSet[LambdaService]" = weakref.WeakSet()


@atexit.register
def _stop_sandboxes_at_exit() -> None:
    for service in list(_live_services):
        service.stop()
