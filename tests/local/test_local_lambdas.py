"""The in-process Lambda service, and moto's Lambda API routed to it."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from connect_core import aws
from connect_core.local import moto_hooks
from connect_core.local.lambdas import (
    LambdaInvocationError,
    LambdaService,
    LocalFunction,
    ResourceNotFoundError,
)

pytestmark = pytest.mark.integration


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text))
    return directory


APP = """
    import os
    import helpers

    LOADED_WITH = os.environ.get("GREETING")

    def handler(event, context):
        return {"who": helpers.WHO, "greeting": os.environ["GREETING"], "loaded": LOADED_WITH,
                "event": event, "name": context.function_name, "arn": context.invoked_function_arn,
                "memory": context.memory_limit_in_mb, "remaining": context.get_remaining_time_in_millis(),
                "task_root": os.environ["LAMBDA_TASK_ROOT"], "sam_local": os.environ["AWS_SAM_LOCAL"]}

    def fail(event, context):
        raise KeyError("missing thing")

    def slow(event, context):
        import time
        time.sleep(0.05)
        return "late"

    def unmarshallable(event, context):
        return {"when": object()}
"""


@pytest.fixture
def service(tmp_path: Path) -> LambdaService:
    service = LambdaService()
    for name, who in (("one", "first"), ("two", "second")):
        code = write(tmp_path / name, {"app.py": APP, "helpers.py": f"WHO = {who!r}\n"})
        service.register(LocalFunction(name=name, handler="app.handler", code_dir=code,
                                       environment={"GREETING": f"hi from {name}"}, timeout=5,
                                       memory_size=256))
    return service


def test_each_function_has_its_own_modules_and_environment(service: LambdaService) -> None:
    before = dict(os.environ)

    one = service.invoke("one", {"n": 1})
    two = service.invoke("two", {"n": 2})
    again = service.invoke("arn:aws:lambda:us-east-1:123456789012:function:one", {"n": 3})

    assert (one["who"], one["greeting"], one["loaded"]) == ("first", "hi from one", "hi from one")
    assert (two["who"], two["greeting"], two["loaded"]) == ("second", "hi from two", "hi from two")
    assert again["who"] == "first" and again["arn"].endswith(":function:one")
    assert one["name"] == "one" and one["memory"] == "256" and 4000 < one["remaining"] <= 5000
    assert one["sam_local"] == "true" and one["task_root"].endswith("one")
    assert dict(os.environ) == before                                  # put back after each call
    assert "helpers" not in sys.modules and "app" not in sys.modules   # kept per function
    assert [i.function_name for i in service.history()] == ["one", "two", "one"]


def test_errors_are_lambda_error_payloads(service: LambdaService, tmp_path: Path) -> None:
    code = tmp_path / "one"
    service.register(LocalFunction(name="failing", handler="app.fail", code_dir=code))

    payload = service.invoke("failing", {}, raise_errors=False)
    assert payload["errorType"] == "KeyError" and payload["errorMessage"] == "'missing thing'"
    assert any("app.py" in frame for frame in payload["stackTrace"])
    with pytest.raises(KeyError):
        service.invoke("failing", {})

    service.register(LocalFunction(name="odd", handler="app.unmarshallable", code_dir=code))
    with pytest.raises(LambdaInvocationError, match="Runtime.MarshalError"):
        service.invoke("odd")
    with pytest.raises(ResourceNotFoundError):
        service.invoke("nobody")


def test_a_handler_past_its_timeout_times_out(tmp_path: Path) -> None:
    ticks = iter(range(0, 1000, 4))     # every reading of the timer is 4 s later
    service = LambdaService(timer=lambda: float(next(ticks)))
    service.register(LocalFunction(name="slow", handler="app.slow", timeout=3,
                                   code_dir=write(tmp_path / "s", {"app.py": APP,
                                                                   "helpers.py": "WHO = 1\n"})))
    invocation = service.call("slow")
    assert invocation.error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 3.00 seconds" in invocation.error["errorMessage"]


def test_registering_again_is_a_cold_start(service: LambdaService, tmp_path: Path) -> None:
    assert service.invoke("one")["loaded"] == "hi from one"
    service.register(LocalFunction(name="one", handler="app.handler", code_dir=tmp_path / "one",
                                   environment={"GREETING": "changed"}))
    assert service.invoke("one")["loaded"] == "changed"


def test_a_missing_handler_is_refused_at_registration(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="handler module 'nope' not found"):
        LambdaService().register(LocalFunction(name="x", handler="nope.handler", code_dir=tmp_path))
    with pytest.raises(ValueError, match="cannot run in-process"):
        LambdaService().register(LocalFunction(name="x", handler="index.handler",
                                               code_dir=tmp_path, runtime="nodejs20.x"))


def test_inline_code_runs() -> None:
    service = LambdaService()
    service.register(LocalFunction(name="inline", handler="index.handler",
                                   inline_code="def handler(event, context):\n    return event['x'] * 2\n"))
    assert service.invoke("inline", {"x": 21}) == 42


def test_moto_lambda_api_runs_the_registered_handler(local_endpoint, service: LambdaService) -> None:
    lam, iam = aws.client("lambda"), aws.client("iam")
    role = iam.create_role(RoleName=f"hooks-{time.time_ns()}", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": []}))["Role"]["Arn"]
    name = f"one-{time.time_ns()}"
    arn = lam.create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="app.handler",
                              Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18})["FunctionArn"]
    one = service.get("one")
    service.register(LocalFunction(name=name, arn=arn, handler=one.handler, code_dir=one.code_dir,
                                   environment={"GREETING": "via moto"}))
    service.register(LocalFunction(name=f"{name}-fails", handler="app.fail", code_dir=one.code_dir))
    lam.create_function(FunctionName=f"{name}-fails", Runtime="python3.11", Role=role,
                        Handler="app.fail", Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18})
    import moto.sqs.models as sqs_models
    from moto.awslambda.models import LambdaFunction

    original, original_clock = LambdaFunction.invoke, sqs_models.unix_time_millis
    moto_hooks.install(service)
    try:
        assert LambdaFunction.invoke is not original
        assert sqs_models.unix_time_millis is not original_clock
        response = lam.invoke(FunctionName=name, Payload=json.dumps({"k": "v"}))
        assert "FunctionError" not in response
        assert json.loads(response["Payload"].read())["greeting"] == "via moto"

        failed = lam.invoke(FunctionName=f"{name}-fails", Payload=b"{}")
        assert failed["FunctionError"] == "Unhandled"
        assert json.loads(failed["Payload"].read())["errorType"] == "KeyError"

        calls = len(service.history(name))
        assert lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
        assert service.wait_async(10) and len(service.history(name)) == calls + 1
    finally:
        moto_hooks.uninstall(service)
    assert LambdaFunction.invoke is original and not moto_hooks.installed()
    assert sqs_models.unix_time_millis is original_clock


def test_moto_never_invokes_through_an_event_source_mapping(local_endpoint,
                                                             service: LambdaService) -> None:
    lam, sqs, iam = aws.client("lambda"), aws.client("sqs"), aws.client("iam")
    role = iam.create_role(RoleName=f"esm-{time.time_ns()}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    name = f"esm-{time.time_ns()}"
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="app.handler",
                        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18})
    one = service.get("one")
    service.register(LocalFunction(name=name, handler=one.handler, code_dir=one.code_dir,
                                   environment={"GREETING": "x"}))
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    moto_hooks.install(service)
    try:
        mapping = lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=name)
        sqs.send_message(QueueUrl=url, MessageBody="stays")
        assert service.history(name) == []          # moto did not invoke inside SendMessage
        assert lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Enabled"
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["ApproximateNumberOfMessages"] == "1"
        lam.delete_event_source_mapping(UUID=mapping["UUID"])
    finally:
        moto_hooks.uninstall(service)
