"""How a source tick holds its task: short leases, renewed while it works, handed over on request.

A lease lives ``lease_ttl_s`` (10 s) past its holder's last renewal, and never past the
invocation's own deadline, so a tick that dies (killed, out of memory, hung past the Lambda
timeout) frees its task within seconds. The holder renews every third of the TTL, between batches.

A tick that finds the lease held either exits (``drain`` polling: overlapping schedules never poll
twice) or, with ``continuous`` polling or after a crash, asks for it: ``request_handover`` records
the request on the lease item; the holder sees it at its next renewal, finishes the batch in
flight, commits and releases; the successor, watching the item, claims at once. A holder that never
answers (it is dead) is waited out until its lease expires. Successors racing for one task all
wait; the claim lets exactly one in, and the others exit.

The timings obey one rule, checked when a connector is applied (``check_coverage``): a tick polls
until ``safety_margin_s`` before the function's timeout, and the next tick must arrive and take over
before that, so ``timeout - safety_margin_s >= schedule period + handover_allowance_s``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..errors import ConfigError, FieldError
from ..storage import LeaseStore, TaskLease


@dataclass(frozen=True)
class TickTimings:
    """A source tick's clock. Every value is in seconds."""

    #: A lease outlives its holder's last renewal by this much at most.
    lease_ttl_s: float = 10.0
    #: A tick stops polling this long before its deadline (the last batch, commit, chores and release fit).
    safety_margin_s: float = 10.0
    #: The next tick's delivery, start-up and takeover must fit in this much overlap.
    handover_allowance_s: float = 20.0
    #: Continuous polling commits offsets at most this often (and at every handover and stop).
    commit_interval_s: float = 1.0
    #: Continuous polling measures lag, reports it in the task status and flushes metrics this often.
    report_interval_s: float = 10.0
    #: How often a waiting successor looks at the lease item.
    claim_poll_s: float = 0.1

    @property
    def renew_interval_s(self) -> float:
        return self.lease_ttl_s / 3

    @property
    def handover_wait_s(self) -> float:
        """How long a successor waits for the lease: a live holder answers within one renewal, a
        dead one's lease runs out within one TTL."""
        return self.lease_ttl_s + self.renew_interval_s + 2.0

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> "TickTimings":
        """Defaults, with ``SOURCE_LEASE_TTL_SECONDS`` if set (shorter leases in drills and tests)."""
        env = os.environ if env is None else env
        ttl = env.get("SOURCE_LEASE_TTL_SECONDS")
        return cls(lease_ttl_s=float(ttl)) if ttl else cls()

    def coverage_problem(self, period_s: float, function_timeout_s: float) -> str | None:
        """Why ticks ``period_s`` apart in a function with this timeout leave gaps, or None."""
        needed = period_s + self.handover_allowance_s + self.safety_margin_s
        if function_timeout_s >= needed:
            return None
        return (f"continuous polling with a schedule period of {period_s:g} s needs the source function's "
                f"timeout to be at least {needed:g} s (period + {self.handover_allowance_s:g} s for the next "
                f"tick to take over + {self.safety_margin_s:g} s safety margin); it is {function_timeout_s:g} s. "
                "Raise the SourceTickSeconds parameter, shorten the schedule, or use polling: drain")


def check_coverage(config: Any, function_timeout_s: float | None, timings: TickTimings | None = None) -> None:
    """Raise ConfigError (field ``schedule``) when a continuous source's ticks could not cover every
    moment; nothing to check for other connectors or when the timeout is not known."""
    if function_timeout_s is None or getattr(config, "polling", "drain") != "continuous":
        return
    period = config.period_s()
    problem = (timings or TickTimings()).coverage_problem(period, function_timeout_s) if period else None
    if problem:
        raise ConfigError([FieldError("schedule", problem)], connector=config.name)


def function_timeout_from(env: Mapping[str, str] | None = None) -> float | None:
    """The source function's timeout as the template tells the other functions (SOURCE_TICK_SECONDS)."""
    env = os.environ if env is None else env
    value = env.get("SOURCE_TICK_SECONDS")
    return float(value) if value else None


class LeaseKeeper:
    """One tick's hold on one task's lease: acquire, renew when due, release."""

    def __init__(self, leases: LeaseStore, connector: str, task: int, owner: str, timings: TickTimings,
                 remaining_ms: Callable[[], int], *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.leases = leases
        self.connector, self.task, self.owner = connector, task, owner
        self.timings = timings
        self.remaining_ms = remaining_ms
        self.clock = clock
        self.sleep = sleep
        self.lease: TaskLease | None = None
        self.released = False
        self._renew_at = 0.0

    # -- taking the lease ------------------------------------------------------------------------

    def acquire(self, *, wait: bool) -> TaskLease | None:
        """Claim the lease; when it is held and ``wait``, ask for it and wait for the holder to hand
        it over (or die). None when another tick keeps or wins it."""
        lease = self._claim()
        if lease is not None or not wait:
            return lease
        asked = self.leases.request_handover(self.connector, self.task, self.owner)
        if asked is None:  # released or expired in between
            return self._claim()
        give_up = self.clock() + min(self.timings.handover_wait_s, self._time_left_s())
        while self.clock() < give_up:
            self.sleep(self.timings.claim_poll_s)
            current = self.leases.get(self.connector, self.task)
            if current is not None and current.epoch != asked.epoch:
                return None  # another successor got it
            if current is None or not current.is_live(self.clock()):
                lease = self._claim()
                if lease is not None:
                    return lease
                # Lost the claim: another successor won (seen as a new epoch next time round), or the
                # holder renewed a lease that had just lapsed - it will still answer our request.
        return None

    def _claim(self) -> TaskLease | None:
        lease = self.leases.claim(self.connector, self.task, self.owner, self._ttl())
        if lease is not None:
            self._hold(lease)
        return lease

    # -- keeping it ------------------------------------------------------------------------------

    def renew_due(self) -> bool:
        return self.clock() >= self._renew_at

    def seconds_to_renewal(self) -> float:
        return max(0.0, self._renew_at - self.clock())

    def renew(self) -> TaskLease:
        """Extend the lease (LeaseLostError when it was taken over); the answer shows whether a
        successor asked for it (``lease.handover_requested``)."""
        assert self.lease is not None
        self._hold(self.leases.renew(self.lease, self._ttl()))
        return self.lease

    def release(self) -> bool:
        if self.lease is None or self.released:
            return False
        self.released = True
        return self.leases.release(self.lease)

    def _hold(self, lease: TaskLease) -> None:
        self.lease = lease
        self._renew_at = self.clock() + self.timings.renew_interval_s

    def _ttl(self) -> float:
        """Never past the invocation's deadline: a lease must not outlive its holder."""
        return max(0.0, min(self.timings.lease_ttl_s, self.remaining_ms() / 1000))

    def _time_left_s(self) -> float:
        return self.remaining_ms() / 1000 - self.timings.safety_margin_s
