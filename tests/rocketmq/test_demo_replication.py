"""`make demo-replication`: template.yaml's RocketMQ connectors, run by the local runtime in real time
between two real clusters, the source ticks in process sandboxes."""

import io

import pytest

from connect_core.local import demo_replication

pytestmark = [pytest.mark.rocketmq, pytest.mark.integration]


def test_the_replication_demo_moves_every_message_faithfully_both_ways_and_fails_over(
        rocketmq_clusters, embedded_aws, tmp_path):
    out = io.StringIO()

    summary = demo_replication.run(4, tmp_path, rate=15, out=out, clusters=rocketmq_clusters, endpoint=embedded_aws,
                                   failover=True)

    assert summary["produced"] == 60
    assert summary["replicated_direct"] == summary["faithful_direct"] == 60
    assert summary["through_sqs"] == summary["faithful_through_sqs"] == 60
    assert "Replicator (direct, one function)  60 on B" in out.getvalue()
    # continuous polling: every message crossed while production went on; a drained tick's leftovers
    # would have waited for the next tick, a minute later (the bound is half that, not a latency test)
    assert summary["lag_direct_ms"]["max"] < 30_000 and "lag (B store - A born)" in out.getvalue()
    # --failover: the failover state machine, run by the emulator, calls the real failover handler
    report = summary["failover"]
    assert report["status"] == "SUCCEEDED", report["error"]
    assert [s["status"] for s in report["steps"]] == ["done"] * 6
    assert report["data_at_risk"]["messages"] == 0
    assert "planned failover of demo-replicator SUCCEEDED" in out.getvalue()
