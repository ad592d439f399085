"""Running a connector's independent AWS requests at the same time (objects, table batches).

boto3 calls block and release the GIL while they wait on the network, so a few threads overlap them
well. The pools are process-wide, kept while a Lambda instance is warm, one per size.
(RocketMQ requests need no threads: one thread keeps them in flight, ``rocketmq.flight``.)
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, Sequence, TypeVar

if TYPE_CHECKING:  # imported on first use: a function that never overlaps requests never loads it
    from concurrent.futures import ThreadPoolExecutor

T = TypeVar("T")

_pools: dict[int, "ThreadPoolExecutor"] = {}
_lock = threading.Lock()


def run_concurrently(calls: Sequence[Callable[[], T]], limit: int) -> list[T]:
    """Each call's result, in order; up to ``limit`` at a time (one at a time, on the caller's
    thread, when ``limit`` is 1). The first failure is raised once every call has finished, so
    nothing is left running behind the caller's back."""
    if limit <= 1 or len(calls) <= 1:
        return [call() for call in calls]
    from concurrent.futures import wait

    running = _pool(limit)
    futures = [running.submit(call) for call in calls]
    wait(futures)
    return [future.result() for future in futures]


def _pool(limit: int) -> "ThreadPoolExecutor":
    """The process-wide pool of ``limit`` threads."""
    found = _pools.get(limit)
    if found is None:
        from concurrent.futures import ThreadPoolExecutor

        with _lock:
            if limit not in _pools:
                _pools[limit] = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="connect-requests")
            found = _pools[limit]
    return found
