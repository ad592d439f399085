"""Per-record overhead of the data path, against a plain json loop in the same run.

Sink direction: 1 KB JSON message bodies -> json converter -> ConnectRecord -> 3 transforms ->
SinkTask.put (a no-op sink), against ``json.loads`` of the same bodies.
Source direction: 1 KB records -> 3 transforms -> string key + json value converter -> messages,
against ``json.dumps`` of the same values.

Overhead per record = (pipeline time - plain loop time) / records; the best of several rounds
counts (the least disturbed by the rest of the machine). Target: < 10 µs per record.

    python bench/pipeline_overhead.py [--records 20000] [--rounds 7] [--out bench/results]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
from pathlib import Path
from typing import Callable

from connect_core import ConnectRecord, SinkTask, TaskContext
from connect_core.config import SinkConnectorConfig, SourceConnectorConfig
from connect_core.runtime.pipeline import Message, SinkPipeline, SourcePipeline

TARGET_US = 10.0
BATCH = 100
TRANSFORMS = [
    {"type": "InsertField", "static_field": "region", "static_value": "eu-west-1", "topic_field": "topic"},
    {"type": "ReplaceField", "renames": {"customer": "customer_id"}, "exclude": ["internal"]},
    {"type": "MaskField", "fields": ["card"]},
]


def make_value(i: int) -> dict:
    value = {"order_id": i, "customer": f"c-{i % 977}", "card": "4111111111111111", "internal": True,
             "amount": round(i * 1.37, 2), "currency": "EUR", "items": [{"sku": f"s{i % 50}", "qty": 2}],
             "note": ""}
    size = len(json.dumps(value, separators=(",", ":")))
    value["note"] = "x" * max(0, 1024 - size - 2)
    return value


class NullSink(SinkTask[SinkConnectorConfig]):
    def put(self, records: list[ConnectRecord]) -> None:
        pass


def best_of(rounds: int, fn: Callable[[], None]) -> float:
    times = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run(records: int, rounds: int) -> dict:
    values = [make_value(i) for i in range(records)]
    bodies = [json.dumps(v, separators=(",", ":")).encode() for v in values]
    keys = [str(v["order_id"]).encode() for v in values]
    body_size = sum(map(len, bodies)) / len(bodies)

    partition = {"p": 0}
    sink_config = SinkConnectorConfig(name="bench", connector="bench", transforms=TRANSFORMS)
    sink = SinkPipeline(sink_config, NullSink(sink_config, {}, TaskContext("bench", 0)))
    messages = [Message(b, k, "orders", {}, partition, {"n": i}, None, id=str(i))
                for i, (b, k) in enumerate(zip(bodies, keys))]
    batches = [messages[i:i + BATCH] for i in range(0, len(messages), BATCH)]

    def sink_pipeline() -> None:
        for batch in batches:
            result = sink.deliver(batch)
            assert result.written == len(batch)

    def json_decode_loop() -> None:
        for body in bodies:
            json.loads(body)

    source_config = SourceConnectorConfig(name="bench", connector="bench", transforms=TRANSFORMS)
    source = SourcePipeline(source_config)
    partition = {"p": 0}  # a source hands out one partition object for all its records, as datagen does
    recs = [ConnectRecord("orders", v, str(v["order_id"]), partition, {"n": i}) for i, v in enumerate(values)]
    rec_batches = [recs[i:i + BATCH] for i in range(0, len(recs), BATCH)]

    def source_pipeline() -> None:
        for batch in rec_batches:
            assert len(source.process(batch).messages) == len(batch)

    def json_encode_loop() -> None:
        for v in values:
            json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()

    out = {}
    for name, pipeline, baseline in (("sink", sink_pipeline, json_decode_loop),
                                     ("source", source_pipeline, json_encode_loop)):
        base = best_of(rounds, baseline)
        pipe = best_of(rounds, pipeline)
        out[name] = {
            "baseline_us_per_record": round(base / records * 1e6, 3),
            "pipeline_us_per_record": round(pipe / records * 1e6, 3),
            "overhead_us_per_record": round((pipe - base) / records * 1e6, 3),
            "ratio_pipeline_to_baseline": round(pipe / base, 3),
        }
    return {
        "benchmark": "pipeline_overhead",
        "records": records,
        "rounds": rounds,
        "batch": BATCH,
        "mean_body_bytes": round(body_size),
        "transforms": [t["type"] for t in TRANSFORMS],
        "target_overhead_us": TARGET_US,
        "python": sys.version.split()[0],
        "machine": f"{platform.machine()}, {platform.system()}",
        "results": out,
        "meets_target": all(r["overhead_us_per_record"] < TARGET_US for r in out.values()),
    }


def write(result: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "pipeline_overhead.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Pipeline overhead per record",
        "",
        f"{result['records']} records of ~{result['mean_body_bytes']} B, batches of {result['batch']}, "
        f"transforms {', '.join(result['transforms'])}, best of {result['rounds']} rounds, "
        f"Python {result['python']} on {result['machine']}.",
        "",
        "| direction | plain json loop (µs/rec) | pipeline (µs/rec) | overhead (µs/rec) | ratio |",
        "|---|---|---|---|---|",
    ]
    for name, r in result["results"].items():
        lines.append(f"| {name} | {r['baseline_us_per_record']} | {r['pipeline_us_per_record']} | "
                     f"**{r['overhead_us_per_record']}** | {r['ratio_pipeline_to_baseline']} |")
    lines += ["", f"Target: overhead < {result['target_overhead_us']} µs per record: "
                  f"{'met' if result['meets_target'] else 'NOT met'}.", ""]
    (out_dir / "pipeline_overhead.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    result = run(args.records, args.rounds)
    write(result, args.out)
    print(json.dumps(result["results"], indent=2))
    print("target met" if result["meets_target"] else "target NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
