"""ConnectRecord: one record moving through a connector, and partition keys."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from .schema import Schema

Partition = Mapping[str, Any]
Offset = Mapping[str, Any]


def partition_key(partition: Partition) -> str:
    """The canonical text of a partition: equal partitions give equal keys, whatever their key order."""
    return json.dumps(partition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(slots=True)
class ConnectRecord:
    """A record with its source position.

    ``partition`` and ``offset`` are the record's position in the source (RocketMQ Connect's
    ``RecordPartition``/``RecordOffset``); the runtime commits ``offset`` for ``partition`` once
    the target has acknowledged the record. ``headers`` are string-valued (RocketMQ user
    properties, SQS message attributes, Kafka headers).
    """

    topic: str | None = None
    value: Any = None
    key: Any = None
    partition: Partition = field(default_factory=dict)
    offset: Offset = field(default_factory=dict)
    timestamp: int | None = None
    value_schema: Schema | None = None
    key_schema: Schema | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def copy(self, **changes: Any) -> "ConnectRecord":
        """A new record with ``changes`` applied; transforms never mutate their input."""
        new = ConnectRecord(self.topic, self.value, self.key, self.partition, self.offset,
                            self.timestamp, self.value_schema, self.key_schema, self.headers)
        for name, value in changes.items():
            setattr(new, name, value)
        return new

    @property
    def partition_key(self) -> str:
        return partition_key(self.partition)


class OffsetMap(Mapping[Partition, Offset]):
    """Committed offsets by partition, looked up with the partition mapping itself.

    ``offsets[{"file": "a.txt"}]`` and ``offsets.get(partition)`` work with any key order;
    iterating yields the partitions.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, tuple[Partition, Offset]] | None = None) -> None:
        self._items: dict[str, tuple[Partition, Offset]] = dict(items or {})

    @classmethod
    def of(cls, pairs: "Iterable[tuple[Partition, Offset]] | None" = None) -> "OffsetMap":
        result = cls()
        for partition, offset in (pairs or []):
            result.set(partition, offset)
        return result

    def set(self, partition: Partition, offset: Offset) -> None:
        self._items[partition_key(partition)] = (dict(partition), dict(offset))

    def __getitem__(self, partition: Partition) -> Offset:
        return self._items[partition_key(partition)][1]

    def __contains__(self, partition: object) -> bool:
        return isinstance(partition, Mapping) and partition_key(partition) in self._items

    def __iter__(self) -> Iterator[Partition]:
        return (partition for partition, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    @classmethod
    def last_of(cls, records: Iterable["ConnectRecord"]) -> "OffsetMap":
        """The offset of the last record of each partition, in one cheap pass: records of one poll
        usually share their partition object, so the canonical key is computed once per object."""
        last: dict[int, ConnectRecord] = {}
        for record in records:
            last[id(record.partition)] = record  # the records keep their partitions alive: ids are unique
        result = cls()
        for record in last.values():
            result.set(record.partition, record.offset)
        return result

    def copy(self) -> "OffsetMap":
        return OffsetMap(self._items)

    def pairs(self) -> list[tuple[Partition, Offset]]:
        return list(self._items.values())

    def by_key(self) -> dict[str, Offset]:
        return {k: offset for k, (_, offset) in self._items.items()}

    def __repr__(self) -> str:
        return f"OffsetMap({self.pairs()!r})"
