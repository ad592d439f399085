"""The admin API's request and response bodies, in Kafka Connect's JSON shapes.

The handlers build their answers with these models and the OpenAPI document is generated from
them, so what the document promises is what the API sends. Unlike Kafka Connect, config values
are typed JSON (numbers, booleans, objects), not strings: the connector configs are typed models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..config.base import NAME_PATTERN

ConnectorType = Literal["source", "sink", "unknown"]
StateName = Literal["UNASSIGNED", "RUNNING", "PAUSED", "STOPPED", "FAILED", "RESTARTING", "DESTROYED"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ServerInfo(_Body):
    """``GET /``: what runs behind the API."""

    version: str = Field(description="Version of connect_core serving the API.")
    commit: str = Field(description="Source revision, when the deployment knows it; else empty.")
    kafka_cluster_id: str = Field(description="Kafka Connect's cluster id field: here the id of the "
                                              "deployment (the configs table it manages).")


class TaskId(_Body):
    connector: str
    task: int = Field(ge=0)


class ConnectorInfo(_Body):
    """A connector's config and its tasks."""

    name: str
    config: dict[str, Any] = Field(description="The stored config: every key given, typed.")
    tasks: list[TaskId] = Field(description="The live tasks (none while the connector is STOPPED).")
    type: ConnectorType


class CreateConnectorRequest(_Body):
    """``POST /connectors``."""

    name: str = Field(pattern=NAME_PATTERN,
                      description="Connector name; must equal config.name when that is given.")
    config: dict[str, Any] = Field(description="The connector config (see the configuration reference). "
                                               "Kafka's 'connector.class' and 'tasks.max' are accepted as "
                                               "'connector' and 'max_tasks'.")


class ConnectorState(_Body):
    state: StateName
    worker_id: str = Field(description="Who reported the state: 'reconfigure' (the state machine) or "
                                       "'admin-api' (this API).")
    trace: str | None = Field(None, exclude_if=lambda v: v is None,
                              description="The error, when the state is FAILED (absent otherwise).")


class TaskState(_Body):
    id: int = Field(ge=0)
    state: StateName
    worker_id: str = Field(description="The Lambda request that last ran the task; 'unassigned' before "
                                       "its first run, 'admin-api' when this API restarted it.")
    trace: str | None = Field(None, exclude_if=lambda v: v is None,
                              description="The error, when the state is FAILED (absent otherwise).")
    lag: "TaskLag | None" = Field(None, exclude_if=lambda v: v is None,
                                  description="What the running task last measured (absent before it did).")


class TaskLag(_Body):
    """A source task's lag, as its tick last measured it (every few seconds with continuous polling)."""

    messages: int | None = Field(None, description="Records at the source not yet read.")
    seconds: float | None = Field(None, description="Replicators: age of the oldest source message the "
                                                    "target has not acknowledged yet (0 when caught up).")
    measured_at: float | None = Field(None, description="When, in epoch seconds.")


class QueueWatermark(_Body):
    """The verified watermark of one source queue: the highest source offset the target cluster
    acknowledged, and where that message landed."""

    partition: dict[str, Any] = Field(description="The source queue: cluster, broker, topic, queue.")
    source_offset: int = Field(description="Highest source offset acknowledged by the target.")
    born_timestamp: int | None = Field(None, description="That message's born time (epoch ms).")
    store_timestamp: int | None = Field(None, description="Its store time on the source (epoch ms).")
    target: list[Any] = Field(description="The target queue: [broker, topic, queue id].")
    target_offset: int = Field(description="Where it landed on the target queue.")
    acked_at: float = Field(description="When the target acknowledged it (epoch seconds).")


class QueueAtRisk(_Body):
    """One source queue's data at risk (docs/disaster-recovery.md)."""

    partition: dict[str, Any]
    verified_offset: int = Field(description="The next source offset after the verified watermark (or the "
                                             "committed offset, when messages were filtered out).")
    known_max_offset: int = Field(description="The source queue's max offset as last observed.")
    messages: int = Field(description="known_max_offset - verified_offset.")
    seconds: float = Field(description="Store-time span of those messages; with no watermark yet, from the "
                                       "first unreplicated message (or the first observation of the queue).")
    bound: Literal["exact", "upper"] = Field(description="exact: the newest message was pulled; upper: its store "
                                                         "time is bounded by the observation time.")
    observed_at: float | None = Field(description="When the max offset was observed (epoch seconds).")


class DataAtRiskInfo(_Body):
    """What losing the source cluster now would lose: messages summed over queues, the largest span in
    seconds, and the oldest observation (production after it is unknowable without the source)."""

    messages: int
    seconds: float
    observed_at: float | None
    queues: list[QueueAtRisk]


class ReplicationInfo(_Body):
    """``GET /connectors/{name}/replication``: how far a replicator has verifiably copied each source
    queue, each task's lag, and the data at risk."""

    name: str
    queues: list[QueueWatermark]
    tasks: list[TaskState]
    data_at_risk: DataAtRiskInfo | None = None


