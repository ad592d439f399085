"""Asynchronous invocation as on AWS: retries, event age, destinations, and schedules that invoke
asynchronously. Retry delays run on a virtual clock: a test moves it, nothing sleeps for them."""

from __future__ import annotations

import json
import signal
import textwrap
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from connect_core import aws
from connect_core.local import LocalRuntime, VirtualClock
from connect_core.local.async_invoke import AsyncInvokeConfig
from connect_core.local.lambdas import LambdaService, LocalFunction
from sandbox_helpers import alive, kill_leftovers, write_app

pytestmark = pytest.mark.integration

ARN = "arn:aws:lambda:us-east-1:123456789012:function:{}"


@pytest.fixture
def code(tmp_path: Path) -> Path:
    return write_app(tmp_path / "code")


@pytest.fixture
def service(clock: VirtualClock, code: Path) -> Iterator[LambdaService]:
    """In-process functions "fn" and "destination" on the virtual clock, AWS's retry delays."""
    service = LambdaService(clock=clock)
    for name in ("fn", "destination"):
        service.register(LocalFunction(name=name, handler="app.handler", code_dir=code, timeout=30))
    yield service
    service.stop()


def records(service: LambdaService, name: str = "destination") -> list[dict[str, Any]]:
    return [i.event for i in service.history(name)]


def test_a_failed_event_is_retried_after_a_minute_then_two(service, clock, tmp_path):
    service.set_async_config("fn", AsyncInvokeConfig(on_success=ARN.format("destination")))
    event = {"action": "flaky", "counter": str(tmp_path / "calls"), "failures": 2}

    request_id = service.call_async("fn", event)
    assert service.wait_async(30)                 # the first attempt ran; the retry is parked
    assert len(service.history("fn")) == 1 and service.pending_async == 0
    assert service.next_retry_due() == clock.now() + 60

    clock.advance(59)
    assert service.wait_async(30) and len(service.history("fn")) == 1
    clock.advance(1)
    assert service.wait_async(30) and len(service.history("fn")) == 2
    assert service.next_retry_due() == clock.now() + 120
    clock.advance(120)
    assert service.wait_async(30)

    attempts = service.history("fn")
    assert [i.ok for i in attempts] == [False, False, True]
    assert {i.request_id for i in attempts} == {request_id}     # a retry keeps its request ID
    [record] = records(service)
    assert record["requestContext"] == {"requestId": request_id,
                                        "functionArn": ARN.format("fn") + ":$LATEST",
                                        "condition": "Success", "approximateInvokeCount": 3}
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    assert record["requestPayload"] == event and record["responsePayload"] == {"calls": 3}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}


def test_retries_exhausted_go_to_the_on_failure_destination(service, clock):
    service.set_async_config("fn", AsyncInvokeConfig(maximum_retry_attempts=1,
                                                     on_failure=ARN.format("destination")))

    request_id = service.call_async("fn", {"action": "fail"})
    assert service.wait_async(30)
    clock.advance(60)
    assert service.wait_async(30)

    assert len(service.history("fn")) == 2 and service.next_retry_due() is None
    [record] = records(service)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestPayload"] == {"action": "fail"}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "RuntimeError"


def test_an_event_too_old_for_its_next_retry_is_dropped(service, clock):
    service.set_async_config("fn", AsyncInvokeConfig(maximum_event_age_s=90,
                                                     on_failure=ARN.format("destination")))

    service.call_async("fn", {"action": "fail"})
    assert service.wait_async(30)
    clock.advance(60)                              # the first retry, at 60 s of age
    assert service.wait_async(30)
    clock.advance(120)                             # the second would be at 180 s: too old
    assert service.wait_async(30)

    assert len(service.history("fn")) == 2
    [record] = records(service)
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 2


