"""The exceptions connect_core raises. Each says what went wrong in words an operator can act on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


class ConnectError(Exception):
    """Base class of every error connect_core raises on purpose."""


class RetriableError(ConnectError):
    """A transient failure (throttling, a timeout, a broker restarting): retrying may succeed."""


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ConfigError(ConnectError):
    """A connector config is invalid. ``errors`` lists every problem with its field path."""

    def __init__(self, errors: Iterable[FieldError], connector: str | None = None) -> None:
        self.errors = list(errors)
        self.connector = connector
        where = f"connector {connector!r}: " if connector else ""
        listed = "; ".join(str(e) for e in self.errors)
        super().__init__(f"{where}invalid config ({len(self.errors)} error"
                         f"{'s' if len(self.errors) != 1 else ''}): {listed}")

    @classmethod
    def single(cls, field: str, message: str) -> "ConfigError":
        return cls([FieldError(field, message)])

    def as_dict(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for e in self.errors:
            out.setdefault(e.field, []).append(e.message)
        return out


class UnknownConnectorError(ConnectError):
    """No connector class is registered under that name or import path."""


class StaleEpochError(ConnectError):
    """A write was fenced: a newer claim of the task lease bumped its epoch. Nothing was written."""


class LeaseLostError(ConnectError):
    """The task lease is no longer ours (it expired and was claimed again, or was released)."""


class OffsetRegressionError(ConnectError):
    """A commit would move an offset backwards. Nothing was written; reset offsets on purpose instead."""


class NotFoundError(ConnectError):
    """The named connector, task or item does not exist."""


class ConflictError(ConnectError):
    """A concurrent change won (optimistic concurrency): re-read and try again."""
