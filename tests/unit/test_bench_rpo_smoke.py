"""The RPO benchmark's broker-free parts keep working: how it counts DynamoDB capacity, prices a month
and times a recovery, and that its report renders. No numbers of a run are checked (tests never
depend on timing); the real run needs brokers."""

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str):
    sys.path.insert(0, str(BENCH))  # the RPO bench imports the throughput bench as a sibling
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        module = sys.modules[name] = importlib.util.module_from_spec(spec)  # dataclasses look it up
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_the_meter_charges_request_units_as_dynamodb_bills_them():
    meter = load("dynamodb_meter")
    small = {"pk": {"S": "c"}, "sk": {"S": "p"}, "offset": {"S": "{}"}}

    assert meter.request_units("PutItem", {"Item": small}) == (1, 0)
    assert meter.request_units("PutItem", {"Item": {**small, "big": {"S": "x" * 3000}}}) == (3, 0)
    # a transaction: two units an item, its condition check included
    assert meter.request_units("TransactWriteItems", {"TransactItems": [
        {"ConditionCheck": {"Key": small}}, {"Put": {"Item": small}}, {"Put": {"Item": small}}]}) == (6, 0)
    assert meter.request_units("BatchWriteItem", {"RequestItems": {"t": [
        {"PutRequest": {"Item": small}}, {"DeleteRequest": {"Key": small}}]}}) == (2, 0)
    assert meter.request_units("GetItem", {"ConsistentRead": True}) == (0, 1.0)
    assert meter.request_units("GetItem", {}) == (0, 0.5)
    assert meter.request_units("BatchGetItem", {"RequestItems": {"t": {"Keys": [small] * 4}}}) == (0, 2.0)


def test_a_month_is_priced_from_the_counts_of_a_round():
    bench = load("replication_rpo")
    counts = {"seconds": 60.0, "lambda_invocations": 1, "lambda_seconds": 60.0, "scheduler_invocations": 1,
              "dynamodb_requests": 120, "wru": 600.0, "rru": 60.0}

    cost = bench.monthly_cost(counts)

    # one tick alive the whole month at 0.5 GB: 30 days x 86400 s x 0.5 GB-s
    assert cost["lambda_gb_s"] == 1_296_000
    assert round(cost["lambda_compute"], 2) == round(1_296_000 * bench.PRICES["lambda_gb_s"], 2)
    assert cost["wru_millions"] == round(600 * 43_200 / 1e6, 2)  # 10 WRU/s for a month
    parts = cost["lambda_compute"] + cost["lambda_requests"] + cost["dynamodb"] + cost["scheduler"]
    assert abs(cost["total"] - parts) <= 0.01


def test_replication_resumes_when_the_first_message_born_after_a_kill_is_stored():
    bench = load("replication_rpo")
    # (born, seconds into the round; lag ms): the kill at 10 s; the first message born after it (at
    # 10.5 s) is stored at 20.9 s; the one born before it does not count
    lags = [(9.0, 20), (10.5, 10_400), (12.0, 9_000), (25.0, 15)]

    assert bench.resumed_after(10.0 + 1000.0, lags, 1000.0) == 10.9
