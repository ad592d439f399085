"""``dynamodb-sink`` against the embedded DynamoDB: items, keys, modes, tombstones, batching, versions."""

from __future__ import annotations

import decimal
import json

import pytest

from connect_core import aws
from connect_core.api import ConnectRecord, SinkRecordErrors
from connect_core.config import validate_config
from connect_core.connectors.dynamodb import BATCH_WRITE_ATTEMPTS, ItemError, ItemWriteError, number_text
from connect_core.errors import ConfigError, RetriableError
from connect_core.runtime.pipeline import Message, SinkPipeline

pytestmark = pytest.mark.integration

P0 = {"source": "orders", "partition": 0}


def config(table: str, **overrides) -> dict:
    return {"name": "orders-table", "connector": "dynamodb-sink", "table": table, **overrides}


def rec(key, value, seq: int = 0, *, timestamp: int | None = None, partition=P0) -> ConnectRecord:
    return ConnectRecord("orders", value, key, partition, {"seq": seq}, timestamp)


def items(table: str) -> dict:
    """Every item, in plain Python (numbers as Decimal), by its partition key (and sort key)."""
    from boto3.dynamodb.types import TypeDeserializer

    plain = TypeDeserializer()
    out = {}
    for item in aws.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]:
        value = {k: plain.deserialize(v) for k, v in item.items()}
        key = value["pk"] if "sk" not in value else (value["pk"], value["sk"])
        out[key] = value
    return out


class Recording:
    """The real DynamoDB client, recording the calls made through it."""

    def __init__(self, real) -> None:
        self.real, self.calls = real, []

    def __getattr__(self, name):
        method = getattr(self.real, name)

        def call(**kwargs):
            self.calls.append(name)
            return method(**kwargs)

        return call


class ThrottledBatches(Recording):
    """The real client, except that BatchWriteItem leaves the last ``unprocessed`` requests of each call
    unwritten and reports them as UnprocessedItems for the first ``throttled_calls`` calls. Fault
    injection: the embedded DynamoDB never throttles."""

    def __init__(self, real, throttled_calls: int, unprocessed: int = 3) -> None:
        super().__init__(real)
        self.throttled_calls, self.unprocessed = throttled_calls, unprocessed

    def batch_write_item(self, RequestItems):
        self.calls.append("batch_write_item")
        [(table, requests)] = RequestItems.items()
        if self.throttled_calls <= 0:
            return self.real.batch_write_item(RequestItems=RequestItems)
        self.throttled_calls -= 1
        keep, left = requests[:-self.unprocessed], requests[-self.unprocessed:]
        if keep:
            self.real.batch_write_item(RequestItems={table: keep})
        return {"UnprocessedItems": {table: left}}


# -- configuration -------------------------------------------------------------------------------

def test_invalid_configs_name_every_field_and_the_reason():
    raw = config("x", partition_key={"source": "value"}, mode="replace",
                 version={"source": "field"}, max_concurrency=0, colour="blue")

    with pytest.raises(ConfigError) as failure:
        validate_config(raw)

    errors = failure.value.as_dict()
    assert "DynamoDB table name" in errors["table"][0]
    assert errors["partition_key"] == ["source 'value' needs field: the value field that holds the key"]
    assert errors["version"] == ["source 'field' needs field: the value field that holds the version"]
    assert "'put' or 'upsert'" in errors["mode"][0]
    assert "greater than or equal to 1" in errors["max_concurrency"][0]
    assert errors["colour"] == ["unknown option (misspelt, or not an option of this connector)"]


def test_a_sort_key_from_the_same_place_as_the_partition_key_is_refused():
    with pytest.raises(ConfigError) as failure:
        validate_config(config("orders", sort_key={"source": "key"}))

    assert failure.value.as_dict() == {
        "sort_key": ["takes its value from the same place as partition_key; name another field"]}


@pytest.mark.parametrize("overrides, field, reason", [
    ({}, "sort_key", "required: table '{t}' has sort key 'sk' (N)"),
    ({"sort_key": {"source": "value", "field": "line"}, "partition_key": {"attribute": "id"}},
     "partition_key.attribute", "table '{t}' has partition key 'pk', not 'id'"),
    ({"sort_key": {"source": "value", "field": "line"}, "version": {"attribute": "sk"}},
     "version.attribute", "'sk' is a key attribute of table '{t}'"),
])
def test_a_config_that_does_not_fit_the_table_fails_every_record_with_the_field_named(
        make_table, start_task, overrides, field, reason):
    table = make_table(("pk", "S"), ("sk", "N"))
    task = start_task(config(table, **overrides))

    with pytest.raises(SinkRecordErrors) as failure:
        task.put([rec("a", {"line": 1}), rec("b", {"line": 2})])

    assert sorted(failure.value.errors) == [0, 1]
    error = failure.value.errors[0]
    assert isinstance(error, ConfigError) and error.errors[0].field == field
    assert reason.format(t=table) in error.errors[0].message


