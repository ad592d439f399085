"""Lambda events in the shapes AWS delivers them, for tests of handlers and connectors.

- :func:`sqs_event` / :func:`sqs_record`: an SQS event source mapping batch. Records are put on the
  wire as the runtime puts them (``connect_core.runtime.wire``: the value as the body, the rest in
  the ``connect.record`` attribute), with the checksums, attributes and ids SQS adds;
  :func:`redelivered` is the same batch delivered again.
- :func:`scheduler_event`: the input an EventBridge Scheduler schedule passes to a source tick.
- :func:`connector_create_event` / ``_update_`` / ``_delete_``: CloudFormation custom resource
  requests for a ``Custom::Connector``, every property value a string as CloudFormation sends it.
- :func:`reconfigure_prepare_event` / ``_commit_`` / ``_abort_``: the inputs the reconfigure state
  machine's Lambda tasks receive (``statemachine/reconfigure.asl.json``).

Captured examples of each shape are in ``tests/events/``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import struct
import time
import uuid
from typing import Any, Iterable, Mapping, Union

from ..api.record import ConnectRecord
from ..runtime.pipeline import Message
from ..runtime.wire import to_sqs_entry

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_QUEUE_ARN = f"arn:aws:sqs:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:connector-records"
DEFAULT_SERVICE_TOKEN = (f"arn:aws:lambda:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:function:"
                         "connect-ConnectorResourceFunction")
DEFAULT_STACK_ID = (f"arn:aws:cloudformation:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:stack/connect/"
                    "1e6e0c00-8a11-11ee-9f4a-0a1b2c3d4e5f")
#: The principal SQS reports as the sender of messages a Lambda function published.
SENDER_ID = "AROAEXAMPLEROLEID:connect-SourcePollerFunction"

#: What a batch may hold: records (converted like a source's), wire messages, or raw bodies as
#: a producer of your own would send them (no ``connect.record`` attribute).
SqsItem = Union[ConnectRecord, Message, str]


# --- SQS -------------------------------------------------------------------------------------------

def sqs_event(items: Iterable[SqsItem], *, queue_arn: str = DEFAULT_QUEUE_ARN, receive_count: int = 1,
              key_converter: Any = None, value_converter: Any = None,
              message_group_id: str | None = None) -> dict[str, Any]:
    """An SQS-triggered Lambda event (``{"Records": [...]}``) holding ``items`` in order.

    ``key_converter``/``value_converter`` (converter configs, as models or dicts) turn records
    into bytes; by default string keys and JSON values, the defaults of every connector config.
    ``message_group_id`` makes it a FIFO queue's batch.
    """
    converters = _Converters(key_converter, value_converter)
    records = []
    for i, item in enumerate(items):
        records.append(sqs_record(item, queue_arn=queue_arn, receive_count=receive_count,
                                  converters=converters, message_group_id=message_group_id,
                                  sequence_number=i))
    return {"Records": records}


def sqs_record(item: SqsItem, *, queue_arn: str = DEFAULT_QUEUE_ARN, message_id: str | None = None,
               receive_count: int = 1, sent_at_ms: int | None = None, key_converter: Any = None,
               value_converter: Any = None, message_group_id: str | None = None,
               converters: "_Converters | None" = None, sequence_number: int = 0) -> dict[str, Any]:
    """One record of an SQS-triggered Lambda event (``event["Records"][i]``)."""
    if converters is None:
        converters = _Converters(key_converter, value_converter)
    if isinstance(item, str):
        body, attributes = item, {}
    else:
        message = converters.message(item) if isinstance(item, ConnectRecord) else item
        entry = to_sqs_entry(message, "0")
        body, attributes = entry["MessageBody"], entry["MessageAttributes"]
    sent = int(time.time() * 1000) if sent_at_ms is None else sent_at_ms
    record: dict[str, Any] = {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": _receipt_handle(),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(sent),
            "SenderId": SENDER_ID,
            "ApproximateFirstReceiveTimestamp": str(sent + 2),
        },
        "messageAttributes": {name: _lambda_attribute(value) for name, value in attributes.items()},
        "md5OfBody": hashlib.md5(body.encode("utf-8")).hexdigest(),  # noqa: S324 - SQS's checksum
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }
    if attributes:
        record["md5OfMessageAttributes"] = md5_of_message_attributes(attributes)
    if message_group_id is not None:
        record["attributes"].update({
            "MessageGroupId": message_group_id,
            "MessageDeduplicationId": hashlib.sha256(body.encode()).hexdigest(),
            "SequenceNumber": str(18_849_496_460_467_696_128 + sequence_number),
        })
    return record


def redelivered(event: Mapping[str, Any], *, times: int = 1) -> dict[str, Any]:
    """``event`` delivered again ``times`` more: the same message ids and bodies, a higher
    ``ApproximateReceiveCount`` and new receipt handles, as SQS redelivers a message."""
    again = copy.deepcopy(dict(event))
    for record in again.get("Records", []):
        attributes = record.setdefault("attributes", {})
        attributes["ApproximateReceiveCount"] = str(int(attributes.get("ApproximateReceiveCount", 1)) + times)
        record["receiptHandle"] = _receipt_handle()
    return again


def md5_of_message_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> str:
    """SQS's ``MD5OfMessageAttributes`` of attributes in the ``SendMessage`` form
    (``{"name": {"DataType": "String", "StringValue": "..."}}``)."""
    digest = hashlib.md5()  # noqa: S324 - SQS's checksum
    for name in sorted(attributes):
        attribute = attributes[name]
        data_type = attribute["DataType"]
        digest.update(_length_prefixed(name.encode("utf-8")))
        digest.update(_length_prefixed(data_type.encode("utf-8")))
        if "BinaryValue" in attribute:
            value = attribute["BinaryValue"]
            digest.update(b"\x02" + _length_prefixed(value if isinstance(value, bytes) else value.encode()))
        else:
            digest.update(b"\x01" + _length_prefixed(str(attribute["StringValue"]).encode("utf-8")))
    return digest.hexdigest()


def _length_prefixed(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _lambda_attribute(attribute: Mapping[str, Any]) -> dict[str, Any]:
    """A SendMessage attribute as the Lambda event spells it (lower camel case)."""
    out: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": attribute["DataType"]}
    if "StringValue" in attribute:
        out["stringValue"] = attribute["StringValue"]
    if "BinaryValue" in attribute:
        value = attribute["BinaryValue"]
        out["binaryValue"] = base64.b64encode(value if isinstance(value, bytes) else value.encode()).decode()
    return out


def _receipt_handle() -> str:
    return "AQEB" + base64.b64encode(os.urandom(48)).decode("ascii")


class _Converters:
    """Records to wire messages with a connector's key and value converters."""

    def __init__(self, key_converter: Any, value_converter: Any) -> None:
        self._configs = (key_converter, value_converter)
        self._built: tuple[Any, Any] | None = None

    def message(self, record: ConnectRecord) -> Message:
        key_converter, value_converter = self._converters()
        key = key_converter.serialize(record.topic, record.key_schema, record.key)
        value = value_converter.serialize(record.topic, record.value_schema, record.value)
        return Message(value, key, record.topic, dict(record.headers), record.partition, record.offset,
                       record.timestamp)

    def _converters(self) -> tuple[Any, Any]:
        if self._built is None:
            from pydantic import TypeAdapter

            from ..convert import (ConverterConfig, JsonConverterConfig, StringConverterConfig,
                                   build_converter)

            adapter = TypeAdapter(ConverterConfig)
            key_config, value_config = self._configs
            key_config = StringConverterConfig() if key_config is None else adapter.validate_python(key_config)
            value_config = JsonConverterConfig() if value_config is None else adapter.validate_python(value_config)
            self._built = (build_converter(key_config, is_key=True), build_converter(value_config))
        return self._built


