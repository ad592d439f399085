"""Human output: aligned tables and config paths. Plain text, no colours, nothing terminal-specific."""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

EMPTY = "-"


def cell(value: Any) -> str:
    """A value as one table cell: strings as they are, everything else as compact JSON."""
    if value is None:
        return EMPTY
    if isinstance(value, str):
        return value if value else '""'
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns padded to their widest cell, two spaces apart; the last column is never padded."""
    lines = [[str(h) for h in headers]] + [[cell(v) for v in row] for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    out = []
    for line in lines:
        padded = [text.ljust(width) for text, width in zip(line[:-1], widths[:-1])] + [line[-1]]
        out.append("  ".join(padded).rstrip())
    return "\n".join(out)


def fields(pairs: Iterable[tuple[str, Any]]) -> str:
    """``label  value`` lines with the values aligned (a record, not a list)."""
    pairs = list(pairs)
    width = max((len(label) for label, _ in pairs), default=0)
    return "\n".join(f"{label.ljust(width)}  {cell(value)}".rstrip() for label, value in pairs)


def flatten(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """Nested config as (path, leaf) pairs, paths spelt like validation errors: ``transforms[0].regex``."""
    if isinstance(value, dict) and value:
        out = []
        for key, item in value.items():
            out += flatten(item, f"{path}.{key}" if path else str(key))
        return out
    if isinstance(value, list) and value:
        out = []
        for index, item in enumerate(value):
            out += flatten(item, f"{path}[{index}]")
        return out
    return [(path, value)]


def trace_summary(trace: str | None, limit: int = 100) -> str | None:
    """One line of a stack trace: the exception line of a Python traceback, else the first line."""
    if not trace:
        return None
    lines = [line.strip() for line in trace.strip().splitlines() if line.strip()]
    line = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    return line if len(line) <= limit else line[: limit - 3] + "..."
