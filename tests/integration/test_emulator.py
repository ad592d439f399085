"""The embedded AWS endpoint: lifecycle, loopback only, environment, Step Functions execution."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest

from connect_core import aws
from connect_core.local import EmbeddedAWS

pytestmark = pytest.mark.integration


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/moto-api/config", timeout=2):
            return True
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


def test_start_and_stop() -> None:
    endpoint = EmbeddedAWS().start()
    url = endpoint.endpoint_url
    try:
        assert endpoint.running and _answers(url)
        assert url == f"http://127.0.0.1:{endpoint.port}"
    finally:
        endpoint.stop()

    assert not endpoint.running and not _answers(url)
    with pytest.raises(RuntimeError):
        endpoint.endpoint_url


def test_binds_loopback_only(embedded_aws: EmbeddedAWS) -> None:
    host, port = embedded_aws._server.get_host_and_port()
    assert (host, port) == ("127.0.0.1", embedded_aws.port)

    other = _non_loopback_address()
    if other is None:
        pytest.skip("this machine has no non-loopback address to try")
    with pytest.raises(OSError):
        socket.create_connection((other, port), timeout=2).close()


def _non_loopback_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent; this only picks a source address
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_env_is_applied_and_restored(embedded_aws: EmbeddedAWS, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://previous.invalid:1")
    monkeypatch.setenv("AWS_PROFILE", "someone")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://dynamodb.invalid:1")
    monkeypatch.delenv("AWS_REGION", raising=False)
    before = dict(os.environ)

    with EmbeddedAWS() as nested:
        for name, value in nested.env().items():
            assert os.environ[name] == value
        assert "AWS_PROFILE" not in os.environ and "AWS_ENDPOINT_URL_DYNAMODB" not in os.environ
        assert aws.endpoint_url("dynamodb") == nested.endpoint_url
        assert nested.env()["AWS_ACCESS_KEY_ID"] == "testing" and nested.env()["AWS_REGION"] == "us-east-1"
        aws.client("sts").get_caller_identity()  # answered by the nested endpoint

    assert dict(os.environ) == before
    assert aws.endpoint_url("sqs") == "http://previous.invalid:1"


def test_step_functions_really_execute(embedded_aws: EmbeddedAWS) -> None:
    sfn = aws.client("stepfunctions")
    definition = {"StartAt": "Greet", "States": {
        "Greet": {"Type": "Pass", "Parameters": {"greeting.$": "States.Format('hello {}', $.name)"},
                  "End": True}}}
    machine = sfn.create_state_machine(
        name=f"greet-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/states")["stateMachineArn"]

    execution = sfn.start_execution(stateMachineArn=machine, name=f"run-{uuid.uuid4().hex[:8]}",
                                    input=json.dumps({"name": "world"}))["executionArn"]

    deadline = time.monotonic() + 20
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution never finished"
        time.sleep(0.05)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"greeting": "hello world"}


def test_dynamodb_requests_are_serialized(embedded_aws: EmbeddedAWS) -> None:
    # moto applies conditions and writes in separate steps; the emulator makes DynamoDB atomic by
    # running its requests one at a time (racing tests in test_dynamodb_stores.py rely on it).
    from connect_core.local.emulator import _DynamoDBSerializer

    assert isinstance(embedded_aws._server._server.app, _DynamoDBSerializer)


def test_reset_forgets_resources() -> None:
    # In a child process: moto's resources are per process, and a reset here would wipe the
    # session endpoint's too.
    code = """
from connect_core import aws
from connect_core.local import EmbeddedAWS
with EmbeddedAWS() as endpoint:
    sqs = aws.client("sqs")
    sqs.create_queue(QueueName="doomed")
    assert sqs.list_queues().get("QueueUrls")
    endpoint.reset()
    assert not sqs.list_queues().get("QueueUrls")
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_importing_connect_core_local_does_not_load_moto() -> None:
    code = ("import sys, connect_core.local; "
            "assert not [m for m in sys.modules if m.split('.')[0] == 'moto']; "
            "connect_core.local.EmbeddedAWS; assert 'moto' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_foreground_entry_point_prints_the_endpoint_and_stops_on_sigterm() -> None:
    process = subprocess.Popen([sys.executable, "-m", "connect_core.local.emulator", "--port", "0"],
                               stdout=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline()
        assert first.startswith("embedded AWS endpoint: http://127.0.0.1:")
        url = first.split(": ", 1)[1].strip()
        assert _answers(url)

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert not _answers(url)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
