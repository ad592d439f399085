"""jdbc-sink against a real PostgreSQL server: batches arrive through the real SinkRunner from an SQS
queue on the embedded endpoint (the event source mapping played by ``deliver``)."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import socket
import uuid

import pytest

from connect_core.api import ConnectRecord, TaskContext
from connect_core.config import validate_config
from connect_core.errors import RetriableError
from connect_core.runtime.pipeline import Message, SinkPipeline
from connect_core.runtime.sink_runner import SinkRunner
from connect_core.testing import dead_letters, deploy
from jdbc_support import deliver, rows, send

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def sink(connection, queues, **overrides):
    return {"name": f"pgsink-{uuid.uuid4().hex[:6]}", "connector": "jdbc-sink", **connection,
            "source_queue": queues["arn"], **overrides}


def record(id_, topic="orders", **value):
    return {"topic": topic, "key": str(id_), "value": json.dumps({"id": id_, **value})}


@pytest.fixture
def orders_table(db):
    db.run("CREATE TABLE orders (id int PRIMARY KEY, item text, amount numeric(10,2), day date, "
           "doc jsonb, tags text[])")


def test_insert_writes_each_record_as_a_row_with_values_cast_to_the_columns(stores, queues, connection, db,
                                                                           orders_table):
    config = sink(connection, queues)
    deploy(stores, config)
    send(queues["url"], [record(1, item="pen", amount=1.5, day="2024-03-01", doc={"a": [1, 2]}, tags=["x", "y"]),
                         record(2, item="ink", amount=12, day="2024-03-02", doc=[1, "two"], tags=[])])

    responses = deliver(queues, SinkRunner(stores))

    assert responses == [{"batchItemFailures": []}]
    assert rows(db, "SELECT id, item, amount, day, doc, tags FROM orders ORDER BY id") == [
        (1, "pen", decimal.Decimal("1.50"), dt.date(2024, 3, 1), {"a": [1, 2]}, ["x", "y"]),
        (2, "ink", decimal.Decimal("12.00"), dt.date(2024, 3, 2), [1, "two"], [])]


def test_upsert_is_idempotent_when_a_batch_is_delivered_again_and_the_last_write_of_a_key_wins(
        stores, queues, connection, db, orders_table):
    config = sink(connection, queues, insert_mode="upsert", pk_mode="record_key", pk_fields=["id"])
    deploy(stores, config)
    batch = [record(1, item="pen"), record(2, item="ink"), record(1, item="pencil")]

    send(queues["url"], batch)
    deliver(queues, SinkRunner(stores))
    send(queues["url"], batch)  # redelivered (or re-published by a source that crashed before committing)
    responses = deliver(queues, SinkRunner(stores))

    assert responses == [{"batchItemFailures": []}]
    assert rows(db, "SELECT id, item FROM orders ORDER BY id") == [(1, "pencil"), (2, "ink")]


def test_upsert_by_value_fields_with_a_column_map_and_a_field_list(stores, queues, connection, db):
    db.run("CREATE TABLE people (tenant text, person_id int, full_name text, PRIMARY KEY (tenant, person_id))")
    config = sink(connection, queues, table="people", insert_mode="upsert", pk_mode="record_value",
                  pk_fields=["tenant", "id"], fields=["name"], column_map={"id": "person_id", "name": "full_name"})
    deploy(stores, config)
    send(queues["url"], [{"topic": "t", "value": json.dumps({"tenant": "acme", "id": 7, "name": "Ada", "age": 36})},
                         {"topic": "t", "value": json.dumps({"tenant": "acme", "id": 7, "name": "Ada L."})},
                         {"topic": "t", "value": json.dumps({"tenant": "beta", "id": 7, "name": "Bob"})}])

    assert deliver(queues, SinkRunner(stores)) == [{"batchItemFailures": []}]
    assert rows(db, "SELECT tenant, person_id, full_name FROM people ORDER BY tenant") == [
        ("acme", 7, "Ada L."), ("beta", 7, "Bob")]


def test_a_tombstone_deletes_the_row_when_deletes_are_enabled_and_is_skipped_otherwise(
        stores, queues, connection, db, orders_table):
    db.run("INSERT INTO orders (id, item) VALUES (1, 'pen'), (2, 'ink'), (3, 'cap')")
    deleting = sink(connection, queues, insert_mode="upsert", pk_mode="record_key", pk_fields=["id"],
                    delete_enabled=True)
    deploy(stores, deleting)
    send(queues["url"], [{"topic": "orders", "key": "2", "value": None}, record(4, item="nib"),
                         {"topic": "orders", "key": "4", "value": None}])

    assert deliver(queues, SinkRunner(stores)) == [{"batchItemFailures": []}]
    assert rows(db, "SELECT id FROM orders ORDER BY id") == [(1,), (3,)]  # the order of operations is kept

    keeping = {**deleting, "delete_enabled": False}
    stores.configs.put_connector(keeping["name"], keeping)
    send(queues["url"], [{"topic": "orders", "key": "1", "value": None}])
    assert deliver(queues, SinkRunner(stores)) == [{"batchItemFailures": []}]
    assert rows(db, "SELECT id FROM orders ORDER BY id") == [(1,), (3,)]


def test_a_missing_table_without_auto_create_sends_the_records_to_the_dlq_with_the_reason(
        stores, queues, connection, db):
    config = sink(connection, queues, table="missing_orders", errors={"tolerance": "all"})
    deploy(stores, config)
    send(queues["url"], [record(1, item="pen")])

    assert deliver(queues, SinkRunner(stores)) == [{"batchItemFailures": []}]

    [letter] = dead_letters(queues["dlq_url"])
    assert letter["stage"] == "put" and letter["error"]["type"] == "MissingTableError"
    assert letter["error"]["message"] == ("table 'missing_orders' does not exist (auto_create is off: create it, "
                                          "or set auto_create: true)")
    assert json.loads(base64.b64decode(letter["record"]["value_base64"])) == {"id": 1, "item": "pen"}
    assert rows(db, "SELECT to_regclass('missing_orders') IS NULL") == [(True,)]


def test_auto_create_makes_the_table_with_its_primary_key_and_auto_evolve_adds_columns(
        stores, queues, connection, db):
    config = sink(connection, queues, insert_mode="upsert", pk_mode="record_key", pk_fields=["id"],
                  auto_create=True, auto_evolve=True)
    deploy(stores, config)
    send(queues["url"], [record(1, topic="events", kind="a", weight=1.5, ok=True, payload={"x": 1}, note=None)])
    assert deliver(queues, SinkRunner(stores)) == [{"batchItemFailures": []}]
    send(queues["url"], [record(2, topic="events", kind="b", extra_count=3)])
    assert deliver(queues, SinkRunner(stores)) == [{"batchItemFailures": []}]

    columns = rows(db, "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                       "WHERE table_name = 'events' ORDER BY ordinal_position")
    assert columns == [("id", "bigint", "NO"), ("kind", "text", "YES"), ("weight", "double precision", "YES"),
                       ("ok", "boolean", "YES"), ("payload", "jsonb", "YES"), ("note", "text", "YES"),
                       ("extra_count", "bigint", "YES")]
    assert rows(db, "SELECT id, kind, extra_count FROM events ORDER BY id") == [(1, "a", None), (2, "b", 3)]
    assert rows(db, "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                    "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'events'::regclass AND i.indisprimary") \
        == [("id",)]


def test_typed_records_create_typed_columns_and_keep_their_values_exactly(stores, queues, connection, db):
    config = sink(connection, queues, table="typed", pk_mode="record_value", pk_fields=["id"], auto_create=True,
                  insert_mode="upsert", value_converter={"type": "json", "schemas_enable": True})
    deploy(stores, config)
    envelope = {"schema": {"type": "struct", "optional": False, "fields": [
        {"field": "id", "type": "int32", "optional": False},
        {"field": "price", "type": "bytes", "optional": True, "name": "org.apache.kafka.connect.data.Decimal",
         "version": 1, "parameters": {"scale": "2"}},
        {"field": "day", "type": "int32", "optional": True, "name": "org.apache.kafka.connect.data.Date"},
        {"field": "at", "type": "int64", "optional": True, "name": "org.apache.kafka.connect.data.Timestamp"}]},
        "payload": {"id": 1, "price": "AeI=", "day": 19783, "at": 1709201472500}}
    send(queues["url"], [{"topic": "typed", "value": json.dumps(envelope)}])

    assert deliver(queues, SinkRunner(stores)) == [{"batchItemFailures": []}]
    assert rows(db, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'typed' "
                    "ORDER BY ordinal_position") == [
        ("id", "integer"), ("price", "numeric"), ("day", "date"), ("at", "timestamp with time zone")]
    assert rows(db, "SELECT id, price, day, at FROM typed") == [
        (1, decimal.Decimal("4.82"), dt.date(2024, 3, 1),
         dt.datetime(2024, 2, 29, 10, 11, 12, 500000, tzinfo=dt.timezone.utc))]


def test_a_field_without_a_column_fails_that_record_only(stores, queues, connection, db, orders_table):
    config = sink(connection, queues, errors={"tolerance": "all"})
    deploy(stores, config)
    send(queues["url"], [record(1, item="pen"), record(2, item="ink", colour="blue")])

    assert deliver(queues, SinkRunner(stores)) == [{"batchItemFailures": []}]

    assert rows(db, "SELECT id FROM orders") == [(1,)]
    [letter] = dead_letters(queues["dlq_url"])
    assert letter["error"]["type"] == "MissingColumnError"
    assert letter["error"]["message"].startswith("table 'orders' has no column 'colour' (auto_evolve is off")


def test_a_poison_record_is_isolated_retried_by_sqs_then_dead_lettered_while_the_rest_commit_once(
        stores, queues, connection, db, orders_table):
    config = sink(connection, queues)  # insert mode: a row written twice would fail, so 'once' is checked
    deploy(stores, config)
    send(queues["url"], [record(1, item="a"), record(2, item="b", amount="not a number"), record(3, item="c"),
                         record(4, item="d"), {"topic": "orders", "value": "[1, 2]"}])

    responses = deliver(queues, SinkRunner(stores))

    assert len(responses[0]["batchItemFailures"]) == 2
    assert responses[-1] == {"batchItemFailures": []}  # the third delivery dead-letters them itself
    assert rows(db, "SELECT id, item FROM orders ORDER BY id") == [(1, "a"), (3, "c"), (4, "d")]
    letters = sorted(dead_letters(queues["dlq_url"]), key=lambda letter: letter["error"]["type"])
    assert [(d["stage"], d["error"]["type"], d["deliveries"]) for d in letters] == [
        ("put", "PostgresError", 3), ("put", "RecordShapeError", 3)]
    assert "invalid input syntax for type numeric" in letters[0]["error"]["message"]
    assert "22P02" in letters[0]["error"]["message"]
    assert letters[1]["error"]["message"] == "the value must be an object (a struct) to become a row, not list"


def test_upsert_into_a_table_without_a_matching_unique_key_fails_with_the_databases_reason(
        stores, queues, connection, db):
    db.run("CREATE TABLE loose (id int, item text)")
    config = sink(connection, queues, table="loose", insert_mode="upsert", pk_mode="record_key", pk_fields=["id"],
                  errors={"tolerance": "all"})
    deploy(stores, config)
    send(queues["url"], [record(1, item="pen")])

    deliver(queues, SinkRunner(stores))

    [letter] = dead_letters(queues["dlq_url"])
    assert "no unique or exclusion constraint matching the ON CONFLICT specification" in letter["error"]["message"]


def test_a_connection_the_server_dropped_between_batches_is_replaced_transparently(
        stores, queues, connection, postgres, db, orders_table):
    config = sink(connection, queues, insert_mode="upsert", pk_mode="record_key", pk_fields=["id"])
    deploy(stores, config)
    runner = SinkRunner(stores)  # one warm function instance: the task and its connection are reused
    send(queues["url"], [record(1, item="a")])
    deliver(queues, runner)

    admin = postgres.connect()
    try:
        terminated = admin.run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d "
                               "AND application_name LIKE 'connect-core/%'", d=connection["database"])
    finally:
        admin.close()
    send(queues["url"], [record(2, item="b")])

    assert terminated == [[True]]
    assert deliver(queues, runner) == [{"batchItemFailures": []}]
    assert rows(db, "SELECT id FROM orders ORDER BY id") == [(1,), (2,)]


def test_an_unreachable_database_is_retried_with_backoff_then_every_record_fails_retriably(connection):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    connector = validate_config({"name": "down", "connector": "jdbc-sink", **connection, "port": port,
                                 "table": "orders", "errors": {"retry_timeout_ms": 1000, "retry_max_delay_ms": 200}})
    task = connector.task_class(connector.config, {}, TaskContext("down", 0))
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:  # a virtual clock: the test never waits
        sleeps.append(seconds)
        now[0] += seconds

    pipeline = SinkPipeline(connector.config, task, 0, sleep=sleep)
    pipeline.retrier.clock = lambda: now[0]
    messages = [Message(json.dumps({"id": i}).encode(), str(i).encode(), "orders", id=f"m{i}") for i in (1, 2)]

    result = pipeline.deliver(messages)

    assert result.written == 0 and sorted(result.failed_ids) == ["m1", "m2"]
    assert {d.error_type for d in result.failures.values()} == {"RetriableError"}
    assert "cannot connect to postgresql://connect@127.0.0.1" in result.failures["m1"].error_message
    assert sleeps[:4] == [0.1, 0.2, 0.2, 0.2] and sum(sleeps) == pytest.approx(1.0)
    assert result.failures["m1"].attempts == len(sleeps) + 1


def test_put_raises_retriable_for_the_runtime_when_tls_is_required_and_the_server_has_none(connection):
    connector = validate_config({"name": "tls", "connector": "jdbc-sink", **connection, "ssl_mode": "require",
                                 "table": "orders"})
    task = connector.task_class(connector.config, {}, TaskContext("tls", 0))

    with pytest.raises(RetriableError, match="Server refuses SSL"):
        task.put([ConnectRecord(topic="orders", value={"id": 1})])


def test_ssl_mode_prefer_falls_back_to_plain_tcp_when_the_server_has_no_tls(connection, db, orders_table):
    connector = validate_config({"name": "prefer", "connector": "jdbc-sink", **connection, "ssl_mode": "prefer"})
    task = connector.task_class(connector.config, {}, TaskContext("prefer", 0))
    try:
        task.put([ConnectRecord(topic="orders", value={"id": 5, "item": "x"})])
    finally:
        task.stop()

    assert rows(db, "SELECT id, item FROM orders") == [(5, "x")]
