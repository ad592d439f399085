"""Process sandboxes: a function's invocations run in child Python processes, as Lambda runs them.

In-process (``lambdas``' default), a function runs one invocation at a time and a handler cannot
be killed. A sandboxed function instead gets a ``SandboxPool`` of child processes, each running
``python -m connect_core.local.sandbox_runtime`` and talking to the parent over a private pair of
pipes (stdout and stderr carry the handler's logs):

- a sandbox runs one invocation at a time and stays warm for the next: its module state,
  connections and caches survive, as in a warm Lambda instance. When every sandbox is busy another
  is started, up to ``max_concurrency``, so concurrent invocations really run at the same time;
- its ``os.environ`` is this process's environment (so ``AWS_ENDPOINT_URL`` reaches the embedded
  endpoint) plus the function's variables and Lambda's reserved ones; ``sys.path`` is the function's
  code directory followed by this process's path, so test modules import; ``preload`` modules are
  imported before the handler (tests install fault injection points and call counters with them);
- at Timeout (plus ``timeout_grace_s``) the sandbox is killed and the invocation fails with
  ``Sandbox.Timedout``; a sandbox that dies during an invocation (SIGKILLed by a test, crashing)
  fails it with ``Runtime.ExitError`` in Lambda's words. A dead sandbox is never reused;
- sandboxes idle for ``idle_timeout_s`` are stopped, and ``close()`` stops all of them: SIGTERM,
  a wait, then SIGKILL.

Time here is real (monotonic) time: a virtual clock does not make a handler run faster.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterable

from .lambdas import LambdaInvocationError, LocalFunction, _lambda_environment

_RUNTIME_MODULE = "connect_core.local.sandbox_runtime"
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_READ_SIZE = 1 << 16

# How Go's os.ProcessState names signals, which is how Lambda's "Runtime exited" messages read.
_SIGNAL_NAMES = {
    signal.SIGKILL: "killed", signal.SIGTERM: "terminated", signal.SIGINT: "interrupt",
    signal.SIGHUP: "hangup", signal.SIGQUIT: "quit", signal.SIGABRT: "aborted",
    signal.SIGSEGV: "segmentation fault", signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception", signal.SIGILL: "illegal instruction",
    signal.SIGPIPE: "broken pipe", signal.SIGALRM: "alarm clock",
    signal.SIGUSR1: "user defined signal 1", signal.SIGUSR2: "user defined signal 2",
}


@dataclass(frozen=True)
class SandboxOptions:
    """How sandboxes are run. ``log_path``: where their stdout and stderr go (appended), else
    they share this process's."""

    preload: tuple[str, ...] = ()
    log_path: Path | None = None
    max_concurrency: int = 10
    idle_timeout_s: float = 300.0
    timeout_grace_s: float = 0.5
    init_timeout_s: float = 30.0
    stop_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "preload", tuple(self.preload))
        if self.log_path is not None:
            object.__setattr__(self, "log_path", Path(self.log_path))
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")


class SandboxInitError(Exception):
    """A new sandbox could not be initialised; ``payload`` is the invocation's error."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(payload.get("errorMessage"))
        self.payload = payload


class PoolRetired(Exception):
    """The pool takes no more invocations (its function was replaced, removed, or stopped)."""


class _Died(Exception):
    pass


class _TimedOut(Exception):
    pass


def exit_reason(returncode: int) -> str:
    """Lambda's words for a runtime process that ended with ``returncode``."""
    if returncode == 0:
        return "Runtime exited without providing a reason"
    if returncode < 0:
        try:
            name = _SIGNAL_NAMES.get(signal.Signals(-returncode), f"signal {-returncode}")
        except ValueError:
            name = f"signal {-returncode}"
        return f"Runtime exited with error: signal: {name}"
    return f"Runtime exited with error: exit status {returncode}"


def exit_error(request_id: str, returncode: int) -> dict[str, Any]:
    return {"errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {request_id} Error: {exit_reason(returncode)}"}


def timeout_error(request_id: str, seconds: float) -> dict[str, Any]:
    return {"errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {request_id} Error: Task timed out after "
                            f"{seconds:.2f} seconds"}


