"""Connectors and started tasks kept across warm invocations of one function instance.

Validating a config and opening a task's connections (a broker client, a database pool) costs
more than a poll; a warm Lambda reuses them as long as the stored config version and the task
config are unchanged.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from ..api.connector import Connector, Task, TaskContext
from ..config import validate_config

logger = logging.getLogger("connect_core.tasks")


class TaskCache:
    def __init__(self, max_tasks: int = 64) -> None:
        self._connectors: dict[tuple[str, int], Connector[Any]] = {}
        self._tasks: dict[tuple[str, int], tuple[str, Task[Any]]] = {}
        self._lock = threading.Lock()
        self.max_tasks = max_tasks

    def connector(self, name: str, version: int, config: dict[str, Any]) -> Connector[Any]:
        key = (name, version)
        with self._lock:
            connector = self._connectors.get(key)
        if connector is None:
            connector = validate_config(config)
            with self._lock:
                for old in [k for k in self._connectors if k[0] == name]:
                    del self._connectors[old]
                self._connectors[key] = connector
        return connector

    def task(self, connector: Connector[Any], version: int, task_id: int, task_config: dict[str, Any],
             context: TaskContext) -> Task[Any]:
        """The started task for this config; a changed config stops the old one first."""
        key = (connector.config.name, task_id)
        identity = json.dumps([version, task_config], sort_keys=True, default=str)
        with self._lock:
            cached = self._tasks.get(key)
        if cached is not None and cached[0] == identity:
            task = cached[1]
            task.context = context
            return task
        if cached is not None:
            self.evict(*key)
        task = connector.task_class(connector.config, task_config, context)
        task.start()
        with self._lock:
            if len(self._tasks) >= self.max_tasks:
                oldest = next(iter(self._tasks))
                self._stop(self._tasks.pop(oldest)[1])
            self._tasks[key] = (identity, task)
        return task

    def evict(self, name: str, task_id: int) -> None:
        """Stop and forget a task (after a failure, its connections may be broken)."""
        with self._lock:
            cached = self._tasks.pop((name, task_id), None)
        if cached is not None:
            self._stop(cached[1])

    def clear(self) -> None:
        with self._lock:
            tasks = [t for _, t in self._tasks.values()]
            self._tasks.clear()
            self._connectors.clear()
        for task in tasks:
            self._stop(task)

    @staticmethod
    def _stop(task: Task[Any]) -> None:
        try:
            task.stop()
        except Exception:  # noqa: BLE001 - stopping must never mask the real outcome
            logger.exception("task stop failed")
