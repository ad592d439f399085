"""jdbc-source and jdbc-sink configs: every mistake is reported with its field and the reason; no
server needed."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connect_core.config import config_json_schema, validate_config
from connect_core.connectors.jdbc import Endpoint, column_value, endpoint_of, iso_duration, timestamp_text
from connect_core.errors import ConfigError
from connect_core.storage import order_key

CONNECTION = {"host": "db.internal", "database": "shop", "user": "app",
              "password": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-db#password"}


def source(**overrides):
    return {"name": "orders", "connector": "jdbc-source", **CONNECTION, "incrementing_column": "id",
            "tables": ["orders"], **overrides}


def sink(**overrides):
    return {"name": "orders-in", "connector": "jdbc-sink", **CONNECTION, **overrides}


def errors_of(raw) -> dict[str, list[str]]:
    with pytest.raises(ConfigError) as caught:
        validate_config(raw)
    return caught.value.as_dict()


def test_a_valid_source_and_sink_validate():
    assert validate_config(source()).kind == "source"
    assert validate_config(sink(insert_mode="upsert", pk_mode="record_key", pk_fields=["id"])).kind == "sink"


@pytest.mark.parametrize("overrides, field, reason", [
    ({"incrementing_column": None}, "incrementing_column", "required"),
    ({"mode": "bulk"}, "mode", "Input should be 'incrementing' or 'timestamp+incrementing'"),
    ({"mode": "timestamp+incrementing"}, "timestamp_column", "required with mode: timestamp+incrementing"),
    ({"timestamp_column": "updated_at"}, "timestamp_column", "only used with mode: timestamp+incrementing"),
    ({"timestamp_delay_ms": 1000}, "timestamp_delay_ms", "only used with mode: timestamp+incrementing"),
    ({"query": "SELECT * FROM orders"}, "query", "set either tables or query, not both"),
    ({"tables": []}, "tables", "required: list the tables to read, or set query"),
    ({"tables": ["a.b.c"]}, "tables", "table name 'a.b.c' must be 'table' or 'schema.table'"),
    ({"tables": ["a", "a"]}, "tables", "lists a table twice"),
    ({"query_name": "q"}, "query_name", "only used with query"),
    ({"batch_size": 0}, "batch_size", "Input should be greater than or equal to 1"),
    ({"key_columns": ["id", "id"]}, "key_columns", "lists a column twice"),
    ({"password": "hunter2"}, "password", "must be a secret reference"),
    ({"ssl_mode": "allow"}, "ssl_mode", "Input should be 'disable', 'prefer', 'require' or 'verify-full'"),
    ({"ssl_root_cert": "/opt/rds.pem"}, "ssl_root_cert", "only used with ssl_mode: verify-full"),
    ({"port": 70000}, "port", "Input should be less than or equal to 65535"),
    ({"tabels": ["orders"]}, "tabels", "unknown option"),
])
def test_source_config_errors_name_the_field_and_the_reason(overrides, field, reason):
    raw = {k: v for k, v in source(**overrides).items() if v is not None}
    errors = errors_of(raw)
    assert field in errors, errors
    assert any(message.startswith(reason) for message in errors[field]), errors[field]


@pytest.mark.parametrize("overrides, field, reason", [
    ({"insert_mode": "upsert"}, "pk_mode", "insert_mode: upsert needs a primary key"),
    ({"pk_mode": "record_value"}, "pk_fields", "required with pk_mode: record_value"),
    ({"pk_fields": ["id"]}, "pk_fields", "only used with pk_mode record_key or record_value"),
    ({"delete_enabled": True, "pk_mode": "record_value", "pk_fields": ["id"]}, "delete_enabled",
     "deleting by tombstone needs pk_mode: record_key"),
    ({"table": "${topic}_${partition}"}, "table", "unknown placeholder '${partition}'"),
    ({"table": "a.b.${topic}"}, "table", "table name 'a.b.topic' must be 'table' or 'schema.table'"),
    ({"column_map": {"a": "x", "b": "x"}}, "column_map", "maps two fields to the same column"),
    ({"max_rows_per_statement": 0}, "max_rows_per_statement", "Input should be greater than or equal to 1"),
    ({"insert_mode": "merge"}, "insert_mode", "Input should be 'insert' or 'upsert'"),
])
def test_sink_config_errors_name_the_field_and_the_reason(overrides, field, reason):
    errors = errors_of(sink(**overrides))
    assert field in errors, errors
    assert any(message.startswith(reason) for message in errors[field]), errors[field]


def test_every_connection_problem_is_reported_at_once():
    errors = errors_of({"name": "x", "connector": "jdbc-sink"})
    assert errors == {"host": ["required: set host (with database and user) or url"],
                      "database": ["required (here or in url)"], "user": ["required (here or in url)"]}


def test_a_url_with_a_password_is_refused_without_echoing_it():
    with pytest.raises(ConfigError) as caught:
        validate_config(sink(host=None, url="postgresql://app:s3cr3t-pw@db:5432/shop"))
    assert caught.value.as_dict()["url"] == [
        "must not contain a password: put a secret reference in 'password' instead"]
    assert "s3cr3t-pw" not in str(caught.value)


@pytest.mark.parametrize("url, reason", [
    ("mysql://db/shop", "must look like 'postgresql://user@host:5432/database'"),
    ("postgresql://db:99999/shop", "has an invalid port"),
    ("postgresql://db/shop?connectTimeout=5", "option 'connectTimeout' is not supported"),
    ("postgresql://db/shop?sslmode=allow", "sslmode 'allow' is not one of"),
    ("postgresql:///shop", "has no host"),
])
def test_bad_urls_say_what_is_wrong(url, reason):
    errors = errors_of(sink(host=None, url=url))
    assert errors["url"][0].startswith(reason), errors


def test_url_and_host_conflict_and_url_values_that_disagree_are_errors():
    errors = errors_of(sink(url="postgresql://app@db/other", port=5433))
    assert errors == {"host": ["set either url or host, not both"], "database": ["differs from the database in url"]}
    errors = errors_of(sink(host=None, url="postgresql://app@db:5432/shop", port=5433, ssl_mode="disable",
                            database=None, user=None))
    assert errors == {"port": ["differs from the port in url"]}


def test_a_jdbc_url_resolves_to_the_endpoint_with_its_options():
    connector = validate_config(sink(host=None, database=None, user=None,
                                     url="jdbc:postgresql://db.internal:6432/shop?user=app&sslmode=verify-full",
                                     ssl_root_cert="/opt/rds-ca.pem"))
    assert endpoint_of(connector.config) == Endpoint("db.internal", 6432, "shop", "app", "verify-full")
    plain = validate_config(sink(host=None, database=None, url="postgres://app@db.internal/shop"))
    assert endpoint_of(plain.config) == Endpoint("db.internal", 5432, "shop", "app", "prefer")


def test_cloudformation_strings_are_accepted_for_numbers_and_flags():
    connector = validate_config(sink(port="6432", auto_create="true", max_rows_per_statement="100"))
    assert (connector.config.port, connector.config.auto_create, connector.config.max_rows_per_statement) == \
        (6432, True, 100)


def test_tables_are_dealt_over_the_tasks_and_a_query_is_one_task():
    connector = validate_config(source(tables=["a", "b", "c", "s.d", "e"], max_tasks=2))
    assert connector.task_configs(2) == [{"tables": ["a", "c", "e"]}, {"tables": ["b", "s.d"]}]
    assert validate_config(source(tables=["a"])).task_configs(4) == [{"tables": ["a"]}]
    assert validate_config(source(tables=[], query="SELECT 1 AS id;")).task_configs(4) == [{"query": True}]
    assert validate_config(source(tables=[], query="  SELECT 1 AS id ; ")).config.query == "SELECT 1 AS id"


def test_the_json_schema_marks_the_password_as_a_secret_reference():
    for name in ("jdbc-source", "jdbc-sink"):
        assert config_json_schema(name)["properties"]["password"]["anyOf"][0]["format"] == "secret-reference"


aware = st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 30),
                     timezones=st.sampled_from([dt.timezone.utc, dt.timezone(dt.timedelta(hours=5, minutes=30)),
                                                dt.timezone(dt.timedelta(hours=-8))]))


@given(aware, aware)
def test_timestamp_offsets_order_as_the_offset_store_compares_them_like_the_moments(a, b):
    ka = order_key({"timestamp": timestamp_text(a), "incrementing": 1}, ("timestamp", "incrementing"))
    kb = order_key({"timestamp": timestamp_text(b), "incrementing": 1}, ("timestamp", "incrementing"))
    assert (ka < kb) == (a < b) and (ka == kb) == (a == b)


@given(st.datetimes(min_value=dt.datetime(1000, 1, 1)), st.datetimes(min_value=dt.datetime(1000, 1, 1)))
def test_naive_timestamp_offsets_order_like_the_moments(a, b):
    assert (timestamp_text(a) < timestamp_text(b)) == (a < b)


def test_driver_values_become_json_friendly_values():
    import decimal
    import ipaddress
    import uuid

    assert column_value(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert column_value(ipaddress.ip_address("10.0.0.1")) == "10.0.0.1"
    assert column_value(dt.time(1, 2, tzinfo=dt.timezone.utc)) == "01:02:00+00:00"
    assert column_value([decimal.Decimal("1.5"), (1, 2)]) == [decimal.Decimal("1.5"), [1, 2]]
    assert iso_duration(dt.timedelta(days=-1, seconds=86399)) == "-P0DT1S"
    assert iso_duration(dt.timedelta(days=2, microseconds=5)) == "P2DT0.000005S"


def test_the_sink_task_is_idempotent_in_upsert_mode_only():
    from connect_core.api import TaskContext

    upsert = validate_config(sink(insert_mode="upsert", pk_mode="record_key", pk_fields=["id"]))
    insert = validate_config(sink())
    assert upsert.task_class(upsert.config, {}, TaskContext("u", 0)).idempotent is True
    assert insert.task_class(insert.config, {}, TaskContext("i", 0)).idempotent is False