def test_the_on_failure_destination_can_be_an_sqs_queue(local_endpoint, service):
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=f"on-failure-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url,
                                         AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    try:
        service.set_async_config("fn", AsyncInvokeConfig(maximum_retry_attempts=0,
                                                         on_failure=queue_arn))

        request_id = service.call_async("fn", {"action": "fail", "n": 1})
        assert service.wait_async(30)

        [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        record = json.loads(message["Body"])
        assert record["requestContext"]["condition"] == "RetriesExhausted"
        assert record["requestContext"]["requestId"] == request_id
        assert record["requestPayload"] == {"action": "fail", "n": 1}
        assert record["responsePayload"]["errorMessage"] == "always"
    finally:
        sqs.delete_queue(QueueUrl=url)


# --- in a deployed stack ------------------------------------------------------------------------

CRASH_TEMPLATE = """
    Transform: AWS::Serverless-2016-10-31
    Resources:
      CrashFunction:
        Type: AWS::Serverless::Function
        Properties:
          FunctionName: !Sub "${AWS::StackName}-crash"
          CodeUri: code/
          Handler: app.handler
          Runtime: python3.11
          Timeout: 120
          EventInvokeConfig:
            MaximumRetryAttempts: 0
            DestinationConfig:
              OnFailure:
                Type: Lambda
                Destination: !Sub "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-crash"
      SlowTickFunction:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: code/
          Handler: app.handler
          Runtime: python3.11
          Timeout: 120
          Events:
            Tick:
              Type: ScheduleV2
              Properties:
                ScheduleExpression: rate(5 minutes)
                Input: !Sub '{"action": "block", "release": "${Release}"}'
    Parameters:
      Release:
        Type: String
"""


@pytest.fixture
def stack(make_runtime: Callable[..., LocalRuntime], code: Path,
          tmp_path: Path) -> Iterator[LocalRuntime]:
    template = tmp_path / "template.yaml"
    template.write_text(textwrap.dedent(CRASH_TEMPLATE))
    runtime = make_runtime(template, {"Release": str(tmp_path / "release")},
                           sandboxed={"CrashFunction", "SlowTickFunction"})
    yield runtime
    pids = runtime.lambdas.sandbox_pids()
    (tmp_path / "release").touch()
    runtime.stop()
    kill_leftovers([pid for pid in pids if alive(pid)])


def test_a_killed_function_is_invoked_again_with_its_invocation_record(stack, tmp_path):
    lambdas = stack.lambdas
    name = stack.physical_id("CrashFunction")
    configured = aws.client("lambda").get_function_event_invoke_config(FunctionName=name)
    assert configured["MaximumRetryAttempts"] == 0
    event = {"action": "block", "release": str(tmp_path / "never")}

    request_id = stack.invoke_async("CrashFunction", event)
    [running] = lambdas.wait_for_running("CrashFunction", timeout=60)
    assert lambdas.kill(running.request_id, signal.SIGKILL)
    assert lambdas.wait_async(60)

    crashed, recovery = lambdas.history(name)
    assert crashed.request_id == request_id
    assert crashed.error["errorType"] == "Runtime.ExitError"
    assert crashed.error["errorMessage"].endswith("Runtime exited with error: signal: killed")
    record = recovery.event
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["functionArn"] == \
        stack.stack.resources["CrashFunction"].attributes["Arn"] + ":$LATEST"
    assert record["requestPayload"] == event
    assert record["responsePayload"] == crashed.error
    assert recovery.ok and recovery.result == {"recovered": event}

    pids = lambdas.sandbox_pids()
    assert pids and running.pid not in pids
    stack.stop()                                   # the runtime's sandboxes end with it
    assert [pid for pid in pids if alive(pid)] == []


def test_a_schedule_invokes_asynchronously_so_ticks_overlap(stack, clock, tmp_path):
    lambdas = stack.lambdas

    first = stack.step().fired                     # due when deployed; runs on, not waited for
    assert [(f.name, f.ok) for f in first] == [("SlowTickFunctionTick", True)]
    [running] = lambdas.wait_for_running("SlowTickFunction", timeout=60)
    assert running.request_id == first[0].result

    clock.advance(300)
    second = stack.step().fired                    # the next occurrence, while the first runs
    assert [f.ok for f in second] == [True]
    both = lambdas.wait_for_running("SlowTickFunction", count=2, timeout=60)
    assert {r.request_id for r in both} == {first[0].result, second[0].result}
    assert len({r.pid for r in both}) == 2

    (tmp_path / "release").touch()
    assert lambdas.wait_async(60)
    ticks = lambdas.history("SlowTickFunction")
    assert [t.result["released"] for t in ticks] == [True, True]
