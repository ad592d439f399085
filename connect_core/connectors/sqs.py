"""``sqs-source`` and ``sqs-sink``: Amazon SQS queues, standard and FIFO.

The source receives messages (calls of up to 10, several per poll), turns each into a record
(body → value, message attributes → headers, FIFO message group → key) and deletes a message only
after its record was published and its offset committed (:meth:`SourceTask.commit`): a tick that
dies leaves its messages to come back after the visibility timeout, so nothing is lost.

The sink sends records with ``SendMessageBatch`` (10 entries and 256 KiB per call): the value is
the body, headers become message attributes, and on a FIFO queue the record key (or a header or
value field) is the ``MessageGroupId`` and the record's source position the
``MessageDeduplicationId``, so a redelivered record is accepted once within SQS's 5-minute window.

Headers are strings; the source keeps each attribute's SQS type in the ``sqs.attribute_types``
header (a JSON object of the attributes that are not plain ``String``), which the sink reads back,
so a queue-to-queue copy keeps ``Number`` and ``Binary`` attributes (binary values travel as
base64 text).
"""

from __future__ import annotations

import base64
import binascii
import decimal
import hashlib
import json
import logging
import re
import time
import uuid
from typing import Any, Callable, Literal, Mapping, Sequence

from pydantic import Field, field_validator

from .. import aws
from ..api import ConnectRecord, OffsetMap, Partition, SinkConnector, SinkRecordErrors, SinkTask, SourceConnector, \
    SourceTask, partition_key
from ..aws.errors import describe, is_transient
from ..config import SinkConnectorConfig, SourceConnectorConfig
from ..config.base import SqsQueue
from ..convert import BytesConverterConfig, JsonConverterConfig, StringConverterConfig
from ..convert.config import ConverterConfig
from ..convert.json_codec import dumps
from ..errors import ConfigError, ConnectError, FieldError, RetriableError
from ..runtime.pipeline import Message
from ..runtime.wire import ENCODING_ATTRIBUTE, MAX_BATCH_ENTRIES, MAX_MESSAGE_BYTES, NOT_SQS_TEXT, batches, \
    entry_size

logger = logging.getLogger("connect_core.connectors.sqs")

#: Headers the source adds next to the message attributes (the sink never sends them back).
H_PREFIX = "sqs."
H_MESSAGE_ID = "sqs.message_id"
H_ATTRIBUTE_TYPES = "sqs.attribute_types"
#: System attributes the source keeps, and the header each becomes.
SYSTEM_HEADERS = {
    "MessageGroupId": "sqs.group_id",
    "MessageDeduplicationId": "sqs.deduplication_id",
    "SequenceNumber": "sqs.sequence_number",
    "SentTimestamp": "sqs.sent_timestamp",
    "ApproximateReceiveCount": "sqs.receive_count",
}
MAX_ATTRIBUTES = 10
#: Attempts at entries SendMessageBatch reports as failed on SQS's side.
SEND_ATTEMPTS = 5

_ATTRIBUTE_NAME = re.compile(r"^(?!\.)(?!.*\.\.)(?!.*\.$)(?![Aa][Ww][Ss]\.)(?![Aa][Mm][Aa][Zz][Oo][Nn]\.)"
                             r"[A-Za-z0-9_.-]{1,256}$")
#: A MessageGroupId: 1 to 128 ASCII letters, digits and punctuation.
_GROUP_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


class SqsRecordError(ConnectError):
    """A record that cannot become an SQS message (or that SQS refused); other records are unaffected."""


# -- queues ----------------------------------------------------------------------------------------

def queue_identity(queue: str) -> tuple[str, str]:
    """(account, name) of a queue given by URL or ARN."""
    if queue.startswith("arn:"):
        parts = queue.split(":")
        return parts[4], parts[5]
    account, name = queue.rstrip("/").rsplit("/", 2)[-2:]
    return account, name


def queue_region(queue: str) -> str | None:
    """The region a queue lives in, where its URL or ARN says; None for an emulator's URL."""
    if queue.startswith("arn:"):
        return queue.split(":")[3]
    host = queue.split("/")[2]
    match = re.match(r"^(?:sqs\.)?([a-z]{2}(?:-[a-z]+)+-\d)\.(?:queue\.)?amazonaws\.com", host)
    return match.group(1) if match else None


