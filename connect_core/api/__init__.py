"""The connector SDK: connectors, tasks, records and schemas."""

from .connector import (
    Connector,
    SinkConnector,
    SinkRecordErrors,
    SinkTask,
    SourceConnector,
    SourceTask,
    Task,
    TaskConfig,
    TaskContext,
)
from .record import ConnectRecord, Offset, OffsetMap, Partition, partition_key
from .schema import Field, FieldType, Schema, SchemaError

__all__ = [
    "ConnectRecord",
    "Connector",
    "Field",
    "FieldType",
    "Offset",
    "OffsetMap",
    "Partition",
    "Schema",
    "SchemaError",
    "SinkConnector",
    "SinkRecordErrors",
    "SinkTask",
    "SourceConnector",
    "SourceTask",
    "Task",
    "TaskConfig",
    "TaskContext",
    "partition_key",
]
