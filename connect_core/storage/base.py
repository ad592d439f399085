"""The four stores the runtime keeps its state in, as small abstract classes, and their value types.

Each store has a DynamoDB implementation (``dynamodb.py``) and an in-memory one (``memory.py``)
that behave the same, down to the errors they raise; the contract tests run against both.
Time is injected (``clock``) so expiry is testable without sleeping.
"""

from __future__ import annotations

import enum
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence, Union

from ..api.record import Offset, OffsetMap, Partition

if TYPE_CHECKING:
    from .ledger import DeliveryLedger

Clock = Callable[[], float]
"""Returns the current time as epoch seconds; ``time.time`` outside tests."""

OffsetPairs = Union[OffsetMap, Iterable[tuple[Partition, Offset]]]

system_clock: Clock = time.time


class TargetState(str, enum.Enum):
    """What an operator asked the connector to do."""

    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"


class State(str, enum.Enum):
    """The reported state of a connector or a task (the status API's ``state``)."""

    UNASSIGNED = "UNASSIGNED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"
    FAILED = "FAILED"
    RESTARTING = "RESTARTING"
    DESTROYED = "DESTROYED"


@dataclass(frozen=True)
class TaskLease:
    """The right to run one task until ``expires_at``; ``epoch`` fences the writes made under it.

    Every successful claim bumps the epoch, so a holder whose lease was taken over can no longer
    commit offsets. ``released`` is true once the holder gave the lease back. Leases are short and
    renewed while the holder works, so a holder that dies frees its task within one TTL.

    ``handover_requested_by``: a successor that asked for the lease (``LeaseStore.request_handover``);
    the holder finishes its batch, commits and releases. ``renewed_at`` is the holder's last sign of
    life (claim or renewal), ``released_at`` when it gave the lease back. ``previous`` is set on a
    fresh claim: the lease as it was just before (None for a task never claimed), which tells the
    new holder how long the task went unpolled.
    """

    connector: str
    task: int
    owner: str
    epoch: int
    expires_at: float
    released: bool = False
    handover_requested_by: str | None = None
    renewed_at: float | None = None
    released_at: float | None = None
    previous: "TaskLease | None" = field(default=None, repr=False, compare=False)

    def is_live(self, now: float) -> bool:
        return not self.released and self.expires_at > now

    @property
    def handover_requested(self) -> bool:
        return self.handover_requested_by is not None and self.handover_requested_by != self.owner

    def ended_at(self) -> float | None:
        """When the holder stopped polling, as far as the item tells: its release, else (it died or
        is still running) its last sign of life."""
        return self.released_at if self.released else self.renewed_at


@dataclass(frozen=True)
class EpochFence:
    """A write allowed only while the task's lease still has ``epoch``: what a tick writes besides
    its offsets (a replicator's offset syncs) is fenced like its commits."""

    connector: str
    task: int
    epoch: int


@dataclass(frozen=True)
class ConnectorEntry:
    """A stored connector config. ``version`` counts config writes (optimistic concurrency);
    ``task_generation`` is the generation of the task configs last written, if any."""

    name: str
    config: dict[str, Any]
    target_state: TargetState
    version: int
    task_generation: int | None = None


@dataclass(frozen=True)
class StatusEntry:
    """The last reported state of a connector (``task`` is None) or of one task."""

    state: State
    trace: str | None = None
    worker_id: str | None = None
    updated_at: float | None = None
    task: int | None = None
    #: What a running source task last measured (e.g. ``lag_messages``, ``lag_seconds``).
    progress: dict[str, float] | None = None


@dataclass(frozen=True)
class ConnectorStatus:
    """A connector's status and its tasks' statuses, by ascending task id."""

    name: str
    connector: StatusEntry
    tasks: list[StatusEntry] = field(default_factory=list)


