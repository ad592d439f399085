"""Process sandboxes: a function's invocations in child processes, concurrent, warm, killable."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from connect_core.local.lambdas import (
    Invocation,
    LambdaInvocationError,
    LambdaService,
    LocalFunction,
)
from connect_core.local.sandbox import SandboxOptions
from sandbox_helpers import alive, eventually, kill_leftovers, write_app

pytestmark = pytest.mark.integration


@pytest.fixture
def code(tmp_path: Path) -> Path:
    return write_app(tmp_path / "code")


@pytest.fixture
def make_service() -> Iterator[Callable[..., LambdaService]]:
    """LambdaServices that are stopped after the test, their sandboxes with them."""
    made: list[LambdaService] = []

    def make(**options: Any) -> LambdaService:
        service = LambdaService(**options)
        made.append(service)
        return service

    yield make
    for service in made:
        pids = service.sandbox_pids()
        service.stop()
        kill_leftovers([pid for pid in pids if alive(pid)])


def function(code: Path, name: str = "fn", **settings: Any) -> LocalFunction:
    settings.setdefault("timeout", 60)
    return LocalFunction(name=name, handler="app.handler", code_dir=code, **settings)


def test_concurrent_invocations_of_one_function_run_at_the_same_time(make_service, code, tmp_path):
    service = make_service(sandboxed={"fn"})
    service.register(function(code))
    results: dict[str, Invocation] = {}

    def call(me: str, other: str) -> None:
        results[me] = service.call("fn", {"action": "rendezvous", "dir": str(tmp_path),
                                          "me": me, "other": other})

    threads = [threading.Thread(target=call, args=pair) for pair in (("a", "b"), ("b", "a"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)

    # Each one saw the other start before it returned: they overlapped, in two processes.
    assert results["a"].result["saw_other"] and results["b"].result["saw_other"]
    assert results["a"].result["pid"] != results["b"].result["pid"]
    assert os.getpid() not in {results["a"].result["pid"], results["b"].result["pid"]}
    assert sorted(service.sandbox_pids("fn")) == sorted(r.result["pid"] for r in results.values())


def test_a_sandbox_stays_warm_for_the_next_invocation(make_service, code):
    service = make_service(sandboxed={"fn"})
    service.register(function(code, timeout=5))

    first = service.invoke("fn", {})
    second = service.invoke("fn", {})

    assert first["pid"] == second["pid"] != os.getpid()
    assert (first["calls"], second["calls"]) == (1, 2)       # module state survived
    assert first["request_id"] != second["request_id"]
    assert first["function"] == "fn" and 0 < first["remaining_ms"] <= 5000
    assert service.running() == []
    assert [i.event for i in service.history("fn")] == [{}, {}]


def test_a_sandbox_has_the_process_environment_and_its_functions_variables(make_service, code,
                                                                           monkeypatch):
    monkeypatch.setenv("FROM_THE_PARENT", "inherited")
    service = make_service(sandboxed=True)
    service.register(function(code, "one", environment={"GREETING": "hi from one"}))
    service.register(function(code, "two", environment={"GREETING": "hi from two"}))
    names = ["GREETING", "FROM_THE_PARENT", "AWS_LAMBDA_FUNCTION_NAME", "AWS_ENDPOINT_URL",
             "AWS_SAM_LOCAL", "LAMBDA_TASK_ROOT", "PYTHONPATH"]

    one = service.invoke("one", {"env": names})["env"]
    two = service.invoke("two", {"env": names})["env"]

    assert (one["GREETING"], two["GREETING"]) == ("hi from one", "hi from two")
    assert one["FROM_THE_PARENT"] == two["FROM_THE_PARENT"] == "inherited"
    assert (one["AWS_LAMBDA_FUNCTION_NAME"], two["AWS_LAMBDA_FUNCTION_NAME"]) == ("one", "two")
    assert one["AWS_ENDPOINT_URL"] == os.environ.get("AWS_ENDPOINT_URL")
    assert one["AWS_SAM_LOCAL"] == "true" and one["LAMBDA_TASK_ROOT"] == str(code)
    assert one["PYTHONPATH"] == os.environ.get("PYTHONPATH")      # as the parent has it
    assert "GREETING" not in os.environ                             # nothing leaked back


def test_a_killed_invocation_fails_with_lambdas_exit_error(make_service, code, tmp_path):
    service = make_service(sandboxed={"fn"}, async_retry_delays=(3600.0,))
    service.register(function(code))

    request_id = service.call_async("fn", {"action": "block", "release": str(tmp_path / "never")})
    [running] = service.wait_for_running("fn", timeout=60)
    assert running.request_id == request_id and running.event["action"] == "block"
    assert running.pid in service.sandbox_pids("fn") and alive(running.pid)

    assert service.kill(request_id, signal.SIGKILL)
    assert service.wait_async(60)

    [killed] = service.history("fn")
    assert killed.request_id == request_id
    assert killed.error == {"errorType": "Runtime.ExitError",
                            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with "
                                            "error: signal: killed"}
    assert eventually(lambda: not alive(running.pid))
    assert running.pid not in service.sandbox_pids()              # never reused
    assert service.kill(request_id) is False                      # nothing runs under that ID
    assert service.invoke("fn", {})["pid"] != running.pid         # a fresh sandbox


def test_a_sandbox_that_exits_fails_its_invocation_in_lambdas_words(make_service, code):
    service = make_service(sandboxed={"fn"})
    service.register(function(code))

    exited = service.call("fn", {"action": "exit", "code": 3})

    assert exited.error["errorType"] == "Runtime.ExitError"
    assert exited.error["errorMessage"].endswith("Runtime exited with error: exit status 3")
    with pytest.raises(LambdaInvocationError, match="Runtime.ExitError"):
        service.invoke("fn", {"action": "exit", "code": 0})
    assert service.invoke("fn", {})["calls"] == 1                  # a new, cold sandbox


def test_a_handler_past_its_timeout_is_killed(make_service, code, tmp_path):
    service = make_service(sandboxed={"fn"}, sandbox=SandboxOptions(timeout_grace_s=0.2))
    service.register(function(code, timeout=1))
    pid = service.invoke("fn", {})["pid"]

    timed_out = service.call("fn", {"action": "block", "release": str(tmp_path / "never")})

    assert timed_out.error == {"errorType": "Sandbox.Timedout",
                               "errorMessage": f"RequestId: {timed_out.request_id} Error: Task "
                                               "timed out after 1.00 seconds"}
    assert not alive(pid) and service.sandbox_pids("fn") == []
    assert service.invoke("fn", {})["pid"] != pid


def test_errors_come_back_as_lambda_error_payloads(make_service, code, tmp_path):
    service = make_service(sandboxed=True)
    service.register(function(code))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "app.py").write_text("import not_a_module_anywhere\n")
    service.register(function(tmp_path / "broken", "broken"))

    failed = service.call("fn", {"action": "fail"})
    assert failed.error["errorType"] == "RuntimeError" and failed.error["errorMessage"] == "always"
    assert any("app.py" in frame for frame in failed.error["stackTrace"])
    with pytest.raises(LambdaInvocationError, match="RuntimeError"):
        service.invoke("fn", {"action": "fail"})

    init = service.call("broken", {})
    assert init.error["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'app'" in init.error["errorMessage"]
    assert service.sandbox_pids("broken") == []


def test_preload_modules_are_imported_before_the_handler(make_service, code, tmp_path,
                                                         monkeypatch):
    probes = tmp_path / "probes"
    probes.mkdir()
    (probes / "sandbox_probe.py").write_text("MARK = 'installed by preload'\n")
    monkeypatch.syspath_prepend(str(probes))       # the sandbox gets this process's sys.path
    service = make_service(sandboxed={"fn"}, sandbox=SandboxOptions(preload=("sandbox_probe",)))
    service.register(function(code))

    answer = service.invoke("fn", {})

    assert answer["preloaded_before_handler"] is True and answer["probe"] == "installed by preload"


def test_sandbox_output_goes_to_the_log_file(make_service, tmp_path):
    code = tmp_path / "printing"
    code.mkdir()
    (code / "app.py").write_text("import sys\n\ndef handler(event, context):\n"
                                 "    print('to stdout', event['n'])\n"
                                 "    print('to stderr', event['n'], file=sys.stderr)\n"
                                 "    return event['n']\n")
    log = tmp_path / "functions.log"
    service = make_service(sandboxed={"printing"}, sandbox=SandboxOptions(log_path=log))
    service.register(function(code, "printing"))

    assert service.invoke("printing", {"n": 7}) == 7            # stdout is not the channel

    assert "to stdout 7" in log.read_text() and "to stderr 7" in log.read_text()


def test_stopping_the_service_stops_every_sandbox(make_service, code, tmp_path):
    service = make_service(sandboxed={"fn"})
    service.register(function(code))
    for me, other in (("a", "b"), ("b", "a")):                     # two sandboxes, warm after
        service.call_async("fn", {"action": "rendezvous", "dir": str(tmp_path), "me": me,
                                  "other": other})
    assert service.wait_async(60)
    service.call_async("fn", {"action": "block", "release": str(tmp_path / "never")})
    [running] = service.wait_for_running("fn", timeout=60)
    pids = service.sandbox_pids("fn")
    assert len(pids) == 2 and running.pid in pids                 # one busy, one idle

    service.stop()

    assert [pid for pid in pids if alive(pid)] == []
    assert service.wait_async(30)
    [stopped] = [i for i in service.history("fn") if not i.ok]
    assert stopped.error["errorMessage"].endswith("Runtime exited with error: signal: terminated")
    with pytest.raises(LambdaInvocationError, match="stopped"):
        service.invoke("fn", {})


def test_idle_sandboxes_are_stopped(make_service, code):
    service = make_service(sandboxed={"fn"}, sandbox=SandboxOptions(idle_timeout_s=0.2))
    service.register(function(code))
    pid = service.invoke("fn", {})["pid"]

    assert eventually(lambda: not alive(pid) and service.sandbox_pids() == [])


def test_a_sandbox_of_a_replaced_function_is_not_reused(make_service, code):
    service = make_service(sandboxed={"fn"})
    service.register(function(code, environment={"GREETING": "old"}))
    old = service.invoke("fn", {"env": ["GREETING"]})

    service.register(function(code, environment={"GREETING": "new"}))
    new = service.invoke("fn", {"env": ["GREETING"]})

    assert new["env"]["GREETING"] == "new" and new["pid"] != old["pid"]
    assert eventually(lambda: not alive(old["pid"]))


def test_in_process_functions_are_listed_running_but_cannot_be_killed(make_service, code, tmp_path):
    service = make_service()
    service.register(function(code))
    release = tmp_path / "release"
    request_id = service.call_async("fn", {"action": "block", "release": str(release)})

    [running] = service.wait_for_running("fn", timeout=30)
    assert running.pid is None and running.request_id == request_id
    with pytest.raises(ValueError, match="cannot be killed"):
        service.kill(request_id)
    release.touch()
    assert service.wait_async(30) and service.history("fn")[0].result["released"] is True
