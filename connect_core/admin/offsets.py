"""Reading, altering and resetting a source connector's offsets (Kafka's KIP-875).

Changes are allowed only while the connector is STOPPED, and even then a tick that started
before the stop may still be polling. So a change first claims every task's lease: the claim
bumps the task's epoch, which fences any such tick (its commit fails with StaleEpochError and
writes nothing), and a live lease means a tick is running right now (409: try again when it ends).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from ..api.record import partition_key
from ..storage import Stores, TaskLease
from .errors import Conflict
from .models import ConnectorOffset, ConnectorOffsets

#: The admin API holds task leases only for the few writes of one request.
LEASE_TTL_S = 120.0


def read_offsets(stores: Stores, name: str) -> ConnectorOffsets:
    pairs = sorted(stores.offsets.read_all(name).pairs(), key=lambda pair: partition_key(pair[0]))
    return ConnectorOffsets(offsets=[ConnectorOffset(partition=dict(p), offset=dict(o)) for p, o in pairs])


@contextlib.contextmanager
def tasks_fenced(stores: Stores, name: str, tasks: int, owner: str) -> Iterator[list[TaskLease]]:
    """Hold the leases of tasks ``0..tasks-1`` (bumping their epochs) for the duration."""
    held: list[TaskLease] = []
    try:
        for task in range(tasks):
            lease = stores.leases.claim(name, task, owner, LEASE_TTL_S)
            if lease is None:
                raise Conflict(f"task {task} of connector {name!r} is still running a tick that started "
                               "before the connector stopped; try again when it has ended")
            held.append(lease)
        yield held
    finally:
        for lease in held:
            stores.leases.release(lease)


def alter_offsets(stores: Stores, name: str, tasks: int, offsets: ConnectorOffsets, owner: str) -> None:
    with tasks_fenced(stores, name, tasks, owner):
        stores.offsets.alter(name, [(o.partition, o.offset) for o in offsets.offsets])


def reset_offsets(stores: Stores, name: str, tasks: int, owner: str) -> None:
    with tasks_fenced(stores, name, tasks, owner):
        stores.offsets.reset(name)
