"""DynamoDB tables saved to and restored from files, so a local stack resumes where it stopped.

``<state_dir>/dynamodb/<logical id>.json`` holds one table's items in DynamoDB's JSON form
(``{"pk": {"S": "..."}}``; binary values base64, as DynamoDB's exports write them). Files are
keyed by logical ID because physical table names change from one run to the next.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

_BATCH = 25


def snapshot_path(state_dir: str | os.PathLike[str], logical_id: str) -> Path:
    return Path(state_dir) / "dynamodb" / f"{logical_id}.json"


def save_table(client: Any, table_name: str, path: Path) -> int:
    """Write every item of ``table_name`` to ``path`` (atomically); returns the item count."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table_name, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        items.extend(_encode(item) for item in page.get("Items") or [])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"table": table_name, "items": items}
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=path.name, suffix=".tmp",
                                     delete=False, encoding="utf-8") as handle:
        json.dump(document, handle, indent=1, sort_keys=True)
    os.replace(handle.name, path)
    return len(items)


def restore_table(client: Any, table_name: str, path: Path) -> int:
    """Put the items saved in ``path`` into ``table_name``; returns how many (0 if no file)."""
    if not path.exists():
        return 0
    document = json.loads(path.read_text(encoding="utf-8"))
    items = [_decode(item) for item in document.get("items") or []]
    for start in range(0, len(items), _BATCH):
        requests = [{"PutRequest": {"Item": item}} for item in items[start:start + _BATCH]]
        pending: dict[str, Any] = {table_name: requests}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return len(items)


def _encode(value: Any) -> Any:
    return _transform(value, lambda b: base64.b64encode(b).decode("ascii"))


def _decode(value: Any) -> Any:
    return _transform(value, lambda s: base64.b64decode(s))


def _transform(item: dict[str, Any], convert: Callable[[Any], Any]) -> dict[str, Any]:
    return {name: _attribute(value, convert) for name, value in item.items()}


def _attribute(value: dict[str, Any], convert: Callable[[Any], Any]) -> dict[str, Any]:
    (kind, data), = value.items()
    if kind == "B":
        return {"B": convert(data)}
    if kind == "BS":
        return {"BS": [convert(v) for v in data]}
    if kind == "M":
        return {"M": _transform(data, convert)}
    if kind == "L":
        return {"L": [_attribute(v, convert) for v in data]}
    return {kind: data}
