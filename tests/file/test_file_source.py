"""file-source on real files: one record per complete line, byte offsets, resuming, globs, task
splits, truncation and rotation, and lines that cannot become records. No AWS involved: the task
is polled the way the source runner polls it (offsets advance by the records returned)."""

from __future__ import annotations

import os

import pytest

from connect_core.api import OffsetMap, TaskContext
from connect_core.config import validate_config
from connect_core.connectors.file import UnreadableLineError
from connect_core.errors import ConfigError


def source(path, **options):
    return {"name": "tail", "connector": "file-source", "path": str(path), "topic": "lines", **options}


def start(path, task=None, **options):
    connector = validate_config(source(path, **options))
    task_config = task if task is not None else connector.task_configs(1)[0]
    instance = connector.task_class(connector.config, task_config, TaskContext("tail", 0))
    instance.start()
    return instance


def drain(task, offsets: OffsetMap | None = None) -> tuple[list, OffsetMap]:
    """Poll until nothing comes, advancing offsets as a runner commits them."""
    offsets = offsets.copy() if offsets is not None else OffsetMap()
    records = []
    while batch := task.poll(offsets):
        records.extend(batch)
        for partition, offset in OffsetMap.last_of(batch).pairs():
            offsets.set(partition, offset)
    return records, offsets


def test_config_mistakes_name_their_field_and_reason():
    with pytest.raises(ConfigError) as failure:
        validate_config({"name": "tail", "connector": "file-source", "format": "xml", "encoding": "klingon",
                         "batch_size": 0, "max_line_bytes": 1})
    errors = failure.value.as_dict()

    assert errors["path"] == ["required"] and errors["topic"] == ["required"]
    assert "unknown text encoding 'klingon'" in errors["encoding"][0]
    assert "greater than or equal to 1" in errors["batch_size"][0]
    assert "greater than or equal to 16" in errors["max_line_bytes"][0]
    assert "'string' or 'json'" in errors["format"][0]


def test_every_complete_line_is_a_record_at_the_byte_position_after_it(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"first\r\nsecond\n\n  \nthird\npartial")

    records, offsets = drain(start(log))

    assert [r.value for r in records] == ["first", "second", "third"]  # blank lines skipped, CR dropped
    assert [r.offset["position"] for r in records] == [7, 14, 24]
    assert {r.topic for r in records} == {"lines"} and records[0].partition == {"path": str(log)}
    assert records[0].offset["inode"] == os.stat(log).st_ino
    # The partial last line is emitted once its newline arrives, and only then.
    with log.open("ab") as fh:
        fh.write(b" line\nfourth\n")
    more, _ = drain(start(log), offsets)
    assert [r.value for r in more] == ["partial line", "fourth"]


def test_a_task_resumes_exactly_from_stored_offsets(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("".join(f"line {i}\n" for i in range(10)))
    first = start(log, batch_size=4)
    batch = first.poll(OffsetMap())

    resumed, _ = drain(start(log), OffsetMap.last_of(batch))  # a new task: only the committed offsets

    assert [r.value for r in batch] == [f"line {i}" for i in range(4)]
    assert [r.value for r in resumed] == [f"line {i}" for i in range(4, 10)]


def test_json_lines_become_structured_values(tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_text('{"n": 1}\n[1, 2]\n"text"\n')

    records, _ = drain(start(log, format="json"))

    assert [r.value for r in records] == [{"n": 1}, [1, 2], "text"]


def test_a_glob_reads_every_matching_file_and_picks_up_new_ones(tmp_path):
    (tmp_path / "a.log").write_text("a1\na2\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.log").write_text("b1\n")
    (tmp_path / "ignored.txt").write_text("x\n")
    task = start(tmp_path / "**" / "*.log")

    records, offsets = drain(task)
    (tmp_path / "c.log").write_text("c1\n")
    later, _ = drain(task, offsets)

    assert sorted(r.value for r in records) == ["a1", "a2", "b1"]
    assert [r.value for r in later] == ["c1"]
    assert {p["path"] for p in task.partitions()} == {str(tmp_path / n) for n in ("a.log", "sub/b.log", "c.log")}


def test_tasks_divide_the_files_between_them_without_overlap(tmp_path):
    for i in range(12):
        (tmp_path / f"{i}.log").write_text(f"file {i}\n")
    connector = validate_config(source(tmp_path / "*.log", max_tasks=3))
    configs = connector.task_configs(3)

    per_task = [[r.value for r in drain(start(tmp_path / "*.log", task=c))[0]] for c in configs]

    assert sorted(v for values in per_task for v in values) == sorted(f"file {i}" for i in range(12))
    assert all(values for values in per_task)  # each task got some of the twelve


def test_a_busy_file_does_not_starve_the_others(tmp_path):
    (tmp_path / "busy.log").write_text("".join(f"b{i}\n" for i in range(100)))
    (tmp_path / "quiet.log").write_text("q\n")
    task = start(tmp_path / "*.log", batch_size=10)

    first, second = task.poll(OffsetMap()), task.poll(OffsetMap())

    assert "q" in [r.value for r in first + second]


def test_a_truncated_or_replaced_file_is_read_again_from_its_start(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("old 1\nold 2\n")
    _, offsets = drain(start(log))

    log.write_text("new\n")  # truncated in place (copytruncate rotation)
    after_truncation, offsets = drain(start(log), offsets)
    log.rename(tmp_path / "app.log.1")
    log.write_text("rotated 1\nrotated 2\nrotated 3\n")  # a new file under the old name
    after_rotation, _ = drain(start(log), offsets)

    assert [r.value for r in after_truncation] == ["new"]
    assert [r.value for r in after_rotation] == ["rotated 1", "rotated 2", "rotated 3"]


def test_with_tolerance_none_a_bad_line_stops_the_source_after_the_lines_before_it(tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_text('{"n": 1}\n{not json\n{"n": 3}\n')
    task = start(log, format="json")

    delivered = task.poll(OffsetMap())
    offsets = OffsetMap.last_of(delivered)
    with pytest.raises(UnreadableLineError) as failure:
        task.poll(offsets)

    assert [r.value for r in delivered] == [{"n": 1}]
    assert str(failure.value).startswith(f"{log}: the line at byte 9 is not JSON")


def test_overlong_and_undecodable_lines_are_failed_records(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"ok\n" + b"x" * 40 + b"\n\xff\xfe\nafter\n")

    with pytest.raises(UnreadableLineError, match="longer than max_line_bytes"):
        drain(start(log, max_line_bytes=32, batch_size=1), OffsetMap.of([({"path": str(log)}, {"position": 3})]))
    with pytest.raises(UnreadableLineError, match="not utf-8 text"):
        drain(start(log), OffsetMap.of([({"path": str(log)}, {"position": 44})]))


def test_an_overlong_line_still_being_written_waits(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"y" * 100)

    records, offsets = drain(start(log, max_line_bytes=32))

    assert records == [] and len(offsets) == 0