# --- EventBridge Scheduler -------------------------------------------------------------------------

def scheduler_event(connector: str, task: int = 0) -> dict[str, Any]:
    """What a source task's schedule passes to the poller: its ``Target.Input``, parsed."""
    return {"connector": connector, "task": task}


# --- CloudFormation custom resources ---------------------------------------------------------------

def custom_resource_event(request_type: str, properties: Mapping[str, Any], *,
                          old_properties: Mapping[str, Any] | None = None, physical_id: str | None = None,
                          logical_id: str = "Connector", resource_type: str = "Custom::Connector",
                          service_token: str = DEFAULT_SERVICE_TOKEN, stack_id: str = DEFAULT_STACK_ID,
                          response_url: str | None = None, request_id: str | None = None) -> dict[str, Any]:
    """A CloudFormation request to a custom resource provider. Property values become strings,
    as CloudFormation sends them; ``ServiceToken`` is among the properties, as it is in AWS.

    ``response_url`` is where the provider PUTs its answer: a pre-signed S3 URL in AWS, a local
    HTTP server in a test that wants to read the answer.
    """
    from ..local.custom_resource import stringify

    if request_type not in ("Create", "Update", "Delete"):
        raise ValueError(f"request_type must be Create, Update or Delete, not {request_type!r}")
    request_id = request_id or str(uuid.uuid4())
    event: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": service_token,
        "ResponseURL": response_url or (
            f"https://cloudformation-custom-resource-response-{stack_id.split(':')[3].replace('-', '')}"
            f".s3.amazonaws.com/{logical_id}?X-Amz-Signature={request_id.replace('-', '')}"),
        "StackId": stack_id,
        "RequestId": request_id,
        "LogicalResourceId": logical_id,
        "ResourceType": resource_type,
        "ResourceProperties": stringify({"ServiceToken": service_token, **properties}),
    }
    if request_type != "Create":
        if physical_id is None:
            raise ValueError(f"a {request_type} request needs the resource's physical_id")
        event["PhysicalResourceId"] = physical_id
    if request_type == "Update":
        event["OldResourceProperties"] = stringify({"ServiceToken": service_token, **(old_properties or {})})
    return event


