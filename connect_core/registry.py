"""Where connector classes come from: built-ins by short name, the user's own by import path."""

from __future__ import annotations

import importlib
from typing import Any

from .api.connector import Connector
from .errors import UnknownConnectorError

#: Built-in connectors, imported only when asked for (cold start).
BUILTIN_CONNECTORS: dict[str, str] = {
    "datagen-source": "connect_core.connectors.datagen:DataGenSourceConnector",
    "file-sink": "connect_core.connectors.file:FileSinkConnector",
    "file-source": "connect_core.connectors.file:FileSourceConnector",
    "sqs-source": "connect_core.connectors.sqs:SqsSourceConnector",
    "sqs-sink": "connect_core.connectors.sqs:SqsSinkConnector",
    "http-sink": "connect_core.connectors.http:HttpSinkConnector",
    "jdbc-source": "connect_core.connectors.jdbc:JdbcSourceConnector",
    "jdbc-sink": "connect_core.connectors.jdbc:JdbcSinkConnector",
    "rocketmq-source": "connect_core.connectors.rocketmq:RocketMQSourceConnector",
    "rocketmq-sink": "connect_core.connectors.rocketmq:RocketMQSinkConnector",
    "rocketmq-replicator": "connect_core.connectors.replicator:ReplicatorConnector",
    "s3-sink": "connect_core.connectors.s3:S3SinkConnector",
    "dynamodb-sink": "connect_core.connectors.dynamodb:DynamoDBSinkConnector",
}

_registered: dict[str, str] = {}


def register(short_name: str, import_path: str) -> None:
    """Make a connector of your own available under a short name."""
    _registered[short_name] = import_path


def plugin_names() -> list[str]:
    return sorted({**BUILTIN_CONNECTORS, **_registered})


def load_connector_class(name: str) -> type[Connector[Any]]:
    """The connector class for a short name (``datagen-source``) or an import path
    (``package.module:Class`` or ``package.module.Class``)."""
    path = _registered.get(name) or BUILTIN_CONNECTORS.get(name) or name
    if ":" in path:
        module_name, _, attr = path.partition(":")
    elif "." in path:
        module_name, _, attr = path.rpartition(".")
    else:
        raise UnknownConnectorError(
            f"unknown connector {name!r}: not a built-in ({', '.join(plugin_names())}) "
            "and not an import path like 'package.module:Class'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownConnectorError(f"cannot import module {module_name!r} for connector {name!r}: {exc}") from exc
    obj = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise UnknownConnectorError(f"module {module_name!r} has no attribute {attr!r} (connector {name!r})")
    if not (isinstance(obj, type) and issubclass(obj, Connector) and hasattr(obj, "config_model")):
        raise UnknownConnectorError(
            f"{path!r} is not a connector class (a subclass of SourceConnector or SinkConnector "
            "with a config_model)")
    return obj
