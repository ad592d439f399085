"""The in-process Lambda service: runs the project's real handlers the way Lambda would.

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
functions, as a layer would be.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import logging
import re
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Deque, Mapping

from .clock import Clock, SystemClock
from .environment import function_environment

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

    ``clock`` stamps invocations (the runtime's clock, virtual in tests); ``timer`` measures how
    long a handler runs against its Timeout (real, monotonic time unless a test injects one).
    """

    def __init__(self, *, clock: Clock | None = None, timer: Callable[[], float] = time.monotonic,
                 enforce_timeout: bool = True, history: int = _HISTORY) -> None:
        self.clock = clock or SystemClock()
        self.timer = timer
        self.enforce_timeout = enforce_timeout
        self.invocations: Deque[Invocation] = collections.deque(maxlen=history)
        self._functions: dict[str, LocalFunction] = {}
        self._arns: dict[str, str] = {}
        self._loaded: dict[str, _LoadedHandler] = {}
        self._registry_lock = threading.Lock()
        self._run_locks: dict[str, _RunLock] = {}
        self._async: set[threading.Thread] = set()

    # --- the registry ------------------------------------------------------------------------

    def register(self, function: LocalFunction) -> None:
        """Add or replace a function; a replaced one starts cold (its module is loaded again)."""
        function.check()
        with self._registry_lock:
            old = self._functions.get(function.name)
            if old is not None:
                self._arns.pop(old.function_arn, None)
            self._functions[function.name] = function
            self._arns[function.function_arn] = function.name
            self._loaded.pop(function.name, None)

    def unregister(self, name_or_arn: str) -> None:
        with self._registry_lock:
            name = self._name(name_or_arn)
            if name is None:
                return
            function = self._functions.pop(name)
            self._arns.pop(function.function_arn, None)
            self._loaded.pop(name, None)

    def get(self, name_or_arn: str) -> LocalFunction | None:
        name = self._name(name_or_arn)
        return self._functions.get(name) if name else None

    @property
    def functions(self) -> dict[str, LocalFunction]:
        return dict(self._functions)

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
        return name if name in self._functions else None

    # --- invoking ----------------------------------------------------------------------------

    def invoke(self, name_or_arn: str, event: Any = None, *, raise_errors: bool = True) -> Any:
        """The handler's result. On error: re-raise the handler's exception (or a
        ``LambdaInvocationError``) if ``raise_errors``, else return Lambda's error payload."""
        invocation = self.call(name_or_arn, event)
        if invocation.ok or not raise_errors:
            return invocation.result
        if invocation.exception is not None:
            raise invocation.exception
        raise LambdaInvocationError(invocation.error or {})

    def call(self, name_or_arn: str, event: Any = None) -> Invocation:
        """Run the function's handler once, synchronously (``RequestResponse``)."""
        function = self.get(name_or_arn)
        if function is None:
            raise ResourceNotFoundError(f"Function not found: {name_or_arn}")
        request_id = str(uuid.uuid4())
        try:
            payload = json.loads(json.dumps({} if event is None else event))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the event for {function.name} is not JSON: {exc}") from exc
        invocation = Invocation(function_name=function.name, request_id=request_id, event=payload,
                                started_at=self.clock.now())
        with self._registry_lock:
            run_lock = self._run_locks.setdefault(function.name, _RunLock(self.timer))
        with run_lock.holding(function):
            self._run(function, invocation, name_or_arn)
        self.invocations.append(invocation)
        return invocation

    def call_async(self, name_or_arn: str, event: Any = None) -> None:
        """Queue an ``Event`` invocation: it runs on its own thread, the caller does not wait."""
        if self.get(name_or_arn) is None:
            raise ResourceNotFoundError(f"Function not found: {name_or_arn}")

        def run() -> None:
            try:
                invocation = self.call(name_or_arn, event)
                if not invocation.ok:
                    log.warning("asynchronous invocation of %s failed: %s", name_or_arn,
                                invocation.error)
            except Exception:  # noqa: BLE001 - a background thread must not die silently
                log.exception("asynchronous invocation of %s failed", name_or_arn)
            finally:
                with self._registry_lock:
                    self._async.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=f"lambda-async-{name_or_arn[-40:]}", daemon=True)
        with self._registry_lock:
            self._async.add(thread)
        thread.start()

    @property
    def pending_async(self) -> int:
        with self._registry_lock:
            return len(self._async)

    def wait_async(self, timeout: float = 30.0) -> bool:
        """Wait for queued ``Event`` invocations; True if none is left."""
        deadline = time.monotonic() + timeout
        while True:
            with self._registry_lock:
                threads = list(self._async)
            if not threads:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            threads[0].join(remaining)

    def history(self, name_or_arn: str | None = None) -> list[Invocation]:
        """Past invocations, oldest first, of one function or all."""
        if name_or_arn is None:
            return list(self.invocations)
        function = self.get(name_or_arn)
        name = function.name if function else name_or_arn
        return [i for i in self.invocations if i.function_name == name]

    # --- one run -----------------------------------------------------------------------------

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