def connector_create_event(config: Mapping[str, Any], **options: Any) -> dict[str, Any]:
    """CloudFormation creating a ``Custom::Connector`` with ``config``."""
    return custom_resource_event("Create", {"Config": dict(config)}, **options)


def connector_update_event(config: Mapping[str, Any], old_config: Mapping[str, Any], **options: Any) -> dict[str, Any]:
    """CloudFormation updating a ``Custom::Connector`` from ``old_config`` to ``config``."""
    options.setdefault("physical_id", old_config.get("name"))
    return custom_resource_event("Update", {"Config": dict(config)}, old_properties={"Config": dict(old_config)},
                                 **options)


def connector_delete_event(config: Mapping[str, Any], *, delete_offsets: bool | None = None,
                           **options: Any) -> dict[str, Any]:
    """CloudFormation deleting a ``Custom::Connector`` (offsets stay unless ``delete_offsets``)."""
    options.setdefault("physical_id", config.get("name"))
    properties: dict[str, Any] = {"Config": dict(config)}
    if delete_offsets is not None:
        properties["DeleteOffsets"] = delete_offsets
    return custom_resource_event("Delete", properties, **options)


# --- the reconfigure state machine's Lambda tasks ---------------------------------------------------

def reconfigure_prepare_event(connector: str) -> dict[str, Any]:
    """The ``Prepare`` task's input."""
    return {"step": "prepare", "connector": connector}


def reconfigure_commit_event(prepared: Mapping[str, Any]) -> dict[str, Any]:
    """The ``Commit`` task's input, built from what ``Prepare`` returned, as the state machine does."""
    return {"step": "commit", "connector": prepared["connector"], "kind": prepared["kind"],
            "generation": prepared["generation"], "task_count": prepared["task_count"]}


def reconfigure_abort_event(connector: str, error: BaseException | str = "States.TaskFailed",
                            cause: str | None = None, *,
                            prepared: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``Abort`` task's input after a step failed.

    ``error`` is the failed Lambda task's exception (its ``Cause`` is then Lambda's error JSON, as
    Step Functions reports it) or a Step Functions error name with its ``cause`` text.
    ``prepared`` is what ``Prepare`` returned, when the failure came after it.
    """
    if isinstance(error, BaseException):
        caught = {"Error": type(error).__name__,
                  "Cause": json.dumps({"errorMessage": str(error), "errorType": type(error).__name__,
                                       "requestId": str(uuid.uuid4()), "stackTrace": []})}
    else:
        caught = {"Error": error, "Cause": cause or ""}
    state: dict[str, Any] = {"connector": connector}
    if prepared is not None:
        state["prepared"] = dict(prepared)
    state["error"] = caught
    return {"step": "abort", "connector": connector, "error": caught, "state": state}
