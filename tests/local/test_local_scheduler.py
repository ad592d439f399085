"""Schedules fire by their expressions against a driven clock - never by sleeping."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from connect_core import aws
from connect_core.local import LocalRuntime
from connect_core.local.clock import iso
from connect_core.local.schedule_expression import ScheduleExpressionError, parse

pytestmark = pytest.mark.integration

UTC = timezone.utc


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def next_times(expression: str, start: str, count: int = 3, zone: str | None = None) -> list[str]:
    cron = parse(expression, zone)
    times, when = [], at(start)
    for _ in range(count):
        when = cron.next_after(when)
        times.append(iso(when))
    return times


def test_cron_expressions() -> None:
    assert next_times("cron(0/15 * * * ? *)", "2030-01-01T00:07:00") == [
        "2030-01-01T00:15:00Z", "2030-01-01T00:30:00Z", "2030-01-01T00:45:00Z"]
    # 2030-01-01 is a Tuesday; MON-FRI at 09:30 skips the weekend.
    assert next_times("cron(30 9 ? * MON-FRI *)", "2030-01-03T10:00:00") == [
        "2030-01-04T09:30:00Z", "2030-01-07T09:30:00Z", "2030-01-08T09:30:00Z"]
    assert next_times("cron(0 12 ? * 1 *)", "2030-01-01T00:00:00", 2) == [   # 1 = Sunday
        "2030-01-06T12:00:00Z", "2030-01-13T12:00:00Z"]
    assert next_times("cron(0 0 1,15 JAN,FEB ? 2030-2031)", "2030-01-20T00:00:00", 3) == [
        "2030-02-01T00:00:00Z", "2030-02-15T00:00:00Z", "2031-01-01T00:00:00Z"]
    assert next_times("cron(5 10-11 31 * ? *)", "2030-01-31T10:05:00", 2) == [
        "2030-01-31T11:05:00Z", "2030-03-31T10:05:00Z"]
    assert parse("cron(0 0 1 1 ? 2031)").next_after(at("2031-06-01T00:00:00")) is None
    # In the schedule's time zone: 08:00 in Berlin is 07:00 UTC in winter.
    assert next_times("cron(0 8 * * ? *)", "2030-01-01T00:00:00", 1, "Europe/Berlin") == [
        "2030-01-01T07:00:00Z"]


def test_rate_and_at_expressions() -> None:
    rate = parse("rate(5 minutes)")
    assert rate.next_after(at("2030-01-01T00:00:00"), anchor=at("2030-01-01T00:00:00")) == \
        at("2030-01-01T00:05:00")
    assert rate.next_after(at("2030-01-01T00:12:00"), anchor=at("2030-01-01T00:00:00")) == \
        at("2030-01-01T00:15:00")
    assert parse("rate(1 day)").seconds == 86400 and parse("rate(2 hours)").seconds == 7200
    assert parse("at(2030-01-02T03:04:05)").when == at("2030-01-02T03:04:05")


@pytest.mark.parametrize("expression, message", [
    ("rate(0 minutes)", "N > 0"), ("rate(5 weeks)", "rate\\(N"), ("every(5)", "use rate"),
    ("cron(0 0 * *)", "six fields"), ("cron(0 0 * * * *)", "exactly one"),
    ("cron(0 0 L * ? *)", "'L' is not supported"), ("cron(0 0 ? * 6#3 *)", "'#' is not supported"),
    ("cron(0 0 15W * ? *)", "'W' is not supported"), ("cron(61 0 * * ? *)", "within 0-59"),
    ("at(2030-01-01 00:00)", "at\\(yyyy"),
])
def test_bad_expressions_are_refused_clearly(expression: str, message: str) -> None:
    with pytest.raises(ScheduleExpressionError, match=message):
        parse(expression)


def tick_times(runtime: LocalRuntime) -> list[str]:
    return [f.scheduled_iso for f in runtime.scheduler.fired if f.name == "EchoFunctionTick"]


def test_the_template_rate_schedule_fires_on_time(runtime: LocalRuntime) -> None:
    fired = runtime.advance(15 * 60)

    assert tick_times(runtime) == ["2030-01-01T00:00:00Z", "2030-01-01T00:05:00Z",
                                   "2030-01-01T00:10:00Z", "2030-01-01T00:15:00Z"]
    assert all(f.ok for f in fired)
    echo = [i for i in runtime.lambdas.history(runtime.physical_id("EchoFunction"))
            if i.event == {"source": "tick"}]
    assert len(echo) == 4
    assert [iso(i.started_at) for i in echo] == tick_times(runtime)   # stamped on the clock
    # The handler's side effect: one item per tick in the stack's table.
    items = aws.client("dynamodb").query(
        TableName=runtime.physical_id("EventsTable"), KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "tick"}})["Items"]
    assert len(items) == 4

    runtime.advance(4 * 60)                     # nothing more is due yet
    assert len(tick_times(runtime)) == 4


def test_schedules_created_at_run_time_are_seen(runtime: LocalRuntime) -> None:
    scheduler = aws.client("scheduler")
    group = f"{runtime.stack_name}-tasks"
    target = {"Arn": runtime.stack.resources["EchoFunction"].attributes["Arn"],
              "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
              "Input": json.dumps({"task": 1, "at": "<aws.scheduler.scheduled-time>",
                                   "schedule": "<aws.scheduler.schedule-arn>"})}
    scheduler.create_schedule(Name="every-20", GroupName=group, Target=target,
                              ScheduleExpression="cron(0/20 * * * ? *)",
                              FlexibleTimeWindow={"Mode": "OFF"})
    scheduler.create_schedule(Name="once", GroupName=group, Target=target,
                              ScheduleExpression="at(2030-01-01T00:30:00)",
                              ActionAfterCompletion="DELETE", FlexibleTimeWindow={"Mode": "OFF"})
    scheduler.create_schedule(Name="off", GroupName=group, Target=target, State="DISABLED",
                              ScheduleExpression="rate(1 minute)", FlexibleTimeWindow={"Mode": "OFF"})
    scheduler.create_schedule(Name="window", GroupName=group, Target=target,
                              ScheduleExpression="rate(10 minutes)",
                              StartDate=datetime(2030, 1, 1, 0, 25, tzinfo=UTC),
                              EndDate=datetime(2030, 1, 1, 0, 50, tzinfo=UTC),
                              FlexibleTimeWindow={"Mode": "OFF"})

    runtime.advance(3600)

    def fired(name: str) -> list[str]:
        return [f.scheduled_iso[11:16] for f in runtime.scheduler.fired if f.name == name]

    assert fired("every-20") == ["00:20", "00:40", "01:00"]
    assert fired("once") == ["00:30"]
    assert fired("off") == []
    assert fired("window") == ["00:25", "00:35", "00:45"]
    # One-time schedule with ActionAfterCompletion DELETE is gone after it fired.
    names = [s["Name"] for s in scheduler.list_schedules(GroupName=group)["Schedules"]]
    assert "once" not in names and "every-20" in names
    # The Input's context attributes were filled in.
    first = next(f for f in runtime.scheduler.fired if f.name == "every-20")
    assert first.payload == {"task": 1, "at": "2030-01-01T00:20:00Z", "schedule": first.schedule_arn}

    # Changes through the API are followed: disabled now, so nothing more fires.
    scheduler.update_schedule(Name="every-20", GroupName=group, Target=target, State="DISABLED",
                              ScheduleExpression="cron(0/20 * * * ? *)",
                              FlexibleTimeWindow={"Mode": "OFF"})
    runtime.advance(3600)
    assert fired("every-20") == ["00:20", "00:40", "01:00"]


def test_occurrences_fire_in_order_across_schedules(runtime: LocalRuntime) -> None:
    scheduler = aws.client("scheduler")
    target = {"Arn": runtime.stack.resources["EchoFunction"].attributes["Arn"],
              "RoleArn": "arn:aws:iam::123456789012:role/scheduler"}
    scheduler.create_schedule(Name=f"{runtime.stack_name}-seven", Target=target,
                              ScheduleExpression="rate(7 minutes)", FlexibleTimeWindow={"Mode": "OFF"})

    fired = runtime.advance(20 * 60)

    times = [f.scheduled_time for f in fired]
    assert times == sorted(times)
    seven = [f.scheduled_iso[11:16] for f in fired if f.name.endswith("-seven")]
    assert seven == ["00:00", "00:07", "00:14"]
    assert runtime.clock.now() == datetime(2030, 1, 1, 0, 20, tzinfo=UTC).timestamp()
    scheduler.delete_schedule(Name=f"{runtime.stack_name}-seven")


def test_a_schedule_due_now_fires_on_step(runtime: LocalRuntime) -> None:
    runtime.step()
    assert tick_times(runtime) == ["2030-01-01T00:00:00Z"]
    runtime.clock.advance(timedelta(minutes=11).total_seconds())
    runtime.step()                              # two occurrences were missed: both fire, in order
    assert tick_times(runtime) == ["2030-01-01T00:00:00Z", "2030-01-01T00:05:00Z",
                                   "2030-01-01T00:10:00Z"]
