"""The stores on DynamoDB: a configs table and an offsets table (see ``tables.py``).

Every guarantee is a conditional write evaluated by DynamoDB, so it holds across any number of
concurrent Lambda invocations: lease claims are conditional updates that bump the epoch, offset
commits are transactions that check the lease's epoch and each partition's order key.
Clients come from ``connect_core.aws.client("dynamodb")`` on first use unless one is injected.
"""

from __future__ import annotations

import random
import time
from typing import Any, Iterable, Iterator, Mapping, Sequence

from .. import aws
from ..api.record import Offset, OffsetMap, Partition, partition_key
from ..aws.errors import error_code
from ..errors import (
    ConflictError,
    LeaseLostError,
    NotFoundError,
    OffsetRegressionError,
    RetriableError,
    StaleEpochError,
)
from .base import (
    Clock,
    ConfigStore,
    ConnectorEntry,
    ConnectorStatus,
    EpochFence,
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
    MAX_ATOMIC_COMMIT,
    STATUS_SK,
    TASK_PREFIX,
    TASK_STATUS_PREFIX,
    OffsetWrite,
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

Item = dict[str, dict[str, Any]]

_BATCH_GET = 100
_BATCH_WRITE = 25
_TRANSACTION = 100
_ATTEMPTS = 8


class _DynamoDBStore:
    def __init__(self, *, clock: Clock = system_clock, client: Any = None) -> None:
        self._clock = clock
        self._client = client

    @property
    def _ddb(self) -> Any:
        # Looked up per call: the factory caches, and follows reset_clients() after an env change.
        return self._client if self._client is not None else aws.client("dynamodb")


class DynamoDBOffsetStore(_DynamoDBStore, OffsetStore):
    """Offsets table items: pk = connector, sk = partition key; the lease lives in the configs table."""

    def __init__(self, offsets_table: str, configs_table: str, *, clock: Clock = system_clock,
                 client: Any = None) -> None:
        super().__init__(clock=clock, client=client)
        self.offsets_table = offsets_table
        self.configs_table = configs_table

    def read(self, connector: str, partitions: Iterable[Partition]) -> OffsetMap:
        keys = list(dict.fromkeys(partition_key(p) for p in partitions))
        items = _batch_get(self._ddb, self.offsets_table, [_key(connector, k) for k in keys])
        by_key = {item["sk"]["S"]: item for item in items}
        return OffsetMap.of((from_json(by_key[k]["partition"]["S"]), from_json(by_key[k]["offset"]["S"]))
                            for k in keys if k in by_key)

    def read_all(self, connector: str) -> OffsetMap:
        return OffsetMap.of((from_json(item["partition"]["S"]), from_json(item["offset"]["S"]))
                            for item in _query(self._ddb, self.offsets_table, connector))

    def write_versioned(self, connector: str, partition: Partition, offset: Offset, *,
                        expected_version: int) -> int:
        key = partition_key(partition)
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(#version)"}
        if expected_version:
            condition = {"ConditionExpression": "#version = :expected",
                         "ExpressionAttributeValues": {":expected": _n(expected_version)}}
        try:
            self._ddb.put_item(
                TableName=self.offsets_table, ReturnValuesOnConditionCheckFailure="ALL_OLD",
                Item={**_key(connector, key), "partition": _s(to_json(dict(partition))),
                      "offset": _s(to_json(dict(offset))), "version": _n(expected_version + 1),
                      "updated_at": _n(self._clock())},
                ExpressionAttributeNames={"#version": "version"}, **condition)
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                old = getattr(exc, "response", {}).get("Item") or {}
                current = int(old["version"]["N"]) if "version" in old else 0
                raise ConflictError(f"{connector!r} item {key} is at version {current}, not "
                                    f"{expected_version}: someone else wrote it; re-read and try again") from None
            raise
        return expected_version + 1

    def commit(self, connector: str, offsets: OffsetPairs, *, task: int, epoch: int,
               order: Sequence[str] = ()) -> None:
        writes = offset_writes(offsets, order)
        if not writes:
            self._check_epoch(connector, task, epoch)
            return
        if len(writes) <= MAX_ATOMIC_COMMIT:
            self._commit_chunk(connector, writes, task, epoch)
            return
        # Several transactions: check everything first so a fenced or regressing commit almost
        # always writes nothing; each chunk still carries the conditions.
        self._check_epoch(connector, task, epoch)
        if order:
            stored = _batch_get(self._ddb, self.offsets_table, [_key(connector, w.key) for w in writes])
            by_key = {item["sk"]["S"]: item for item in stored}
            for write in writes:
                committed = by_key.get(write.key)
                if committed is not None and "ord" in committed and committed["ord"]["S"] > write.ord:
                    raise OffsetRegressionError(
                        regression_message(connector, write, from_json(committed["offset"]["S"])))
        for start in range(0, len(writes), MAX_ATOMIC_COMMIT):
            self._commit_chunk(connector, writes[start:start + MAX_ATOMIC_COMMIT], task, epoch)

    def _epoch_check(self, connector: str, task: int, epoch: int) -> dict[str, Any]:
        return {"ConditionCheck": {
            "TableName": self.configs_table,
            "Key": _key(connector_pk(connector), lease_sk(task)),
            "ConditionExpression": "#epoch = :epoch",
            "ExpressionAttributeNames": {"#epoch": "epoch"},
            "ExpressionAttributeValues": {":epoch": _n(epoch)},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }}

    def _commit_chunk(self, connector: str, writes: list[OffsetWrite], task: int, epoch: int) -> None:
        check = self._epoch_check(connector, task, epoch)
        now = self._clock()
        puts = []
        for write in writes:
            item = {**_key(connector, write.key), "partition": _s(to_json(write.partition)),
                    "offset": _s(to_json(write.offset)), "epoch": _n(epoch), "task": _n(task),
                    "updated_at": _n(now)}
            put: dict[str, Any] = {"TableName": self.offsets_table, "Item": item}
            if write.ord is not None:
                item["ord"] = _s(write.ord)
                put.update(ConditionExpression="attribute_not_exists(#ord) OR #ord <= :ord",
                           ExpressionAttributeNames={"#ord": "ord"},
                           ExpressionAttributeValues={":ord": _s(write.ord)},
                           ReturnValuesOnConditionCheckFailure="ALL_OLD")
            puts.append({"Put": put})
        reasons = _transact(self._ddb, [check, *puts], f"commit offsets of {connector!r}")
        if reasons is None:
            return
        if _failed(reasons[0]):
            lease = reasons[0].get("Item")
            raise StaleEpochError(_stale_message(connector, task, epoch,
                                                 int(lease["epoch"]["N"]) if lease else None))
        for write, reason in zip(writes, reasons[1:]):
            if _failed(reason):
                committed = reason.get("Item")
                raise OffsetRegressionError(regression_message(
                    connector, write, from_json(committed["offset"]["S"]) if committed else None))
        raise AssertionError(f"unexpected cancellation reasons: {reasons!r}")

    def _check_epoch(self, connector: str, task: int, epoch: int) -> None:
        lease = self._ddb.get_item(TableName=self.configs_table, ConsistentRead=True,
                                   Key=_key(connector_pk(connector), lease_sk(task))).get("Item")
        current = int(lease["epoch"]["N"]) if lease else None
        if current != epoch:
            raise StaleEpochError(_stale_message(connector, task, epoch, current))

    def reset(self, connector: str, partitions: Iterable[Partition] | None = None) -> None:
        if partitions is None:
            keys = [_key(connector, item["sk"]["S"])
                    for item in _query(self._ddb, self.offsets_table, connector, project_keys=True)]
        else:
            keys = [_key(connector, k) for k in dict.fromkeys(partition_key(p) for p in partitions)]
        _batch_write(self._ddb, self.offsets_table, [{"DeleteRequest": {"Key": k}} for k in keys])

    def alter(self, connector: str, offsets: OffsetPairs, *, fence: EpochFence | None = None) -> None:
        now = self._clock()
        requests = []
        for write in offset_writes(offsets, allow_none=True):
            if write.offset is None:
                requests.append({"DeleteRequest": {"Key": _key(connector, write.key)}})
            else:
                requests.append({"PutRequest": {"Item": {
                    **_key(connector, write.key), "partition": _s(to_json(write.partition)),
                    "offset": _s(to_json(write.offset)), "updated_at": _n(now)}}})
        if fence is None:
            _batch_write(self._ddb, self.offsets_table, requests)
            return
        if not requests:
            self._check_epoch(fence.connector, fence.task, fence.epoch)
        for start in range(0, len(requests), MAX_ATOMIC_COMMIT):
            self._alter_fenced(requests[start:start + MAX_ATOMIC_COMMIT], fence)

    def _alter_fenced(self, requests: list[dict[str, Any]], fence: EpochFence) -> None:
        """One transaction: the lease still at the fence's epoch, and the writes."""
        writes = [{"Delete": {"TableName": self.offsets_table, **r["DeleteRequest"]}} if "DeleteRequest" in r
                  else {"Put": {"TableName": self.offsets_table, **r["PutRequest"]}} for r in requests]
        reasons = _transact(self._ddb, [self._epoch_check(fence.connector, fence.task, fence.epoch), *writes],
                            f"fenced write for {fence.connector!r}")
        if reasons is None:
            return
        lease = reasons[0].get("Item")
        raise StaleEpochError(_stale_message(fence.connector, fence.task, fence.epoch,
                                             int(lease["epoch"]["N"]) if lease else None))


class DynamoDBLeaseStore(_DynamoDBStore, LeaseStore):
    """Lease items in the configs table: pk ``connector#<name>``, sk ``lease#task#<n>``."""

    def __init__(self, configs_table: str, *, clock: Clock = system_clock, client: Any = None) -> None:
        super().__init__(clock=clock, client=client)
        self.configs_table = configs_table

    def claim(self, connector: str, task: int, owner: str, ttl_s: float) -> TaskLease | None:
        now = self._clock()
        try:
            # ALL_OLD: the replaced lease tells the new holder how long the task went unpolled; the
            # new one follows from it (the update is conditional, so nothing came in between).
            response = self._ddb.update_item(
                TableName=self.configs_table, Key=_key(connector_pk(connector), lease_sk(task)),
                UpdateExpression="SET #epoch = if_not_exists(#epoch, :zero) + :one, #owner = :owner, "
                                 "#expires = :expires, #released = :false, #claimed = :now, #renewed = :now, "
                                 "#connector = :connector, #task = :task REMOVE #requested_by, #requested_at",
                ConditionExpression="attribute_not_exists(#epoch) OR #released = :true "
                                    "OR #expires <= :now",
                ExpressionAttributeNames={"#epoch": "epoch", "#owner": "owner", "#expires": "expires_at",
                                          "#released": "released", "#claimed": "claimed_at",
                                          "#renewed": "renewed_at", "#connector": "connector", "#task": "task",
                                          "#requested_by": "handover_requested_by",
                                          "#requested_at": "handover_requested_at"},
                ExpressionAttributeValues={":zero": _n(0), ":one": _n(1), ":owner": _s(owner),
                                           ":expires": _n(now + ttl_s), ":false": {"BOOL": False},
                                           ":true": {"BOOL": True}, ":now": _n(now),
                                           ":connector": _s(connector), ":task": _n(task)},
                ReturnValues="ALL_OLD")
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        old = response.get("Attributes")
        previous = _lease(old) if old else None
        return TaskLease(connector, task, owner, (previous.epoch if previous else 0) + 1, now + ttl_s,
                         renewed_at=now, released_at=previous.released_at if previous else None,
                         previous=previous)

    def renew(self, lease: TaskLease, ttl_s: float) -> TaskLease:
        now = self._clock()
        try:
            response = self._ddb.update_item(
                TableName=self.configs_table, Key=_key(connector_pk(lease.connector), lease_sk(lease.task)),
                UpdateExpression="SET #expires = :expires, #renewed = :now",
                ConditionExpression="#epoch = :epoch AND #owner = :owner AND #released = :false",
                ExpressionAttributeNames={"#expires": "expires_at", "#epoch": "epoch", "#owner": "owner",
                                          "#released": "released", "#renewed": "renewed_at"},
                ExpressionAttributeValues={":expires": _n(now + ttl_s), ":epoch": _n(lease.epoch),
                                           ":owner": _s(lease.owner), ":false": {"BOOL": False},
                                           ":now": _n(now)},
                ReturnValues="ALL_NEW")
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise LeaseLostError(_lost_message(lease)) from None
            raise
        return _lease(response["Attributes"])

    def request_handover(self, connector: str, task: int, owner: str) -> TaskLease | None:
        now = self._clock()
        try:
            response = self._ddb.update_item(
                TableName=self.configs_table, Key=_key(connector_pk(connector), lease_sk(task)),
                UpdateExpression="SET #requested_by = :owner, #requested_at = :now",
                ConditionExpression="attribute_exists(#epoch) AND #released = :false AND #expires > :now",
                ExpressionAttributeNames={"#requested_by": "handover_requested_by",
                                          "#requested_at": "handover_requested_at", "#epoch": "epoch",
                                          "#released": "released", "#expires": "expires_at"},
                ExpressionAttributeValues={":owner": _s(owner), ":now": _n(now), ":false": {"BOOL": False}},
                ReturnValues="ALL_NEW")
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return _lease(response["Attributes"])

    def release(self, lease: TaskLease) -> bool:
        now = self._clock()
        try:
            self._ddb.update_item(
                TableName=self.configs_table, Key=_key(connector_pk(lease.connector), lease_sk(lease.task)),
                UpdateExpression="SET #released = :true, #expires = :now, #released_at = :now",
                ConditionExpression="#epoch = :epoch",
                ExpressionAttributeNames={"#released": "released", "#expires": "expires_at",
                                          "#released_at": "released_at", "#epoch": "epoch"},
                ExpressionAttributeValues={":true": {"BOOL": True}, ":now": _n(now),
                                           ":epoch": _n(lease.epoch)})
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get(self, connector: str, task: int) -> TaskLease | None:
        item = self._ddb.get_item(TableName=self.configs_table, ConsistentRead=True,
                                  Key=_key(connector_pk(connector), lease_sk(task))).get("Item")
        return None if item is None else _lease(item)


class DynamoDBConfigStore(_DynamoDBStore, ConfigStore):
    """Config items in the configs table: sk ``config`` and ``task#<n>`` under ``connector#<name>``."""

    def __init__(self, configs_table: str, *, clock: Clock = system_clock, client: Any = None) -> None:
        super().__init__(clock=clock, client=client)
        self.configs_table = configs_table

    def put_connector(self, name: str, config: dict[str, Any], *,
                      expected_version: int | None = None) -> int:
        now = self._clock()
        condition: dict[str, Any] = {}
        values = {":config": _s(to_json(config)), ":zero": _n(0), ":one": _n(1), ":name": _s(name),
                  ":running": _s(TargetState.RUNNING.value), ":now": _n(now)}
        if expected_version == 0:
            condition["ConditionExpression"] = "attribute_not_exists(#version)"
        elif expected_version is not None:
            condition["ConditionExpression"] = "#version = :expected"
            values[":expected"] = _n(expected_version)
        if condition:
            condition["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            response = self._ddb.update_item(
                TableName=self.configs_table, Key=_key(connector_pk(name), CONFIG_SK),
                UpdateExpression="SET #config = :config, #version = if_not_exists(#version, :zero) + :one, "
                                 "#name = :name, #target = if_not_exists(#target, :running), "
                                 "#created = if_not_exists(#created, :now), #updated = :now",
                ExpressionAttributeNames={"#config": "config", "#version": "version", "#name": "name",
                                          "#target": "target_state", "#created": "created_at",
                                          "#updated": "updated_at"},
                ExpressionAttributeValues=values, ReturnValues="UPDATED_NEW", **condition)
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                old = getattr(exc, "response", {}).get("Item")
                version = int(old["version"]["N"]) if old else 0
                raise ConflictError(f"connector {name!r} is at version {version}, "
                                    f"not {expected_version}: re-read and try again") from None
            raise
        return int(response["Attributes"]["version"]["N"])

    def get_connector(self, name: str) -> ConnectorEntry | None:
        item = self._get(name, CONFIG_SK)
        if item is None:
            return None
        generation = item.get("task_generation")
        return ConnectorEntry(name, from_json(item["config"]["S"]), TargetState(item["target_state"]["S"]),
                              int(item["version"]["N"]), int(generation["N"]) if generation else None)

    def list_connectors(self) -> list[str]:
        names = []
        kwargs: dict[str, Any] = {
            "TableName": self.configs_table, "ConsistentRead": True,
            "FilterExpression": "#sk = :config", "ProjectionExpression": "#name",
            "ExpressionAttributeNames": {"#sk": "sk", "#name": "name"},
            "ExpressionAttributeValues": {":config": _s(CONFIG_SK)}}
        while True:
            page = self._ddb.scan(**kwargs)
            names.extend(item["name"]["S"] for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return sorted(names)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def delete_connector(self, name: str) -> None:
        pk = connector_pk(name)
        sks = [item["sk"]["S"] for item in _query(self._ddb, self.configs_table, pk, project_keys=True)]
        _batch_write(self._ddb, self.configs_table, [{"DeleteRequest": {"Key": _key(pk, sk)}}
                                                     for sk in sks if not sk.startswith(LEASE_PREFIX)])
        if CONFIG_SK not in sks:
            raise NotFoundError(f"connector {name!r} does not exist")

    def set_target_state(self, name: str, state: TargetState) -> None:
        try:
            self._ddb.update_item(
                TableName=self.configs_table, Key=_key(connector_pk(name), CONFIG_SK),
                UpdateExpression="SET #target = :state, #updated = :now",
                ConditionExpression="attribute_exists(#version)",
                ExpressionAttributeNames={"#target": "target_state", "#updated": "updated_at",
                                          "#version": "version"},
                ExpressionAttributeValues={":state": _s(TargetState(state).value), ":now": _n(self._clock())})
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise NotFoundError(f"connector {name!r} does not exist") from None
            raise

    def put_task_configs(self, name: str, configs: list[dict[str, Any]], generation: int) -> None:
        pk = connector_pk(name)
        now = self._clock()
        existing = [item["sk"]["S"] for item in
                    _query(self._ddb, self.configs_table, pk, prefix=TASK_PREFIX, project_keys=True)]
        stale = [sk for sk in existing if task_of(sk, TASK_PREFIX) >= len(configs)]
        newer_wins = {"ConditionExpression": "attribute_not_exists(#gen) OR #gen <= :gen",
                      "ExpressionAttributeNames": {"#gen": "generation"},
                      "ExpressionAttributeValues": {":gen": _n(generation)}}
        fence = {"Update": {
            "TableName": self.configs_table, "Key": _key(pk, CONFIG_SK),
            "UpdateExpression": "SET #gen = :gen, #count = :count",
            "ConditionExpression": "attribute_exists(#version) AND (attribute_not_exists(#gen) OR #gen <= :gen)",
            "ExpressionAttributeNames": {"#gen": "task_generation", "#count": "task_count",
                                         "#version": "version"},
            "ExpressionAttributeValues": {":gen": _n(generation), ":count": _n(len(configs))},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}
        operations = [fence]
        for task, config in enumerate(configs):
            operations.append({"Put": {"TableName": self.configs_table, "Item": {
                **_key(pk, task_sk(task)), "config": _s(to_json(config)), "generation": _n(generation),
                "updated_at": _n(now)}, **newer_wins}})
        for sk in stale:
            operations.append({"Delete": {"TableName": self.configs_table, "Key": _key(pk, sk), **newer_wins}})
        for start in range(0, len(operations), _TRANSACTION):
            reasons = _transact(self._ddb, operations[start:start + _TRANSACTION],
                                f"write task configs of {name!r}")
            if reasons is None:
                continue
            if start == 0 and _failed(reasons[0]) and not reasons[0].get("Item"):
                raise NotFoundError(f"connector {name!r} does not exist")
            raise ConflictError(f"connector {name!r}: task configs of a generation newer than "
                                f"{generation} were written; re-read and reconfigure again")

    def get_task_configs(self, name: str) -> list[dict[str, Any]]:
        items = _query(self._ddb, self.configs_table, connector_pk(name), prefix=TASK_PREFIX)
        tasks = {task_of(item["sk"]["S"], TASK_PREFIX): item for item in items}
        return [from_json(tasks[t]["config"]["S"]) for t in sorted(tasks)]

    def get_task_config(self, name: str, task: int) -> dict[str, Any] | None:
        item = self._get(name, task_sk(task))
        return None if item is None else from_json(item["config"]["S"])

    def stage_task_config(self, name: str, generation: int, task: int, config: dict[str, Any]) -> None:
        # The reconfigure state machine writes this very item with a direct PutItem.
        self._ddb.put_item(TableName=self.configs_table, Item={
            **_key(connector_pk(name), stage_sk(generation, task)), "config": _s(to_json(config)),
            "generation": _n(generation), "updated_at": _n(self._clock())})

    def promote_staged(self, name: str, generation: int, count: int) -> list[dict[str, Any]]:
        items = _query(self._ddb, self.configs_table, connector_pk(name), prefix=stage_prefix(generation))
        by_task = {task_of(item["sk"]["S"], stage_prefix(generation)): item for item in items}
        missing = [task for task in range(count) if task not in by_task]
        if missing:
            raise NotFoundError(f"connector {name!r}: tasks {missing} of generation {generation} were not staged")
        staged = [from_json(by_task[task]["config"]["S"]) for task in range(count)]
        self.put_task_configs(name, staged, generation)
        self.discard_staged(name, generation)
        return staged

    def discard_staged(self, name: str, generation: int | None = None) -> int:
        prefix = STAGE_PREFIX if generation is None else stage_prefix(generation)
        pk = connector_pk(name)
        sks = [item["sk"]["S"] for item in
               _query(self._ddb, self.configs_table, pk, prefix=prefix, project_keys=True)]
        _batch_write(self._ddb, self.configs_table, [{"DeleteRequest": {"Key": _key(pk, sk)}} for sk in sks])
        return len(sks)

    def bind_queue(self, queue_arn: str, name: str) -> None:
        try:
            self._ddb.put_item(
                TableName=self.configs_table,
                Item={**_key(queue_pk(queue_arn), QUEUE_SK), "connector": _s(name), "updated_at": _n(self._clock())},
                ConditionExpression="attribute_not_exists(#c) OR #c = :name",
                ExpressionAttributeNames={"#c": "connector"}, ExpressionAttributeValues={":name": _s(name)},
                ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                other = getattr(exc, "response", {}).get("Item", {}).get("connector", {}).get("S", "?")
                raise ConflictError(f"queue {queue_arn} already feeds sink connector {other!r}") from None
            raise

    def connector_for_queue(self, queue_arn: str) -> str | None:
        item = self._ddb.get_item(TableName=self.configs_table, ConsistentRead=True,
                                  Key=_key(queue_pk(queue_arn), QUEUE_SK)).get("Item")
        return None if item is None else item["connector"]["S"]

    def unbind_queue(self, queue_arn: str, name: str) -> None:
        try:
            self._ddb.delete_item(TableName=self.configs_table, Key=_key(queue_pk(queue_arn), QUEUE_SK),
                                  ConditionExpression="#c = :name", ExpressionAttributeNames={"#c": "connector"},
                                  ExpressionAttributeValues={":name": _s(name)})
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def _get(self, name: str, sk: str) -> Item | None:
        return self._ddb.get_item(TableName=self.configs_table, ConsistentRead=True,
                                  Key=_key(connector_pk(name), sk)).get("Item")


class DynamoDBStatusStore(_DynamoDBStore, StatusStore):
    """Status items in the configs table: sk ``status`` and ``status#task#<n>``."""

    def __init__(self, configs_table: str, *, clock: Clock = system_clock, client: Any = None) -> None:
        super().__init__(clock=clock, client=client)
        self.configs_table = configs_table

    def put_connector_status(self, name: str, state: State, trace: str | None = None,
                             worker_id: str | None = None) -> None:
        self._put(name, STATUS_SK, State(state), trace, worker_id)

    def put_task_status(self, name: str, task: int, state: State, trace: str | None = None,
                        worker_id: str | None = None, progress: Mapping[str, float] | None = None) -> None:
        self._put(name, task_status_sk(task), State(state), trace, worker_id, progress)

    def _put(self, name: str, sk: str, state: State, trace: str | None, worker_id: str | None,
             progress: Mapping[str, float] | None = None) -> None:
        item = {**_key(connector_pk(name), sk), "state": _s(state.value), "updated_at": _n(self._clock())}
        if trace is not None:
            item["trace"] = _s(trace)
        if worker_id is not None:
            item["worker_id"] = _s(worker_id)
        if progress is not None:
            item["progress"] = _s(to_json(dict(progress)))
        self._ddb.put_item(TableName=self.configs_table, Item=item)

    def get_status(self, name: str) -> ConnectorStatus | None:
        items = {item["sk"]["S"]: item
                 for item in _query(self._ddb, self.configs_table, connector_pk(name), prefix=STATUS_SK)}
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
        items = _query(self._ddb, self.configs_table, pk, prefix=STATUS_SK, project_keys=True)
        _batch_write(self._ddb, self.configs_table,
                     [{"DeleteRequest": {"Key": _key(pk, item["sk"]["S"])}} for item in items])


# --- attribute values and request loops ------------------------------------------------------

def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int | float) -> dict[str, str]:
    return {"N": str(value) if isinstance(value, int) else repr(float(value))}


def _key(pk: str, sk: str) -> Item:
    return {"pk": _s(pk), "sk": _s(sk)}


def _lease(item: Item) -> TaskLease:
    def number(name: str) -> float | None:
        return float(item[name]["N"]) if name in item else None

    requested = item.get("handover_requested_by")
    return TaskLease(item["connector"]["S"], int(item["task"]["N"]), item["owner"]["S"],
                     int(item["epoch"]["N"]), float(item["expires_at"]["N"]), item["released"]["BOOL"],
                     requested["S"] if requested else None, number("renewed_at"), number("released_at"))


def _entry(item: Item, task: int | None = None) -> StatusEntry:
    progress = item.get("progress")
    return StatusEntry(State(item["state"]["S"]), item.get("trace", {}).get("S"),
                       item.get("worker_id", {}).get("S"), float(item["updated_at"]["N"]), task,
                       from_json(progress["S"]) if progress else None)


def _stale_message(connector: str, task: int, epoch: int, current: int | None) -> str:
    return (f"connector {connector!r} task {task}: epoch {epoch} is stale (lease epoch is {current}); "
            f"nothing was written")


def _lost_message(lease: TaskLease) -> str:
    return (f"connector {lease.connector!r} task {lease.task}: lease epoch {lease.epoch} of "
            f"{lease.owner!r} was claimed again or released")


def _failed(reason: dict[str, Any]) -> bool:
    return reason.get("Code") == "ConditionalCheckFailed"


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(0.05 * 2 ** attempt, 1.0)))


def _transact(ddb: Any, operations: list[dict[str, Any]], what: str) -> list[dict[str, Any]] | None:
    """Run one transaction. None when it committed; the cancellation reasons when a condition failed.

    Conflicts with other in-flight transactions on the same items are retried.
    """
    for attempt in range(_ATTEMPTS):
        try:
            ddb.transact_write_items(TransactItems=operations)
            return None
        except Exception as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []  # type: ignore[attr-defined]
            if any(_failed(r) for r in reasons):
                return reasons
            if not any(r.get("Code") == "TransactionConflict" for r in reasons):
                raise
        _backoff(attempt)
    raise RetriableError(f"{what}: the transaction kept conflicting with concurrent writes")


def _query(ddb: Any, table: str, pk: str, *, prefix: str | None = None,
           project_keys: bool = False) -> Iterator[Item]:
    """All items under ``pk`` (optionally with a sort-key prefix), in sort-key order."""
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True,
                              "KeyConditionExpression": "#pk = :pk",
                              "ExpressionAttributeNames": {"#pk": "pk"},
                              "ExpressionAttributeValues": {":pk": _s(pk)}}
    if prefix is not None:
        kwargs["KeyConditionExpression"] += " AND begins_with(#sk, :prefix)"
        kwargs["ExpressionAttributeNames"]["#sk"] = "sk"
        kwargs["ExpressionAttributeValues"][":prefix"] = _s(prefix)
    if project_keys:
        kwargs["ProjectionExpression"] = "#pk, #sk"
        kwargs["ExpressionAttributeNames"]["#sk"] = "sk"
    while True:
        page = ddb.query(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _batch_get(ddb: Any, table: str, keys: list[Item]) -> list[Item]:
    """The items that exist among ``keys`` (distinct), in no particular order."""
    found: list[Item] = []
    for start in range(0, len(keys), _BATCH_GET):
        pending: dict[str, Any] = {table: {"Keys": keys[start:start + _BATCH_GET], "ConsistentRead": True}}
        attempt = 0
        while pending:
            response = ddb.batch_get_item(RequestItems=pending)
            found.extend(response.get("Responses", {}).get(table, []))
            pending = response.get("UnprocessedKeys") or {}
            if pending:
                _backoff(attempt)
                attempt += 1
    return found


def _batch_write(ddb: Any, table: str, requests: list[dict[str, Any]]) -> None:
    for start in range(0, len(requests), _BATCH_WRITE):
        pending: dict[str, Any] = {table: requests[start:start + _BATCH_WRITE]}
        attempt = 0
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if pending:
                _backoff(attempt)
                attempt += 1
