"""connectctl replication: failover/failback send the run request, wait for the run and print its
report; --dry-run prints the plan; --no-wait returns at once; status shows the data at risk and runs."""

from __future__ import annotations

import json
from typing import Any

RISK = {"messages": 3, "seconds": 0.8, "observed_at": 1_796_000_001.0, "queues": [
    {"partition": {"cluster": "A", "broker": "broker-a", "topic": "orders", "queue": 1}, "verified_offset": 42,
     "known_max_offset": 45, "messages": 3, "seconds": 0.8, "bound": "exact", "observed_at": 1_796_000_001.0}]}


def run(status: str, **extra: Any) -> dict[str, Any]:
    steps = [{"name": "stop", "status": "done", "started_at": 1.0, "finished_at": 1.1, "seconds": 0.1, "detail": {}},
             {"name": "apply_offsets", "status": "done" if status != "RUNNING" else "pending", "started_at": 1.1,
              "finished_at": 1.5, "seconds": 0.4,
              "detail": {"offsets": [{"group": "billing", "broker": "broker-b", "topic": "orders", "queue": 1,
                                      "offset": 40, "previous": 12, "applied": True}]}}]
    return {"id": "r1", "connector": "a-to-b", "kind": "unplanned", "status": status, "created_at": 1.0,
            "finished_at": None if status == "RUNNING" else 2.0, "error": None, "steps": steps,
            "data_at_risk": RISK if status != "RUNNING" else None, **extra}


def test_an_unplanned_failover_waits_for_the_run_and_prints_the_offsets_applied_and_the_data_at_risk(stub_api, cli):
    stub_api.on("POST", "/connectors/a-to-b/replication/failover", 202, run("RUNNING"))
    stub_api.on("GET", "/connectors/a-to-b/replication/runs/r1", body=run("SUCCEEDED"))

    result = cli("replication", "failover", "a-to-b", "--unplanned", "--poll", "0.01")

    assert result.code == 0, result.err
    post = next(r for r in stub_api.received if r.method == "POST")
    assert post.json() == {"mode": "unplanned", "dry_run": False}
    assert stub_api.last.path == "/connectors/a-to-b/replication/runs/r1"
    assert "run r1 (unplanned) SUCCEEDED" in result.out
    assert "billing" in result.out and "orders/broker-b/1" in result.out
    assert "data at risk: 3 messages, 0.800 s" in result.out


def test_a_failed_run_exits_1(stub_api, cli):
    stub_api.on("POST", "/connectors/a-to-b/replication/failover", 202, run("FAILED", error="fence: timeout"))
    result = cli("replication", "failover", "a-to-b", "--planned", "--drain-timeout", "30")
    assert result.code == 1
    assert stub_api.last.json() == {"mode": "planned", "dry_run": False, "drain_timeout_s": 30.0}
    assert "fence: timeout" in result.out


def test_no_wait_prints_the_started_run_without_polling(stub_api, cli):
    stub_api.on("POST", "/connectors/a-to-b/replication/failback", 202, run("RUNNING", kind="failback"))
    result = cli("replication", "failback", "a-to-b", "--no-wait", "-o", "json")
    assert result.code == 0
    assert [r.method for r in stub_api.received] == ["POST"]
    assert json.loads(result.out)["status"] == "RUNNING"


def test_a_dry_run_prints_the_plan(stub_api, cli):
    stub_api.on("POST", "/connectors/a-to-b/replication/failover", body={
        "connector": "a-to-b", "kind": "unplanned", "dry_run": True, "steps": ["stop", "fence"],
        "offsets": [{"group": "billing", "broker": "broker-b", "topic": "orders", "queue": 1, "offset": 40}],
        "data_at_risk": RISK})
    result = cli("replication", "failover", "a-to-b", "--unplanned", "--dry-run")
    assert result.code == 0, result.err
    assert stub_api.last.json()["dry_run"] is True
    assert "nothing was changed" in result.out and "stop -> fence" in result.out and "40" in result.out


def test_failover_needs_planned_or_unplanned(stub_api, cli):
    assert cli("replication", "failover", "a-to-b").code == 2
    assert not stub_api.received


def test_status_shows_the_data_at_risk_and_the_runs(stub_api, cli):
    stub_api.on("GET", "/connectors/a-to-b/replication", body={"name": "a-to-b", "queues": [], "tasks": [],
                                                                 "data_at_risk": RISK})
    stub_api.on("GET", "/connectors/a-to-b/replication/runs", body={"runs": [run("SUCCEEDED")]})
    result = cli("replication", "status", "a-to-b")
    assert result.code == 0, result.err
    assert "data at risk: 3 messages" in result.out
    assert "r1" in result.out and "SUCCEEDED" in result.out


def test_waiting_for_a_run_gives_up_after_the_wait_timeout_and_exits_3(stub_api, cli):
    stub_api.on("POST", "/connectors/a-to-b/replication/failover", 202, run("RUNNING"))
    stub_api.on("GET", "/connectors/a-to-b/replication/runs/r1", body=run("RUNNING"))

    result = cli("replication", "failover", "a-to-b", "--unplanned", "--poll", "0.01", "--wait-timeout", "0.2")

    assert result.code == 3
    assert "still RUNNING after 0.2 s" in result.err and "replication status a-to-b r1" in result.err


def test_a_run_that_could_not_start_is_reported_with_its_reason_and_exits_1(stub_api, cli):
    stub_api.on("POST", "/connectors/a-to-b/replication/failover", 503, {
        "error_code": 503, "message": "run r1 of a-to-b is FAILED: the failover state machine did not start: "
                                      "ThrottlingException: Rate exceeded"})
    result = cli("replication", "failover", "a-to-b", "--unplanned")
    assert result.code == 1
    assert "ThrottlingException" in result.err and "HTTP 503" in result.err


def test_a_plan_lists_the_groups_it_cannot_translate_and_why(stub_api, cli):
    stub_api.on("POST", "/connectors/a-to-b/replication/failover", body={
        "connector": "a-to-b", "kind": "unplanned", "dry_run": True, "steps": ["stop"], "offsets": [],
        "not_translated": [{"group": "billing", "partition": {"cluster": "A", "broker": "broker-a", "topic": "orders",
                                                               "queue": 2}, "reason": "no checkpoint: ..."}]})
    result = cli("replication", "failover", "a-to-b", "--unplanned", "--dry-run")
    assert result.code == 0
    assert "not translated" in result.out and "orders/broker-a/2" in result.out and "no checkpoint" in result.out
