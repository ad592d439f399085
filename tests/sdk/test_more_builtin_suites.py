"""The standard suites applied to the built-in connectors that run against the embedded AWS
endpoint or a local HTTP receiver. Not here: jdbc-* and rocketmq-* (they need a PostgreSQL server
or a broker; their own folders test them)."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connect_core import ConnectRecord, aws, partition_key
from connect_core.testing import SinkConnectorSuite, SourceConnectorSuite


# --- file-source: files in the test's folder -------------------------------------------------------

class TestFileSource(SourceConnectorSuite):
    connector = "file-source"
    invalid_configs = {"encoding": {"encoding": "klingon"}, "batch_size": {"batch_size": 0}}

    @pytest.fixture
    def connector_config(self, tmp_path):
        folder = tmp_path / "in"
        folder.mkdir()
        for name in ("a.log", "b.log", "c.log"):
            (folder / name).write_text("".join(f"{name} line {n}\n" for n in range(12)))
        return self.complete_config({"path": str(folder / "*.log"), "topic": "lines", "batch_size": 5,
                                     "max_tasks": 2})


# --- http-sink: a receiver on 127.0.0.1 that keeps every request -----------------------------------

class Receiver:
    """Keeps the JSON body of every request; answers 422 to a body with "reject": true."""

    def __init__(self) -> None:
        self.bodies: list = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                rejected = isinstance(body, dict) and body.get("reject")
                if not rejected:
                    receiver.bodies.append(body)
                self.send_response(422 if rejected else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TestHttpSink(SinkConnectorSuite):
    connector = "http-sink"
    invalid_configs = {"url": {"url": "ftp://example.com/x"}, "method": {"method": "DELETE"}}

    @pytest.fixture
    def connector_config(self):
        self.receiver = Receiver()
        yield self.complete_config({"url": self.receiver.url})
        self.receiver.close()

    def target_state(self, config):
        return list(self.receiver.bodies)

    def rejected_records(self):
        return [ConnectRecord(topic="t", key="bad", value={"reject": True}, partition={"bad": 0}, offset={"n": 0})]


# --- SQS, S3 and DynamoDB on the embedded endpoint -------------------------------------------------

@pytest.fixture
def queue(embedded_aws):
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=f"suite-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


def queue_contents(url: str) -> list[tuple[str, dict]]:
    """Every message on the queue (body, attributes), left on it: received, then made visible again."""
    sqs = aws.client("sqs")
    seen, handles = [], []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                  MessageAttributeNames=["All"]).get("Messages", [])
        if not got:
            break
        for m in got:
            seen.append((m["Body"], {k: v.get("StringValue") for k, v in m.get("MessageAttributes", {}).items()}))
            handles.append(m["ReceiptHandle"])
    for start in range(0, len(handles), 10):
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(handles[start:start + 10])])
    return sorted(seen, key=lambda item: json.dumps(item, sort_keys=True))


@pytest.mark.integration
class TestSqsSource(SourceConnectorSuite):
    connector = "sqs-source"
    shared_partitions = True  # the tasks are competing readers of one queue
    invalid_configs = {"queue": {"queue": "not-a-queue"}, "max_messages": {"max_messages": 0}}

    @pytest.fixture
    def connector_config(self, queue):
        sqs = aws.client("sqs")
        self.sent = []
        for start in range(0, 30, 10):
            entries = [{"Id": str(n), "MessageBody": json.dumps({"n": n})} for n in range(start, start + 10)]
            self.sent += [r["MessageId"] for r in sqs.send_message_batch(QueueUrl=queue, Entries=entries)["Successful"]]
        return self.complete_config({"queue": queue, "max_messages": 10, "wait_time_s": 0, "max_tasks": 2})

    def expected_identities(self, config):
        # Reading a queue consumes it: what it holds is what the fixture sent.
        return {(partition_key({"queue": config["queue"]}), partition_key({"message_id": m})) for m in self.sent}


@pytest.mark.integration
class TestSqsSink(SinkConnectorSuite):
    connector = "sqs-sink"
    config = {"value_converter": {"type": "json"}}
    invalid_configs = {"queue": {"queue": "https://example.com/not-a-queue"}, "delay_s": {"delay_s": 901}}

    @pytest.fixture
    def connector_config(self, queue):
        return self.complete_config({"queue": queue, **self.config})

    def target_state(self, config):
        return queue_contents(config["queue"])

    def rejected_records(self):
        # A message carries at most 10 attributes: a record with 11 headers cannot be sent.
        return [ConnectRecord(topic="t", key="wide", value={"n": 0}, headers={f"h{i}": "v" for i in range(11)},
                              partition={"wide": 0}, offset={"n": 0})]


@pytest.mark.integration
class TestDynamoDBSink(SinkConnectorSuite):
    connector = "dynamodb-sink"
    invalid_configs = {"partition_key": {"partition_key": {"source": "value"}}, "mode": {"mode": "merge"}}

    @pytest.fixture
    def connector_config(self, embedded_aws):
        ddb = aws.client("dynamodb")
        table = f"suite-{uuid.uuid4().hex[:12]}"
        ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        yield self.complete_config({"table": table})
        ddb.delete_table(TableName=table)

    def target_state(self, config):
        items = aws.client("dynamodb").scan(TableName=config["table"])["Items"]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))

    def rejected_records(self):
        return [ConnectRecord(topic="t", key="not-an-object", value=[1, 2, 3], partition={"bad": 0}, offset={"n": 0})]


@pytest.mark.integration
class TestS3Sink(SinkConnectorSuite):
    connector = "s3-sink"
    invalid_configs = {"bucket": {"bucket": "s3://not-a-name"}, "max_records": {"max_records": 0}}

    @pytest.fixture
    def connector_config(self, embedded_aws):
        s3 = aws.client("s3")
        bucket = f"suite-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=bucket)
        yield self.complete_config({"bucket": bucket, "prefix": "raw"})
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
        s3.delete_bucket(Bucket=bucket)

    def target_state(self, config):
        s3 = aws.client("s3")
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=config["bucket"]).get("Contents", [])]
        return {key: s3.get_object(Bucket=config["bucket"], Key=key)["Body"].read() for key in keys}

    def assert_written(self, state, records):
        values = [json.loads(line) for body in state.values() for line in body.decode().splitlines()]
        assert sorted(map(json.dumps, values)) == sorted(json.dumps(r.value) for r in records), \
            "every record's value stored exactly once"
