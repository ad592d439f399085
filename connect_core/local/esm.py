"""SQS event source mappings with Lambda's semantics, polled by the local runtime.

The mappings live in moto's Lambda API (created by the template or by code; ``moto_hooks``
keeps moto from invoking through them), so ``update_event_source_mapping`` toggles them as on
AWS. ``SqsEventSourcePoller.poll()`` makes one pass over every enabled SQS mapping:

- gathers up to BatchSize messages (1-10,000) with ReceiveMessage calls of at most 10;
- with MaximumBatchingWindowInSeconds, waits (on the clock) until the batch is full or the
  window since messages were first seen has passed - without receiving meanwhile, so receive
  counts are untouched;
- invokes the function with the exact SQS event (``Records`` with messageId, receiptHandle,
  body, attributes, lower-camel messageAttributes, md5OfBody, md5OfMessageAttributes,
  eventSource, eventSourceARN, awsRegion);
- deletes what succeeded: everything on success; with ``ReportBatchItemFailures`` everything
  but the reported ``itemIdentifier``s (an empty or null list means all succeeded; a malformed
  response - not an object, an identifier that is missing, empty or not in the batch - means all
  failed, as on AWS); nothing if the function failed;
- FIFO queues: within a message group, everything after the group's first failure counts as
  failed too, so the group's order holds.

Failed messages return when their visibility timeout ends, and moto's redrive moves them to the
DLQ after maxReceiveCount receives. moto measures visibility in real time, so with
``immediate_retry`` (the default) failed messages are made visible again at once
(ChangeMessageVisibility 0): a test driving a virtual clock need not sleep. That is the one
deviation; switch it off to get the queue's real visibility timeout.
"""

from __future__ import annotations

import base64
import collections
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .clock import Clock

if TYPE_CHECKING:
    from .lambdas import Invocation, LambdaService

log = logging.getLogger(__name__)

_PAYLOAD_LIMIT = 6 * 1024 * 1024
_RECORD_ATTRIBUTES = ("ApproximateReceiveCount", "SentTimestamp", "SenderId",
                      "ApproximateFirstReceiveTimestamp", "SequenceNumber", "MessageGroupId",
                      "MessageDeduplicationId", "AWSTraceHeader", "DeadLetterQueueSourceArn")


@dataclass
class BatchResult:
    """What one pass did for one mapping."""

    mapping_uuid: str
    function_arn: str
    queue_arn: str
    message_ids: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    invocation: "Invocation | None" = None
    waiting: bool = False               # messages are there, the batching window is not over

    @property
    def invoked(self) -> bool:
        return self.invocation is not None