# -- items -----------------------------------------------------------------------------------------

def test_values_become_items_with_dynamodb_types_keyed_by_the_record_key(make_table, start_task):
    table = make_table(("pk", "S"))
    task = start_task(config(table))
    value = {"total": 0.1, "count": 3, "big": 10**40, "paid": True, "note": None, "raw": b"\x00\xff",
             "lines": [{"sku": "A-1", "price": 19.99}, "gift"], "empty": ""}

    task.put([rec("o-1", value)])

    item = items(table)["o-1"]
    assert item["total"] == decimal.Decimal("0.1")  # exactly as written, not 0.1000000000000000055...
    assert item["big"] == decimal.Decimal(10**40)
    assert (item["count"], item["paid"], item["note"], item["empty"]) == (3, True, None, "")
    assert bytes(item["raw"]) == b"\x00\xff"
    assert item["lines"] == [{"sku": "A-1", "price": decimal.Decimal("19.99")}, "gift"]


def test_keys_come_from_fields_of_a_json_key_or_of_the_value_converted_to_the_table_types(make_table, start_task):
    table = make_table(("pk", "N"), ("sk", "S"))
    task = start_task(config(table, partition_key={"source": "key", "field": "customer.id"},
                             sort_key={"source": "value", "field": "order"}))

    task.put([rec({"customer": {"id": "42"}}, {"order": 7, "total": 5}),
              rec({"customer": {"id": 43}}, {"order": "A-9", "total": 6})])

    stored = items(table)
    assert set(stored) == {(42, "7"), (43, "A-9")}
    assert stored[(42, "7")]["total"] == 5


def test_binary_keys_and_keys_that_do_not_fit_the_key_type(make_table, start_task):
    table = make_table(("pk", "B"), ("sk", "N"))
    task = start_task(config(table, sort_key={"source": "value", "field": "n"}))

    with pytest.raises(SinkRecordErrors) as failure:
        task.put([rec(b"\x01\x02", {"n": "7"}), rec("text", {"n": "seven"}), rec("x", {"n": [1]})])

    assert {i: str(e) for i, e in failure.value.errors.items()} == {
        1: "sort_key: value.n is 'seven', not a number (the table's key is N)",
        2: "sort_key: value.n is a list; the table's key is a number (N)"}
    [item] = aws.client("dynamodb").scan(TableName=table)["Items"]
    assert (item["pk"], item["sk"]) == ({"B": b"\x01\x02"}, {"N": "7"})


def test_put_replaces_the_item_and_upsert_sets_only_the_given_attributes(make_table, start_task):
    table = make_table(("pk", "S"))
    start_task(config(table)).put([rec("a", {"status": "new", "total": 10}), rec("b", {"status": "new", "total": 20})])

    start_task(config(table, name="replace")).put([rec("a", {"status": "paid"})])
    start_task(config(table, name="merge", mode="upsert")).put([rec("b", {"status": "paid", "pk": "ignored"})])

    stored = items(table)
    assert stored["a"] == {"pk": "a", "status": "paid"}
    assert stored["b"] == {"pk": "b", "status": "paid", "total": 20}


def test_a_tombstone_deletes_the_item_or_is_skipped_when_deletes_are_off(make_table, start_task):
    table = make_table(("pk", "S"))
    start_task(config(table)).put([rec("a", {"v": 1}), rec("b", {"v": 2})])

    start_task(config(table)).put([rec("a", None)])
    start_task(config(table, name="keep", delete_on_tombstone=False)).put([rec("b", None)])

    assert set(items(table)) == {"b"}


