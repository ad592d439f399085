"""The failover bench's report renders from its results and its summary compares what was lost with
what was counted at risk. No numbers of a run are checked; the real run needs brokers."""

import json
from pathlib import Path

from test_bench_rpo_smoke import load

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "failover_drill.json"


def test_the_committed_report_is_what_the_results_render_to():
    bench = load("failover_drill")
    result = json.loads(RESULTS.read_text())
    assert RESULTS.with_suffix(".md").read_text() == bench.report(result)


def test_the_summary_says_whether_every_round_lost_exactly_what_it_counted():
    bench = load("failover_drill")
    rounds = [{"mode": "unplanned", "status": "SUCCEEDED", "rto_s": 1.0, "lost": 3, "at_risk_messages": 3},
              {"mode": "unplanned", "status": "SUCCEEDED", "rto_s": 3.0, "lost": 2, "at_risk_messages": 5}]
    summary = bench.summary(rounds)
    assert (summary["rto_median_s"], summary["rto_max_s"], summary["lost_equals_at_risk"]) == (2.0, 3.0, False)
