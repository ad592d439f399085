"""The failover and failback routes: a run is stored and its state machine started (202), a dry run
answers the plan and changes nothing (200), runs are listed and read back, only a FAILED run resumes,
and the data at risk shows in GET .../replication."""

from __future__ import annotations

from typing import Any

from admin_helpers import Client
from connect_core.admin.api import AdminApi, FailoverLauncher
from connect_core.connectors.replicator import sync_namespace
from connect_core.runtime.controller import ConnectorController
from connect_core.runtime.failover import runs_namespace
from connect_core.storage import Stores, TargetState
from test_replication_status import QUEUE, WATERMARK, stored_replicator


class Launcher(FailoverLauncher):
    def __init__(self) -> None:
        super().__init__("arn:aws:states:us-east-1:123456789012:stateMachine:failover")
        self.started: list[tuple[str, str, int]] = []

    def start(self, connector: str, run_id: str, *, attempt: int = 0) -> None:
        self.started.append((connector, run_id, attempt))


def api_over(stores: Stores, launcher: Launcher) -> Client:
    return Client(AdminApi(stores, ConnectorController(stores, "arn:aws:states:::stateMachine:unused", None),
                           failover=launcher))


def with_observation(stores: Stores) -> None:
    stored_replicator(stores)
    stores.offsets.alter(sync_namespace("a-to-b"), [(QUEUE, {
        "history": [{"source_offset": 0, "target_offset": 0, "count": 42, "target": ["broker-b", "orders", 1]}],
        "watermark": WATERMARK,
        "source": {"max_offset": 45, "observed_at": 1_796_000_001.0, "newest_offset": 44,
                   "newest_store_timestamp": 1_796_000_000_930}})])


def test_an_unplanned_failover_is_stored_and_started_as_a_state_machine_run():
    stores, launcher = Stores.in_memory(), Launcher()
    with_observation(stores)
    api = api_over(stores, launcher)

    answer = api("POST", "/connectors/a-to-b/replication/failover", {"mode": "unplanned"})

    assert answer.status == 202
    run: dict[str, Any] = answer.body
    assert run["kind"] == "unplanned" and run["status"] == "RUNNING"
    assert [s["name"] for s in run["steps"]] == ["stop", "fence", "apply_offsets", "divergence", "report"]
    assert launcher.started == [("a-to-b", run["id"], 0)]
    assert api("GET", f"/connectors/a-to-b/replication/runs/{run['id']}").body == run
    assert [r["id"] for r in api("GET", "/connectors/a-to-b/replication/runs").body["runs"]] == [run["id"]]
    # a second run while one runs is refused
    assert api("POST", "/connectors/a-to-b/replication/failover", {"mode": "unplanned"}).status == 409


def test_a_dry_run_answers_the_plan_and_changes_nothing():
    stores, launcher = Stores.in_memory(), Launcher()
    with_observation(stores)
    stores.offsets.alter("a-to-b", [(QUEUE, {"queue_offset": 42})])

    answer = api_over(stores, launcher)("POST", "/connectors/a-to-b/replication/failover",
                                        {"mode": "unplanned", "dry_run": True})

    assert answer.status == 200
    assert answer.body["dry_run"] is True
    assert answer.body["data_at_risk"]["messages"] == 3
    assert launcher.started == []
    assert not list(stores.offsets.read_all(runs_namespace("a-to-b")).pairs())
    assert stores.configs.get_connector("a-to-b").target_state is TargetState.RUNNING


def test_the_replication_view_shows_the_data_at_risk():
    stores = Stores.in_memory()
    with_observation(stores)
    risk = api_over(stores, Launcher())("GET", "/connectors/a-to-b/replication").body["data_at_risk"]
    assert (risk["messages"], risk["seconds"]) == (3, 0.8)  # offsets 42..44, stored 130 -> 930 ms


def test_only_a_failed_run_resumes_and_resuming_starts_a_new_execution():
    stores, launcher = Stores.in_memory(), Launcher()
    with_observation(stores)
    api = api_over(stores, launcher)
    run = api("POST", "/connectors/a-to-b/replication/failover", {"mode": "unplanned"}).body
    assert api("POST", f"/connectors/a-to-b/replication/runs/{run['id']}/resume").status == 409
    from connect_core.runtime.failover import FailoverEngine

    FailoverEngine(stores).fail("a-to-b", run["id"], "Boom: the step failed")
    answer = api("POST", f"/connectors/a-to-b/replication/runs/{run['id']}/resume")
    assert answer.status == 202 and answer.body["status"] == "RUNNING"
    assert launcher.started == [("a-to-b", run["id"], 0), ("a-to-b", run["id"], 1)]  # one attempt each


