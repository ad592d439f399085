"""In-memory stores for unit tests and single-process runs: the same rules as DynamoDB, one lock.

They keep the DynamoDB layout (a configs table and an offsets table, keyed alike), so anything a
test sees here is what a deployment stores.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any, Iterable, Mapping, Sequence

from ..api.record import Offset, OffsetMap, Partition, partition_key
from ..errors import ConflictError, LeaseLostError, NotFoundError, OffsetRegressionError, StaleEpochError
from .base import (
    Clock,
    ConfigStore,
    ConnectorEntry,
    EpochFence,
    ConnectorStatus,
    LeaseStore,
    OffsetPairs,
    OffsetStore,
    State,
    StatusEntry,
    StatusStore,
    TargetState,
    TaskLease,
    system_clock,
)
from .items import (
    CONFIG_SK,
    LEASE_PREFIX,
    QUEUE_SK,
    STAGE_PREFIX,
    STATUS_SK,
    TASK_PREFIX,
    TASK_STATUS_PREFIX,
    connector_pk,
    from_json,
    lease_sk,
    offset_writes,
    queue_pk,
    regression_message,
    stage_prefix,
    stage_sk,
    task_of,
    task_sk,
    task_status_sk,
    to_json,
)

Item = dict[str, Any]


class MemoryTables:
    """The two tables as dicts keyed by (pk, sk); every store operation holds ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.configs: dict[tuple[str, str], Item] = {}
        self.offsets: dict[tuple[str, str], Item] = {}

    def configs_of(self, name: str) -> dict[str, Item]:
        """The connector's configs-table items by sort key."""
        pk = connector_pk(name)
        return {sk: item for (p, sk), item in self.configs.items() if p == pk}


class InMemoryOffsetStore(OffsetStore):
    def __init__(self, tables: MemoryTables, clock: Clock = system_clock) -> None:
        self._tables = tables
        self._clock = clock

    def read(self, connector: str, partitions: Iterable[Partition]) -> OffsetMap:
        result = OffsetMap()
        with self._tables.lock:
            for partition in partitions:
                item = self._tables.offsets.get((connector, partition_key(partition)))
                if item is not None:
                    result.set(from_json(item["partition"]), from_json(item["offset"]))
        return result

    def read_all(self, connector: str) -> OffsetMap:
        with self._tables.lock:
            return OffsetMap.of((from_json(item["partition"]), from_json(item["offset"]))
                                for (pk, _), item in sorted(self._tables.offsets.items())
                                if pk == connector)

    def write_versioned(self, connector: str, partition: Partition, offset: Offset, *,
                        expected_version: int) -> int:
        key = (connector, partition_key(partition))
        with self._tables.lock:
            current = (self._tables.offsets.get(key) or {}).get("version", 0)
            if current != expected_version:
                raise ConflictError(f"{connector!r} item {key[1]} is at version {current}, not "
                                    f"{expected_version}: someone else wrote it; re-read and try again")
            self._tables.offsets[key] = {"partition": to_json(dict(partition)), "offset": to_json(dict(offset)),
                                         "ord": None, "version": current + 1, "updated_at": self._clock()}
            return current + 1

    def commit(self, connector: str, offsets: OffsetPairs, *, task: int, epoch: int,
               order: Sequence[str] = ()) -> None:
        writes = offset_writes(offsets, order)
        with self._tables.lock:
            self._check_epoch(connector, task, epoch)
            if order:
                for write in writes:
                    committed = self._tables.offsets.get((connector, write.key))
                    if committed is not None and committed.get("ord") is not None \
                            and committed["ord"] > write.ord:
                        raise OffsetRegressionError(
                            regression_message(connector, write, from_json(committed["offset"])))
            now = self._clock()
            for write in writes:
                self._tables.offsets[(connector, write.key)] = {
                    "partition": to_json(write.partition), "offset": to_json(write.offset),
                    "ord": write.ord, "epoch": epoch, "task": task, "updated_at": now,
                }

    def _check_epoch(self, connector: str, task: int, epoch: int) -> None:
        lease = self._tables.configs.get((connector_pk(connector), lease_sk(task)))
        if lease is None or lease["epoch"] != epoch:
            current = None if lease is None else lease["epoch"]
            raise StaleEpochError(f"connector {connector!r} task {task}: epoch {epoch} is stale "
                                  f"(lease epoch is {current}); nothing was written")

    def reset(self, connector: str, partitions: Iterable[Partition] | None = None) -> None:
        with self._tables.lock:
            if partitions is None:
                keys = [key for key in self._tables.offsets if key[0] == connector]
            else:
                keys = [(connector, partition_key(p)) for p in partitions]
            for key in keys:
                self._tables.offsets.pop(key, None)

    def alter(self, connector: str, offsets: OffsetPairs, *, fence: EpochFence | None = None) -> None:
        writes = offset_writes(offsets, allow_none=True)
        with self._tables.lock:
            if fence is not None:
                self._check_epoch(fence.connector, fence.task, fence.epoch)
            now = self._clock()
            for write in writes:
                if write.offset is None:
                    self._tables.offsets.pop((connector, write.key), None)
                else:
                    self._tables.offsets[(connector, write.key)] = {
                        "partition": to_json(write.partition), "offset": to_json(write.offset),
                        "ord": None, "updated_at": now,
                    }