class FailoverRequest(_Body):
    """``POST /connectors/{name}/replication/failover``."""

    mode: Literal["planned", "unplanned"] = Field(description="planned: the source is healthy (drain first, "
                                                              "0 lost); unplanned: the source is unreachable "
                                                              "(never called).")
    dry_run: bool = Field(False, description="Answer what the run would do (steps, offsets, data at risk); "
                                             "change nothing.")
    drain_timeout_s: float | None = Field(None, gt=0, le=3600, description="planned: how long to wait for the "
                                                                          "link to drain (default 300).")


class FailbackRequest(_Body):
    """``POST /connectors/{name}/replication/failback``."""

    dry_run: bool = Field(False, description="Answer what the run would do; change nothing.")


class RunStep(_Body):
    name: str
    status: Literal["pending", "running", "done", "failed"]
    started_at: float | None
    finished_at: float | None
    seconds: float | None
    detail: dict[str, Any] | None


class ReplicationRun(_Body):
    """A failover or failback run and its report: steps with timings, offsets applied per group and
    queue (the apply_offsets step's detail), the data at risk."""

    id: str
    connector: str
    kind: Literal["planned", "unplanned", "failback"]
    status: Literal["RUNNING", "SUCCEEDED", "FAILED"]
    attempt: int = Field(0, description="0 for the first execution; each resume starts the next attempt, and "
                                        "executions of earlier attempts can no longer change the run.")
    version: int | None = Field(None, description="How often the run was written (each write is conditional "
                                                  "on the version read).")
    created_at: float
    finished_at: float | None
    error: str | None
    drain_timeout_s: float | None = None
    steps: list[RunStep]
    data_at_risk: DataAtRiskInfo | None = None


class ReplicationRuns(_Body):
    runs: list[ReplicationRun] = Field(description="Newest first.")


class ReplicationPlan(_Body):
    """A dry run's answer: nothing was changed."""

    connector: str
    kind: Literal["planned", "unplanned", "failback"]
    dry_run: Literal[True]
    steps: list[str]
    offsets: list[dict[str, Any]] | None = Field(None, description="Per group and target queue, the offset that "
                                                                   "would be applied (never backwards).")
    not_translated: list[dict[str, Any]] | None = Field(
        None, description="Per group and source queue without a translation (no offset syncs that old, no "
                          "checkpoint): 'group', 'partition' and 'reason'. Those groups are not moved there.")
    data_at_risk: DataAtRiskInfo | None = None
    reverse_connector: dict[str, Any] | None = None
    reverse_offsets: list[dict[str, Any]] | None = None


class ConnectorStateInfo(_Body):
    """``GET /connectors/{name}/status``."""

    name: str
    connector: ConnectorState
    tasks: list[TaskState]
    type: ConnectorType


class ConnectorExpansion(_Body):
    """One connector of ``GET /connectors?expand=...``."""

    status: ConnectorStateInfo | None = None
    info: ConnectorInfo | None = None


class TaskInfo(_Body):
    """One task of ``GET /connectors/{name}/tasks``."""

    id: TaskId
    config: dict[str, Any] = Field(description="The task config the connector's split produced.")


class PluginInfo(_Body):
    """One entry of ``GET /connector-plugins``."""

    class_: str = Field(alias="class", description="What a config's 'connector' (or 'type') takes.")
    type: Literal["source", "sink", "transformation", "predicate", "converter"]
    version: str


class ConfigKeyInfo(_Body):
    """How one config key is defined (Kafka's ConfigKeyInfo)."""

    name: str
    type: str = Field(description="STRING, INT, LONG, DOUBLE, BOOLEAN, LIST, PASSWORD (a secret "
                                  "reference) or OBJECT (a nested config).")
    required: bool
    default_value: str | None = Field(description="The default as JSON text; null when required.")
    importance: Literal["HIGH", "MEDIUM", "LOW"]
    documentation: str
    group: str
    width: Literal["NONE", "SHORT", "MEDIUM", "LONG"]
    display_name: str
    dependents: list[str]
    order: int


class ConfigValueInfo(_Body):
    """The value given for one key and what is wrong with it (Kafka's ConfigValueInfo)."""

    name: str
    value: Any = Field(None, description="The value given, else the default (typed JSON).")
    recommended_values: list[Any]
    errors: list[str]
    visible: bool


class ConfigInfo(_Body):
    definition: ConfigKeyInfo
    value: ConfigValueInfo


class ConfigInfos(_Body):
    """``PUT /connector-plugins/{type}/config/validate``: every key with its errors."""

    name: str = Field(description="The connector plugin validated against.")
    error_count: int = Field(ge=0)
    groups: list[str]
    configs: list[ConfigInfo]


class ConnectorOffset(_Body):
    partition: dict[str, Any] = Field(min_length=1, description="A source partition, as the task reports it.")
    offset: dict[str, Any] | None = Field(description="Its offset; null in a PATCH removes the partition's "
                                                      "offset (the source reads it from the start).")


class ConnectorOffsets(_Body):
    """``GET``/``PATCH /connectors/{name}/offsets`` (KIP-875)."""

    offsets: list[ConnectorOffset]


class Message(_Body):
    message: str


class ErrorMessage(_Body):
    """Every error answer: Kafka Connect's ``{error_code, message}``, plus per-field errors of a
    connector config where there are any."""

    error_code: int
    message: str
    errors: dict[str, list[str]] | None = Field(
        None, description="Config errors by field path ('' for the config as a whole).")
