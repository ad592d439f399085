"""A handler for the sandbox and asynchronous invocation tests, and ways to wait without sleeping
for a fixed time: every wait is bounded and ends as soon as its condition holds."""

from __future__ import annotations

import os
import signal
import textwrap
import time
from pathlib import Path
from typing import Callable

# What the handler does is chosen by the event's "action". It coordinates with the test through
# files: that works the same in a sandbox process and in the test's own process.
APP = '''
import os
import sys
import time
from pathlib import Path

PRELOADED_BEFORE_ME = "sandbox_probe" in sys.modules
CALLS = 0


def wait_for(path, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while not Path(path).exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def handler(event, context):
    global CALLS
    CALLS += 1
    if "requestContext" in event:                  # an invocation record from a destination
        return {"recovered": event["requestPayload"]}
    action = event.get("action")
    if action == "rendezvous":                     # returns once the other one runs too
        Path(event["dir"], event["me"]).touch()
        return {"saw_other": wait_for(Path(event["dir"], event["other"])), "pid": os.getpid()}
    if action == "block":                          # until released, killed or timed out
        return {"released": wait_for(event["release"], event.get("wait_s", 60.0)),
                "pid": os.getpid()}
    if action == "flaky":                          # fails its first `failures` calls
        counter = Path(event["counter"])
        calls = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(calls))
        if calls <= event["failures"]:
            raise RuntimeError(f"failure {calls}")
        return {"calls": calls}
    if action == "fail":
        raise RuntimeError("always")
    if action == "exit":
        os._exit(event["code"])
    probe = sys.modules.get("sandbox_probe")
    return {"pid": os.getpid(), "calls": CALLS, "function": context.function_name,
            "request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "env": {name: os.environ.get(name) for name in event.get("env", [])},
            "preloaded_before_handler": PRELOADED_BEFORE_ME,
            "probe": getattr(probe, "MARK", None)}
'''


def write_app(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "app.py").write_text(textwrap.dedent(APP))
    return directory


def eventually(condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def kill_leftovers(pids: list[int]) -> None:
    """A last resort for processes a failed test left behind (by PID, never by name)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
