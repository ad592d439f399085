"""The event source mapping, played by hand: SQS messages into the sink function's event and back.

Receive, hand the Lambda-shaped event to the sink runner, delete what it did not report as failed
(the local runtime does the same, with batching windows and a clock). Also: what a bucket holds.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

from connect_core import aws, testing
from connect_core.runtime.sink_runner import SinkRunner


def deliver(queues: dict[str, str], runner: SinkRunner, rounds: int = 30) -> list[dict[str, Any]]:
    """Play the event source mapping until the queue is empty; returns the events handed over."""
    return [event for event, _ in
            testing.play_queue(queues["url"], queues["arn"], lambda e: runner.handle(e).response(), rounds=rounds)]


def dead_letters(queues: dict[str, str]) -> list[dict[str, Any]]:
    return testing.dead_letters(queues["dlq_url"])


def objects(bucket: str) -> dict[str, dict[str, Any]]:
    """Every object in the bucket: key → {etag, lines (JSON, decompressed), encoding, type, metadata,
    storage_class}."""
    s3 = aws.client("s3")
    out = {}
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        got = s3.get_object(Bucket=bucket, Key=item["Key"])
        body = got["Body"].read()
        if got.get("ContentEncoding") == "gzip":
            body = gzip.decompress(body)
        out[item["Key"]] = {"etag": item["ETag"], "lines": [json.loads(line) for line in body.splitlines()],
                            "encoding": got.get("ContentEncoding"), "type": got["ContentType"],
                            "metadata": got["Metadata"], "storage_class": item.get("StorageClass")}
    return out
