"""file-source through real source ticks (offsets in DynamoDB on the embedded endpoint), copying
into a file-sink in the same invocation; and the file-sink's text lines."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import pytest

from connect_core.api import ConnectRecord, SinkRecordErrors, TaskContext
from connect_core.config import validate_config
from connect_core.runtime import telemetry as m
from connect_core.runtime.source_runner import SourceRunner
from connect_core.runtime.tasks import TaskCache
from connect_core.runtime.telemetry import Telemetry
from connect_core.storage import State
from connect_core.testing import CommitFailsOnce, PollBudget, PolledTasks, dead_letters, deploy

pytestmark = pytest.mark.integration

FOREVER = lambda: 600_000  # noqa: E731 - remaining Lambda time that never runs out


def copy_config(source: Path, out: Path, **options) -> dict:
    """file-source → file-sink (text lines) in one invocation: a file copy through the framework."""
    return {"name": "copy", "connector": "file-source", "path": str(source), "topic": "lines",
            "target": {"type": "direct", "sink": {"name": "copy-out", "connector": "file-sink", "path": str(out),
                                                  "format": "text", "value_converter": {"type": "string"}}},
            **options}


def test_ticks_resume_exactly_where_the_last_commit_left_off(stores, clock, tmp_path):
    source, out = tmp_path / "in.log", tmp_path / "out.log"
    source.write_text("".join(f"line {i}\n" for i in range(30)))
    deploy(stores, copy_config(source, out, batch_size=10))
    tasks = PolledTasks(PollBudget(2))  # time for two polls only

    first = SourceRunner(stores, owner="t1", clock=clock, tasks=tasks).tick("copy", 0, tasks.budget)
    with source.open("a") as fh:
        fh.write("line 30\nline 31\nhalf a li")
    second = SourceRunner(stores, owner="t2", clock=clock).tick("copy", 0, FOREVER)

    assert (first.records, first.drained, second.records, second.drained) == (20, False, 12, True)
    assert out.read_text() == "".join(f"line {i}\n" for i in range(32))  # exactly once, in order
    [(partition, offset)] = stores.offsets.read_all("copy").pairs()
    assert partition == {"path": str(source)}
    assert offset["position"] == len("".join(f"line {i}\n" for i in range(32)).encode())
    with source.open("a") as fh:
        fh.write("ne\n")
    SourceRunner(stores, owner="t3", clock=clock).tick("copy", 0, FOREVER)
    assert out.read_text().splitlines()[-1] == "half a line"


def test_a_crash_before_the_commit_duplicates_at_most_and_loses_nothing(stores, clock, tmp_path):
    source, out = tmp_path / "in.log", tmp_path / "out.log"
    source.write_text("".join(f"line {i}\n" for i in range(15)))
    deploy(stores, copy_config(source, out, batch_size=10))
    stores = replace(stores, offsets=CommitFailsOnce(stores.offsets))  # the first commit fails
    crashed = SourceRunner(stores, owner="t1", clock=clock).tick("copy", 0, FOREVER)
    retried = SourceRunner(stores, owner="t2", clock=clock).tick("copy", 0, FOREVER)

    lines = out.read_text().splitlines()
    assert crashed.outcome == "failed" and retried.records == 15
    assert set(lines) == {f"line {i}" for i in range(15)} and len(lines) == 15 + 10


def test_with_tolerance_all_a_bad_line_goes_to_the_dead_letter_queue_once(stores, clock, tmp_path, make_queue,
                                                                         caplog):
    source, out, dlq = tmp_path / "in.jsonl", tmp_path / "out.log", make_queue()
    source.write_text('{"n": 1}\n{"n": 2}\n{not json\n')
    deploy(stores, copy_config(source, out, format="json", errors={"tolerance": "all", "dead_letter_queue": dlq}))
    tasks, telemetry = TaskCache(), Telemetry()  # one warm function instance

    first = SourceRunner(stores, owner="t1", clock=clock, tasks=tasks, telemetry=telemetry).tick("copy", 0, FOREVER)
    second = SourceRunner(stores, owner="t2", clock=clock, tasks=tasks, telemetry=telemetry).tick("copy", 0, FOREVER)

    assert (first.outcome, first.records, second.records) == ("ran", 2, 0)
    # Counted (and logged, below) like every other dead letter of a tick
    assert (first.dead_lettered, second.dead_lettered, telemetry.totals[m.RECORDS_DEAD_LETTERED]) == (1, 0, 1)
    assert out.read_text() == '{"n":1}\n{"n":2}\n'
    [logged] = [r for r in caplog.records if r.getMessage() == "record failed"]  # errors.log_enable
    assert (logged.stage, logged.error_type) == ("value_converter", "UnreadableLineError")
    [letter] = dead_letters(dlq)
    assert (letter["connector"], letter["stage"], letter["error"]["type"]) == ("copy", "value_converter",
                                                                             "UnreadableLineError")
    assert letter["error"]["message"].startswith(f"{source}: the line at byte 18 is not JSON")
    assert base64.b64decode(letter["record"]["value_base64"]) == b"{not json"
    assert letter["record"]["partition"] == {"path": str(source)} and letter["record"]["offset"]["position"] == 28


def test_with_tolerance_none_a_bad_line_fails_the_tick_with_its_place_after_the_lines_before_it(
        stores, clock, tmp_path):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.log"
    source.write_text('{"n": 1}\n{not json\n{"n": 3}\n')
    deploy(stores, copy_config(source, out, format="json"))

    result = SourceRunner(stores, owner="t1", clock=clock).tick("copy", 0, FOREVER)

    assert result.outcome == "failed" and "the line at byte 9 is not JSON" in result.error
    assert out.read_text() == '{"n":1}\n'
    assert stores.offsets.read_all("copy").pairs()[0][1]["position"] == 9
    status = stores.status.get_status("copy").tasks[0]
    assert status.state is State.FAILED and "byte 9" in status.trace


def test_the_file_sink_writes_text_lines_and_fails_values_that_are_not_one_line(tmp_path):
    out = tmp_path / "out.log"
    connector = validate_config({"name": "text", "connector": "file-sink", "path": str(out), "format": "text"})
    task = connector.task_class(connector.config, {}, TaskContext("text", 0))
    task.start()

    with pytest.raises(SinkRecordErrors) as failure:
        task.put([ConnectRecord(value="plain"), ConnectRecord(value={"n": 1}), ConnectRecord(value="two\nlines"),
                  ConnectRecord(value=None), ConnectRecord(value=b"bytes")])

    assert sorted(failure.value.errors) == [2, 3]
    assert "line break" in str(failure.value.errors[2]) and "tombstone" in str(failure.value.errors[3])
    assert out.read_text() == 'plain\n{"n":1}\nbytes\n'
