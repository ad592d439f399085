"""The two DynamoDB tables the stores use, and ``ensure_tables`` to create them locally.

Deployments create the tables from the IaC template with the same key schema; ``ensure_tables`` is
for the embedded emulator, LocalStack and tests.

configs  pk ``connector#<name>``, sk ``config`` | ``task#<n>`` | ``status`` | ``status#task#<n>`` |
         ``lease#task#<n>``
offsets  pk ``<connector>``, sk the partition's canonical JSON (``partition_key``)
"""

from __future__ import annotations

from typing import Any

from .. import aws

_KEYS = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                  {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                             {"AttributeName": "sk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}


def configs_table_definition(name: str) -> dict[str, Any]:
    """CreateTable arguments of the configs table (configs, task configs, status, leases)."""
    return {"TableName": name, **_KEYS}


def offsets_table_definition(name: str) -> dict[str, Any]:
    """CreateTable arguments of the offsets table."""
    return {"TableName": name, **_KEYS}


def ensure_tables(configs_table: str, offsets_table: str, *, client: Any = None) -> None:
    """Create whichever of the two tables is missing and wait until both are ACTIVE."""
    ddb = client if client is not None else aws.client("dynamodb")
    for definition in (configs_table_definition(configs_table), offsets_table_definition(offsets_table)):
        try:
            ddb.create_table(**definition)
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code") != "ResourceInUseException":
                raise
    waiter = ddb.get_waiter("table_exists")
    for name in (configs_table, offsets_table):
        waiter.wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    # Delivery-ledger entries in the offsets table expire (see storage/ledger.py).
    ttl = ddb.describe_time_to_live(TableName=offsets_table)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        ddb.update_time_to_live(TableName=offsets_table,
                                TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