class OffsetStore(ABC):
    """Committed source offsets, one per (connector, partition)."""

    @abstractmethod
    def read(self, connector: str, partitions: Iterable[Partition]) -> OffsetMap:
        """The committed offsets of ``partitions``; partitions never committed are absent."""

    @abstractmethod
    def read_all(self, connector: str) -> OffsetMap:
        """Every committed offset of the connector."""

    @abstractmethod
    def write_versioned(self, connector: str, partition: Partition, offset: Offset, *,
                        expected_version: int) -> int:
        """Write ``offset`` if the partition's stored version is still ``expected_version`` (0: never
        written this way), and return the new version: optimistic concurrency for an item several
        writers update (a failover run). Raises ConflictError and writes nothing otherwise. The
        version is not part of what ``read`` returns: keep it in the offset to know it."""

    @abstractmethod
    def commit(self, connector: str, offsets: OffsetPairs, *, task: int, epoch: int,
               order: Sequence[str] = ()) -> None:
        """Write ``offsets`` if ``epoch`` is still the epoch of the task's lease.

        Raises StaleEpochError (a newer claim exists, or no lease at all) and writes nothing.
        ``order`` names offset fields that only grow: when any partition's offset would compare
        lower than the committed one (tuple order of those fields), raises OffsetRegressionError
        and writes nothing. Up to 99 partitions commit atomically (one transaction); a larger
        commit is checked up front, then written in atomic chunks.
        """

    @abstractmethod
    def reset(self, connector: str, partitions: Iterable[Partition] | None = None) -> None:
        """Forget the committed offsets of ``partitions`` (all of the connector's when None)."""

    @abstractmethod
    def alter(self, connector: str, offsets: OffsetPairs, *, fence: EpochFence | None = None) -> None:
        """Overwrite offsets on purpose (the offsets API): no order check, and no epoch fence
        unless ``fence`` is given: then StaleEpochError, nothing written, once that lease's epoch
        moved (as ``commit``; up to 99 partitions atomically, a larger write in atomic chunks).

        An offset of None removes that partition. Altered offsets carry no order key, so the
        next ordered commit of that partition is compared with nothing.
        """


class LeaseStore(ABC):
    """Task leases: at most one live holder per task, and a fencing epoch per claim."""

    @abstractmethod
    def claim(self, connector: str, task: int, owner: str, ttl_s: float) -> TaskLease | None:
        """Take the lease if nobody holds it (absent, expired or released) and bump its epoch.

        Returns None when another claim is still live, whoever its owner. The new lease carries
        the one it replaced as ``previous``; a pending handover request is cleared.
        """

    @abstractmethod
    def renew(self, lease: TaskLease, ttl_s: float) -> TaskLease:
        """Extend a lease we hold to now + ``ttl_s``; the answer shows any handover request.

        A lease that expired but was not claimed again is still ours and renews. Raises
        LeaseLostError when it was claimed again (epoch moved) or released.
        """

    @abstractmethod
    def request_handover(self, connector: str, task: int, owner: str) -> TaskLease | None:
        """Ask the live holder of the task's lease to hand it over to ``owner``: recorded on the
        lease item, which the holder sees at its next renewal. Returns the lease with the request,
        or None when no live lease exists (claim it instead). Several successors may ask; the
        claim after the release decides which one gets it.
        """

    @abstractmethod
    def release(self, lease: TaskLease) -> bool:
        """End the lease now, keeping its epoch so the next claim still bumps it.

        Returns False, changing nothing, when the lease was already claimed again: releasing
        belongs in ``finally`` blocks, where raising would hide the real error.
        """

    @abstractmethod
    def get(self, connector: str, task: int) -> TaskLease | None:
        """The task's lease as stored (live, expired or released), or None if never claimed."""


class ConfigStore(ABC):
    """Connector configs, target states and task configs."""

    @abstractmethod
    def put_connector(self, name: str, config: dict[str, Any], *,
                      expected_version: int | None = None) -> int:
        """Create or replace a connector config; returns its new version (1 on creation).

        ``expected_version`` makes the write conditional: 0 means "must not exist yet", n means
        "must still be at version n"; otherwise ConflictError. A new connector's target state is
        RUNNING; replacing a config keeps the target state.
        """

    @abstractmethod
    def get_connector(self, name: str) -> ConnectorEntry | None: ...

    @abstractmethod
    def list_connectors(self) -> list[str]:
        """Connector names, sorted."""

    @abstractmethod
    def delete_connector(self, name: str) -> None:
        """Remove the config, task configs and status. Raises NotFoundError if there was no config.

        Offsets stay (reset them on purpose), and so do task leases: their epochs keep a zombie of
        the deleted connector fenced if one with the same name is created again.
        """

    @abstractmethod
    def set_target_state(self, name: str, state: TargetState) -> None:
        """Raises NotFoundError when the connector does not exist."""

    @abstractmethod
    def put_task_configs(self, name: str, configs: list[dict[str, Any]], generation: int) -> None:
        """Replace the task configs with ``configs`` (task 0..n-1), dropping any beyond.

        Raises NotFoundError when the connector does not exist and ConflictError when task configs
        of a newer generation were already written (a stale reconfiguration never wins).
        Up to 98 task configs are replaced atomically.
        """

    @abstractmethod
    def get_task_configs(self, name: str) -> list[dict[str, Any]]:
        """Task configs by task id; empty when there are none."""

    @abstractmethod
    def get_task_config(self, name: str, task: int) -> dict[str, Any] | None: ...

    # -- staged reconfiguration: the state machine stores each task config of a new generation
    # -- (in parallel, possibly failing half-way), then promotes the whole set at once.

    @abstractmethod
    def stage_task_config(self, name: str, generation: int, task: int, config: dict[str, Any]) -> None:
        """Store one task config of ``generation`` aside; nothing reads it until promoted."""

    @abstractmethod
    def promote_staged(self, name: str, generation: int, count: int) -> list[dict[str, Any]]:
        """Make the staged task configs 0..count-1 of ``generation`` the live ones (as
        put_task_configs does) and drop the staged items; returns the promoted configs.

        Raises NotFoundError when the connector or a staged task config is missing, ConflictError
        when a newer generation is live.
        """

    @abstractmethod
    def discard_staged(self, name: str, generation: int | None = None) -> int:
        """Drop staged task configs (of one generation, or all); returns how many."""

    # -- which sink connector an SQS queue feeds

    @abstractmethod
    def bind_queue(self, queue_arn: str, name: str) -> None:
        """Route messages from ``queue_arn`` to sink connector ``name``. ConflictError when the
        queue already feeds another connector."""

    @abstractmethod
    def connector_for_queue(self, queue_arn: str) -> str | None: ...

    @abstractmethod
    def unbind_queue(self, queue_arn: str, name: str) -> None:
        """Remove the binding if it points at ``name`` (otherwise leave it)."""