class InMemoryLeaseStore(LeaseStore):
    def __init__(self, tables: MemoryTables, clock: Clock = system_clock) -> None:
        self._tables = tables
        self._clock = clock

    def claim(self, connector: str, task: int, owner: str, ttl_s: float) -> TaskLease | None:
        key = (connector_pk(connector), lease_sk(task))
        with self._tables.lock:
            now = self._clock()
            item = self._tables.configs.get(key)
            if item is not None and not item["released"] and item["expires_at"] > now:
                return None
            previous = None if item is None else _lease(item)
            epoch = (item["epoch"] if item is not None else 0) + 1
            new = {**(item or {}), "connector": connector, "task": task, "owner": owner, "epoch": epoch,
                   "expires_at": now + ttl_s, "released": False, "claimed_at": now, "renewed_at": now}
            new.pop("handover_requested_by", None)
            new.pop("handover_requested_at", None)
            self._tables.configs[key] = new
            return replace(_lease(new), previous=previous)

    def renew(self, lease: TaskLease, ttl_s: float) -> TaskLease:
        key = (connector_pk(lease.connector), lease_sk(lease.task))
        with self._tables.lock:
            item = self._tables.configs.get(key)
            if item is None or item["epoch"] != lease.epoch or item["owner"] != lease.owner \
                    or item["released"]:
                raise LeaseLostError(_lost_message(lease))
            now = self._clock()
            item.update(expires_at=now + ttl_s, renewed_at=now)
            return _lease(item)

    def request_handover(self, connector: str, task: int, owner: str) -> TaskLease | None:
        key = (connector_pk(connector), lease_sk(task))
        with self._tables.lock:
            item = self._tables.configs.get(key)
            now = self._clock()
            if item is None or item["released"] or item["expires_at"] <= now:
                return None
            item.update(handover_requested_by=owner, handover_requested_at=now)
            return _lease(item)

    def release(self, lease: TaskLease) -> bool:
        key = (connector_pk(lease.connector), lease_sk(lease.task))
        with self._tables.lock:
            item = self._tables.configs.get(key)
            if item is None or item["epoch"] != lease.epoch:
                return False
            now = self._clock()
            item.update(released=True, expires_at=now, released_at=now)
            return True

    def get(self, connector: str, task: int) -> TaskLease | None:
        with self._tables.lock:
            item = self._tables.configs.get((connector_pk(connector), lease_sk(task)))
            return None if item is None else _lease(item)


def _lease(item: Item) -> TaskLease:
    return TaskLease(item["connector"], item["task"], item["owner"], item["epoch"], item["expires_at"],
                     item["released"], item.get("handover_requested_by"), item.get("renewed_at"),
                     item.get("released_at"))


