"""Requests in flight from one thread: a queue's pulls, a queue's sends, several queues at once.

Threads would overlap the round trips too, but in Python every hand-off between them and every wait
for the interpreter lock costs CPU, and for a replicating task the CPU is what limits throughput.
So a request is written now and its answer read later (``RocketMQClient.start_pull``,
``start_send``), and :func:`pipelined` keeps several in flight. A request object needs ``result()``
(wait for the answer; raise what the request raised) and ``cancel()`` (give it up).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Iterable, TypeVar

K = TypeVar("K")


def pipelined(keys: Iterable[K], start: Callable[[K], Any], done: Callable[[K, Any], None], limit: int) -> None:
    """Keep up to ``limit`` requests in flight from this one thread, at most one per key, so each
    key's requests (a queue's pulls, a queue's sends) run in order. ``start(key)`` begins the key's
    next request, or returns None when the key has nothing more to ask; ``done(key, result)`` takes
    the result, and then the key's next request starts. Answers are read oldest first. A failure
    cancels what is in flight and is raised."""
    waiting = deque(keys)
    flying: deque[tuple[K, Any]] = deque()
    try:
        while waiting or flying:
            while waiting and len(flying) < limit:
                key = waiting.popleft()
                request = start(key)
                if request is not None:
                    flying.append((key, request))
            if flying:
                key, request = flying.popleft()
                done(key, request.result())
                waiting.append(key)
    except BaseException:
        for _, request in flying:
            request.cancel()
        raise
