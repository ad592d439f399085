"""The runtime end to end: state machines running the real handlers, state across runs."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Callable

import pytest

from connect_core import aws
from connect_core.local import LocalRuntime, VirtualClock
from connect_core.local.runtime import NotIdleError

pytestmark = pytest.mark.integration

TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"


def test_a_state_machine_task_runs_the_real_handler(runtime: LocalRuntime) -> None:
    echo = runtime.physical_id("EchoFunction")

    execution = runtime.execute("PipelineStateMachine", {"name": "x"})

    assert execution["status"] == "SUCCEEDED"
    output = json.loads(execution["output"])
    # Greet (lambda:invoke with Payload) -> CheckStage (Choice on "${Stage}") -> EchoAgain
    # (the function ARN as Resource): both tasks ran the handler with its environment.
    assert output["greet"] == {"stage": "test", "greeting": "hello from us-east-1"}
    assert output["again"]["echo"] == {"again": True, "greeting": "hello from us-east-1"}
    assert output["again"]["function"] == echo
    assert [i.event for i in runtime.lambdas.history(echo)][-2:] == [
        {"name": "x"}, {"again": True, "greeting": "hello from us-east-1"}]


def test_a_failing_handler_is_caught_by_the_state_machine(runtime: LocalRuntime) -> None:
    execution = runtime.execute("PipelineStateMachine", {"raise": "boom"})

    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {"recovered": "ValueError"}


def test_invoke_by_logical_id_name_or_arn(runtime: LocalRuntime) -> None:
    arn = runtime.stack.resources["EchoFunction"].attributes["Arn"]
    by_id = runtime.invoke("EchoFunction", {"n": 1})
    by_arn = runtime.invoke(arn, {"n": 2})
    assert by_id["echo"] == {"n": 1} and by_arn["echo"] == {"n": 2}
    assert by_id["memory"] == "256" and 9000 < by_id["remaining_ms"] <= 10000
    with pytest.raises(ValueError, match="boom"):
        runtime.invoke("EchoFunction", {"raise": "boom"})
    assert runtime.invoke("EchoFunction", {"raise": "boom"}, raise_errors=False)["errorType"] == \
        "ValueError"


def test_run_until_idle_gives_up_on_endless_work(runtime: LocalRuntime) -> None:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=f"{runtime.stack_name}-no-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam = aws.client("lambda")
    mapping = lam.create_event_source_mapping(EventSourceArn=arn,
                                              FunctionName=runtime.physical_id("FlakyFunction"),
                                              FunctionResponseTypes=["ReportBatchItemFailures"])
    try:
        sqs.send_message(QueueUrl=url, MessageBody="fail")    # no redrive: it fails forever
        with pytest.raises(NotIdleError):
            runtime.run_until_idle(max_rounds=5)
    finally:
        lam.delete_event_source_mapping(UUID=mapping["UUID"])
        sqs.delete_queue(QueueUrl=url)


def test_tables_are_saved_and_restored_across_runs(local_endpoint, tmp_path: Path) -> None:
    state = tmp_path / "state"

    # First run: a few ticks write to the events table; stopping saves it.
    with LocalRuntime(TEMPLATE, clock=VirtualClock(1_900_000_000), state_dir=state,
                      stack_name="resume", endpoint=local_endpoint) as first:
        first.advance(600)
        first_table = first.physical_id("EventsTable")
        ddb = aws.client("dynamodb")
        ddb.put_item(TableName=first_table, Item={"pk": {"S": "bin"}, "sk": {"S": "1"},
                                                 "data": {"B": b"\x00\x01"},
                                                 "nested": {"M": {"l": {"L": [{"BS": [b"x"]}]}}}})
        saved = ddb.scan(TableName=first_table)["Items"]
    snapshot = json.loads((state / "dynamodb" / "EventsTable.json").read_text())
    assert snapshot["table"] == first_table and len(snapshot["items"]) == 4   # 3 ticks + 1

    # Second run: a new table, filled from the file before anything could use it.
    with LocalRuntime(TEMPLATE, clock=VirtualClock(1_900_000_000), state_dir=state,
                      stack_name="resume", endpoint=local_endpoint) as second:
        table = second.physical_id("EventsTable")
        assert table != first_table
        restored = aws.client("dynamodb").scan(TableName=table)["Items"]
        key = lambda item: (item["pk"]["S"], item["sk"]["S"])  # noqa: E731
        assert sorted(restored, key=key) == sorted(saved, key=key)
        second.advance(300)                    # and it goes on from there
        assert len(aws.client("dynamodb").scan(TableName=table)["Items"]) == 6


def test_a_runtime_of_its_own_starts_and_stops_its_emulator(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text("Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n"
                        "Outputs:\n  Url:\n    Value: !Ref Queue\n")
    before = dict(os.environ)
    with LocalRuntime(template, stack_name="own", delete_on_stop=True) as runtime:
        assert runtime.endpoint is not None and runtime.endpoint.running
        assert os.environ["AWS_ENDPOINT_URL"] == runtime.endpoint.endpoint_url
        assert runtime.outputs["Url"].startswith(runtime.endpoint.endpoint_url)
    assert not runtime.endpoint.running
    assert dict(os.environ) == before          # the session endpoint's environment is back


def test_run_forever_follows_real_time_until_stopped(
        make_runtime: Callable[..., LocalRuntime]) -> None:
    runtime = make_runtime()
    stop = threading.Event()
    stopper = threading.Timer(0.3, stop.set)
    stopper.start()
    runtime.run_forever(poll_interval=0.05, stop=stop)
    stopper.join()
    assert [f.name for f in runtime.scheduler.fired] == ["EchoFunctionTick"]   # due at start


def test_advance_needs_a_virtual_clock(make_runtime: Callable[..., LocalRuntime]) -> None:
    from connect_core.local import SystemClock

    runtime = make_runtime(clock=SystemClock())
    with pytest.raises(TypeError, match="VirtualClock"):
        runtime.advance(60)
    assert runtime.step().fired[0].name == "EchoFunctionTick"