class RefusingLauncher(Launcher):
    """A state machine that refuses to start (throttled, access denied) until ``refusals`` run out."""

    def __init__(self, refusals: int = 1) -> None:
        super().__init__()
        self.refusals = refusals

    def start(self, connector: str, run_id: str, *, attempt: int = 0) -> None:
        if self.refusals:
            self.refusals -= 1
            raise RuntimeError("ThrottlingException: Rate exceeded")
        super().start(connector, run_id, attempt=attempt)


def test_a_run_whose_state_machine_does_not_start_is_failed_with_the_reason_and_answers_503():
    stores, launcher = Stores.in_memory(), RefusingLauncher()
    with_observation(stores)
    api = api_over(stores, launcher)

    answer = api("POST", "/connectors/a-to-b/replication/failover", {"mode": "unplanned"})

    assert answer.status == 503 and "ThrottlingException" in answer.body["message"]
    [run] = api("GET", "/connectors/a-to-b/replication/runs").body["runs"]
    assert run["status"] == "FAILED" and "did not start: RuntimeError: ThrottlingException" in run["error"]
    # it blocks nothing: it resumes, and a new run may start
    assert api("POST", f"/connectors/a-to-b/replication/runs/{run['id']}/resume").status == 202
    assert launcher.started == [("a-to-b", run["id"], 1)]


def test_a_resume_that_cannot_start_leaves_the_run_failed():
    stores, launcher = Stores.in_memory(), RefusingLauncher(refusals=0)
    with_observation(stores)
    api = api_over(stores, launcher)
    run = api("POST", "/connectors/a-to-b/replication/failover", {"mode": "unplanned"}).body
    from connect_core.runtime.failover import FailoverEngine

    FailoverEngine(stores).fail("a-to-b", run["id"], "Boom", attempt=0)
    launcher.refusals = 1

    assert api("POST", f"/connectors/a-to-b/replication/runs/{run['id']}/resume").status == 503
    assert api("GET", f"/connectors/a-to-b/replication/runs/{run['id']}").body["status"] == "FAILED"


def test_without_a_failover_state_machine_nothing_is_stored_and_the_answer_is_503():
    stores = Stores.in_memory()
    with_observation(stores)
    api = Client(AdminApi(stores, ConnectorController(stores, "arn:aws:states:::stateMachine:unused", None),
                          failover=FailoverLauncher(None)))

    answer = api("POST", "/connectors/a-to-b/replication/failover", {"mode": "unplanned"})

    assert answer.status == 503 and "FAILOVER_STATE_MACHINE_ARN" in answer.body["message"]
    assert not list(stores.offsets.read_all(runs_namespace("a-to-b")).pairs())
    assert api("POST", "/connectors/a-to-b/replication/failover", {"mode": "unplanned", "dry_run": True}).status == 200


def test_every_execution_gets_a_name_of_its_own(monkeypatch):
    from connect_core import aws

    names: list[str] = []

    class StepFunctions:
        def start_execution(self, **request: Any) -> None:
            names.append(request["name"])

    monkeypatch.setattr(aws, "client", lambda service, **_: StepFunctions())
    launcher = FailoverLauncher("arn:aws:states:us-east-1:123456789012:stateMachine:failover")
    for attempt in (0, 0, 1):
        launcher.start("a" * 100, "20261208T003000-abcdef12", attempt=attempt)

    assert len(set(names)) == 3 and all(len(n) <= 80 for n in names)


def test_failover_of_a_connector_that_is_not_a_replicator_is_404_and_a_bad_mode_422():
    stores = Stores.in_memory()
    with_observation(stores)
    stores.configs.put_connector("plain", {"name": "plain", "connector": "datagen-source"})
    api = api_over(stores, Launcher())
    assert api("POST", "/connectors/plain/replication/failover", {"mode": "planned"}).status == 404
    assert api("POST", "/connectors/a-to-b/replication/failover", {"mode": "sideways"}).status == 422


def test_the_replication_view_and_the_failover_count_the_data_at_risk_over_the_same_queues():
    stores = Stores.in_memory()
    with_observation(stores)
    quiet = {**QUEUE, "queue": 2}  # read by the task, nothing copied yet: its committed start only
    stores.configs.put_task_configs("a-to-b", [{"queues": [["broker-a", "orders", 1], ["broker-a", "orders", 2]]}], 2)
    stores.offsets.alter("a-to-b", [(quiet, {"queue_offset": 1_000_000})])
    api = api_over(stores, Launcher())

    view = api("GET", "/connectors/a-to-b/replication").body["data_at_risk"]
    plan = api("POST", "/connectors/a-to-b/replication/failover", {"mode": "unplanned", "dry_run": True}).body

    assert view == plan["data_at_risk"]
    assert [q["partition"]["queue"] for q in view["queues"]] == [1, 2]
    assert view["queues"][1]["verified_offset"] == 1_000_000 and view["messages"] == 3
