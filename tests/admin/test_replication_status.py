"""What an operator reads of a replicator's progress: each task's lag in the status, and the verified
watermark of each source queue (``GET /connectors/{name}/replication``), as the runners store them."""

from __future__ import annotations

from admin_helpers import Client
from connect_core.admin.api import AdminApi
from connect_core.connectors.replicator import sync_namespace
from connect_core.runtime.controller import ConnectorController
from connect_core.storage import State, Stores

REPLICATOR = {"name": "a-to-b", "connector": "rocketmq-replicator", "topics": ["orders"],
              "source_cluster": {"name": "A", "namesrv_addr": "127.0.0.1:9876"},
              "target_cluster": {"name": "B", "namesrv_addr": "127.0.0.1:9877"}}
QUEUE = {"cluster": "A", "broker": "broker-a", "topic": "orders", "queue": 1}
WATERMARK = {"source_offset": 41, "born_timestamp": 1_796_000_000_123, "store_timestamp": 1_796_000_000_130,
             "target": ["broker-b", "orders", 1], "target_offset": 40, "acked_at": 1_796_000_000.5}


def api_over(stores: Stores) -> Client:
    return Client(AdminApi(stores, ConnectorController(stores, "arn:aws:states:::stateMachine:unused", None)))


def stored_replicator(stores: Stores) -> None:
    """What a deployed replicator that ran for a while leaves in the stores."""
    stores.configs.put_connector("a-to-b", REPLICATOR)
    stores.configs.put_task_configs("a-to-b", [{"queues": [["broker-a", "orders", 1]]}], generation=1)
    stores.status.put_connector_status("a-to-b", State.RUNNING)
    stores.status.put_task_status("a-to-b", 0, State.RUNNING, worker_id="req-1",
                                  progress={"lag_messages": 3, "lag_seconds": 0.125})
    stores.offsets.alter(sync_namespace("a-to-b"), [(QUEUE, {"history": [
        {"source_offset": 0, "target_offset": 0, "count": 42, "target": ["broker-b", "orders", 1]}],
        "watermark": WATERMARK})])


def test_the_status_shows_each_source_tasks_lag_as_last_measured():
    stores = Stores.in_memory()
    stored_replicator(stores)

    answer = api_over(stores)("GET", "/connectors/a-to-b/status")

    assert answer.status == 200
    [task] = answer.body["tasks"]
    assert task["lag"]["messages"] == 3 and task["lag"]["seconds"] == 0.125 and task["lag"]["measured_at"] > 0


def test_a_task_that_measured_nothing_has_no_lag_field():
    stores = Stores.in_memory()
    stored_replicator(stores)
    stores.status.put_task_status("a-to-b", 0, State.UNASSIGNED)

    assert "lag" not in api_over(stores)("GET", "/connectors/a-to-b/status").body["tasks"][0]


def test_the_replication_route_lists_the_verified_watermark_of_every_source_queue():
    stores = Stores.in_memory()
    stored_replicator(stores)

    answer = api_over(stores)("GET", "/connectors/a-to-b/replication")

    assert answer.status == 200
    assert answer.body["queues"] == [{"partition": QUEUE, **WATERMARK}]
    assert answer.body["tasks"][0]["lag"]["seconds"] == 0.125


def test_the_replication_route_is_for_replicators_only():
    stores = Stores.in_memory()
    stores.configs.put_connector("gen", {"name": "gen", "connector": "datagen-source"})

    answer = api_over(stores)("GET", "/connectors/gen/replication")

    assert answer.status == 404 and "not a replicator" in answer.body["message"]
