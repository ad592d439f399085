"""PostgreSQL to PostgreSQL end to end through the real Lambda handlers: the scheduler's tick event
runs jdbc-source (``functions/source_poller``), SQS carries the records on the embedded endpoint, and
the event source mapping's batches run jdbc-sink (``functions/sink_consumer``)."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pytest

from connect_core.testing import deploy, drain, lambda_context, play_queue
from functions_support import function_environment, load_event, load_handler
from jdbc_support import rows

pytestmark = [pytest.mark.integration, pytest.mark.postgres,
              pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")]

def context():
    """A Lambda context with 600_000 ms left, whatever the test's speed."""
    return lambda_context("jdbc-test-function", remaining_ms=600_000)


@pytest.fixture
def environment(tables, monkeypatch):
    """The environment template.yaml gives the functions, over the test's tables."""
    with function_environment(monkeypatch, tables):
        yield


@pytest.fixture
def target_db(postgres):
    """A second database: where the sink writes."""
    name = f"target_{uuid.uuid4().hex[:12]}"
    admin = postgres.connect()
    admin.run(f'CREATE DATABASE "{name}"')
    conn = postgres.connect(name)
    try:
        yield name, conn
    finally:
        conn.close()
        admin.run(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


SOURCE_TABLE = ("CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL, amount numeric(10,2), "
                "updated_at timestamptz NOT NULL DEFAULT clock_timestamp())")
TARGET_TABLE = ("CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL, amount numeric(10,2), "
                "updated_at timestamptz NOT NULL)")


def run_source(name: str) -> dict:
    event = {**load_event("scheduler_tick"), "connector": name, "task": 0}
    return load_handler("source_poller")(event, context())


def run_sink(queues: dict) -> list[dict]:
    """The event source mapping: batches of up to 10 to the sink handler, deleting the successes."""
    return [response for _, response in
            play_queue(queues["url"], queues["arn"], lambda e: load_handler("sink_consumer")(e, context()))]


def test_rows_inserted_and_updated_in_one_database_arrive_in_another(
        environment, stores, queues, connection, db, target_db):
    target_name, target = target_db
    db.run(SOURCE_TABLE)
    target.run(TARGET_TABLE)
    db.run("INSERT INTO orders (item, amount) SELECT 'item-' || n, n * 1.25 FROM generate_series(1, 23) n")
    deploy(stores, {"name": "orders-out", "connector": "jdbc-source", **connection,
                    "mode": "timestamp+incrementing", "incrementing_column": "id", "timestamp_column": "updated_at",
                    "tables": ["orders"], "key_columns": ["id"], "batch_size": 10,
                    "target": {"type": "sqs", "queue_url": queues["url"]}})
    deploy(stores, {"name": "orders-in", "connector": "jdbc-sink", **connection, "database": target_name,
                    "table": "orders", "insert_mode": "upsert", "pk_mode": "record_key", "pk_fields": ["id"],
                    "source_queue": queues["arn"]})
    copy = "SELECT id, item, amount, updated_at FROM orders ORDER BY id"

    tick = run_source("orders-out")
    responses = run_sink(queues)

    assert (tick["outcome"], tick["published"]) == ("ran", 23)
    assert all(r == {"batchItemFailures": []} for r in responses)
    assert rows(target, copy) == rows(db, copy)

    db.run("UPDATE orders SET item = item || '-v2', amount = amount + 1, updated_at = clock_timestamp() "
           "WHERE id IN (3, 17)")
    db.run("INSERT INTO orders (item) VALUES ('late')")
    again = run_source("orders-out")
    run_sink(queues)

    assert again["published"] == 3
    assert rows(target, copy) == rows(db, copy)
    assert rows(target, "SELECT item, amount FROM orders WHERE id = 3") == [("item-3-v2", decimal.Decimal("4.75"))]
    assert run_source("orders-out")["published"] == 0
    assert drain(queues["url"]) == []


def test_the_captured_event_of_a_jdbc_source_upserts_its_rows_and_a_redelivery_changes_nothing(
        environment, stores, queues, connection, db):
    db.run(TARGET_TABLE)
    deploy(stores, {"name": "orders-in", "connector": "jdbc-sink", **connection, "table": "orders",
                    "insert_mode": "upsert", "pk_mode": "record_key", "pk_fields": ["id"],
                    "source_queue": queues["arn"]})
    event = load_event("sqs_batch_jdbc_orders", source_arn=queues["arn"])
    handler = load_handler("sink_consumer")
    expected = [(1, "pencil", decimal.Decimal("1.75"),
                 dt.datetime(2024, 5, 1, 12, 0, 5, 1, tzinfo=dt.timezone.utc)),
                (2, "ink", decimal.Decimal("12.00"),
                 dt.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=dt.timezone.utc))]

    first = handler(event, context())
    written = rows(db, "SELECT id, item, amount, updated_at FROM orders ORDER BY id")
    second = handler(event, context())

    assert first == second == {"batchItemFailures": []}
    assert written == expected
    assert rows(db, "SELECT id, item, amount, updated_at FROM orders ORDER BY id") == expected


def test_a_direct_target_copies_rows_in_the_tick_and_commits_offsets_only_after_the_sink_wrote_them(
        environment, stores, queues, connection, db, target_db):
    target_name, target = target_db
    db.run(SOURCE_TABLE)
    target.run(TARGET_TABLE)
    db.run("INSERT INTO orders (item) SELECT 'item-' || n FROM generate_series(1, 5) n")
    sink = {"name": "orders-direct-sink", "connector": "jdbc-sink", **connection, "database": target_name,
            "table": "orders", "insert_mode": "upsert", "pk_mode": "record_value", "pk_fields": ["id"]}
    deploy(stores, {"name": "orders-direct", "connector": "jdbc-source", **connection,
                    "incrementing_column": "id", "tables": ["orders"], "target": {"type": "direct", "sink": sink}})

    tick = run_source("orders-direct")

    assert (tick["outcome"], tick["records"]) == ("ran", 5)
    assert rows(target, "SELECT id, item FROM orders ORDER BY id") == [(n, f"item-{n}") for n in range(1, 6)]
    assert stores.offsets.read_all("orders-direct").by_key() == {'{"table":"orders"}': {"incrementing": 5}}
