"""The benchmark keeps working (its numbers are not checked here: tests never depend on timing)."""

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "pipeline_overhead.py"


def test_pipeline_overhead_benchmark_runs_and_writes_its_results(tmp_path):
    spec = importlib.util.spec_from_file_location("pipeline_overhead", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    bench.main(["--records", "300", "--rounds", "1", "--out", str(tmp_path)])

    result = json.loads((tmp_path / "pipeline_overhead.json").read_text())
    assert set(result["results"]) == {"sink", "source"}
    assert 900 < result["mean_body_bytes"] < 1100
    assert "| sink |" in (tmp_path / "pipeline_overhead.md").read_text()
