"""Reading what the user hands over: connector configs and offsets, as JSON files or stdin (``-``)."""

from __future__ import annotations

import json
import sys
from typing import Any

_INFO_KEYS = {"name", "config", "tasks", "type"}  # GET /connectors/{name} answers in this shape


class UsageError(Exception):
    """The command line or a file it names is wrong; nothing was sent."""


def read_json(path: str) -> Any:
    """The JSON document in ``path`` (``-``: standard input)."""
    where = "standard input" if path == "-" else path
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as exc:
        raise UsageError(f"cannot read {where}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def parse_json_option(option: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{option}: not valid JSON ({exc.msg}): {text!r}") from None


def connector_file(path: str) -> tuple[str | None, dict[str, Any]]:
    """(name, config) from a file holding either Kafka's ``{"name": ..., "config": {...}}`` (also what
    ``connectors get`` prints) or a bare config; the name is None when neither gives one."""
    document = read_json(path)
    where = "standard input" if path == "-" else path
    if not isinstance(document, dict):
        raise UsageError(f"{where}: a connector file holds a JSON object, not {_kind(document)}")
    if isinstance(document.get("config"), dict) and set(document) <= _INFO_KEYS:
        config = dict(document["config"])
        outer, inner = document.get("name"), config.get("name")
        if outer is not None and inner is not None and outer != inner:
            raise UsageError(f"{where}: 'name' is {outer!r} but 'config.name' is {inner!r}")
        name = outer if outer is not None else inner
    else:
        config = dict(document)
        name = config.get("name")
    if name is not None and not isinstance(name, str):
        raise UsageError(f"{where}: 'name' must be a string, not {_kind(name)}")
    return name, config


def offsets_file(path: str) -> list[dict[str, Any]]:
    """The offsets in Kafka's ``{"offsets": [{"partition": {...}, "offset": {...}}]}`` (what
    ``offsets get --output json`` prints) or the bare list."""
    document = read_json(path)
    where = "standard input" if path == "-" else path
    offsets = document.get("offsets") if isinstance(document, dict) else document
    if not isinstance(offsets, list):
        raise UsageError(f"{where}: expected {{\"offsets\": [...]}} or a JSON list of "
                         "{\"partition\": {...}, \"offset\": {...}} objects")
    for index, entry in enumerate(offsets):
        check_offset_entry(entry, f"{where}: offsets[{index}]")
    return offsets


def check_offset_entry(entry: Any, where: str) -> None:
    if not isinstance(entry, dict) or not isinstance(entry.get("partition"), dict):
        raise UsageError(f"{where}: needs a 'partition' object")
    if "offset" not in entry or not (entry["offset"] is None or isinstance(entry["offset"], dict)):
        raise UsageError(f"{where}: needs an 'offset' object (or null to reset the partition)")
    unknown = set(entry) - {"partition", "offset"}
    if unknown:
        raise UsageError(f"{where}: unknown keys {sorted(unknown)} (only 'partition' and 'offset')")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")
