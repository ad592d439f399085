"""`make demo-replication`: template.yaml's RocketMQ connectors, run by the local runtime between
two real clusters."""

import io

import pytest

from connect_core.local import demo_replication

pytestmark = [pytest.mark.rocketmq, pytest.mark.integration]


def test_the_replication_demo_moves_every_message_faithfully_both_ways(rocketmq_clusters, embedded_aws, tmp_path):
    out = io.StringIO()

    summary = demo_replication.run(60, tmp_path, out=out, clusters=rocketmq_clusters, endpoint=embedded_aws)

    assert summary["replicated_direct"] == summary["faithful_direct"] == 60
    assert summary["through_sqs"] == summary["faithful_through_sqs"] == 60
    assert "Replicator (direct, one function)  60 on B" in out.getvalue()
