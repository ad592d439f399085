"""Offset, lease, config and status stores: one interface, on DynamoDB or in memory."""

from .base import (
    Clock,
    ConfigStore,
    ConnectorEntry,
    ConnectorStatus,
    EpochFence,
    LeaseStore,
    OffsetStore,
    State,
    StatusEntry,
    StatusStore,
    Stores,
    TargetState,
    TaskLease,
)
from .dynamodb import DynamoDBConfigStore, DynamoDBLeaseStore, DynamoDBOffsetStore, DynamoDBStatusStore
from .items import order_key
from .ledger import DeliveryLedger, DynamoDBDeliveryLedger, InMemoryDeliveryLedger
from .memory import InMemoryConfigStore, InMemoryLeaseStore, InMemoryOffsetStore, InMemoryStatusStore, MemoryTables
from .tables import configs_table_definition, ensure_tables, offsets_table_definition

__all__ = [
    "Clock",
    "ConfigStore",
    "ConnectorEntry",
    "ConnectorStatus",
    "DeliveryLedger",
    "DynamoDBDeliveryLedger",
    "DynamoDBConfigStore",
    "DynamoDBLeaseStore",
    "DynamoDBOffsetStore",
    "DynamoDBStatusStore",
    "EpochFence",
    "InMemoryConfigStore",
    "InMemoryDeliveryLedger",
    "InMemoryLeaseStore",
    "InMemoryOffsetStore",
    "InMemoryStatusStore",
    "LeaseStore",
    "MemoryTables",
    "OffsetStore",
    "State",
    "StatusEntry",
    "StatusStore",
    "Stores",
    "TargetState",
    "TaskLease",
    "configs_table_definition",
    "ensure_tables",
    "offsets_table_definition",
    "order_key",
]