def _lost_message(lease: TaskLease) -> str:
    return (f"connector {lease.connector!r} task {lease.task}: lease epoch {lease.epoch} of "
            f"{lease.owner!r} was claimed again or released")


class InMemoryConfigStore(ConfigStore):
    def __init__(self, tables: MemoryTables, clock: Clock = system_clock) -> None:
        self._tables = tables
        self._clock = clock

    def put_connector(self, name: str, config: dict[str, Any], *,
                      expected_version: int | None = None) -> int:
        key = (connector_pk(name), CONFIG_SK)
        text = to_json(config)
        with self._tables.lock:
            item = self._tables.configs.get(key)
            version = 0 if item is None else item["version"]
            if expected_version is not None and expected_version != version:
                raise ConflictError(f"connector {name!r} is at version {version}, "
                                    f"not {expected_version}: re-read and try again")
            now = self._clock()
            if item is None:
                item = self._tables.configs[key] = {"name": name, "target_state": TargetState.RUNNING.value,
                                                    "created_at": now}
            item.update(config=text, version=version + 1, updated_at=now)
            return version + 1

    def get_connector(self, name: str) -> ConnectorEntry | None:
        with self._tables.lock:
            item = self._tables.configs.get((connector_pk(name), CONFIG_SK))
            if item is None:
                return None
            return ConnectorEntry(name, from_json(item["config"]), TargetState(item["target_state"]),
                                  item["version"], item.get("task_generation"))

    def list_connectors(self) -> list[str]:
        with self._tables.lock:
            return sorted(item["name"] for (_, sk), item in self._tables.configs.items() if sk == CONFIG_SK)

    def delete_connector(self, name: str) -> None:
        pk = connector_pk(name)
        with self._tables.lock:
            found = self._tables.configs_of(name)
            for sk in found:
                if not sk.startswith(LEASE_PREFIX):
                    del self._tables.configs[(pk, sk)]
            if CONFIG_SK not in found:
                raise NotFoundError(f"connector {name!r} does not exist")

    def set_target_state(self, name: str, state: TargetState) -> None:
        state = TargetState(state)
        with self._tables.lock:
            item = self._tables.configs.get((connector_pk(name), CONFIG_SK))
            if item is None:
                raise NotFoundError(f"connector {name!r} does not exist")
            item.update(target_state=state.value, updated_at=self._clock())

    def put_task_configs(self, name: str, configs: list[dict[str, Any]], generation: int) -> None:
        pk = connector_pk(name)
        texts = [to_json(c) for c in configs]
        with self._tables.lock:
            item = self._tables.configs.get((pk, CONFIG_SK))
            if item is None:
                raise NotFoundError(f"connector {name!r} does not exist")
            current = item.get("task_generation")
            if current is not None and current > generation:
                raise ConflictError(f"connector {name!r}: task configs of a generation newer than "
                                    f"{generation} were written; re-read and reconfigure again")
            now = self._clock()
            for sk in self._tables.configs_of(name):
                if sk.startswith(TASK_PREFIX) and task_of(sk, TASK_PREFIX) >= len(configs):
                    del self._tables.configs[(pk, sk)]
            for task, text in enumerate(texts):
                self._tables.configs[(pk, task_sk(task))] = {"config": text, "generation": generation,
                                                              "updated_at": now}
            item.update(task_generation=generation, task_count=len(configs))

    def get_task_configs(self, name: str) -> list[dict[str, Any]]:
        with self._tables.lock:
            tasks = {task_of(sk, TASK_PREFIX): item for sk, item in self._tables.configs_of(name).items()
                     if sk.startswith(TASK_PREFIX)}
            return [from_json(tasks[t]["config"]) for t in sorted(tasks)]

    def get_task_config(self, name: str, task: int) -> dict[str, Any] | None:
        with self._tables.lock:
            item = self._tables.configs.get((connector_pk(name), task_sk(task)))
            return None if item is None else from_json(item["config"])

    def stage_task_config(self, name: str, generation: int, task: int, config: dict[str, Any]) -> None:
        with self._tables.lock:
            self._tables.configs[(connector_pk(name), stage_sk(generation, task))] = {
                "config": to_json(config), "generation": generation, "updated_at": self._clock()}

    def promote_staged(self, name: str, generation: int, count: int) -> list[dict[str, Any]]:
        pk = connector_pk(name)
        with self._tables.lock:
            staged = []
            for task in range(count):
                item = self._tables.configs.get((pk, stage_sk(generation, task)))
                if item is None:
                    raise NotFoundError(f"connector {name!r}: task {task} of generation {generation} "
                                        "was not staged")
                staged.append(from_json(item["config"]))
            self.put_task_configs(name, staged, generation)
            self.discard_staged(name, generation)
            return staged

    def discard_staged(self, name: str, generation: int | None = None) -> int:
        pk = connector_pk(name)
        prefix = STAGE_PREFIX if generation is None else stage_prefix(generation)
        with self._tables.lock:
            doomed = [sk for sk in self._tables.configs_of(name) if sk.startswith(prefix)]
            for sk in doomed:
                del self._tables.configs[(pk, sk)]
            return len(doomed)

    def bind_queue(self, queue_arn: str, name: str) -> None:
        key = (queue_pk(queue_arn), QUEUE_SK)
        with self._tables.lock:
            bound = self._tables.configs.get(key)
            if bound is not None and bound["connector"] != name:
                raise ConflictError(f"queue {queue_arn} already feeds sink connector {bound['connector']!r}")
            self._tables.configs[key] = {"connector": name, "updated_at": self._clock()}

    def connector_for_queue(self, queue_arn: str) -> str | None:
        with self._tables.lock:
            bound = self._tables.configs.get((queue_pk(queue_arn), QUEUE_SK))
            return None if bound is None else bound["connector"]

    def unbind_queue(self, queue_arn: str, name: str) -> None:
        key = (queue_pk(queue_arn), QUEUE_SK)
        with self._tables.lock:
            bound = self._tables.configs.get(key)
            if bound is not None and bound["connector"] == name:
                del self._tables.configs[key]


