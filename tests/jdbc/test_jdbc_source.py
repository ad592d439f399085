"""jdbc-source against a real PostgreSQL server: source ticks through the real SourceRunner publish to
SQS and commit offsets in DynamoDB on the embedded endpoint."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import uuid

import pytest

from connect_core import aws
from connect_core.api import OffsetMap, TaskContext
from connect_core.config import validate_config
from connect_core.convert import JsonConverter, JsonConverterConfig
from connect_core.runtime.source_runner import SourceRunner
from connect_core.storage import State
from connect_core.testing import PollBudget, PolledTasks, deploy, drain
from jdbc_support import FOREVER, published

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def source(connection, queues, **overrides):
    return {"name": f"pg-{uuid.uuid4().hex[:6]}", "connector": "jdbc-source", **connection,
            "incrementing_column": "id", "tables": ["orders"], "topic_prefix": "pg.",
            "target": {"type": "sqs", "queue_url": queues["url"]}, **overrides}


def tick(stores, name, task=0, polls: int | None = None):
    """A tick; with ``polls`` its Lambda time runs out after that many polls."""
    tasks = PolledTasks(PollBudget(polls)) if polls is not None else None
    remaining = tasks.budget if tasks is not None else FOREVER
    return SourceRunner(stores, owner=f"tick-{uuid.uuid4().hex[:4]}", tasks=tasks).tick(name, task, remaining)


@pytest.fixture
def orders(db):
    db.run("CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL, "
           "updated_at timestamptz NOT NULL DEFAULT now())")

    def insert(*items, at=None):
        for item in items:
            if at is None:
                db.run("INSERT INTO orders (item) VALUES (:item)", item=item)
            else:
                db.run("INSERT INTO orders (item, updated_at) VALUES (:item, :at)", item=item, at=at)
    return insert


def test_incrementing_mode_publishes_every_row_once_and_the_next_tick_only_new_rows(
        stores, queues, connection, orders):
    orders(*[f"item-{n}" for n in range(1, 26)])
    config = source(connection, queues, batch_size=10)
    deploy(stores, config)

    first = tick(stores, config["name"])
    got = published(queues["url"])

    assert (first.outcome, first.records, first.batches, first.drained) == ("ran", 25, 3, True)
    assert [r["value"]["item"] for r in got] == [f"item-{n}" for n in range(1, 26)]
    assert {r["topic"] for r in got} == {"pg.orders"}
    assert got[0]["partition"] == {"table": "orders"} and got[0]["offset"] == {"incrementing": 1}
    assert stores.offsets.read_all(config["name"]).by_key() == {'{"table":"orders"}': {"incrementing": 25}}

    orders("late-1", "late-2")
    second = tick(stores, config["name"])
    assert second.records == 2
    assert [r["value"]["item"] for r in published(queues["url"])] == ["late-1", "late-2"]
    assert tick(stores, config["name"]).records == 0


def test_a_tick_cut_short_resumes_exactly_where_its_committed_offset_is(stores, queues, connection, orders):
    orders(*[f"item-{n}" for n in range(1, 31)])
    config = source(connection, queues, batch_size=7)
    deploy(stores, config)
    first = tick(stores, config["name"], polls=2)
    committed = stores.offsets.read_all(config["name"]).by_key()
    rest = tick(stores, config["name"])

    assert (first.records, first.drained) == (14, False)
    assert committed == {'{"table":"orders"}': {"incrementing": 14}}
    assert rest.records == 16
    ids = [r["value"]["id"] for r in published(queues["url"])]
    assert sorted(ids) == list(range(1, 31)) and len(ids) == len(set(ids))  # no gap, no duplicate


def test_timestamp_incrementing_reads_ties_across_batches_and_rereads_updated_rows(
        stores, queues, connection, db, orders):
    same = dt.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=dt.timezone.utc)
    orders("a", "b", "c", "d", "e", at=same)  # five rows with one timestamp, read two at a time
    config = source(connection, queues, mode="timestamp+incrementing", timestamp_column="updated_at",
                    batch_size=2)
    deploy(stores, config)

    assert tick(stores, config["name"]).records == 5
    got = published(queues["url"])
    assert [r["value"]["item"] for r in got] == ["a", "b", "c", "d", "e"]
    assert got[-1]["offset"] == {"timestamp": "2024-05-01T12:00:00.123456+00:00", "incrementing": 5}
    assert got[-1]["timestamp"] == int(same.timestamp() * 1000)

    # An update moves a row's timestamp forward: it is read again, once; untouched rows are not.
    db.run("UPDATE orders SET item = 'c2', updated_at = :at WHERE id = 3", at=same + dt.timedelta(seconds=1))
    # A row with the same timestamp as the committed offset but a higher id is new, too.
    db.run("INSERT INTO orders (id, item, updated_at) VALUES (100, 'f', :at)", at=same)
    assert tick(stores, config["name"]).records == 2
    assert [(r["value"]["id"], r["value"]["item"]) for r in published(queues["url"])] == [(100, "f"), (3, "c2")]
    assert stores.offsets.read_all(config["name"]).by_key() == {
        '{"table":"orders"}': {"timestamp": "2024-05-01T12:00:01.123456+00:00", "incrementing": 3}}
    assert tick(stores, config["name"]).records == 0


def test_timestamp_delay_holds_back_rows_newer_than_the_database_clock_minus_the_delay(
        stores, queues, connection, db, orders):
    db.run("INSERT INTO orders (item, updated_at) VALUES ('old', now() - interval '1 hour'), "
           "('future', now() + interval '1 hour')")
    config = source(connection, queues, mode="timestamp+incrementing", timestamp_column="updated_at",
                    timestamp_delay_ms=60_000)
    deploy(stores, config)

    tick(stores, config["name"])

    assert [r["value"]["item"] for r in published(queues["url"])] == ["old"]


def test_tables_are_partitions_split_over_tasks_each_with_its_own_offset(stores, queues, connection, db):
    for table in ("alpha", "beta", "gamma"):
        db.run(f"CREATE TABLE {table} (id bigint PRIMARY KEY, v text)")
        db.run(f"INSERT INTO {table} SELECT n, '{table}-' || n FROM generate_series(1, 4) n")
    db.run("CREATE SCHEMA sales")
    db.run("CREATE TABLE sales.alpha (id int PRIMARY KEY, v text)")
    db.run("INSERT INTO sales.alpha VALUES (7, 'sales')")
    config = source(connection, queues, tables=["alpha", "beta", "gamma", "sales.alpha"], max_tasks=2)
    connector = validate_config(config)
    deploy(stores, config)

    assert connector.task_configs(2) == [{"tables": ["alpha", "gamma"]}, {"tables": ["beta", "sales.alpha"]}]
    assert tick(stores, config["name"], task=0).records == 8
    assert tick(stores, config["name"], task=1).records == 5
    got = published(queues["url"])
    assert sorted({r["topic"] for r in got}) == ["pg.alpha", "pg.beta", "pg.gamma", "pg.sales.alpha"]
    assert stores.offsets.read_all(config["name"]).by_key() == {
        '{"table":"alpha"}': {"incrementing": 4}, '{"table":"beta"}': {"incrementing": 4},
        '{"table":"gamma"}': {"incrementing": 4}, '{"table":"sales.alpha"}': {"incrementing": 7}}


def test_one_poll_shares_its_batch_between_tables_starting_at_a_different_one_each_time(connection, db):
    for table in ("a", "b"):
        db.run(f"CREATE TABLE {table} (id int PRIMARY KEY)")
        db.run(f"INSERT INTO {table} SELECT generate_series(1, 10)")
    connector = validate_config({"name": "two", "connector": "jdbc-source", **connection,
                                 "incrementing_column": "id", "tables": ["a", "b"], "batch_size": 4})
    task = connector.task_class(connector.config, {"tables": ["a", "b"]}, TaskContext("two", 0))
    try:
        view = OffsetMap()
        first = task.poll(view)
        for record in first:
            view.set(record.partition, record.offset)
        second = task.poll(view)
    finally:
        task.stop()

    assert [(r.partition["table"], r.offset["incrementing"]) for r in first] == [("a", n) for n in range(1, 5)]
    assert [(r.partition["table"], r.offset["incrementing"]) for r in second] == [("b", n) for n in range(1, 5)]


def test_a_custom_query_is_one_named_partition_filtered_and_ordered_like_a_table(
        stores, queues, connection, db, orders):
    orders("keep-1", "skip", "keep-2")
    db.run("CREATE TABLE notes (order_id int, note text)")
    db.run("INSERT INTO notes VALUES (1, 'first'), (3, 'third')")
    config = source(connection, queues, tables=[], query_name="annotated",
                    query="SELECT o.id, o.item, n.note FROM orders o LEFT JOIN notes n ON n.order_id = o.id "
                          "WHERE o.item <> 'skip' -- annotated orders")
    deploy(stores, config)

    tick(stores, config["name"])

    got = published(queues["url"])
    assert [r["value"] for r in got] == [{"id": 1, "item": "keep-1", "note": "first"},
                                         {"id": 3, "item": "keep-2", "note": "third"}]
    assert {r["topic"] for r in got} == {"pg.annotated"}
    assert stores.offsets.read_all(config["name"]).by_key() == {'{"query":"annotated"}': {"incrementing": 3}}


TYPES_TABLE = """CREATE TABLE kinds (
    id bigserial PRIMARY KEY, flag boolean, small smallint, price numeric(10,2), ratio numeric,
    real_v real, double_v double precision, day date, at_local timestamp, at_utc timestamptz, clock time,
    blob bytea, uid uuid, doc jsonb, tags text[], counts int[], span interval, note text, name text,
    optional boolean)"""
TYPES_ROW = """INSERT INTO kinds (flag, small, price, ratio, real_v, double_v, day, at_local, at_utc, clock, blob,
    uid, doc, tags, counts, span, note) VALUES (true, 7, 1234.50, 0.125, 1.5, 2.25, '2024-02-29',
    '2024-02-29 10:11:12.5', '2024-02-29 10:11:12.5+02', '23:59:58.25', '\\x00ff10',
    '12345678-1234-5678-1234-567812345678', '{"a": [1, {"b": null}]}', '{x,"y z"}', '{1,2,3}',
    '1 day 02:00:03.5', NULL)"""


def test_values_are_rows_as_json_with_dates_decimals_and_bytes_converted(stores, queues, connection, db):
    db.run(TYPES_TABLE)
    db.run(TYPES_ROW)
    config = source(connection, queues, tables=["kinds"])
    deploy(stores, config)

    tick(stores, config["name"])

    [record] = published(queues["url"])
    assert record["value"] == {
        "id": 1, "flag": True, "small": 7, "price": 1234.50, "ratio": 0.125, "real_v": 1.5, "double_v": 2.25,
        "day": "2024-02-29", "at_local": "2024-02-29T10:11:12.500000", "at_utc": "2024-02-29T08:11:12.500000+00:00",
        "clock": "23:59:58.250000", "blob": base64.b64encode(b"\x00\xff\x10").decode(),
        "uid": "12345678-1234-5678-1234-567812345678", "doc": {"a": [1, {"b": None}]}, "tags": ["x", "y z"],
        "counts": [1, 2, 3], "span": "P1DT7203.5S", "note": None, "name": None, "optional": None}


def test_with_a_schema_envelope_the_value_carries_typed_fields_that_read_back_exactly(
        stores, queues, connection, db):
    db.run(TYPES_TABLE)
    db.run(TYPES_ROW)
    config = source(connection, queues, tables=["kinds"], key_columns=["id", "uid"],
                    value_converter={"type": "json", "schemas_enable": True},
                    key_converter={"type": "json", "schemas_enable": True})
    deploy(stores, config)

    tick(stores, config["name"])

    [message] = drain(queues["url"])
    envelope = json.loads(message["Body"])
    fields = {f["field"]: f for f in envelope["schema"]["fields"]}
    assert envelope["schema"]["name"] == "kinds"
    assert {n: (f["type"], f.get("name")) for n, f in fields.items() if n in (
        "id", "small", "price", "day", "at_utc", "clock", "blob", "doc", "tags", "real_v")} == {
        "id": ("int64", None), "small": ("int16", None),
        "price": ("bytes", "org.apache.rocketmq.connect.data.Decimal"),
        "day": ("int32", "org.apache.rocketmq.connect.data.Date"),
        "at_utc": ("int64", "org.apache.rocketmq.connect.data.Timestamp"),
        "clock": ("int32", "org.apache.rocketmq.connect.data.Time"), "blob": ("bytes", None),
        "doc": ("string", None), "tags": ("array", None), "real_v": ("float", None)}
    assert fields["price"]["parameters"] == {"scale": "2"} and fields["ratio"]["parameters"] == {"scale": "3"}
    assert (fields["name"]["type"], fields["optional"]["type"]) == ("string", "boolean")

    _, value = JsonConverter(JsonConverterConfig(schemas_enable=True)).deserialize("pg.kinds",
                                                                                   message["Body"].encode())
    assert value["price"] == decimal.Decimal("1234.50") and value["ratio"] == decimal.Decimal("0.125")
    assert value["day"] == dt.date(2024, 2, 29)
    assert value["at_utc"] == dt.datetime(2024, 2, 29, 8, 11, 12, 500000, tzinfo=dt.timezone.utc)
    assert value["blob"] == b"\x00\xff\x10" and value["doc"] == '{"a":[1,{"b":null}]}'
    key = json.loads(json.loads(message["MessageAttributes"]["connect.record"]["StringValue"])["key"])
    assert key["payload"] == {"id": 1, "uid": "12345678-1234-5678-1234-567812345678"}
    assert [f["type"] for f in key["schema"]["fields"]] == ["int64", "string"]


def test_a_single_key_column_is_the_record_key(stores, queues, connection, orders):
    orders("x")
    config = source(connection, queues, key_columns=["item"])
    deploy(stores, config)

    tick(stores, config["name"])

    assert [r["key"] for r in published(queues["url"])] == ["x"]


def test_a_missing_column_fails_the_tick_with_the_reason_and_commits_nothing(stores, queues, connection, orders):
    orders("x")
    config = source(connection, queues, incrementing_column="order_no")
    deploy(stores, config)

    result = tick(stores, config["name"])

    assert result.outcome == "failed"
    assert "order_no" in result.error and "does not exist" in result.error
    assert stores.status.get_status(config["name"]).tasks[0].state is State.FAILED
    assert published(queues["url"]) == [] and stores.offsets.read_all(config["name"]).by_key() == {}


def test_a_missing_table_fails_the_tick_naming_it(stores, queues, connection):
    config = source(connection, queues, tables=["nowhere"])
    deploy(stores, config)

    result = tick(stores, config["name"])

    assert result.outcome == "failed"
    assert "'nowhere'" in result.error and "42P01" in result.error


def test_the_password_can_come_from_an_ssm_secure_string(stores, queues, connection, postgres, orders):
    name = f"/connect/jdbc/{uuid.uuid4().hex[:8]}"
    aws.client("ssm").put_parameter(Name=name, Value=postgres.password, Type="SecureString")
    orders("x")
    config = source(connection, queues, password=name)
    deploy(stores, config)

    assert tick(stores, config["name"]).records == 1


def test_a_wrong_password_fails_the_tick_without_revealing_any_password(stores, queues, connection, orders):
    name = f"jdbc/wrong-{uuid.uuid4().hex[:8]}"
    aws.client("secretsmanager").create_secret(Name=name, SecretString="not-the-password-42")
    orders("x")
    config = source(connection, queues, password=f"secretsmanager:{name}")
    deploy(stores, config)

    result = tick(stores, config["name"])

    assert result.outcome == "failed" and "cannot log in" in result.error and "28P01" in result.error
    assert "not-the-password-42" not in result.error
    trace = stores.status.get_status(config["name"]).tasks[0].trace
    assert "not-the-password-42" not in trace


def test_a_rotated_password_is_read_again_after_the_server_refused_the_cached_one(
        stores, queues, connection, postgres, orders):
    name = f"jdbc/rotating-{uuid.uuid4().hex[:8]}"
    secrets = aws.client("secretsmanager")
    secrets.create_secret(Name=name, SecretString=json.dumps({"password": "the-old-one"}))
    orders("x")
    config = source(connection, queues, password=f"secretsmanager:{name}#password")
    deploy(stores, config)
    assert tick(stores, config["name"]).outcome == "failed"  # the old password is now cached

    secrets.put_secret_value(SecretId=name, SecretString=json.dumps({"password": postgres.password}))
    result = tick(stores, config["name"])

    assert (result.outcome, result.records) == ("ran", 1)


def test_the_source_session_is_read_only(connection, orders):
    orders("x")
    connector = validate_config({"name": "ro", "connector": "jdbc-source", **connection,
                                 "incrementing_column": "id", "query": "SELECT * FROM orders"})
    task = connector.task_class(connector.config, {"query": True}, TaskContext("ro", 0))
    try:
        with pytest.raises(Exception, match="read-only transaction"):
            task.session.unit(lambda s: s.execute("INSERT INTO orders (item) VALUES ('sneaky')"))
    finally:
        task.stop()