def test_the_records_of_one_key_are_folded_in_batch_order(make_table, start_task):
    table = make_table(("pk", "S"))
    task = start_task(config(table, mode="upsert"))
    task.ddb = Recording(aws.client("dynamodb"))

    task.put([rec("a", {"x": 1}), rec("a", {"y": 2}),               # upserts merge
              rec("b", {"x": 1}), rec("b", None), rec("b", {"z": 3}),  # delete then upsert: only z
              rec("c", {"x": 1}), rec("c", None)])                    # ends deleted

    stored = items(table)
    assert stored == {"a": {"pk": "a", "x": 1, "y": 2}, "b": {"pk": "b", "z": 3}}
    assert task.ddb.calls.count("update_item") == 1  # a; b and c went in one BatchWriteItem
    assert task.ddb.calls.count("batch_write_item") == 1


def test_puts_go_in_batches_of_25_and_one_key_never_twice_in_a_request(make_table, start_task):
    table = make_table(("pk", "S"))
    task = start_task(config(table, max_concurrency=1))
    task.ddb = Recording(aws.client("dynamodb"))
    batch = [rec(f"k{n % 60}", {"n": n}, n) for n in range(120)]  # every key twice

    task.put(batch)

    stored = items(table)
    assert len(stored) == 60 and {v["n"] for v in stored.values()} == set(range(60, 120))  # the later record wins
    assert task.ddb.calls == ["describe_table"] + ["batch_write_item"] * 3  # 25 + 25 + 10


def test_unprocessed_items_are_retried_with_backoff_until_written(make_table, start_task):
    table = make_table(("pk", "S"))
    task = start_task(config(table))
    task.ddb = ThrottledBatches(aws.client("dynamodb"), throttled_calls=2)
    sleeps = []
    task.sleep = sleeps.append

    task.put([rec(f"k{n}", {"n": n}) for n in range(10)])

    assert len(items(table)) == 10
    assert task.ddb.calls.count("batch_write_item") == 3 and len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.05 and 0 <= sleeps[1] <= 0.1  # full jitter under a doubling cap


def test_items_that_stay_unprocessed_are_a_retriable_failure_and_the_runtime_retries(make_table, start_task):
    table = make_table(("pk", "S"))
    raw = config(table, errors={"retry_timeout_ms": 60_000})
    task = start_task(raw)
    task.ddb = ThrottledBatches(aws.client("dynamodb"), throttled_calls=BATCH_WRITE_ATTEMPTS)
    task.sleep = lambda s: None

    with pytest.raises(RetriableError, match="unprocessed"):
        task.put([rec(f"k{n}", {"n": n}) for n in range(5)])

    # The runtime's Retrier calls put again; writing the processed items again changes nothing.
    pipeline = SinkPipeline(validate_config(raw).config, task, sleep=lambda s: None)
    messages = [Message(json.dumps({"n": n}).encode(), f"k{n}".encode(), "orders", {}, P0, {"seq": n}, id=str(n))
                for n in range(5)]
    task.ddb = ThrottledBatches(aws.client("dynamodb"), throttled_calls=BATCH_WRITE_ATTEMPTS)
    result = pipeline.deliver(messages)
    assert (result.written, result.failed_ids) == (5, [])
    assert {k: v["n"] for k, v in items(table).items()} == {f"k{n}": n for n in range(5)}


def test_writing_the_same_records_again_leaves_the_same_items(make_table, start_task):
    table = make_table(("pk", "S"))
    batch = [rec(f"k{n % 4}", {"n": n}, n) for n in range(10)] + [rec("k1", None, 10)]
    start_task(config(table)).put(batch)
    first = items(table)

    start_task(config(table)).put(batch)

    assert items(table) == first and set(first) == {"k0", "k2", "k3"}


# -- per-record failures ---------------------------------------------------------------------------

def test_records_that_cannot_become_items_fail_alone_with_the_reason(make_table, start_task):
    table = make_table(("pk", "S"))
    task = start_task(config(table))
    batch = [rec("ok-1", {"v": 1}),
             rec(None, {"v": 2}),                                   # no key
             rec("list", [1, 2]),                                   # not an object
             rec("digits", {"v": 10**39 + 1}),                      # 40 significant digits
             rec("nan", {"v": {"deep": [float("nan")]}}),
             rec("", {"v": 3}),                                     # empty key
             rec("huge", {"pad": "x" * 410_000}),                   # over the 400 KB item limit
             rec("ok-2", {"v": 4})]

    with pytest.raises(SinkRecordErrors) as failure:
        task.put(batch)

    errors = {i: str(e) for i, e in failure.value.errors.items()}
    assert sorted(errors) == [1, 2, 3, 4, 5, 6]
    assert errors[1] == "partition_key: the record has no key (partition_key.source is 'key')"
    assert errors[2] == "value: a list, not an object; an item is built from an object's fields"
    assert errors[3] == "value.v: a number with 40 significant digits; DynamoDB keeps at most 38"
    assert errors[4] == "value.v.deep[0]: nan is not a number DynamoDB can store"
    assert errors[5] == "partition_key: key is empty; DynamoDB keys cannot be empty"
    assert isinstance(failure.value.errors[6], ItemWriteError) and "Item size" in errors[6]
    assert all(isinstance(failure.value.errors[i], ItemError) for i in range(1, 6))
    assert set(items(table)) == {"ok-1", "ok-2"}


