"""EventBridge Scheduler's schedule expressions: when does ``rate()``, ``cron()`` or ``at()`` fire?

    expression = parse("cron(0/15 9-17 ? * MON-FRI *)", timezone="Europe/Berlin")
    expression.next_after(epoch_seconds)      # the first occurrence strictly after, or None

- ``rate(N minute|minutes|hour|hours|day|days)``: every N units from an anchor (the StartDate,
  or when the schedule was first seen: EventBridge Scheduler starts a rate schedule at once).
- ``cron(minutes hours day-of-month month day-of-week year)``, AWS's six fields: ``*``, ``?``,
  ranges, lists, ``/`` steps, month names JAN-DEC and day names SUN-SAT (1 = Sunday). One of
  day-of-month and day-of-week must be ``?``. ``L``, ``W`` and ``#`` are not supported here and
  are refused with a clear error.
- ``at(yyyy-mm-ddThh:mm:ss)``: once, in the schedule's time zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
_MONTHS = {name: i for i, name in enumerate(
    "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), start=1)}
_DAYS = {name: i for i, name in enumerate("SUN MON TUE WED THU FRI SAT".split(), start=1)}
_MAX_YEAR = 2199


class ScheduleExpressionError(ValueError):
    """The expression is malformed, or uses a feature the local scheduler does not support."""


def parse(expression: str, timezone_name: str | None = None) -> "Rate | Cron | At":
    text = expression.strip()
    tz = _zone(timezone_name)
    match = re.fullmatch(r"(rate|cron|at)\((.*)\)", text)
    if not match:
        raise ScheduleExpressionError(f"invalid schedule expression {expression!r}: use rate(...), "
                                      "cron(...) or at(...)")
    kind, body = match.group(1), match.group(2).strip()
    if kind == "rate":
        return Rate.parse(body, expression)
    if kind == "cron":
        return Cron.parse(body, expression, tz)
    return At.parse(body, expression, tz)


def _zone(name: str | None) -> ZoneInfo | timezone:
    if not name or name == "UTC":
        return timezone.utc
    try:
        return ZoneInfo(name)
    except Exception as exc:  # noqa: BLE001 - ZoneInfoNotFoundError, ValueError
        raise ScheduleExpressionError(f"unknown time zone {name!r}") from exc


@dataclass(frozen=True)
class Rate:
    seconds: int
    expression: str

    @classmethod
    def parse(cls, body: str, expression: str) -> "Rate":
        match = re.fullmatch(r"(\d+)\s+([a-z]+)", body)
        if not match or match.group(2) not in _UNITS or int(match.group(1)) <= 0:
            raise ScheduleExpressionError(f"invalid rate expression {expression!r}: use "
                                          "rate(N minute|minutes|hour|hours|day|days), N > 0")
        return cls(int(match.group(1)) * _UNITS[match.group(2)], expression)

    def next_after(self, when: float, anchor: float) -> float:
        """The first ``anchor + k * period`` strictly after ``when`` (``anchor`` if it is later)."""
        if anchor > when:
            return anchor
        steps = int((when - anchor) // self.seconds) + 1
        return anchor + steps * self.seconds


@dataclass(frozen=True)
class At:
    when: float
    expression: str

    @classmethod
    def parse(cls, body: str, expression: str, tz: ZoneInfo | timezone) -> "At":
        try:
            local = datetime.strptime(body, "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            raise ScheduleExpressionError(f"invalid at expression {expression!r}: use "
                                          "at(yyyy-mm-ddThh:mm:ss)") from None
        return cls(local.replace(tzinfo=tz).timestamp(), expression)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None     # None: "?"
    months: frozenset[int]
    days_of_week: frozenset[int] | None      # AWS numbering, 1 = Sunday; None: "?"
    years: frozenset[int]
    tz: ZoneInfo | timezone
    expression: str

    @classmethod
    def parse(cls, body: str, expression: str, tz: ZoneInfo | timezone) -> "Cron":
        fields = body.split()
        if len(fields) != 6:
            raise ScheduleExpressionError(f"invalid cron expression {expression!r}: six fields "
                                          "(minutes hours day-of-month month day-of-week year)")
        for token in ("L", "W", "#"):
            if any(token in f.upper() for f in (fields[2], fields[4])):
                raise ScheduleExpressionError(f"cron expression {expression!r}: {token!r} is not "
                                              "supported by the local scheduler")
        dom, dow = fields[2], fields[4]
        if (dom == "?") == (dow == "?"):
            raise ScheduleExpressionError(f"invalid cron expression {expression!r}: exactly one "
                                          "of day-of-month and day-of-week must be '?'")
        return cls(
            minutes=_field(fields[0], 0, 59, {}, expression, "minutes"),
            hours=_field(fields[1], 0, 23, {}, expression, "hours"),
            days_of_month=None if dom == "?" else _field(dom, 1, 31, {}, expression,
                                                         "day-of-month"),
            months=_field(fields[3], 1, 12, _MONTHS, expression, "month"),
            days_of_week=None if dow == "?" else _field(dow, 1, 7, _DAYS, expression,
                                                        "day-of-week"),
            years=_field(fields[5], 1970, _MAX_YEAR, {}, expression, "year"),
            tz=tz, expression=expression)

    def next_after(self, when: float) -> float | None:
        """The first matching minute strictly after ``when``, or None if there is none."""
        local = datetime.fromtimestamp(when, tz=self.tz).replace(second=0, microsecond=0,
                                                                 tzinfo=None)
        candidate = local + timedelta(minutes=1)
        day = candidate.replace(hour=0, minute=0)
        first_day = True
        while day.year <= _MAX_YEAR:
            if day.year not in self.years:
                day = datetime(day.year + 1, 1, 1)
                first_day = False
                continue
            if day.month not in self.months:
                day = (datetime(day.year + 1, 1, 1) if day.month == 12
                       else datetime(day.year, day.month + 1, 1))
                first_day = False
                continue
            if self._day_matches(day):
                start = (candidate.hour, candidate.minute) if first_day else (0, 0)
                for hour in sorted(self.hours):
                    if hour < start[0]:
                        continue
                    for minute in sorted(self.minutes):
                        if (hour, minute) < start:
                            continue
                        fire = day.replace(hour=hour, minute=minute).replace(tzinfo=self.tz)
                        return fire.timestamp()
            day += timedelta(days=1)
            first_day = False
        return None

    def _day_matches(self, day: datetime) -> bool:
        if self.days_of_month is not None:
            return day.day in self.days_of_month
        assert self.days_of_week is not None
        return (day.weekday() + 1) % 7 + 1 in self.days_of_week


def _field(text: str, low: int, high: int, names: dict[str, int], expression: str,
           what: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleExpressionError(f"cron expression {expression!r}: bad step in {what}")
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = _value(first, names, expression, what), _value(last, names, expression, what)
        else:
            start = _value(part, names, expression, what)
            end = high if step != 1 else start
        if not (low <= start <= high and low <= end <= high):
            raise ScheduleExpressionError(f"cron expression {expression!r}: {what} must be within "
                                          f"{low}-{high}")
        if start <= end:
            values.update(range(start, end + 1, step))
        else:  # a wrapping range such as FRI-MON
            span = list(range(start, high + 1)) + list(range(low, end + 1))
            values.update(span[::step])
    return frozenset(values)


def _value(text: str, names: dict[str, int], expression: str, what: str) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if text.isdigit():
        return int(text)
    raise ScheduleExpressionError(f"cron expression {expression!r}: {text!r} is not a valid {what}")