class Sandbox:
    """One child process running one function's handler."""

    def __init__(self, function: LocalFunction, process: subprocess.Popen[bytes],
                 requests_fd: int, answers_fd: int) -> None:
        self.function = function
        self.process = process
        self.last_used = time.monotonic()
        self._requests_fd = requests_fd
        self._answers_fd = answers_fd
        self._buffer = b""
        self._closed = False
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    # --- starting ----------------------------------------------------------------------------

    @classmethod
    def start(cls, function: LocalFunction, options: SandboxOptions,
              sys_path: Iterable[str]) -> "Sandbox":
        """Start a process for ``function`` and send it its setup (``wait_ready`` waits for the
        answer)."""
        child_reads, parent_writes = os.pipe()
        parent_reads, child_writes = os.pipe()
        env = _process_environment()
        pythonpath = env.get("PYTHONPATH")
        env.update(_lambda_environment(function, str(uuid.uuid4())))
        # Finds this package even when the parent found it through its own sys.path; the child
        # puts the parent's PYTHONPATH back before any handler code runs.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, pythonpath) if p)
        log = open(options.log_path, "ab") if options.log_path is not None else None  # noqa: SIM115
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", _RUNTIME_MODULE, str(child_reads), str(child_writes)],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                pass_fds=(child_reads, child_writes))
        except BaseException:
            for fd in (parent_reads, parent_writes):
                os.close(fd)
            raise
        finally:
            os.close(child_reads)
            os.close(child_writes)
            if log is not None:
                log.close()
        sandbox = cls(function, process, parent_writes, parent_reads)
        try:
            sandbox._send({"function": _function_fields(function),
                           "sys_path": list(sys_path),
                           "preload": list(options.preload),
                           "pythonpath": pythonpath})
        except _Died:
            pass   # the answer (EOF) says so
        return sandbox

    def wait_ready(self, request_id: str, timeout_s: float) -> None:
        """Wait for the setup's answer; ``SandboxInitError`` (and the process gone) if it failed."""
        try:
            answer = self._receive(time.monotonic() + timeout_s)
        except _TimedOut:
            self.kill()
            raise SandboxInitError(timeout_error(request_id, timeout_s)) from None
        except _Died:
            raise SandboxInitError(exit_error(request_id, self.reap())) from None
        if "init_error" in answer:
            self.reap()
            raise SandboxInitError(dict(answer["init_error"], requestId=request_id))

    # --- invoking ----------------------------------------------------------------------------

    def invoke(self, request_id: str, event: Any, invoked_arn: str | None,
               deadline_s: float | None) -> tuple[Any, dict[str, Any] | None]:
        """Run one invocation: (result, None) or (error payload, error payload).

        ``deadline_s``: how long to wait before killing the sandbox (None: no limit)."""
        deadline = None if deadline_s is None else time.monotonic() + deadline_s
        try:
            self._send({"request_id": request_id, "event": event, "invoked_arn": invoked_arn,
                        "timeout_s": self.function.timeout})
            answer = self._receive(deadline)
        except _TimedOut:
            self.kill()
            error = timeout_error(request_id, self.function.timeout)
            return error, error
        except _Died:
            error = exit_error(request_id, self.reap())
            return error, error
        finally:
            self.last_used = time.monotonic()
        if answer.get("request_id") != request_id:
            self.kill()
            error = {"errorType": "Runtime.InvalidResponse",
                     "errorMessage": f"RequestId: {request_id} Error: the sandbox answered another "
                                     "request"}
            return error, error
        if "error" in answer:
            return answer["error"], answer["error"]
        return answer.get("result"), None

    def _send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode("utf-8") + b"\n"
        try:
            while data:
                data = data[os.write(self._requests_fd, data):]
        except (BrokenPipeError, OSError) as exc:
            raise _Died() from exc

    def _receive(self, deadline: float | None) -> dict[str, Any]:
        while b"\n" not in self._buffer:
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                raise _TimedOut()
            poller = select.poll()             # not select(): a busy parent has fds > 1023
            poller.register(self._answers_fd, select.POLLIN)
            if not poller.poll(None if wait is None else max(1, int(wait * 1000))):
                continue
            chunk = os.read(self._answers_fd, _READ_SIZE)
            if not chunk:
                raise _Died()
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    # --- stopping ----------------------------------------------------------------------------

    def signal(self, signum: int) -> bool:
        """Send ``signum`` unless the process is gone; whether it was sent."""
        if self.process.poll() is not None:
            return False
        try:
            self.process.send_signal(signum)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> int:
        self.signal(signal.SIGKILL)
        return self.reap()

    def reap(self, timeout_s: float = 5.0) -> int:
        """Wait for the process to end (killing it if it lingers); its return code."""
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def close(self) -> None:
        """Release the pipes (only once nobody is reading them)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for fd in (self._requests_fd, self._answers_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    def __repr__(self) -> str:
        return f"Sandbox({self.function.name!r}, pid={self.pid})"


def stop_all(sandboxes: Iterable[Sandbox], timeout_s: float) -> None:
    """SIGTERM every sandbox, wait up to ``timeout_s`` for all, SIGKILL what is left."""
    sandboxes = list(sandboxes)
    for sandbox in sandboxes:
        sandbox.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for sandbox in sandboxes:
        try:
            sandbox.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            sandbox.kill()


class SandboxPool:
    """The sandboxes of one function: idle ones wait warm, busy ones run one invocation each."""

    def __init__(self, function: LocalFunction, options: SandboxOptions,
                 sys_path: Callable[[], list[str]]) -> None:
        self.function = function
        self.options = options
        self.sys_path = sys_path            # read at each start: test modules added later import
        self._idle: list[Sandbox] = []
        self._busy: set[Sandbox] = set()
        self._starting = 0
        self._closed = False
        self._cond = threading.Condition()

    def acquire(self, request_id: str, *, wait: bool) -> Sandbox:
        """A warm idle sandbox, else a new one. At ``max_concurrency``: wait for one to be free,
        or (``wait=False``) fail as Lambda throttles a synchronous call."""
        with self._cond:
            while True:
                if self._closed:
                    raise PoolRetired(self.function.name)
                while self._idle:
                    sandbox = self._idle.pop()          # the most recently used: the warmest
                    if sandbox.alive:
                        self._busy.add(sandbox)
                        return sandbox
                    sandbox.close()
                if len(self._busy) + self._starting < self.options.max_concurrency:
                    self._starting += 1
                    break
                if not wait:
                    raise LambdaInvocationError({
                        "errorType": "TooManyRequestsException", "errorMessage": "Rate Exceeded.",
                        "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"})
                self._cond.wait()
        return self._start(request_id)

    def _start(self, request_id: str) -> Sandbox:
        sandbox: Sandbox | None = None
        try:
            sandbox = Sandbox.start(self.function, self.options, self.sys_path())
            sandbox.wait_ready(request_id, self.options.init_timeout_s)
        except BaseException:
            if sandbox is not None:
                sandbox.kill()
                sandbox.close()
            with self._cond:
                self._starting -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._starting -= 1
            if not self._closed:
                self._busy.add(sandbox)
                return sandbox
        stop_all([sandbox], self.options.stop_timeout_s)
        sandbox.close()
        raise PoolRetired(self.function.name)

    def release(self, sandbox: Sandbox) -> None:
        """Give a sandbox back after its invocation: warm again, or gone if it died."""
        with self._cond:
            self._busy.discard(sandbox)
            keep = sandbox.alive and not self._closed
            if keep:
                self._idle.append(sandbox)
            self._cond.notify()
        if not keep:
            stop_all([sandbox], self.options.stop_timeout_s)
            sandbox.close()

    def stop_idle(self, idle_for_s: float | None = None) -> None:
        """Stop the idle sandboxes (those idle longer than ``idle_for_s``, if given)."""
        now = time.monotonic()
        with self._cond:
            stale = [s for s in self._idle if idle_for_s is None or now - s.last_used >= idle_for_s]
            self._idle = [s for s in self._idle if s not in stale]
        stop_all(stale, self.options.stop_timeout_s)
        for sandbox in stale:
            sandbox.close()

    def retire(self) -> None:
        """Take no more invocations: idle sandboxes stop now, busy ones when their invocation
        ends (a replaced function's running invocations finish on the old configuration)."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        stop_all(idle, self.options.stop_timeout_s)
        for sandbox in idle:
            sandbox.close()

    def close(self) -> None:
        """Retire, and stop the busy sandboxes too: their invocations fail as terminated."""
        self.retire()
        with self._cond:
            busy = list(self._busy)
        stop_all(busy, self.options.stop_timeout_s)   # their threads close them on release

    @property
    def pids(self) -> list[int]:
        with self._cond:
            return [s.pid for s in [*self._idle, *self._busy] if s.alive]


def _function_fields(function: LocalFunction) -> dict[str, Any]:
    values = {f.name: getattr(function, f.name) for f in fields(function)}
    values["code_dir"] = str(function.code_dir) if function.code_dir else None
    values["environment"] = dict(function.environment)
    values["layers"] = list(function.layers)
    return values


def _process_environment() -> dict[str, str]:
    """This process's environment, without the overlay of a handler thread (``environment``)."""
    environ = os.environ
    data = getattr(environ, "_data", None)
    if data is None:
        return dict(environ)
    return {environ.decodekey(k): environ.decodevalue(v)  # type: ignore[attr-defined]
            for k, v in data.items()}
