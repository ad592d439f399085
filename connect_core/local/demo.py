"""``make demo``: the whole pipeline on the embedded AWS endpoint.

template.yaml is deployed by the local runtime exactly as ``sam deploy`` would deploy it: its
``DemoSource`` (datagen-source → SQS) and ``DemoSink`` (SQS → file-sink) are Custom::Connector
resources, created through the same custom resource handler and reconfigure state machine as in
AWS. Then the clock runs: schedules fire source ticks, the event source mapping feeds the sink,
until every record is in ``.demo/records.jsonl``.

State is kept in ``.demo/state``: a second run resumes from the stored offsets and writes no
duplicates (``--records`` larger than before generates the difference; ``--fresh`` starts over).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 4  # the demo source's partitions in template.yaml
TICK_S = 60     # the demo source's schedule: rate(1 minute)


class ProgressBar:
    def __init__(self, total: int, out: TextIO = sys.stderr, width: int = 40) -> None:
        self.total, self.out, self.width = max(total, 1), out, width
        self.tty = out.isatty()
        self.last_line = ""

    def show(self, done: int, note: str = "") -> None:
        filled = int(self.width * min(done, self.total) / self.total)
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} {note}"
        if self.tty:
            self.out.write("\r" + line.ljust(len(self.last_line)))
        elif line != self.last_line:
            self.out.write(line + "\n")
        self.out.flush()
        self.last_line = line

    def close(self) -> None:
        if self.tty:
            self.out.write("\n")


def _count_lines(path: Path) -> tuple[int, int]:
    """(lines, distinct records by source position) in the sink's output."""
    if not path.exists():
        return 0, 0
    positions = set()
    lines = 0
    for line in path.read_text().splitlines():
        lines += 1
        record = json.loads(line)
        positions.add((json.dumps(record["partition"], sort_keys=True), json.dumps(record["offset"], sort_keys=True)))
    return lines, len(positions)


def _dlq_depth(url: str) -> int:
    from .. import aws

    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def run(records: int, workdir: Path, *, fresh: bool = False, max_minutes: int = 240,
        out: TextIO = sys.stdout, endpoint: Any = None) -> dict[str, Any]:
    """Deploy, run until every record is written, print and return the summary. ``endpoint``: an
    already running EmbeddedAWS to deploy into (tests); by default the demo starts its own."""
    from ..storage import Stores
    from .clock import VirtualClock
    from .runtime import LocalRuntime

    if fresh and workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    output = workdir / "records.jsonl"
    expected = records * PARTITIONS
    lines_before, _ = _count_lines(output)
    started = time.monotonic()
    parameters = {"Environment": "local", "DemoRecords": records, "DemoOutputPath": str(output.resolve())}
    print(f"deploying template.yaml into the embedded AWS endpoint (state in {workdir}, "
          f"function logs in {workdir / 'functions.log'})", file=out)
    with open(workdir / "functions.log", "a", encoding="utf-8") as log, contextlib.redirect_stdout(log), \
            LocalRuntime(ROOT / "template.yaml", parameters, clock=VirtualClock(), state_dir=workdir / "state",
                         endpoint=endpoint) as rt:
        stores = Stores.dynamodb(rt.outputs["ConfigsTableName"], rt.outputs["OffsetsTableName"])
        offsets_before = _offsets(stores)
        bar = ProgressBar(expected)
        minutes = 0
        while True:
            _, distinct = _count_lines(output)
            bar.show(distinct, f"records written, {minutes} min of schedule time")
            if distinct >= expected or minutes >= max_minutes:
                break
            rt.advance(TICK_S)
            minutes += 1
        bar.close()
        rt.run_until_idle()
        offsets_after = _offsets(stores)
        dead = _dlq_depth(rt.outputs["DemoDeadLetterQueueUrl"])
        status = stores.status.get_status("demo-source")
    lines, distinct = _count_lines(output)
    summary = {
        "records_expected": expected,
        "records_in": sum(offsets_after.values()) - sum(offsets_before.values()),
        "records_out": lines - lines_before,
        "records_in_file": lines,
        "duplicates_in_file": lines - distinct,
        "offsets": {str(p): seq - 1 for p, seq in sorted(offsets_after.items())},
        "dead_letters": dead,
        "source_status": status.connector.state.value if status else None,
        "schedule_minutes": minutes,
        "seconds": round(time.monotonic() - started, 1),
        "output": str(output),
    }
    print(_render(summary), file=out)
    return summary


def _offsets(stores: Any) -> dict[int, int]:
    """Records consumed per partition (next seq) from the committed offsets."""
    return {partition["partition"]: offset["seq"] + 1
            for partition, offset in stores.offsets.read_all("demo-source").pairs()}


def _render(s: dict[str, Any]) -> str:
    offsets = ", ".join(f"p{p}={seq}" for p, seq in s["offsets"].items()) or "none"
    return "\n".join([
        "",
        "demo pipeline: datagen-source -> SQS -> file-sink",
        f"  records in (polled this run)   {s['records_in']}",
        f"  records out (written this run) {s['records_out']}",
        f"  records in {s['output']}: {s['records_in_file']} ({s['duplicates_in_file']} duplicates)",
        f"  committed offsets              {offsets}",
        f"  dead letters                   {s['dead_letters']}",
        f"  time                           {s['seconds']} s ({s['schedule_minutes']} schedule minutes)",
        "run `make demo` again: it resumes from the stored offsets and writes nothing twice.",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the demo pipeline on the embedded AWS endpoint.")
    parser.add_argument("--records", type=int, default=250, help="records per partition (4 partitions)")
    parser.add_argument("--dir", type=Path, default=ROOT / ".demo", help="output and state folder")
    parser.add_argument("--fresh", action="store_true", help="forget the stored state and output first")
    args = parser.parse_args(argv)
    summary = run(args.records, args.dir, fresh=args.fresh)
    complete = summary["records_in_file"] - summary["duplicates_in_file"] >= summary["records_expected"]
    return 0 if complete and summary["duplicates_in_file"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