class InMemoryStatusStore(StatusStore):
    def __init__(self, tables: MemoryTables, clock: Clock = system_clock) -> None:
        self._tables = tables
        self._clock = clock

    def put_connector_status(self, name: str, state: State, trace: str | None = None,
                             worker_id: str | None = None) -> None:
        self._put(name, STATUS_SK, State(state), trace, worker_id)

    def put_task_status(self, name: str, task: int, state: State, trace: str | None = None,
                        worker_id: str | None = None, progress: Mapping[str, float] | None = None) -> None:
        self._put(name, task_status_sk(task), State(state), trace, worker_id, progress)

    def _put(self, name: str, sk: str, state: State, trace: str | None, worker_id: str | None,
             progress: Mapping[str, float] | None = None) -> None:
        with self._tables.lock:
            self._tables.configs[(connector_pk(name), sk)] = {
                "state": state.value, "trace": trace, "worker_id": worker_id, "updated_at": self._clock(),
                "progress": dict(progress) if progress is not None else None}

    def get_status(self, name: str) -> ConnectorStatus | None:
        with self._tables.lock:
            items = self._tables.configs_of(name)
        connector = items.get(STATUS_SK)
        tasks = sorted((task_of(sk, TASK_STATUS_PREFIX), item) for sk, item in items.items()
                       if sk.startswith(TASK_STATUS_PREFIX))
        if connector is None and not tasks:
            return None
        return ConnectorStatus(
            name,
            _entry(connector) if connector is not None else StatusEntry(State.UNASSIGNED),
            [_entry(item, task) for task, item in tasks])

    def delete_status(self, name: str) -> None:
        pk = connector_pk(name)
        with self._tables.lock:
            for sk in self._tables.configs_of(name):
                if sk == STATUS_SK or sk.startswith(TASK_STATUS_PREFIX):
                    del self._tables.configs[(pk, sk)]


def _entry(item: Item, task: int | None = None) -> StatusEntry:
    return StatusEntry(State(item["state"]), item["trace"], item["worker_id"], item["updated_at"], task,
                       item.get("progress"))
