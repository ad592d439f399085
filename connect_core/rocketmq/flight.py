"""Requests in flight from one thread: a queue's pulls, a queue's sends, several queues at once.

Threads would overlap the round trips too, but in Python every hand-off between them and every wait
for the interpreter lock costs CPU, and for a replicating task the CPU is what limits throughput.
So a request is written now and its answer read later (``RocketMQClient.start_pull``,
``start_send``), and :func:`pipelined` keeps several in flight. A request object needs ``result()``
(wait for the answer; raise what the request raised) and ``cancel()`` (give it up).

Requests whose answer may take long - long polls, which the broker holds until a message arrives -
are not read in turn but once answered: :func:`wait_any` waits, without spinning and without
sleeping blindly, until the first of several has its answer (``ready()``, waited on through
``fileno()``), or a timeout passes. A source so waits on all its idle queues at once, from this one
thread, and wakes the moment any of them has news.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Callable, Iterable, Protocol, Sequence, TypeVar

from .connection import readable

K = TypeVar("K")


class Waitable(Protocol):
    """A request :func:`wait_any` can wait on (``Call``, ``InFlight``): ``fileno()`` is the socket
    its answer arrives on, -1 when reading it would not wait at all (closed, failed, answered);
    ``arrived()``, asked once that socket is readable, is False when what arrived was no answer
    (TLS records that carry no data, such as a TLS 1.3 session ticket)."""

    def fileno(self) -> int: ...

    def arrived(self) -> bool: ...


W = TypeVar("W", bound=Waitable)


def wait_any(requests: Sequence[W], timeout_s: float) -> list[W]:
    """Wait until at least one of ``requests`` is ready (its answer has begun to arrive, or its
    connection failed or closed, so that reading it does not wait for the broker), for at most
    ``timeout_s``. Returns the ready ones, in the order given; empty when the time passed first,
    and at once when there is nothing to wait on."""
    if not requests:
        return []
    fds = [request.fileno() for request in requests]
    if min(fds) < 0:
        return [request for request, fd in zip(requests, fds) if fd < 0]
    deadline = time.monotonic() + max(0.0, timeout_s)
    while True:
        ready = readable(fds, deadline - time.monotonic())
        answered = [request for request, fd in zip(requests, fds) if fd in ready and request.arrived()]
        if answered:
            return answered
        if time.monotonic() >= deadline:
            return []
        # Nothing but TLS records without data, or the wait ended a moment before the deadline
        # (clock granularity): wait for the rest.


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
