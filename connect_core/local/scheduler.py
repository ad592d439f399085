"""Fires EventBridge Scheduler schedules, which moto stores but never fires.

    scheduler = Scheduler(lambdas, clock=VirtualClock(start))
    scheduler.fire_due()          # every occurrence due by now, oldest first
    scheduler.advance(3600)       # move the virtual clock an hour, firing each occurrence in order

Schedules are read back through the Scheduler API (every group, ``list_schedules`` then
``get_schedule`` for new or changed ones), so those created at run time by a state machine or a
handler are seen as well as the template's. Honoured: ``rate``/``cron``/``at`` expressions and
their time zone, State ENABLED/DISABLED, StartDate/EndDate, ``ActionAfterCompletion: DELETE``,
and the context attributes ``<aws.scheduler.*>`` in the target's Input. Targets: Lambda functions
(the Input as the event), SQS queues, state machines and universal ``aws-sdk`` targets.

A Lambda target is invoked asynchronously (``InvocationType: Event``), as EventBridge Scheduler
does: firing returns once Lambda accepted the event, so a long-running tick never holds up the
scheduler and the next occurrence can start while it runs. ``Firing.ok`` means "accepted" and
``Firing.result`` is the request ID; what the handler made of it is in the Lambda service's
history, and its retries and destinations follow the function's async invoke config
(``async_invoke``). ``advance(..., wakeups=...)`` also stops the clock where something else is
due (the runtime passes the Lambda service's parked retries).

Deviations from AWS: an occurrence fires exactly on time (AWS: within its minute; with a
FLEXIBLE window, anywhere in the window); the schedule's own RetryPolicy and DeadLetterConfig are
not applied (they cover a target that cannot be reached, and a local function always accepts its
event; a function that is not registered locally is a failed firing, not retried); a rate
schedule without StartDate starts when this scheduler first sees it.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from .clock import Clock, VirtualClock, iso
from .schedule_expression import At, Cron, Rate, ScheduleExpressionError, parse

if TYPE_CHECKING:
    from .lambdas import LambdaService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Firing:
    """One occurrence of a schedule and what its target made of it."""

    schedule_arn: str
    name: str
    group: str
    scheduled_time: float
    target_arn: str
    payload: Any
    ok: bool
    result: Any = None
    error: str | None = None

    @property
    def scheduled_iso(self) -> str:
        return iso(self.scheduled_time)


@dataclass
class _Tracked:
    arn: str
    name: str
    group: str
    modified: Any = None
    detail: dict[str, Any] | None = None
    expression: Rate | Cron | At | None = None
    anchor: float = 0.0
    next_time: float | None = None
    end: float | None = None
    fired_once: bool = False
    signature: tuple[Any, ...] = ()


class Scheduler:
    """Fires the schedules of the endpoint this process uses, judged against ``clock``."""

    def __init__(self, lambdas: "LambdaService", clock: Clock, *,
                 client_factory: Callable[[str], Any] | None = None) -> None:
        from ..aws import clients

        self.lambdas = lambdas
        self.clock = clock
        self._client = client_factory or clients.client
        self._tracked: dict[str, _Tracked] = {}
        self.fired: list[Firing] = []

    # --- reading schedules -------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the schedules back; work out when each new or changed one fires next."""
        client = self._client("scheduler")
        now = self.clock.now()
        seen = set()
        for group in _paged(client.list_schedule_groups, "ScheduleGroups"):
            for summary in _paged(lambda **kw: client.list_schedules(GroupName=group["Name"], **kw),
                                  "Schedules"):
                arn = summary["Arn"]
                seen.add(arn)
                tracked = self._tracked.get(arn)
                modified = summary.get("LastModificationDate")
                if tracked is not None and tracked.modified == modified:
                    continue
                if tracked is None:
                    tracked = _Tracked(arn=arn, name=summary["Name"], group=summary["GroupName"])
                    self._tracked[arn] = tracked
                tracked.modified = modified
                try:
                    detail = client.get_schedule(Name=tracked.name, GroupName=tracked.group)
                except Exception as exc:  # noqa: BLE001 - deleted between list and get
                    log.debug("schedule %s vanished: %s", arn, exc)
                    continue
                self._plan(tracked, detail, now)
        for arn in set(self._tracked) - seen:
            del self._tracked[arn]

    def _plan(self, tracked: _Tracked, detail: dict[str, Any], now: float) -> None:
        tracked.detail = detail
        start, end = _epoch(detail.get("StartDate")), _epoch(detail.get("EndDate"))
        signature = (detail.get("ScheduleExpression"), detail.get("ScheduleExpressionTimezone"),
                     start, detail.get("State", "ENABLED"))
        unchanged = signature == tracked.signature and tracked.expression is not None
        tracked.signature = signature
        tracked.end = end
        if unchanged:
            return
        tracked.next_time = None
        if detail.get("State", "ENABLED") != "ENABLED":
            return
        try:
            expression = parse(detail["ScheduleExpression"], detail.get("ScheduleExpressionTimezone"))
        except ScheduleExpressionError as exc:
            log.warning("schedule %s/%s never fires locally: %s", tracked.group, tracked.name, exc)
            tracked.expression = None
            return
        tracked.expression = expression
        begin = max(now, start) if start is not None else now
        if isinstance(expression, Rate):
            tracked.anchor = start if start is not None else now
            tracked.next_time = expression.next_after(begin - 1e-6, tracked.anchor)
        elif isinstance(expression, Cron):
            # From StartDate on (inclusive), or from the first minute after now.
            tracked.next_time = expression.next_after(start - 1 if start is not None and start > now
                                                      else now)
        else:  # at(): StartDate/EndDate do not apply to one-time schedules
            tracked.end = None
            tracked.next_time = None if tracked.fired_once else expression.when
        if tracked.next_time is not None and tracked.end is not None and tracked.next_time > \
                tracked.end:
            tracked.next_time = None
            self._complete(tracked)

    # --- firing ------------------------------------------------------------------------------

    def next_due(self) -> float | None:
        """When the next known occurrence is (after a ``refresh``), or None."""
        times = [t.next_time for t in self._tracked.values() if t.next_time is not None]
        return min(times) if times else None

    def fire_due(self) -> list[Firing]:
        """Fire every occurrence due by ``clock.now()``, oldest first."""
        return self._fire_until(self.clock.now(), move_clock=False)

    def advance(self, seconds: float, *, between: Callable[[], Any] | None = None,
                wakeups: Callable[[], float | None] | None = None) -> list[Firing]:
        """Move the virtual clock forward, stopping at each occurrence to fire it (and to call
        ``between()``, e.g. to drain queues, before the clock moves on). ``wakeups()``: the next
        time after now that something else is due (e.g. a retry); the clock stops there too and
        ``between()`` runs."""
        if not isinstance(self.clock, VirtualClock):
            raise TypeError("advance() needs a VirtualClock")
        target = self.clock.now() + seconds
        fired = self._fire_until(target, move_clock=True, between=between, wakeups=wakeups)
        self.clock.set(max(target, self.clock.now()))
        return fired

    def _fire_until(self, target: float, *, move_clock: bool,
                    between: Callable[[], Any] | None = None,
                    wakeups: Callable[[], float | None] | None = None) -> list[Firing]:
        fired: list[Firing] = []
        while True:
            self.refresh()
            due = [t for t in self._tracked.values()
                   if t.next_time is not None and t.next_time <= target]
            wake = wakeups() if wakeups is not None and move_clock else None
            if wake is not None and not self.clock.now() < wake <= target:
                wake = None                   # only a later time moves the clock on
            times = [t.next_time for t in due] + ([wake] if wake is not None else [])
            if not times:
                return fired
            instant = min(times)  # type: ignore[type-var]
            if move_clock and isinstance(self.clock, VirtualClock) and instant > self.clock.now():
                self.clock.set(instant)
            for tracked in sorted((t for t in due if t.next_time == instant),
                                  key=lambda t: (t.group, t.name)):
                fired.append(self._fire(tracked, instant))
                self._schedule_next(tracked, instant)
            if between is not None:
                between()

    def _schedule_next(self, tracked: _Tracked, fired_at: float) -> None:
        expression = tracked.expression
        if isinstance(expression, Rate):
            tracked.next_time = fired_at + expression.seconds
        elif isinstance(expression, Cron):
            tracked.next_time = expression.next_after(fired_at)
        else:
            tracked.fired_once = True
            tracked.next_time = None
        if tracked.next_time is None or (tracked.end is not None and tracked.next_time > tracked.end):
            tracked.next_time = None
            self._complete(tracked)

    def _complete(self, tracked: _Tracked) -> None:
        if (tracked.detail or {}).get("ActionAfterCompletion") == "DELETE":
            try:
                self._client("scheduler").delete_schedule(Name=tracked.name,
                                                          GroupName=tracked.group)
            except Exception as exc:  # noqa: BLE001 - already gone
                log.debug("schedule %s: delete after completion: %s", tracked.arn, exc)

    def _fire(self, tracked: _Tracked, instant: float) -> Firing:
        target = (tracked.detail or {}).get("Target") or {}
        target_arn = str(target.get("Arn", ""))
        text = _with_context(target.get("Input"), tracked.arn, instant)
        base = dict(schedule_arn=tracked.arn, name=tracked.name, group=tracked.group,
                    scheduled_time=instant, target_arn=target_arn)
        try:
            payload, ok, result, error = self._deliver(target_arn, target, text)
        except Exception as exc:  # noqa: BLE001 - a failed delivery is recorded, not raised
            payload, ok, result, error = text, False, None, f"{type(exc).__name__}: {exc}"
        firing = Firing(payload=payload, ok=ok, result=result, error=error, **base)
        if not ok:
            log.warning("schedule %s/%s at %s: %s", tracked.group, tracked.name, iso(instant), error)
        self.fired.append(firing)
        return firing

    def _deliver(self, arn: str, target: dict[str, Any], text: str | None) -> tuple[Any, bool, Any,
                                                                                  str | None]:
        parts = arn.split(":")
        service = parts[2] if len(parts) > 2 else ""
        if service == "lambda":
            event = _json_or_text(text) if text is not None else {}
            if self.lambdas.get(arn) is None:
                return event, False, None, f"function {arn} cannot run locally"
            return event, True, self.lambdas.call_async(arn, event), None
        if service == "sqs":
            sqs = self._client("sqs")
            url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
            kwargs: dict[str, Any] = {"QueueUrl": url, "MessageBody": text or ""}
            group = (target.get("SqsParameters") or {}).get("MessageGroupId")
            if group:
                kwargs["MessageGroupId"] = group
            return text, True, self._client("sqs").send_message(**kwargs)["MessageId"], None
        if service == "states":
            execution = self._client("stepfunctions").start_execution(
                stateMachineArn=arn, input=text or "{}", name=f"schedule-{uuid.uuid4()}")
            return text, True, execution["executionArn"], None
        if service == "scheduler" and len(parts) >= 8 and parts[5] == "aws-sdk":
            from botocore import xform_name

            params = _json_or_text(text) if text else {}
            client = self._client(parts[6])
            return params, True, getattr(client, xform_name(parts[7]))(**params), None
        return text, False, None, f"target {arn} is not supported by the local scheduler"


def _paged(call: Callable[..., dict[str, Any]], key: str) -> list[dict[str, Any]]:
    items, token = [], None
    while True:
        page = call(**({"NextToken": token} if token else {}))
        items.extend(page.get(key) or [])
        token = page.get("NextToken")
        if not token:
            return items


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def _with_context(text: Any, arn: str, instant: float) -> str | None:
    if text is None:
        return None
    values = {"<aws.scheduler.schedule-arn>": arn,
              "<aws.scheduler.scheduled-time>": iso(instant),
              "<aws.scheduler.execution-id>": str(uuid.uuid4()),
              "<aws.scheduler.attempt-number>": "1"}
    text = str(text)
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
