"""Which records a sink connector has already written, so redelivered ones are skipped.

SQS delivers at least once, and a source that crashed between publishing and committing publishes
again. With ``deduplicate: true`` the sink runtime looks each record's identity up here before
``put`` and records it after: a record is written once even when it arrives twice. Entries expire
after ``retention_s`` (DynamoDB TTL on ``expires_at``).

Two deliveries of one record racing in concurrent invocations can both miss the ledger; SQS makes
that rare (a redelivery waits for the visibility timeout), and an idempotent sink makes it harmless.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from typing import Any, Iterable

from .. import aws
from .base import Clock, system_clock

DEFAULT_RETENTION_S = 7 * 24 * 3600


def _pk(connector: str) -> str:
    return f"delivered#{connector}"


class DeliveryLedger(ABC):
    @abstractmethod
    def seen(self, connector: str, identities: Iterable[str]) -> set[str]:
        """The identities already recorded (and not expired)."""

    @abstractmethod
    def record(self, connector: str, identities: Iterable[str]) -> None: ...


class InMemoryDeliveryLedger(DeliveryLedger):
    def __init__(self, clock: Clock = system_clock, retention_s: float = DEFAULT_RETENTION_S) -> None:
        self._items: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self.retention_s = retention_s

    def seen(self, connector: str, identities: Iterable[str]) -> set[str]:
        now = self._clock()
        with self._lock:
            return {i for i in identities if self._items.get((connector, i), 0) > now}

    def record(self, connector: str, identities: Iterable[str]) -> None:
        expires = self._clock() + self.retention_s
        with self._lock:
            for identity in identities:
                self._items[(connector, identity)] = expires


class DynamoDBDeliveryLedger(DeliveryLedger):
    """Items in the offsets table under ``delivered#<connector>``."""

    def __init__(self, table: str, *, clock: Clock = system_clock, retention_s: float = DEFAULT_RETENTION_S,
                 client: Any = None) -> None:
        self.table = table
        self._clock = clock
        self.retention_s = retention_s
        self._client = client

    @property
    def _ddb(self) -> Any:
        if self._client is None:
            self._client = aws.client("dynamodb")
        return self._client

    def seen(self, connector: str, identities: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(identities))
        now = self._clock()
        found: set[str] = set()
        for start in range(0, len(wanted), 100):
            keys = [{"pk": {"S": _pk(connector)}, "sk": {"S": i}} for i in wanted[start:start + 100]]
            request = {self.table: {"Keys": keys, "ConsistentRead": True}}
            for attempt in range(8):
                response = self._ddb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    if float(item["expires_at"]["N"]) > now:  # TTL deletes lazily: check ourselves
                        found.add(item["sk"]["S"])
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(0.05 * 2 ** attempt, 1.0))
        return found

    def record(self, connector: str, identities: Iterable[str]) -> None:
        expires = str(int(self._clock() + self.retention_s))
        puts = [{"PutRequest": {"Item": {"pk": {"S": _pk(connector)}, "sk": {"S": i},
                                         "expires_at": {"N": expires}}}}
                for i in dict.fromkeys(identities)]
        for start in range(0, len(puts), 25):
            request = {self.table: puts[start:start + 25]}
            for attempt in range(8):
                request = self._ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
                if not request:
                    break
                time.sleep(min(0.05 * 2 ** attempt, 1.0))
            else:
                raise RuntimeError(f"could not record {len(request[self.table])} deliveries of {connector!r}")