class SqsEventSourcePoller:
    """Polls every enabled SQS event source mapping of the endpoint, like Lambda's pollers."""

    def __init__(self, lambdas: "LambdaService", clock: Clock, *, immediate_retry: bool = True,
                 region: str | None = None,
                 client_factory: Callable[[str], Any] | None = None) -> None:
        from ..aws import clients

        self.lambdas = lambdas
        self.clock = clock
        self.immediate_retry = immediate_retry
        self.region = region or clients.region()
        self._client = client_factory or clients.client
        self._urls: dict[str, str] = {}
        self._window_opened: dict[str, float] = {}
        self._warned: set[str] = set()
        self.batches: collections.deque[BatchResult] = collections.deque(maxlen=10_000)

    def mappings(self) -> list[dict[str, Any]]:
        """Every event source mapping, as the Lambda API lists it."""
        client = self._client("lambda")
        mappings, marker = [], None
        while True:
            page = client.list_event_source_mappings(**({"Marker": marker} if marker else {}))
            mappings.extend(page.get("EventSourceMappings") or [])
            marker = page.get("NextMarker")
            if not marker:
                return mappings

    def poll(self) -> list[BatchResult]:
        """One pass over every enabled SQS mapping; the batches that were (or wait to be) sent."""
        results = []
        for mapping in self.mappings():
            source = mapping.get("EventSourceArn", "")
            if mapping.get("State") != "Enabled" or ":sqs:" not in source:
                continue
            result = self.poll_mapping(mapping)
            if result is not None:
                results.append(result)
        return results

    def poll_mapping(self, mapping: dict[str, Any]) -> BatchResult | None:
        uuid_, function_arn = mapping["UUID"], mapping["FunctionArn"]
        queue_arn = mapping["EventSourceArn"]
        if self.lambdas.get(function_arn) is None:
            if uuid_ not in self._warned:
                self._warned.add(uuid_)
                log.warning("mapping %s: %s cannot run locally; its queue is not polled", uuid_,
                            function_arn)
            return None
        sqs = self._client("sqs")
        url = self._queue_url(queue_arn)
        size = int(mapping.get("BatchSize") or 10)
        window = int(mapping.get("MaximumBatchingWindowInSeconds") or 0)
        fifo = queue_arn.endswith(".fifo")
        result = BatchResult(uuid_, function_arn, queue_arn)
        if window > 0 and not fifo and self._window_open(uuid_, url, size, window):
            result.waiting = True
            return result
        messages = self._receive(sqs, url, size)
        if not messages:
            self._window_opened.pop(uuid_, None)
            return None
        self._window_opened.pop(uuid_, None)
        event = {"Records": [lambda_record(m, queue_arn, self.region) for m in messages]}
        result.message_ids = [m["MessageId"] for m in messages]
        invocation = self.lambdas.call(function_arn, event)
        result.invocation = invocation
        failed = self._failed_ids(invocation, mapping, messages, fifo)
        succeeded = [m for m in messages if m["MessageId"] not in failed]
        self._delete(sqs, url, succeeded)
        if failed and self.immediate_retry:
            self._release(sqs, url, [m for m in messages if m["MessageId"] in failed])
        result.deleted = [m["MessageId"] for m in succeeded]
        result.failed = [m["MessageId"] for m in messages if m["MessageId"] in failed]
        self.batches.append(result)
        return result

    # --- the parts ---------------------------------------------------------------------------

    def _queue_url(self, queue_arn: str) -> str:
        url = self._urls.get(queue_arn)
        if url is None:
            parts = queue_arn.split(":")
            url = self._client("sqs").get_queue_url(QueueName=parts[5],
                                                    QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
            self._urls[queue_arn] = url
        return url

    def _window_open(self, uuid_: str, url: str, size: int, window: int) -> bool:
        """True while a partial batch should keep waiting for its batching window."""
        attributes = self._client("sqs").get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        visible = int(attributes.get("ApproximateNumberOfMessages", 0))
        if visible == 0:
            self._window_opened.pop(uuid_, None)
            return False
        if visible >= size:
            return False
        opened = self._window_opened.setdefault(uuid_, self.clock.now())
        return self.clock.now() - opened < window

    @staticmethod
    def _receive(sqs: Any, url: str, size: int) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        payload = 0
        while len(messages) < size:
            page = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, size - len(messages)),
                                       WaitTimeSeconds=0, AttributeNames=["All"],
                                       MessageSystemAttributeNames=["All"],
                                       MessageAttributeNames=["All"]).get("Messages") or []
            if not page:
                break
            for message in page:
                payload += len(message.get("Body", "").encode())
                messages.append(message)
            if payload >= _PAYLOAD_LIMIT:
                break
        return messages

    @staticmethod
    def _failed_ids(invocation: "Invocation", mapping: dict[str, Any],
                    messages: list[dict[str, Any]], fifo: bool) -> set[str]:
        ids = [m["MessageId"] for m in messages]
        if not invocation.ok:
            return set(ids)
        if "ReportBatchItemFailures" not in (mapping.get("FunctionResponseTypes") or []):
            return set()
        failed = _reported_failures(invocation.result, set(ids))
        if failed is None:
            log.warning("%s returned a malformed batchItemFailures response; the whole batch "
                        "failed", mapping.get("FunctionArn"))
            return set(ids)
        if fifo and failed:
            blocked: set[str] = set()
            for message in messages:
                group = (message.get("Attributes") or {}).get("MessageGroupId")
                if message["MessageId"] in failed:
                    blocked.add(group)
                elif group in blocked:
                    failed.add(message["MessageId"])
        return failed

    @staticmethod
    def _delete(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start:start + 10]
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)])

    @staticmethod
    def _release(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start:start + 10]
            sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(chunk)])


def _reported_failures(response: Any, batch: set[str]) -> set[str] | None:
    """The failed message ids of a partial batch response; None if the response is malformed."""
    if response is None:
        return set()
    if not isinstance(response, dict):
        return None
    items = response.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        return None
    failed = set()
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or not identifier or identifier not in batch:
            return None
        failed.add(identifier)
    return failed


def lambda_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """A ReceiveMessage result (asked for every attribute) as a record of the Lambda event: the
    system attributes Lambda passes on, lower-camel message attributes, string values."""
    attributes = message.get("Attributes") or {}
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {k: str(attributes[k]) for k in _RECORD_ATTRIBUTES if k in attributes},
        "messageAttributes": {name: _message_attribute(value) for name, value in
                              (message.get("MessageAttributes") or {}).items()},
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """A ReceiveMessage attribute in the Lambda event's lower-camel form."""
    attribute: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [_b64(v) for v in value.get("BinaryListValues") or []],
        "dataType": value.get("DataType"),
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = _b64(value["BinaryValue"])
    return attribute


def _b64(value: Any) -> str:
    if isinstance(value, str):
        value = value.encode()
    return base64.b64encode(value).decode("ascii")

