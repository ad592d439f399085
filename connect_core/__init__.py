"""connect_core: RocketMQ Connect's model - source and sink connectors, tasks, offsets - run on AWS
serverless parts. This module is the connector SDK's front door; heavy parts (AWS clients, the
runtime, the emulator) live in subpackages and are imported only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

# Public names and the module each lives in. They load on first use (PEP 562), so that importing a
# submodule (a Lambda handler importing connect_core.runtime) does not build every config model.
_EXPORTS = {
    "ConnectRecord": "api", "Connector": "api", "Field": "api", "FieldType": "api", "OffsetMap": "api",
    "Schema": "api", "SinkConnector": "api", "SinkRecordErrors": "api", "SinkTask": "api",
    "SourceConnector": "api", "SourceTask": "api", "TaskContext": "api", "partition_key": "api",
    "ConnectorConfig": "config", "SecretRef": "config", "SinkConnectorConfig": "config",
    "SourceConnectorConfig": "config", "config_json_schema": "config", "validate_config": "config",
    "ConfigError": "errors", "ConnectError": "errors", "RetriableError": "errors",
    "load_connector_class": "registry", "plugin_names": "registry", "register": "registry",
}

if TYPE_CHECKING:
    from .api import (ConnectRecord, Connector, Field, FieldType, OffsetMap, Schema, SinkConnector,
                      SinkRecordErrors, SinkTask, SourceConnector, SourceTask, TaskContext, partition_key)
    from .config import (ConnectorConfig, SecretRef, SinkConnectorConfig, SourceConnectorConfig,
                         config_json_schema, validate_config)
    from .errors import ConfigError, ConnectError, RetriableError
    from .registry import load_connector_class, plugin_names, register


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)


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
