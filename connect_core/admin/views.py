"""What the API reports about a connector, composed from the stores.

The status store holds what the runners and the reconfigure state machine last reported. The
target state an operator set is applied on top, as a Kafka Connect worker would apply it: a
PAUSED connector's running tasks are reported PAUSED (the next tick or batch confirms it), a
STOPPED connector has no tasks, and a task report left from before a resume is UNASSIGNED until
the task runs again.
"""

from __future__ import annotations

from typing import Any

from ..registry import load_connector_class
from ..errors import ConnectError
from ..storage import ConnectorEntry, State, StatusEntry, Stores, TargetState
from .models import (ConnectorInfo, DataAtRiskInfo, ConnectorState, ConnectorStateInfo, ConnectorType, QueueWatermark,
                     ReplicationInfo, TaskId, TaskInfo, TaskLag, TaskState)

_PAUSABLE = {State.RUNNING, State.UNASSIGNED, State.RESTARTING}
#: Who a state is attributed to when its report names no worker: connector states come from the
#: reconfigure state machine; a task nobody ran yet has no worker.
CONNECTOR_WORKER = "reconfigure"
NO_WORKER = "unassigned"
_STALE_AFTER_RESUME = {State.PAUSED, State.STOPPED}


def connector_type(config: dict[str, Any]) -> ConnectorType:
    try:
        return load_connector_class(str(config.get("connector", ""))).kind
    except (ConnectError, ImportError, ValueError):
        return "unknown"


def _lag(report: StatusEntry) -> TaskLag | None:
    progress = report.progress
    if not progress:
        return None
    return TaskLag(messages=progress.get("lag_messages"), seconds=progress.get("lag_seconds"),
                   measured_at=report.updated_at)


def replication(stores: Stores, entry: ConnectorEntry) -> ReplicationInfo:
    """The verified watermark of each source queue (stored with the offset syncs as the target
    acknowledges batches) and each task's lag."""
    from ..connectors.replicator import sync_namespace

    queues = [QueueWatermark(partition=partition, **syncs["watermark"])
              for partition, syncs in stores.offsets.read_all(sync_namespace(entry.name)).pairs()
              if "watermark" in syncs]
    queues.sort(key=lambda q: (str(q.partition.get("topic")), str(q.partition.get("broker")),
                               int(q.partition.get("queue", 0))))
    return ReplicationInfo(name=entry.name, queues=queues, tasks=connector_status(stores, entry).tasks,
                           data_at_risk=data_at_risk(stores, entry))


def data_at_risk(stores: Stores, entry: ConnectorEntry) -> DataAtRiskInfo:
    """From what the replicator stored: the watermarks, the source max offsets it observed, and its
    committed offsets (docs/disaster-recovery.md), over every queue of the link, as the failover
    computes it. Reads no cluster."""
    from ..connectors import at_risk
    from ..connectors.replicator import ReplicatorConfig

    cluster = ReplicatorConfig.model_validate(dict(entry.config)).cluster
    risk = at_risk.of_link(stores, entry.name, at_risk.link_partitions(stores, entry.name, cluster))
    return DataAtRiskInfo.model_validate(risk.to_dict())


def task_count(stores: Stores, entry: ConnectorEntry) -> int:
    if entry.target_state is TargetState.STOPPED:
        return 0
    return len(stores.configs.get_task_configs(entry.name))


def connector_info(stores: Stores, entry: ConnectorEntry, count: int | None = None) -> ConnectorInfo:
    """``count``: the connector's task_count, when the caller already has it."""
    if count is None:
        count = task_count(stores, entry)
    return ConnectorInfo(name=entry.name, config=entry.config,
                         tasks=[TaskId(connector=entry.name, task=i) for i in range(count)],
                         type=connector_type(entry.config))


def task_infos(stores: Stores, entry: ConnectorEntry) -> list[TaskInfo]:
    if entry.target_state is TargetState.STOPPED:
        return []
    return [TaskInfo(id=TaskId(connector=entry.name, task=i), config=config)
            for i, config in enumerate(stores.configs.get_task_configs(entry.name))]


def connector_status(stores: Stores, entry: ConnectorEntry, count: int | None = None) -> ConnectorStateInfo:
    """``count``: the connector's task_count, when the caller already has it."""
    reported = stores.status.get_status(entry.name)
    connector = reported.connector if reported else StatusEntry(State.UNASSIGNED)
    by_task = {t.task: t for t in reported.tasks} if reported else {}
    target = entry.target_state

    state = connector.state
    if target is TargetState.STOPPED:
        state = State.STOPPED
    elif target is TargetState.PAUSED and state is not State.FAILED:
        state = State.PAUSED
    elif target is TargetState.RUNNING and state in _STALE_AFTER_RESUME:
        state = State.RUNNING
    trace = connector.trace if state is State.FAILED else None

    tasks = []
    for task in range(task_count(stores, entry) if count is None else count):
        report = by_task.get(task) or StatusEntry(State.UNASSIGNED, task=task)
        task_state = report.state
        if target is TargetState.PAUSED and task_state in _PAUSABLE:
            task_state = State.PAUSED
        elif target is TargetState.RUNNING and task_state in _STALE_AFTER_RESUME:
            task_state = State.UNASSIGNED
        tasks.append(TaskState(id=task, state=task_state.value, worker_id=report.worker_id or NO_WORKER,
                               trace=report.trace if task_state is State.FAILED else None,
                               lag=_lag(report)))
    return ConnectorStateInfo(
        name=entry.name,
        connector=ConnectorState(state=state.value, worker_id=connector.worker_id or CONNECTOR_WORKER,
                                 trace=trace),
        tasks=tasks, type=connector_type(entry.config))
