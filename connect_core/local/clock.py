"""The local runtime's notion of "now": the wall clock, or a virtual one that tests drive.

Schedules and batching windows are judged against a ``Clock``. A ``VirtualClock`` only moves
when told to (``advance``/``set``), so a test can fire a day of schedules in milliseconds; the
time a handler spends running is still measured in real time (see ``lambdas``).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


class VirtualClock:
    """A clock that stands still until ``advance()`` or ``set()`` moves it (never backwards)."""

    def __init__(self, start: float | datetime | None = None) -> None:
        self._now = _epoch(start) if start is not None else time.time()
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def __call__(self) -> float:
        """The clock as a function, for what takes one (stores, runners)."""
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float | datetime) -> float:
        target = _epoch(when)
        with self._lock:
            if target < self._now:
                raise ValueError(f"a clock does not go backwards ({iso(target)} < {iso(self._now)})")
            self._now = target
            return self._now

    def __repr__(self) -> str:
        return f"VirtualClock({iso(self._now)})"


def _epoch(value: float | datetime) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("give the clock an aware datetime (e.g. tzinfo=timezone.utc)")
        return value.timestamp()
    return float(value)


def iso(epoch: float) -> str:
    """``2030-01-01T00:00:00Z``: how AWS writes a UTC instant."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
