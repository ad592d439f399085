"""How a converted record travels as an SQS message, and back.

SQS bodies are text and a message carries at most 10 attributes, so:

* the body is the value: UTF-8 text as is; other bytes as base64 (``connect.encoding`` says which);
  a tombstone (``None`` value) is an empty marker body ``-`` with ``connect.encoding = null``;
* everything else - topic, key, source partition and offset, timestamp, headers - is one JSON
  attribute ``connect.record``, whatever the number of headers.

The same shape is what a user's own producer can send into a sink connector's queue; a message
with no ``connect.record`` attribute is taken as a bare value (its SQS attributes become headers).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any, Iterator, Mapping

from .pipeline import Message

RECORD_ATTRIBUTE = "connect.record"
ENCODING_ATTRIBUTE = "connect.encoding"
#: What an SQS message may weigh (body + attribute names, types and values).
MAX_MESSAGE_BYTES = 256 * 1024
MAX_BATCH_ENTRIES = 10


class MessageTooLargeError(ValueError):
    """A record is larger than one SQS message can carry."""


#: Characters an SQS message body or attribute value may not contain (it accepts XML 1.0 characters only).
NOT_SQS_TEXT = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(data: bytes) -> tuple[str, str]:
    """Bytes as SQS-safe text: UTF-8 as is where it can be, base64 otherwise."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or NOT_SQS_TEXT.search(text):
        return base64.b64encode(data).decode("ascii"), "base64"
    return text, "utf-8"


def to_sqs_entry(message: Message, entry_id: str) -> dict[str, Any]:
    """A ``SendMessageBatch`` entry for ``message``."""
    if message.value is None:
        body, encoding = "-", "null"  # SQS refuses empty bodies: a marker, and the encoding says why
    elif not message.value:
        body, encoding = "-", "empty"
    else:
        body, encoding = _text(message.value)
    meta: dict[str, Any] = {"topic": message.topic}
    if message.key is not None:
        key, key_encoding = _text(message.key)
        meta["key"] = key
        if key_encoding != "utf-8":
            meta["key_encoding"] = key_encoding
    if message.partition:
        meta["partition"] = message.partition
        meta["offset"] = message.offset
    if message.timestamp is not None:
        meta["timestamp"] = message.timestamp
    if message.headers:
        meta["headers"] = message.headers
    meta_text = json.dumps(meta, separators=(",", ":"), ensure_ascii=False)
    entry = {
        "Id": entry_id,
        "MessageBody": body,
        "MessageAttributes": {
            RECORD_ATTRIBUTE: {"DataType": "String", "StringValue": meta_text},
            ENCODING_ATTRIBUTE: {"DataType": "String", "StringValue": encoding},
        },
    }
    size = entry_size(entry)
    if size > MAX_MESSAGE_BYTES:
        raise MessageTooLargeError(f"record for topic {message.topic!r} at offset {dict(message.offset)} is "
                                   f"{size} bytes as an SQS message; the limit is {MAX_MESSAGE_BYTES}")
    return entry


def entry_size(entry: Mapping[str, Any]) -> int:
    """What SQS counts of a message: its body and its attributes' names, types and values."""
    size = len(entry["MessageBody"].encode("utf-8"))
    for name, attribute in entry.get("MessageAttributes", {}).items():
        size += len(name.encode()) + len(attribute["DataType"].encode())
        size += len(attribute.get("StringValue", "").encode("utf-8"))
        size += len(attribute.get("BinaryValue", b""))
    return size


def batches(entries: list[dict[str, Any]], max_bytes: int = MAX_MESSAGE_BYTES) -> Iterator[list[dict[str, Any]]]:
    """Group entries into ``SendMessageBatch`` calls: at most 10 entries and ``max_bytes`` each."""
    batch: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        entry_bytes = entry_size(entry)
        if batch and (len(batch) == MAX_BATCH_ENTRIES or size + entry_bytes > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += entry_bytes
    if batch:
        yield batch


def _attribute(attributes: Mapping[str, Any], name: str) -> str | None:
    attribute = attributes.get(name)
    if not attribute:
        return None
    # The Lambda event spells it stringValue; ReceiveMessage spells it StringValue.
    return attribute.get("stringValue", attribute.get("StringValue"))


def from_sqs(body: str, attributes: Mapping[str, Any], message_id: str | None = None,
             receive_count: int = 1) -> Message:
    """The :class:`Message` an SQS message (Lambda event record or ReceiveMessage item) carries."""
    encoding = _attribute(attributes, ENCODING_ATTRIBUTE) or "utf-8"
    if encoding == "null":
        value = None
    elif encoding == "empty":
        value = b""
    elif encoding == "base64":
        value = base64.b64decode(body)
    else:
        value = body.encode("utf-8")
    meta_text = _attribute(attributes, RECORD_ATTRIBUTE)
    if meta_text is None:
        headers = {name: v for name in attributes if (v := _attribute(attributes, name)) is not None}
        return Message(value, None, None, headers, {}, {}, None, message_id, receive_count)
    meta = json.loads(meta_text)
    key = meta.get("key")
    if key is not None:
        key = base64.b64decode(key) if meta.get("key_encoding") == "base64" else key.encode("utf-8")
    return Message(value, key, meta.get("topic"), meta.get("headers", {}), meta.get("partition", {}),
                   meta.get("offset", {}), meta.get("timestamp"), message_id, receive_count)


def raw_lambda_record(record: Mapping[str, Any]) -> Message:
    """A Lambda event record as it arrived, for the dead letter of one ``from_lambda_record`` could
    not read: its body as bytes and its string attributes as headers."""
    attributes = record.get("messageAttributes", {})
    headers = {name: v for name in attributes if isinstance(v := _attribute(attributes, name), str)}
    return Message(str(record.get("body", "")).encode("utf-8"), None, None, headers, {}, {}, None,
                   record.get("messageId"), int(record.get("attributes", {}).get("ApproximateReceiveCount", 1)))


def from_lambda_record(record: Mapping[str, Any]) -> Message:
    """A record of an SQS-triggered Lambda event (``event["Records"][i]``)."""
    return from_sqs(record["body"], record.get("messageAttributes", {}), record["messageId"],
                    int(record.get("attributes", {}).get("ApproximateReceiveCount", 1)))
