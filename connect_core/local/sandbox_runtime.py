"""The runtime inside a sandbox process: ``python -m connect_core.local.sandbox_runtime R W``.

This is the local counterpart of Lambda's runtime interface client. The parent (``sandbox``) starts
it with two pipe descriptors, ``R`` to read requests from and ``W`` to write answers to, one JSON
document per line. Standard output and error stay free for the handler's logs.

1. The first request initialises the sandbox: ``sys.path`` becomes the function's code directory
   followed by the parent's path (Lambda's /var/task first, then what a layer would provide), the
   ``preload`` modules are imported, then the handler's module. The answer is ``{"ready": true}``,
   or ``{"init_error": <Lambda error payload>}`` and the process ends, as a failed init does.
2. Every further request is one invocation, ``{"request_id", "event", "invoked_arn", "timeout_s"}``,
   answered ``{"request_id", "result"}`` or ``{"request_id", "error": <Lambda error payload>}``.
   Module state survives between invocations, as in a warm Lambda instance.

The process ends when the parent closes the request pipe. It never outlives a timeout or a stop:
the parent kills it. ``SystemExit`` from a handler ends the process, which the parent reports as
``Runtime.ExitError``. Ctrl-C in a terminal is for the parent, which stops its sandboxes itself.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO, Callable

from .lambdas import LambdaContext, LocalFunction

Handler = Callable[[Any, LambdaContext], Any]


class InitError(Exception):
    """The sandbox could not be initialised; ``payload`` is Lambda's error for it."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(payload.get("errorMessage"))
        self.payload = payload


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)      # logs reach the file as they are written
    requests = os.fdopen(int(argv[1]), "rb")
    answers = os.fdopen(int(argv[2]), "wb")
    for stream in (requests, answers):
        os.set_inheritable(stream.fileno(), False)  # a handler's own subprocesses never hold them
    setup = _read(requests)
    if setup is None:
        return 0
    try:
        function, handler = initialise(setup)
    except InitError as exc:
        _write(answers, {"init_error": exc.payload})
        return 1
    _write(answers, {"ready": True})
    while (request := _read(requests)) is not None:
        _write(answers, invoke(function, handler, request))
    return 0


def initialise(setup: dict[str, Any]) -> tuple[LocalFunction, Handler]:
    """Set up the process as the parent asked; the function and its handler."""
    function = _function(setup["function"])
    original = setup.get("pythonpath")
    if original is None:
        os.environ.pop("PYTHONPATH", None)         # it only served to find this module
    else:
        os.environ["PYTHONPATH"] = original
    code_dir = [str(function.code_dir)] if function.code_dir else []
    sys.path[:] = code_dir + list(setup.get("sys_path") or [])
    for name in setup.get("preload") or []:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported as the init error it is
            raise InitError(_error_payload(exc, "Runtime.ImportModuleError",
                                           f"Unable to import preload module '{name}': {exc}"))
    return function, _load_handler(function)


def invoke(function: LocalFunction, handler: Handler, request: dict[str, Any]) -> dict[str, Any]:
    """Run one invocation; the answer for the parent."""
    request_id = request["request_id"]
    deadline = time.monotonic() + float(request.get("timeout_s", function.timeout))
    context = LambdaContext(function, request_id, deadline, time.monotonic,
                            request.get("invoked_arn"))
    try:
        result = handler(request.get("event"), context)
    except Exception as exc:  # noqa: BLE001 - becomes Lambda's error payload
        return {"request_id": request_id, "error": _error_payload(exc, request_id=request_id)}
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        return {"request_id": request_id, "error": {
            "errorType": "Runtime.MarshalError",
            "errorMessage": f"Unable to marshal response: {exc}",
            "requestId": request_id, "stackTrace": []}}
    return {"request_id": request_id, "result": result}


def _function(fields: dict[str, Any]) -> LocalFunction:
    values = dict(fields)
    if values.get("code_dir"):
        values["code_dir"] = Path(values["code_dir"])
    values["layers"] = tuple(values.get("layers") or ())
    return LocalFunction(**values)


def _load_handler(function: LocalFunction) -> Handler:
    """Import the handler the way Lambda's Python runtime does, with its error types."""
    module_path, _, attr = function.handler.rpartition(".")
    if function.inline_code is not None:
        module = ModuleType("index")
        module.__file__ = f"<inline code of {function.name}>"
        sys.modules["index"] = module
        try:
            code = compile(function.inline_code, module.__file__, "exec")
            exec(code, module.__dict__)  # noqa: S102 - the function's own code
        except Exception as exc:  # noqa: BLE001
            raise InitError(_error_payload(exc))
    else:
        try:
            module = importlib.import_module(module_path.replace("/", "."))
        except ImportError as exc:
            raise InitError(_error_payload(exc, "Runtime.ImportModuleError",
                                           f"Unable to import module '{module_path}': {exc}"))
        except SyntaxError as exc:
            raise InitError(_error_payload(exc, "Runtime.UserCodeSyntaxError",
                                           f"Syntax error in module '{module_path}': {exc}"))
        except Exception as exc:  # noqa: BLE001 - an error in the module's own code
            raise InitError(_error_payload(exc))
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise InitError({"errorType": "Runtime.HandlerNotFound",
                         "errorMessage": f"Handler '{attr}' missing on module '{module_path}'",
                         "stackTrace": []})
    return handler


def _error_payload(exc: BaseException, error_type: str | None = None, message: str | None = None,
                   *, request_id: str = "") -> dict[str, Any]:
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__)
              if frame.filename != __file__ and not frame.filename.startswith("<frozen ")]
    payload = {"errorMessage": str(exc) if message is None else message,
               "errorType": error_type or type(exc).__name__,
               "stackTrace": traceback.format_list(frames)}
    if request_id:
        payload["requestId"] = request_id
    return payload


def _read(stream: BinaryIO) -> dict[str, Any] | None:
    line = stream.readline()
    return json.loads(line) if line else None


def _write(stream: BinaryIO, message: dict[str, Any]) -> None:
    stream.write(json.dumps(message).encode("utf-8") + b"\n")
    stream.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
