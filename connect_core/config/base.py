"""The keys every connector config has. Connector configs subclass these models and add their own."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from ..convert import BytesConverterConfig, ConverterConfig, JsonConverterConfig, StringConverterConfig
from ..transforms import PredicateConfig, TransformConfig

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"
_SQS_URL = re.compile(r"^https?://[^/]+/\d{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?$")
_SQS_ARN = re.compile(r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$")


def check_sqs_queue(value: str) -> str:
    """``value`` if it is an SQS queue URL or ARN; ValueError otherwise."""
    if not (_SQS_URL.match(value) or _SQS_ARN.match(value)):
        raise ValueError("must be an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>) "
                         "or ARN (arn:aws:sqs:<region>:<account>:<name>)")
    return value


#: A config field naming an SQS queue by URL or ARN.
SqsQueue = Annotated[str, AfterValidator(check_sqs_queue)]


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
    dead_letter_queue: SqsQueue | None = Field(
        None, description="SQS queue (URL or ARN) that receives failed records with their error context.")
    log_enable: bool = Field(True, description="Log each failure's context (never record contents) "
                                               "at WARNING.")


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


_SCHEDULE = re.compile(r"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\([^()]+\)|at\([0-9T:-]+\))$")


class SqsTarget(BaseModel):
    """Publish records to an SQS queue; a sink connector consumes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["sqs"] = "sqs"
    queue_url: str = Field(description="URL of the queue (CloudFormation: !Ref TheQueue).")

    @field_validator("queue_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not _SQS_URL.match(value):
            raise ValueError("must be an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)")
        return value


class DirectTarget(BaseModel):
    """Hand records straight to a sink task in the same invocation (RocketMQ Connect's direct mode):
    offsets are committed only after the sink accepted the records."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["direct"] = "direct"
    sink: dict[str, Any] = Field(description="A sink connector config (validated like any other).")


SourceTarget = Annotated[Union[SqsTarget, DirectTarget], Field(discriminator="type")]


class SourceConnectorConfig(ConnectorConfig):
    """Common keys of source connectors."""

    target: SourceTarget | None = Field(
        None, description="Where records go: an SQS queue, or a sink connector run in the same "
                          "invocation ('direct'). Required to run; optional while only validating.")
    schedule: str = Field("rate(1 minute)",
                          description="EventBridge Scheduler expression for each task's polling tick: "
                                      "rate(N minutes), cron(...) or at(...).")
    polling: Literal["continuous", "drain"] = Field(
        "drain", description="'drain': a tick polls until the source has nothing more, then ends (cheapest "
                             "for a mostly idle source; data waits up to a schedule period). 'continuous': a "
                             "tick keeps polling while the source is idle until the next tick takes the task "
                             "over, so records move within the pipeline's latency (needs a rate() schedule).")
    poll_interval_ms: int = Field(
        1000, ge=10, le=60_000,
        description="Continuous polling: how long to wait for new records after a poll that found none, "
                    "before polling again. Sources that are told of new data (RocketMQ's long polling) "
                    "return as soon as it arrives.")

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        if not _SCHEDULE.match(value.strip()):
            raise ValueError("must be a schedule expression such as 'rate(1 minute)', 'rate(5 minutes)' "
                             "or 'cron(0/5 * * * ? *)'")
        return value.strip()

    @model_validator(mode="after")
    def _continuous_needs_a_period(self) -> "SourceConnectorConfig":
        if self.polling == "continuous" and schedule_period_s(self.schedule) is None:
            raise ValueError("continuous polling needs a rate(...) schedule: each tick hands over to the "
                             "next, which must come a fixed period later")
        return self

    def period_s(self) -> float | None:
        """Seconds between ticks for a rate() schedule, else None."""
        return schedule_period_s(self.schedule)


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def schedule_period_s(expression: str) -> float | None:
    """The period of a ``rate(N unit)`` expression in seconds; None for cron() and at()."""
    match = _RATE.match(expression.strip())
    if match is None:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


class SinkConnectorConfig(ConnectorConfig):
    """Common keys of sink connectors."""

    source_queue: str | None = Field(
        None, description="ARN of the SQS queue whose event source mapping feeds this sink "
                          "(CloudFormation: !GetAtt TheQueue.Arn).")
    deduplicate: bool = Field(
        False, description="Skip records this connector already wrote (by source partition and offset, "
                           "or SQS message id), so a redelivered or re-published record is written once. "
                           "Costs a DynamoDB read and write per record.")

    @field_validator("source_queue")
    @classmethod
    def _queue_arn(cls, value: str | None) -> str | None:
        if value is not None and not _SQS_ARN.match(value):
            raise ValueError("must be an SQS queue ARN (arn:aws:sqs:<region>:<account>:<name>)")
        return value


__all__ = [
    "BytesConverterConfig",
    "ConnectorConfig",
    "DirectTarget",
    "SqsTarget",
    "ErrorsConfig",
    "JsonConverterConfig",
    "SinkConnectorConfig",
    "SourceConnectorConfig",
    "SqsQueue",
    "StringConverterConfig",
]
