"""connect_core: RocketMQ Connect's model - source and sink connectors, tasks, offsets - run on AWS
serverless parts. This module is the connector SDK's front door; heavy parts (AWS clients, the
runtime, the emulator) live in subpackages and are imported only when used.
"""

from .api import (
    ConnectRecord,
    Connector,
    Field,
    FieldType,
    OffsetMap,
    Schema,
    SinkConnector,
    SinkRecordErrors,
    SinkTask,
    SourceConnector,
    SourceTask,
    TaskContext,
    partition_key,
)
from .config import (
    ConnectorConfig,
    SecretRef,
    SinkConnectorConfig,
    SourceConnectorConfig,
    config_json_schema,
    validate_config,
)
from .errors import ConfigError, ConnectError, RetriableError
from .registry import load_connector_class, plugin_names, register

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ConnectError",
    "ConnectRecord",
    "Connector",
    "ConnectorConfig",
    "Field",
    "FieldType",
    "OffsetMap",
    "RetriableError",
    "Schema",
    "SecretRef",
    "SinkConnector",
    "SinkConnectorConfig",
    "SinkRecordErrors",
    "SinkTask",
    "SourceConnector",
    "SourceConnectorConfig",
    "SourceTask",
    "TaskContext",
    "config_json_schema",
    "load_connector_class",
    "partition_key",
    "plugin_names",
    "register",
    "validate_config",
]