def _is_fifo(queue: str) -> bool:
    return queue_identity(queue)[1].endswith(".fifo")


def _sqs(queue: str) -> Any:
    return aws.client("sqs", queue_region(queue))


def _resolve_url(queue: str) -> str:
    from ..runtime.targets import queue_url

    return queue_url(queue)


def _text_of(value: Any) -> str:
    """The text of a key, header or field value: strings as they are, bytes as UTF-8, else JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, bool):
        return "true" if value else "false"
    return dumps(value)


# == source ========================================================================================

class SqsSourceConfig(SourceConnectorConfig):
    """Reads a standard or FIFO queue; messages are deleted only once their records were delivered."""

    queue: SqsQueue = Field(description="The queue to read: its URL (CloudFormation: !Ref TheQueue) or ARN "
                                        "(!GetAtt TheQueue.Arn). A name ending in '.fifo' is a FIFO queue.")
    topic: str | None = Field(None, min_length=1, description="Topic of the records; unset: the queue's name.")
    value_format: Literal["string", "json"] = Field(
        "string", description="'string': the body as text is the value; 'json': the body parsed as JSON (a body "
                              "that is not JSON is a failed record: see errors.tolerance).")
    key_attribute: str | None = Field(
        None, min_length=1, description="Message attribute whose value is the record key; unset: the "
                                        "MessageGroupId on a FIFO queue, no key on a standard queue.")
    max_messages: int = Field(100, ge=1, le=10_000, description="Most messages one poll receives, in "
                                                                "ReceiveMessage calls of up to 10.")
    wait_time_s: int = Field(1, ge=0, le=20, description="Long polling: how long a ReceiveMessage call waits "
                                                         "for a message (0: short polling). A tick ends at the "
                                                         "first poll that receives nothing.")
    visibility_timeout_s: int | None = Field(
        None, ge=1, le=43_200, description="Seconds (1 to 43200) received messages stay hidden before SQS "
                                           "hands them out again unless deleted; unset: the queue's own. It "
                                           "must cover publishing one poll's records.")
    value_converter: ConverterConfig = Field(default_factory=StringConverterConfig,
                                             description="How values become bytes; default string (a text body "
                                                         "passes unchanged, a JSON value is written as JSON).")


class SqsSourceTask(SourceTask[SqsSourceConfig]):
    """Partition ``{"queue": <queue>}``; offset ``{"message_id": ...}``. SQS has no position: the
    offset only names the last message delivered, and gives every record an identity that stays
    the same when SQS redelivers the message (what ``deduplicate: true`` downstream and the SQS
    sink's deduplication ids key on)."""

    def start(self) -> None:
        self._url = _resolve_url(self.config.queue)
        self._sqs = _sqs(self.config.queue)
        self._fifo = _is_fifo(self.config.queue)
        self._topic = self.config.topic or queue_identity(self.config.queue)[1]
        self._partition = {"queue": self.config.queue}
        #: Receipt handles of messages whose records (or dead letters) are on their way, by message id.
        self._in_flight: dict[str, str] = {}
        #: Ids of the messages handed back with reject() since the last commit.
        self._rejected: list[str] = []

    def stop(self) -> None:
        """Hand messages received but never acknowledged (a failed tick) back to the queue now,
        rather than after the visibility timeout."""
        handles = list(self._in_flight.values())
        self._in_flight.clear()
        self._rejected.clear()
        for start in range(0, len(handles), MAX_BATCH_ENTRIES):
            entries = [{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                       for i, h in enumerate(handles[start:start + MAX_BATCH_ENTRIES])]
            try:
                self._sqs.change_message_visibility_batch(QueueUrl=self._url, Entries=entries)
            except Exception:  # noqa: BLE001 - the visibility timeout returns them anyway
                logger.warning("could not return unacknowledged messages early", exc_info=True,
                               extra={"connector": self.config.name, "messages": len(entries)})

    def partitions(self) -> Sequence[Partition]:
        return [self._partition]

    def poll(self, offsets: OffsetMap) -> list[ConnectRecord]:
        cfg = self.config
        records: list[ConnectRecord] = []
        while len(records) < cfg.max_messages:
            request: dict[str, Any] = {
                "QueueUrl": self._url, "MaxNumberOfMessages": min(MAX_BATCH_ENTRIES, cfg.max_messages - len(records)),
                "WaitTimeSeconds": cfg.wait_time_s, "MessageAttributeNames": ["All"],
                "MessageSystemAttributeNames": ["All"]}
            if cfg.visibility_timeout_s is not None:
                request["VisibilityTimeout"] = cfg.visibility_timeout_s
            if self._fifo:
                # A retried call with the same attempt id returns the same messages instead of hiding them.
                request["ReceiveRequestAttemptId"] = uuid.uuid4().hex
            messages = self._sqs.receive_message(**request).get("Messages", [])
            if not messages:
                break
            records.extend(self._records(messages))
        return records

    def commit(self, records: list[ConnectRecord]) -> None:
        """Delete the messages of delivered records, and those rejected as unreadable (their dead
        letters were sent). A delete that fails leaves the message to be delivered again after the
        visibility timeout: a duplicate, never a loss."""
        ids = [r.offset.get("message_id") for r in records] + self._rejected
        self._rejected = []
        handles = [h for i in ids if (h := self._in_flight.pop(i, None))]
        self._delete(handles, "acknowledge delivered messages")

    def lag(self, offsets: OffsetMap) -> int | None:
        try:
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=self._url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
            return int(attributes["ApproximateNumberOfMessages"])
        except Exception:  # noqa: BLE001 - a metric, never a reason to fail the tick
            logger.debug("queue depth unavailable", exc_info=True)
            return None

    # -- internals -------------------------------------------------------------------------------

    def _records(self, messages: list[dict[str, Any]]) -> list[ConnectRecord]:
        out: list[ConnectRecord] = []
        held_groups: set[str] = set()  # FIFO groups with an unacknowledged failure in this batch
        for message in messages:
            system = message.get("Attributes", {})
            group = system.get("MessageGroupId")
            if group is not None and group in held_groups:
                continue  # left in flight: it comes back after the failed one, in order
            try:
                record = self._record(message)
            except ValueError as exc:
                if self.config.errors.tolerance == "all":
                    self.reject(exc, self._raw(message))  # a dead letter, then deleted in commit()
                    self._in_flight[message["MessageId"]] = message["ReceiptHandle"]
                    self._rejected.append(message["MessageId"])
                else:
                    # Not deleted: SQS delivers it again, and its redrive policy ends it in the DLQ.
                    logger.warning("message left on the queue: it cannot be read", extra={
                        "connector": self.config.name, "message_id": message["MessageId"],
                        "receive_count": system.get("ApproximateReceiveCount"), "error": str(exc)})
                    if group is not None:
                        held_groups.add(group)
                continue
            self._in_flight[message["MessageId"]] = message["ReceiptHandle"]
            out.append(record)
        return out

    def _record(self, message: dict[str, Any]) -> ConnectRecord:
        system = message.get("Attributes", {})
        headers: dict[str, str] = {}
        types: dict[str, str] = {}
        encoding = None
        for name, attribute in message.get("MessageAttributes", {}).items():
            data_type = attribute.get("DataType", "String")
            if name == ENCODING_ATTRIBUTE:
                encoding = attribute.get("StringValue")
                continue
            if data_type.startswith("Binary"):
                headers[name] = base64.b64encode(attribute.get("BinaryValue", b"")).decode("ascii")
            else:
                headers[name] = attribute.get("StringValue", "")
            if data_type != "String":
                types[name] = data_type
        if types:
            headers[H_ATTRIBUTE_TYPES] = json.dumps(types, sort_keys=True, separators=(",", ":"))
        headers[H_MESSAGE_ID] = message["MessageId"]
        for attribute_name, header in SYSTEM_HEADERS.items():
            if attribute_name in system:
                headers[header] = str(system[attribute_name])

        body: str = message.get("Body", "")
        value: Any
        if encoding == "base64":
            try:
                value = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"its {ENCODING_ATTRIBUTE} is base64 but the body is not: {exc}") from None
        elif encoding == "empty":
            value = ""
        elif encoding == "null":
            value = None
        elif self.config.value_format == "json":
            try:
                value = json.loads(body)
            except ValueError as exc:
                raise ValueError(f"the body is not JSON: {exc}") from None
        else:
            value = body
        if self.config.key_attribute is not None:
            key = headers.get(self.config.key_attribute)
        else:
            key = system.get("MessageGroupId")
        sent = system.get("SentTimestamp")
        return ConnectRecord(topic=self._topic, value=value, key=key, partition=self._partition,
                             offset={"message_id": message["MessageId"]},
                             timestamp=int(sent) if sent else None, headers=headers)

    def _raw(self, message: dict[str, Any]) -> Message:
        """A message that cannot be read, as it arrived: its body and identity, for its dead letter."""
        system = message.get("Attributes", {})
        return Message(message.get("Body", "").encode("utf-8"), None, self._topic,
                       {H_MESSAGE_ID: message["MessageId"]}, self._partition,
                       {"message_id": message["MessageId"]}, int(system.get("SentTimestamp", 0)) or None,
                       message["MessageId"], int(system.get("ApproximateReceiveCount", 1)))

    def _delete(self, handles: list[str], what: str) -> None:
        for start in range(0, len(handles), MAX_BATCH_ENTRIES):
            entries = [{"Id": str(i), "ReceiptHandle": h}
                       for i, h in enumerate(handles[start:start + MAX_BATCH_ENTRIES])]
            try:
                failed = self._sqs.delete_message_batch(QueueUrl=self._url, Entries=entries).get("Failed", [])
            except Exception as exc:  # noqa: BLE001 - the messages come back: duplicates, not loss
                failed = [{"Id": e["Id"], "Code": type(exc).__name__, "Message": str(exc)} for e in entries]
            if failed:
                logger.warning("could not %s: SQS will deliver them again", what, extra={
                    "connector": self.config.name, "messages": len(failed),
                    "code": failed[0].get("Code"), "reason": failed[0].get("Message")})


class SqsSourceConnector(SourceConnector[SqsSourceConfig]):
    config_model = SqsSourceConfig
    task_class = SqsSourceTask
    description = "Reads an SQS queue (standard or FIFO); attributes become headers, messages are deleted after delivery."

    def task_configs(self, max_tasks: int) -> list[dict[str, Any]]:
        # Readers of one queue compete for its messages: each task is one more reader.
        return [{"reader": i} for i in range(max_tasks)]


# == sink ==========================================================================================

class SqsSinkConfig(SinkConnectorConfig):
    """Sends records to a standard or FIFO queue with SendMessageBatch."""

    queue: SqsQueue = Field(description="The queue to write: its URL (CloudFormation: !Ref TheQueue) or ARN "
                                        "(!GetAtt TheQueue.Arn). A name ending in '.fifo' is a FIFO queue.")
    header_attributes: list[str] | None = Field(
        None, max_length=MAX_ATTRIBUTES,
        description="Headers sent as message attributes; unset: every header except the 'sqs.*' ones the "
                    "sqs-source adds. A message carries at most 10 attributes: a record with more fails.")
    key_attribute: str | None = Field(None, description="Also send the record key as this message attribute.")
    group_id_header: str | None = Field(
        None, min_length=1, description="FIFO: the header whose value is the MessageGroupId (e.g. "
                                        "'sqs.group_id' to keep the groups of an sqs-source); unset: the key.")
    group_id_field: str | None = Field(
        None, min_length=1, description="FIFO: the value field (dotted path, e.g. 'customer.id') whose value "
                                        "is the MessageGroupId; needs a structured value (value_converter "
                                        "json).")
    default_group_id: str | None = Field(
        None, min_length=1, description="FIFO: the MessageGroupId of records without a key (or header, or "
                                        "field); unset: such a record fails.")
    deduplication: Literal["position", "content"] = Field(
        "position", description="FIFO: how the MessageDeduplicationId is made: 'position' from the record's "
                                "topic and source partition and offset (a redelivered record is accepted once "
                                "within 5 minutes; records without a position fall back to 'content'), "
                                "'content' from the body, attributes and group.")
    delay_s: int = Field(0, ge=0, le=900, description="Standard queues: seconds each message stays invisible "
                                                      "after it was sent.")
    value_converter: ConverterConfig = Field(
        default_factory=BytesConverterConfig,
        description="How the incoming value is decoded; default bytes (the body is sent unchanged). Use json "
                    "to transform structured values.")

    @field_validator("header_attributes", "key_attribute")
    @classmethod
    def _attribute_names(cls, value: Any) -> Any:
        for name in ([value] if isinstance(value, str) else value or []):
            if not _ATTRIBUTE_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid SQS attribute name (letters, digits, '_', '-', '.'; "
                                 "no leading, trailing or double '.'; not starting with 'AWS.' or 'Amazon.')")
            if name == ENCODING_ATTRIBUTE:
                raise ValueError(f"{ENCODING_ATTRIBUTE!r} is reserved (it says how a body is encoded)")
        return value

    @field_validator("default_group_id")
    @classmethod
    def _group_id(cls, value: str | None) -> str | None:
        if value is not None and not _GROUP_ID.match(value):
            raise ValueError("must be 1 to 128 ASCII letters, digits or punctuation")
        return value


class SqsSinkTask(SinkTask[SqsSinkConfig]):
    #: How the task waits between attempts at entries SQS failed on its side.
    sleep: Callable[[float], None] = staticmethod(time.sleep)

    def start(self) -> None:
        self._url = _resolve_url(self.config.queue)
        self._sqs = _sqs(self.config.queue)
        self._fifo = _is_fifo(self.config.queue)
        # FIFO: deduplication ids make a redelivered record a no-op (within SQS's 5-minute window).
        self.idempotent = self._fifo
        self._field_path = self.config.group_id_field.split(".") if self.config.group_id_field else []

    def put(self, records: list[ConnectRecord]) -> None:
        errors: dict[int, BaseException] = {}
        entries: list[dict[str, Any]] = []  # each entry's Id is its record's index
        groups: dict[int, str] = {}
        for index, record in enumerate(records):
            try:
                if self._fifo:
                    groups[index] = self._group_id(record)
                entries.append(self._entry(record, str(index), groups.get(index)))
            except SqsRecordError as exc:
                errors[index] = exc
        # With tolerance 'none' a failed record comes back later: the records after it in its FIFO
        # group wait for it, or the group's order would break.
        hold = self._fifo and self.config.errors.tolerance == "none"
        first_failure: dict[str, int] = {}
        sent: set[int] = set()
        for batch in batches(entries):
            if hold:
                for index in errors:
                    group = groups.get(index)
                    if group is not None and index < first_failure.get(group, index + 1):
                        first_failure[group] = index
                waiting = [i for i in (int(e["Id"]) for e in batch) if first_failure.get(groups[i], i) < i]
                for index in waiting:
                    errors[index] = SqsRecordError("an earlier record of its message group failed; this one "
                                                   "waits for it so the group stays in order")
                batch = [e for e in batch if int(e["Id"]) not in waiting]
                if not batch:
                    continue
            try:
                errors.update(self._send(batch, sent))
            except Exception as exc:
                reason = f"SendMessageBatch to {self.config.queue} failed: {describe(exc)}"
                cause = RetriableError(reason) if is_transient(exc) else SqsRecordError(reason)
                if not sent:
                    raise cause from exc  # nothing reached the queue: the whole put may be retried
                # This call's records and those after it: neither sent nor failed yet.
                unsent = [i for i in (int(e["Id"]) for e in entries) if i not in sent and i not in errors]
                errors.update({i: cause for i in unsent})
                break
        if errors:
            raise SinkRecordErrors(errors)

    def flush(self, offsets: OffsetMap) -> None:
        pass  # put returns only once SQS has accepted the messages

    # -- internals -------------------------------------------------------------------------------

    def _send(self, batch: list[dict[str, Any]], sent: set[int]) -> dict[int, BaseException]:
        """One SendMessageBatch call; entries SQS failed on its side are sent again with backoff."""
        errors: dict[int, BaseException] = {}
        pending = {entry["Id"]: int(entry["Id"]) for entry in batch}
        entries = {entry["Id"]: entry for entry in batch}
        for attempt in range(SEND_ATTEMPTS):
            response = self._sqs.send_message_batch(QueueUrl=self._url, Entries=[entries[i] for i in pending])
            for success in response.get("Successful", []):
                sent.add(pending[success["Id"]])
            retry = {}
            for failure in response.get("Failed", []):
                index = pending[failure["Id"]]
                reason = f"SQS refused the message ({failure.get('Code')}): {failure.get('Message')}"
                if failure.get("SenderFault"):
                    errors[index] = SqsRecordError(reason)
                else:
                    retry[failure["Id"]] = index
                    errors[index] = RetriableError(reason)
            if not retry:
                break
            pending = retry
            if attempt + 1 < SEND_ATTEMPTS:
                self.sleep(min(0.1 * 2 ** attempt, 2.0))
        for index in sent:
            errors.pop(index, None)
        return errors

    def _entry(self, record: ConnectRecord, entry_id: str, group: str | None) -> dict[str, Any]:
        body, encoding = _body(record.value)
        attributes: dict[str, dict[str, Any]] = {}
        if encoding is not None:
            attributes[ENCODING_ATTRIBUTE] = {"DataType": "String", "StringValue": encoding}
        attributes.update(self._header_attributes(record.headers))
        if self.config.key_attribute is not None and record.key is not None:
            key = _attribute(record.key, None)
            if key is not None:
                attributes[self.config.key_attribute] = key
        if len(attributes) > MAX_ATTRIBUTES:
            names = ", ".join(sorted(attributes))
            raise SqsRecordError(f"{len(attributes)} message attributes ({names}); an SQS message carries at most "
                                 f"{MAX_ATTRIBUTES}: choose the headers to send with header_attributes")
        entry: dict[str, Any] = {"Id": entry_id, "MessageBody": body}
        if attributes:
            entry["MessageAttributes"] = attributes
        if group is not None:
            entry["MessageGroupId"] = group
            entry["MessageDeduplicationId"] = self._deduplication_id(record, entry)
        elif self.config.delay_s:
            entry["DelaySeconds"] = self.config.delay_s
        size = entry_size(entry)
        if size > MAX_MESSAGE_BYTES:
            raise SqsRecordError(f"the message would be {size} bytes (body and attributes); SQS takes at most "
                                 f"{MAX_MESSAGE_BYTES}")
        return entry

    def _header_attributes(self, headers: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        try:
            types = json.loads(headers.get(H_ATTRIBUTE_TYPES) or "{}")
        except ValueError:
            types = {}
        if not isinstance(types, dict):
            types = {}
        if self.config.header_attributes is not None:
            names = [n for n in self.config.header_attributes if n in headers]
        else:
            names = [n for n in headers if not n.startswith(H_PREFIX) and n != ENCODING_ATTRIBUTE]
        out = {}
        for name in names:
            if not _ATTRIBUTE_NAME.match(name):
                raise SqsRecordError(f"header {name!r} is not a valid SQS attribute name: leave it out with "
                                     "header_attributes or rename it with a transform")
            attribute = _attribute(headers[name], types.get(name))
            if attribute is not None:
                out[name] = attribute
        return out

    def _group_id(self, record: ConnectRecord) -> str:
        cfg = self.config
        if cfg.group_id_header is not None:
            value, source = record.headers.get(cfg.group_id_header), f"header {cfg.group_id_header!r}"
        elif self._field_path:
            value, source = _field(record.value, self._field_path, cfg.group_id_field), \
                f"field {cfg.group_id_field!r}"
        else:
            value, source = record.key, "key"
        if value is None or value == "":
            if cfg.default_group_id is None:
                raise SqsRecordError(f"no MessageGroupId: the record has no {source}; set default_group_id for "
                                     "such records")
            return cfg.default_group_id
        text = _text_of(value)
        # Any text works as a group: one that SQS does not take is replaced by its digest, which
        # keeps equal values in one group.
        return text if _GROUP_ID.match(text) else "sha256-" + hashlib.sha256(text.encode()).hexdigest()

    def _deduplication_id(self, record: ConnectRecord, entry: Mapping[str, Any]) -> str:
        if self.config.deduplication == "position" and record.partition:
            identity = [record.topic, partition_key(record.partition), partition_key(record.offset)]
        else:
            attributes = {name: a.get("StringValue", base64.b64encode(a.get("BinaryValue", b"")).decode())
                          for name, a in entry.get("MessageAttributes", {}).items()}
            identity = [entry["MessageGroupId"], entry["MessageBody"], sorted(attributes.items())]
        return hashlib.sha256(json.dumps(identity, ensure_ascii=False).encode()).hexdigest()


class SqsSinkConnector(SinkConnector[SqsSinkConfig]):
    config_model = SqsSinkConfig
    task_class = SqsSinkTask
    description = "Sends records to an SQS queue (standard or FIFO); headers become message attributes."

    def validate(self) -> None:
        cfg = self.config
        fifo = _is_fifo(cfg.queue)
        errors = [FieldError(name, "applies to FIFO queues only (their names end in '.fifo')")
                  for name in ("group_id_header", "group_id_field", "default_group_id", "deduplication")
                  if name in cfg.model_fields_set and not fifo]
        if cfg.group_id_header is not None and cfg.group_id_field is not None:
            errors.append(FieldError("group_id_field", "set group_id_header or group_id_field, not both"))
        if cfg.group_id_field is not None and not isinstance(cfg.value_converter, JsonConverterConfig):
            errors.append(FieldError("group_id_field", "needs structured values: set value_converter to "
                                                       "{type: json}"))
        if cfg.delay_s and fifo:
            errors.append(FieldError("delay_s", "applies to standard queues only (a FIFO queue delays every "
                                                "message by its own DelaySeconds)"))
        if cfg.source_queue is not None and queue_identity(cfg.source_queue) == queue_identity(cfg.queue):
            errors.append(FieldError("queue", "is the sink's own source_queue: every record would come back "
                                              "to it"))
        if errors:
            raise ConfigError(errors)


# -- sink helpers ----------------------------------------------------------------------------------

def _body(value: Any) -> tuple[str, str | None]:
    """The body for a value, and how it is encoded when it is not the text itself (the framework's
    ``connect.encoding`` convention: ``base64`` or ``empty``)."""
    if value is None:
        raise SqsRecordError("a null value (tombstone) cannot be an SQS message: drop tombstones with a Filter "
                             "transform and the RecordIsTombstone predicate")
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(data).decode("ascii"), "base64"
    else:
        try:
            text = dumps(value)
        except (TypeError, ValueError) as exc:
            raise SqsRecordError(f"the value cannot be written as JSON: {exc}") from exc
    if not text:
        return "-", "empty"  # SQS refuses empty bodies
    if NOT_SQS_TEXT.search(text):
        return base64.b64encode(text.encode("utf-8")).decode("ascii"), "base64"
    return text, None


def _attribute(value: Any, declared: str | None) -> dict[str, Any] | None:
    """A message attribute for a header value; ``declared`` is its SQS type as the sqs-source saw
    it. None for an empty value (SQS refuses those)."""
    if value is None or value == "" or value == b"":
        return None
    if isinstance(declared, str) and isinstance(value, str):
        base = declared.split(".", 1)[0]
        if base == "Binary":
            try:
                return {"DataType": declared, "BinaryValue": base64.b64decode(value, validate=True)}
            except (binascii.Error, ValueError):
                pass
        elif base == "Number" and _is_number(value):
            return {"DataType": declared, "StringValue": value}
        elif base == "String" and not NOT_SQS_TEXT.search(value):
            return {"DataType": declared, "StringValue": value}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"DataType": "Binary", "BinaryValue": bytes(value)}
    if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool) and _is_number(str(value)):
        return {"DataType": "Number", "StringValue": str(value)}
    text = _text_of(value)
    if NOT_SQS_TEXT.search(text):
        return {"DataType": "Binary", "BinaryValue": text.encode("utf-8")}
    return {"DataType": "String", "StringValue": text}


def _is_number(text: str) -> bool:
    """What SQS takes as a Number: finite, up to 38 significant digits, magnitude 10^-128 to 10^126."""
    try:
        number = decimal.Decimal(text)
    except decimal.InvalidOperation:
        return False
    if not number.is_finite():
        return False
    if not number:
        return True
    # Counted, not normalized: normalize() rounds to the context's 28 digits.
    digits = len("".join(map(str, number.as_tuple().digits)).strip("0"))
    return digits <= 38 and -128 <= number.adjusted() <= 125


def _field(value: Any, path: list[str], name: str | None) -> Any:
    node = value
    for step in path:
        if not isinstance(node, Mapping):
            raise SqsRecordError(f"group_id_field {name!r}: the value is not an object at {step!r}")
        node = node.get(step)
    return node

