"""The keys every connector config has. Connector configs subclass these models and add their own."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..convert import BytesConverterConfig, ConverterConfig, JsonConverterConfig, StringConverterConfig
from ..transforms import PredicateConfig, TransformConfig

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"
_SQS_URL = re.compile(r"^https?://[^/]+/\d{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?$")
_SQS_ARN = re.compile(r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$")


class ErrorsConfig(BaseModel):
    """What happens to a record that fails conversion, a transform or the sink (Kafka's ``errors.*``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tolerance: Literal["none", "all"] = Field(
        "none", description="'none': a failed record fails (it is retried, then redriven by the queue). "
                            "'all': failed records go to the dead-letter queue with their error; the rest flow on.")
    retry_timeout_ms: int = Field(
        0, ge=-1, description="How long to retry a retriable failure before it counts as failed; "
                              "0 = no retry, -1 = forever.")
    retry_max_delay_ms: int = Field(60_000, ge=0, description="Upper bound of the exponential backoff "
                                                              "between retries.")
    dead_letter_queue: str | None = Field(
        None, description="SQS queue (URL or ARN) that receives failed records with their error context.")
    log_enable: bool = Field(True, description="Log each failure's context (never record contents) "
                                               "at WARNING.")

    @field_validator("dead_letter_queue")
    @classmethod
    def _sqs_target(cls, value: str | None) -> str | None:
        if value is not None and not (_SQS_URL.match(value) or _SQS_ARN.match(value)):
            raise ValueError("must be an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>) "
                             "or ARN (arn:aws:sqs:<region>:<account>:<name>)")
        return value


class ConnectorConfig(BaseModel):
    """Common keys. ``extra="forbid"``: a misspelt key is an error, never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN, description="Unique connector name.")
    connector: str = Field(description="Built-in short name (e.g. 'datagen-source') or import path "
                                       "'package.module:Class' of the connector class.")
    max_tasks: int = Field(1, ge=1, le=1000, description="Upper bound on the number of tasks.")
    key_converter: ConverterConfig = Field(default_factory=StringConverterConfig,
                                           description="How keys become bytes and back; default string.")
    value_converter: ConverterConfig = Field(default_factory=JsonConverterConfig,
                                             description="How values become bytes and back; default json.")
    transforms: list[TransformConfig] = Field(default_factory=list,
                                              description="Single message transforms, applied in order.")
    predicates: dict[str, PredicateConfig] = Field(default_factory=dict,
                                                   description="Named predicates transforms refer to.")
    errors: ErrorsConfig = Field(default_factory=ErrorsConfig,
                                 description="Error tolerance, retries and the dead-letter queue.")

    @field_validator("transforms", mode="before")
    @classmethod
    def _kafka_style_variants(cls, value: object) -> object:
        """Accept Kafka's ``InsertField$Key`` spelling as ``type: InsertField, target: key``."""
        if not isinstance(value, list):
            return value
        out = []
        for item in value:
            if isinstance(item, dict) and isinstance(item.get("type"), str) and "$" in item["type"]:
                base, _, variant = item["type"].partition("$")
                if variant.lower() in ("key", "value") and "target" not in item:
                    item = {**item, "type": base, "target": variant.lower()}
            out.append(item)
        return out


class SourceConnectorConfig(ConnectorConfig):
    """Common keys of source connectors."""


class SinkConnectorConfig(ConnectorConfig):
    """Common keys of sink connectors."""


__all__ = [
    "BytesConverterConfig",
    "ConnectorConfig",
    "ErrorsConfig",
    "JsonConverterConfig",
    "SinkConnectorConfig",
    "SourceConnectorConfig",
    "StringConverterConfig",
]
