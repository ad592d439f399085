"""End to end: the SQS and file connectors through the real runners, and deployed from a template
by the local runtime (schedules fire source ticks, event source mappings feed the sink function).
Time is a virtual clock except where SQS's own visibility timeout is the subject."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from sqs_support import FOREVER, deliver

from connect_core.local.clock import VirtualClock
from connect_core.local.runtime import LocalRuntime
from connect_core.runtime.sink_runner import SinkRunner
from connect_core.runtime.source_runner import SourceRunner
from connect_core.storage import Stores
from connect_core.testing import dead_letters, deploy, drain

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_queue_to_queue_keeps_bodies_typed_attributes_and_fifo_groups(stores, clock, make_queue):
    origin, middle, copy = make_queue(fifo=True), make_queue(), make_queue(fifo=True)
    for i in range(12):
        origin.send(f"order {i}", {"amount": {"DataType": "Number", "StringValue": f"{i}.5"},
                                   "signature": {"DataType": "Binary", "BinaryValue": bytes([i, 0, 255])},
                                   "kind": {"DataType": "String.order", "StringValue": "retail"}},
                    MessageGroupId=f"customer-{i % 3}", MessageDeduplicationId=f"o{i}")
    # sqs-source → (SQS target) → sqs-sink, each in its own function, as deployed.
    deploy(stores, {"name": "read-origin", "connector": "sqs-source", "queue": origin.arn, "wait_time_s": 0,
                    "target": {"type": "sqs", "queue_url": middle.url}})
    deploy(stores, {"name": "write-copy", "connector": "sqs-sink", "queue": copy.arn, "source_queue": middle.arn})

    tick = SourceRunner(stores, owner="tick", clock=clock).tick("read-origin", 0, FOREVER)
    responses = deliver(middle, SinkRunner(stores, clock=clock))

    assert tick.records == 12 and all(r == {"batchItemFailures": []} for r in responses)
    assert origin.counts() == (0, 0)
    copied = drain(copy.url)
    by_body = {m["Body"]: m for m in copied}
    assert sorted(by_body) == sorted(f"order {i}" for i in range(12))
    for i in range(12):
        message = by_body[f"order {i}"]
        assert message["Attributes"]["MessageGroupId"] == f"customer-{i % 3}"
        assert message["MessageAttributes"] == {
            "amount": {"DataType": "Number", "StringValue": f"{i}.5"},
            "signature": {"DataType": "Binary", "BinaryValue": bytes([i, 0, 255])},
            "kind": {"DataType": "String.order", "StringValue": "retail"}}
    for group in range(3):  # each group in its original order
        assert [m["Body"] for m in copied if m["Attributes"]["MessageGroupId"] == f"customer-{group}"] == \
            [f"order {i}" for i in range(12) if i % 3 == group]


CONNECTORS = """
  E2eDeadLetters:
    Type: AWS::SQS::Queue

  E2eLinesQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 360
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt E2eDeadLetters.Arn
        maxReceiveCount: 3

  E2eOrdersQueue:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      QueueName: !Sub "${AWS::StackName}-orders.fifo"

  E2eLinesMapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      FunctionName: !Ref SinkConsumerFunction
      EventSourceArn: !GetAtt E2eLinesQueue.Arn
      BatchSize: 10
      FunctionResponseTypes: [ReportBatchItemFailures]

  E2eFilesIn:
    Type: Custom::Connector
    Properties:
      ServiceToken: !GetAtt ConnectorResourceFunction.Arn
      Config:
        name: files-in
        connector: file-source
        path: "@INBOX@/*.jsonl"
        topic: orders
        format: json
        schedule: rate(1 minute)
        target: { type: sqs, queue_url: !Ref E2eLinesQueue }

  E2eLinesToOrders:
    Type: Custom::Connector
    Properties:
      ServiceToken: !GetAtt ConnectorResourceFunction.Arn
      Config:
        name: lines-to-orders
        connector: sqs-sink
        source_queue: !GetAtt E2eLinesQueue.Arn
        queue: !Ref E2eOrdersQueue
        value_converter: { type: json }
        group_id_field: customer
        errors: { tolerance: all, dead_letter_queue: !GetAtt E2eDeadLetters.Arn }

  E2eOrdersOut:
    Type: Custom::Connector
    Properties:
      ServiceToken: !GetAtt ConnectorResourceFunction.Arn
      Config:
        name: orders-out
        connector: sqs-source
        queue: !GetAtt E2eOrdersQueue.Arn
        value_format: json
        wait_time_s: 0
        schedule: rate(1 minute)
        target:
          type: direct
          sink: { name: orders-file, connector: file-sink, path: "@OUT@", format: record,
                  value_converter: { type: json } }
"""


@pytest.fixture
def pipeline_template(tmp_path) -> Path:
    """template.yaml with three connectors of its own: file-source → SQS → sqs-sink → FIFO queue →
    sqs-source → file-sink. Written next to the test, so local code paths become absolute."""
    text = (ROOT / "template.yaml").read_text()
    text = re.sub(r"(CodeUri|ContentUri|DefinitionUri): (\S+)",
                  lambda m: f"{m.group(1)}: {(ROOT / m.group(2)).resolve()}", text)
    connectors = CONNECTORS.replace("@INBOX@", str(tmp_path / "inbox")).replace("@OUT@", str(tmp_path / "out.jsonl"))
    assert "\nOutputs:" in text
    text = text.replace("\nOutputs:", connectors + "\nOutputs:", 1)
    path = tmp_path / "template.yaml"
    path.write_text(text)
    (tmp_path / "inbox").mkdir()
    return path


def test_a_deployed_file_to_fifo_to_file_pipeline_delivers_every_line_in_group_order(
        embedded_aws, pipeline_template, tmp_path):
    inbox, out = tmp_path / "inbox", tmp_path / "out.jsonl"
    (inbox / "a.jsonl").write_text("".join(json.dumps({"customer": f"c{i % 2}", "n": i}) + "\n" for i in range(10)))
    (inbox / "b.jsonl").write_text('{"customer": "c9", "n": 100}\n{"n": 101}\n')  # the second has no customer
    runtime = LocalRuntime(pipeline_template, {"Environment": "local", "DeployDemo": "false"}, clock=VirtualClock(),
                           endpoint=embedded_aws, stack_name=f"sqs{uuid.uuid4().hex[:8]}")

    with runtime:
        runtime.advance(180)
        stores = Stores.dynamodb(runtime.outputs["ConfigsTableName"], runtime.outputs["OffsetsTableName"])
        offsets = {p["path"]: o["position"] for p, o in stores.offsets.read_all("files-in").pairs()}
        letters = dead_letters(runtime.physical_id("E2eDeadLetters"))

    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["value"]["n"] for r in records) == list(range(10)) + [100]
    for customer in ("c0", "c1"):
        mine = [r for r in records if r["key"] == customer]
        assert [r["value"]["n"] for r in mine] == [n for n in range(10) if f"c{n % 2}" == customer]
    assert offsets == {str(inbox / "a.jsonl"): (inbox / "a.jsonl").stat().st_size,
                       str(inbox / "b.jsonl"): (inbox / "b.jsonl").stat().st_size}
    [letter] = letters  # the line without a customer: no MessageGroupId, so it is dead-lettered
    assert (letter["connector"], letter["stage"]) == ("lines-to-orders", "put")
    assert "no MessageGroupId" in letter["error"]["message"]