class StatusStore(ABC):
    """The last reported state of connectors and tasks."""

    @abstractmethod
    def put_connector_status(self, name: str, state: State, trace: str | None = None,
                             worker_id: str | None = None) -> None: ...

    @abstractmethod
    def put_task_status(self, name: str, task: int, state: State, trace: str | None = None,
                        worker_id: str | None = None, progress: Mapping[str, float] | None = None) -> None:
        """``progress``: what the task measured (lag in messages and seconds), shown by the status API."""

    @abstractmethod
    def get_status(self, name: str) -> ConnectorStatus | None:
        """None when nothing was reported; a connector with only task reports is UNASSIGNED."""

    @abstractmethod
    def delete_status(self, name: str) -> None: ...


@dataclass(frozen=True)
class Stores:
    """The four stores a runtime needs, built over one backend."""

    offsets: OffsetStore
    leases: LeaseStore
    configs: ConfigStore
    status: StatusStore
    deliveries: "DeliveryLedger"

    @classmethod
    def in_memory(cls, clock: Clock = system_clock) -> "Stores":
        """Fresh in-memory stores sharing one set of tables (the offsets fence sees the leases)."""
        from .memory import (InMemoryConfigStore, InMemoryLeaseStore, InMemoryOffsetStore,
                             InMemoryStatusStore, MemoryTables)

        from .ledger import InMemoryDeliveryLedger

        tables = MemoryTables()
        return cls(InMemoryOffsetStore(tables, clock), InMemoryLeaseStore(tables, clock),
                   InMemoryConfigStore(tables, clock), InMemoryStatusStore(tables, clock),
                   InMemoryDeliveryLedger(clock))

    @classmethod
    def dynamodb(cls, configs_table: str, offsets_table: str, clock: Clock = system_clock,
                 client: Any = None) -> "Stores":
        """Stores on the two DynamoDB tables; the client is created on first use unless given."""
        from .dynamodb import (DynamoDBConfigStore, DynamoDBLeaseStore, DynamoDBOffsetStore,
                               DynamoDBStatusStore)

        from .ledger import DynamoDBDeliveryLedger

        return cls(DynamoDBOffsetStore(offsets_table, configs_table, clock=clock, client=client),
                   DynamoDBLeaseStore(configs_table, clock=clock, client=client),
                   DynamoDBConfigStore(configs_table, clock=clock, client=client),
                   DynamoDBStatusStore(configs_table, clock=clock, client=client),
                   DynamoDBDeliveryLedger(offsets_table, clock=clock, client=client))

    @classmethod
    def from_environment(cls, clock: Clock = system_clock, env: Mapping[str, str] | None = None) -> "Stores":
        """Stores on the tables a deployed function is told about (CONFIGS_TABLE, OFFSETS_TABLE);
        ``env``: where to read them instead of the process environment (read now)."""
        import os

        env = os.environ if env is None else env
        try:
            return cls.dynamodb(env["CONFIGS_TABLE"], env["OFFSETS_TABLE"], clock=clock)
        except KeyError as exc:
            raise RuntimeError(f"environment variable {exc.args[0]} is not set: the function's "
                               "template must pass the table names") from None
