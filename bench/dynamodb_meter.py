"""Counts the DynamoDB requests of a process and the capacity they would consume in AWS.

Loaded into every sandbox of the source poller by ``replication_rpo.py`` (the local Lambda
service's ``preload``): each DynamoDB call made through botocore appends one JSON line to the file
named by ``CONNECT_DDB_METER``: ``{"t": epoch seconds, "op": "TransactWriteItems", "wru": 4, "rru": 0}``.

Request units are estimated the way DynamoDB charges on-demand tables: a write is 1 WRU per started
KB of the item written (2 in a transaction, condition checks included), a read 1 RRU per started
4 KB when strongly consistent and half that otherwise. Item sizes are estimated from their JSON
text (attribute names and values), which is close for the small items the runtime writes.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from typing import Any

_lock = threading.Lock()


def _kb(item: Any, unit: int = 1024) -> int:
    return max(1, math.ceil(len(json.dumps(item, separators=(",", ":"))) / unit))


def request_units(op: str, params: dict[str, Any]) -> tuple[float, float]:
    """(write request units, read request units) of one DynamoDB call."""
    read = 1.0 if params.get("ConsistentRead") else 0.5
    if op == "PutItem":
        return _kb(params.get("Item", {})), 0.0
    if op in ("UpdateItem", "DeleteItem"):
        return _kb({**params.get("Key", {}), **params.get("ExpressionAttributeValues", {})}), 0.0
    if op == "TransactWriteItems":
        return sum(2 * _kb(next(iter(entry.values())).get("Item") or next(iter(entry.values())).get("Key", {}))
                   for entry in params.get("TransactItems", [])), 0.0
    if op == "BatchWriteItem":
        return sum(_kb((r.get("PutRequest") or {}).get("Item") or (r.get("DeleteRequest") or {}).get("Key", {}))
                   for requests in params.get("RequestItems", {}).values() for r in requests), 0.0
    if op == "GetItem":
        return 0.0, read
    if op == "BatchGetItem":
        return 0.0, sum((1.0 if spec.get("ConsistentRead") else 0.5) * len(spec.get("Keys", []))
                        for spec in params.get("RequestItems", {}).values())
    if op in ("Query", "Scan"):
        return 0.0, read
    return 0.0, 0.0


def _install(path: str) -> None:
    from botocore.client import BaseClient

    original = BaseClient._make_api_call
    out = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives as long as the process

    def metered(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        result = original(self, operation_name, api_params)
        if self.meta.service_model.service_name == "dynamodb":
            wru, rru = request_units(operation_name, api_params)
            with _lock:
                out.write(json.dumps({"t": round(time.time(), 3), "op": operation_name, "wru": wru, "rru": rru})
                          + "\n")
        return result

    BaseClient._make_api_call = metered  # type: ignore[method-assign]


if os.environ.get("CONNECT_DDB_METER"):
    _install(os.environ["CONNECT_DDB_METER"])