def test_a_tombstone_cannot_delete_when_the_key_comes_from_the_value(make_table, start_task):
    table = make_table(("pk", "S"))
    task = start_task(config(table, partition_key={"source": "value", "field": "id"}))

    with pytest.raises(SinkRecordErrors) as failure:
        task.put([rec("k", {"id": "a"}), rec("k", None)])

    assert list(failure.value.errors) == [1]
    assert "a tombstone has no value field 'id'" in str(failure.value.errors[1])
    assert set(items(table)) == {"a"}


def test_a_missing_table_fails_every_record_naming_the_table(embedded_aws, start_task):
    task = start_task(config("no-such-table"))

    with pytest.raises(SinkRecordErrors) as failure:
        task.put([rec("a", {"v": 1})])

    [error] = failure.value.errors.values()
    assert isinstance(error, ConfigError) and str(error.errors[0]) == "table: table 'no-such-table' does not exist"


# -- versions: out-of-order writes are skipped -------------------------------------------------------

def test_with_a_version_older_writes_never_replace_newer_ones(make_table, start_task):
    table = make_table(("pk", "S"))
    task = start_task(config(table, version={"source": "offset"}))
    task.put([rec("a", {"status": "shipped"}, seq=7), rec("b", {"status": "new"}, seq=3)])

    task.put([rec("a", {"status": "paid"}, seq=5),        # older than what a holds: skipped
              rec("b", {"status": "paid"}, seq=4),        # newer: written
              rec("a", {"status": "shipped"}, seq=7)])    # the same record again: skipped, nothing changes

    stored = items(table)
    assert stored["a"] == {"pk": "a", "status": "shipped", "_version": 7}
    assert stored["b"] == {"pk": "b", "status": "paid", "_version": 4}


def test_versions_from_a_value_field_order_the_records_of_one_batch(make_table, start_task):
    table = make_table(("pk", "S"))
    task = start_task(config(table, mode="upsert", version={"source": "field", "field": "meta.rev",
                                                          "attribute": "rev"}))

    task.put([rec("a", {"meta": {"rev": 3}, "x": "third"}), rec("a", {"meta": {"rev": 1}, "x": "first", "y": 1}),
              rec("a", {"meta": {"rev": 2}, "z": "second"})])

    assert items(table)["a"] == {"pk": "a", "rev": 3, "x": "third", "y": 1, "z": "second",
                                 "meta": {"rev": 3}}


def test_with_a_version_a_late_tombstone_does_not_delete_a_newer_item(make_table, start_task):
    table = make_table(("pk", "S"))
    task = start_task(config(table, version={"source": "timestamp"}))
    task.put([rec("a", {"v": 2}, timestamp=2_000), rec("b", {"v": 1}, timestamp=1_000)])

    task.put([rec("a", None, timestamp=1_500), rec("b", None, timestamp=1_500)])

    assert set(items(table)) == {"a"}


def test_a_version_the_record_does_not_carry_fails_that_record(make_table, start_task):
    table = make_table(("pk", "S"))
    task = start_task(config(table, version={"source": "timestamp"}))

    with pytest.raises(SinkRecordErrors) as failure:
        task.put([rec("a", {"v": 1}, timestamp=5), rec("b", {"v": 1})])

    assert str(failure.value.errors[1]) == "version: the record has no timestamp (version.source is 'timestamp')"
    assert set(items(table)) == {"a"}


def test_numbers_keep_their_written_form_within_dynamodb_limits():
    assert [number_text(v) for v in (0, 0.1, -5, 10**40, decimal.Decimal("1.50"), 2**63)] == \
        ["0", "0.1", "-5", "1E+40", "1.50", "9223372036854775808"]
    with pytest.raises(ItemError, match="outside DynamoDB's range"):
        number_text(1e300)
