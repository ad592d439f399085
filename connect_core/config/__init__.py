"""Typed connector configs: common keys, secrets as references, validation with field paths."""

from .base import ConnectorConfig, ErrorsConfig, SinkConnectorConfig, SourceConnectorConfig
from .secrets import SecretRef
from .validation import config_json_schema, field_errors, validate_config

__all__ = [
    "ConnectorConfig",
    "ErrorsConfig",
    "SecretRef",
    "SinkConnectorConfig",
    "SourceConnectorConfig",
    "config_json_schema",
    "field_errors",
    "validate_config",
]
