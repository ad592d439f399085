"""The admin API on the local runtime: template.yaml deployed into the embedded AWS endpoint, the
runtime running in real time (schedules fire, queues are consumed), and the API on loopback.

    with local_admin("template.yaml", port=0) as admin:
        urllib.request.urlopen(admin.url + "/connectors")
        admin.runtime.outputs["ConfigsTableName"]

    run(8083)        # ``connectctl local up``: the same until Ctrl-C or SIGTERM

The API uses the settings the template gives its admin function (``AdminApiFunction``; the
custom resource function's where a template has no admin function), so it acts on exactly the
tables, state machine and functions the deployed stack uses.

Source ticks (``SourcePollerFunction``) run in process sandboxes, as on Lambda: a tick that polls
continuously does not hold up the next one, which can ask it for the task's lease
(``sandboxed=False`` runs them in this process instead).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, TextIO

from .api import AdminApi
from .server import AdminServer

if TYPE_CHECKING:
    from ..local.clock import Clock
    from ..local.emulator import EmbeddedAWS
    from ..local.runtime import LocalRuntime

logger = logging.getLogger("connect_core.admin.local")

SETTINGS_FROM = ("AdminApiFunction", "ConnectorResourceFunction")
SANDBOXED = ("SourcePollerFunction",)
DEFAULT_PARAMETERS = {"Environment": "local"}


@dataclass
class LocalAdmin:
    url: str
    runtime: "LocalRuntime"
    api: AdminApi
    server: AdminServer


def admin_settings(runtime: "LocalRuntime") -> dict[str, str]:
    """The environment variables the deployed stack gives its admin function."""
    from .. import aws

    for logical_id in SETTINGS_FROM:
        resource = runtime.stack.resources.get(logical_id)
        if resource is not None:
            configuration = aws.client("lambda").get_function_configuration(FunctionName=resource.physical_id)
            return dict((configuration.get("Environment") or {}).get("Variables") or {})
    raise RuntimeError(f"the template has none of {', '.join(SETTINGS_FROM)}: nothing tells the admin API "
                       "which tables and state machine the stack uses")


@contextlib.contextmanager
def local_admin(template: str | Path = "template.yaml", parameters: Mapping[str, Any] | None = None,
                state_dir: str | Path | None = None, port: int = 8083, *, host: str = "127.0.0.1",
                endpoint: "EmbeddedAWS | None" = None, clock: "Clock | None" = None,
                background: bool = True, stack_name: str = "local", sandboxed: bool = True,
                sandbox_log: str | Path | None = None) -> Iterator[LocalAdmin]:
    """Deploy ``template`` locally and serve the admin API for it while the block runs.

    ``parameters`` are merged over ``Environment=local``. ``state_dir`` keeps the tables between
    runs. ``endpoint``: an already running EmbeddedAWS (tests; the stack is then deleted at the
    end). ``background=False`` leaves running the runtime to the caller (a test driving a
    ``VirtualClock`` with ``admin.runtime.advance``). ``sandboxed``: source ticks run in process
    sandboxes, whose output goes to ``sandbox_log`` (else to this process's stdout and stderr).
    """
    from ..local.runtime import LocalRuntime
    from ..local.sandbox import SandboxOptions

    runtime = LocalRuntime(template, {**DEFAULT_PARAMETERS, **(parameters or {})}, state_dir=state_dir,
                           endpoint=endpoint, clock=clock, stack_name=stack_name,
                           sandboxed=SANDBOXED if sandboxed else (),
                           sandbox=SandboxOptions(log_path=Path(sandbox_log) if sandbox_log else None))
    runtime.start()
    stop = threading.Event()
    thread: threading.Thread | None = None
    try:
        api = AdminApi.from_settings(admin_settings(runtime), poll_interval_s=0.05)
        if background:
            thread = threading.Thread(target=_run_runtime, args=(runtime, stop), name="local-runtime", daemon=True)
            thread.start()
        with AdminServer(api, host, port) as server:
            yield LocalAdmin(server.url, runtime, api, server)
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=60)
        runtime.stop()


def _run_runtime(runtime: "LocalRuntime", stop: threading.Event) -> None:
    """Schedules and queues in real time until ``stop``; a failing step is logged, not fatal."""
    while not stop.is_set():
        try:
            runtime.run_forever(stop=stop, poll_interval=0.5)
        except Exception:  # noqa: BLE001 - one bad step must not stop the local stack
            logger.exception("a step of the local runtime failed; it goes on")
            stop.wait(1.0)


def run(port: int = 8083, template: str | Path = "template.yaml", parameters: Mapping[str, Any] | None = None,
        state_dir: str | Path | None = None, *, host: str = "127.0.0.1", out: TextIO | None = None,
        sandboxed: bool = True) -> None:
    """Serve the admin API of a local stack until Ctrl-C or SIGTERM, then stop everything.

    With ``state_dir`` the tables are kept there and the functions' logs (the sandboxes' too) go
    to ``<state_dir>/functions.log``; without, the logs go to standard output.
    """
    out = out or sys.stdout
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with contextlib.ExitStack() as stack:
            functions_log = None
            if state_dir is not None:
                Path(state_dir).mkdir(parents=True, exist_ok=True)
                functions_log = Path(state_dir) / "functions.log"
                log = stack.enter_context(open(functions_log, "a", encoding="utf-8"))
                stack.enter_context(contextlib.redirect_stdout(log))
            print(f"deploying {template} into the embedded AWS endpoint ...", file=out, flush=True)
            admin = stack.enter_context(local_admin(template, parameters, state_dir, port, host=host,
                                                    sandboxed=sandboxed, sandbox_log=functions_log))
            print(f"admin API (Kafka Connect REST) on {admin.url}; Ctrl-C stops", file=out, flush=True)
            while not stop.wait(0.5):
                pass
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print("stopped", file=out, flush=True)
