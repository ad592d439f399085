"""The replication benchmark's broker-free parts keep working: its workload, its profile attribution
and its report. No numbers are checked (tests never depend on timing); the real run needs brokers."""

import cProfile
import importlib.util
import json
import sys
from pathlib import Path

from connect_core.rocketmq.message import (MessageExt, decode_messages, encode_message_ext, new_unique_id,
                                           wire_properties)

BENCH = Path(__file__).resolve().parents[2] / "bench" / "replication_throughput.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("replication_throughput", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_the_workload_is_1_kb_messages_with_keys_a_tag_and_user_properties():
    bench = load_bench()

    message = bench.order_message("orders", 41)

    assert len(message.body) == bench.BODY_BYTES
    json.loads(message.body)  # a realistic body, not filler alone
    assert message.tags in bench.TAGS and len(message.keys) == 2 and len(message.properties) == 2
    assert message.born_timestamp is None  # stamped by the client per request, as a producer's burst
    wire_properties(message, new_unique_id())  # the client accepts it


def test_the_profile_charges_library_time_to_the_connect_core_code_that_called_it():
    bench = load_bench()
    stored = MessageExt(topic="orders", body=b"x" * 1024, tags="paid", keys=["k1"], properties={"tenant": "t1"},
                        born_timestamp=1, born_host="127.0.0.1:1", store_host="127.0.0.1:2", store_timestamp=2)
    buffer = encode_message_ext(stored) * 50
    profile = cProfile.Profile()

    profile.enable()
    for _ in range(20):
        decode_messages(buffer)
    profile.disable()

    owners = bench.time_by_owner(profile)
    areas = {}
    for (area, _), seconds in owners.items():
        areas[area] = areas.get(area, 0.0) + seconds
    assert max(areas, key=areas.get) == "decode pulled messages (message.py)"
    # decoding is charged to decoding: nothing of it lands in the encode area
    assert areas.get("encode: properties, ids, batch (message.py)", 0.0) == 0.0
    assert any(function.startswith("rocketmq/message.py:") and "decode_message" in function
               for _, function in owners)


def result_of(bench) -> dict:
    """A result as the run writes it, with made-up numbers."""
    def measured(mb: float, cpu: float) -> dict:
        return {"seconds": 1.0, "messages_per_s": int(mb * 1000), "mb_per_s": mb, "python_cpu_share": 0.5,
                "cpu_us_per_message": cpu, "share_in_requests": 0.5, "us_per_message_outside_requests": cpu,
                "requests": {"PULL_MESSAGE": 32, "SEND_BATCH_MESSAGE": 32},
                "ms_per_request": {"PULL_MESSAGE": 1.0, "SEND_BATCH_MESSAGE": 1.5}, "ticks": 1,
                "target_topic": "t", "rounds_mb_per_s": [mb], "best_mb_per_s": mb}

    def lag() -> dict:
        return {"messages": 10, "rate_per_s": 100.0, "seconds": 0.1, "steps": 3, "ms_per_step": 1.0,
                "requests_per_step": 4.0, "requests_per_step_by_code": {"PULL_MESSAGE": 4.0},
                "p50_ms": 2, "p95_ms": 5, "p99_ms": 6, "max_ms": 7}

    def profile(cpu: float) -> dict:
        return {"cpu_seconds_under_profiler": 1.0, "wall_seconds_under_profiler": 2.0,
                "cpu_us_per_message_unprofiled": cpu,
                "areas": [{"name": "decode pulled messages (message.py)", "share": 1.0, "us_per_message": cpu}],
                "functions": [{"name": "rocketmq/message.py:1 decode_message", "share": 1.0, "us_per_message": cpu}]}

    return {"messages": 1024, "body_bytes": 1024, "queues": 4, "pull_batch": 32, "max_poll_records": 2000,
            "produce_batch": 32, "born_timestamp_runs": 32, "rounds": 1, "statistic": "the median round",
            "machine": {**bench.machine_facts(), **bench.broker_facts("5.5.0", bench.JIT_NAMES["4"]),
                        "load_average_1m": {"before": 1.0, "after": 1.0}},
            "results": {"plain_loop": measured(2.0, 40.0), "replicator": measured(1.5, 80.0)},
            "ratio_replicator_to_plain_loop": 0.75, "ratio_of_best_rounds": 0.75, "cpu_per_message_ratio": 2.0,
            "reference_points": {"pull_only_mb_per_s": 4.0, "send_only_mb_per_s": 4.0,
                                 "sequential_bound_mb_per_s": 2.0, "plain_loop_thread_per_queue_mb_per_s": 3.0},
            "lag": {"plain_loop": lag(), "replicator": lag()},
            "targets": {"ratio": bench.TARGET_RATIO, "mb_per_s": bench.TARGET_MB_S},
            "meets_ratio_target": False, "meets_mb_per_s_target": False,
            "profile": {"plain_loop": profile(40.0), "replicator": profile(80.0)}}


def test_the_report_is_written_with_or_without_matplotlib(tmp_path, monkeypatch):
    bench = load_bench()
    lags = {"plain_loop": [1, 2, 7], "replicator": [2, 5, 7]}

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # importing it now fails
    note = bench.write(result_of(bench), lags, tmp_path)

    assert "matplotlib is not installed" in note and not (tmp_path / "replication_throughput.png").exists()
    report = (tmp_path / "replication_throughput.md").read_text()
    assert "| Replicator |" in report and "NOT met" in report and note in report
    assert json.loads((tmp_path / "replication_throughput.json").read_text())["ratio_replicator_to_plain_loop"] == 0.75
