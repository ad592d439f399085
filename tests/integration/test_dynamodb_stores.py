"""The store contract on DynamoDB (the embedded endpoint), and races with real threads.

The contract tests are the unit suite's own ``StoreContract``; only the ``stores`` fixture differs.
"""

from __future__ import annotations

import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from connect_core import aws
from connect_core.api.record import partition_key
from connect_core.errors import LeaseLostError, OffsetRegressionError, StaleEpochError
from connect_core.storage import Stores, TaskLease

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:  # `pytest` (unlike `python -m pytest`) does not put the repo root on sys.path
    sys.path.insert(0, _ROOT)

from tests.unit.test_stores import TTL, ManualClock, P, StoreContract  # noqa: E402

pytestmark = pytest.mark.integration


class TestDynamoDBStores(StoreContract):
    @pytest.fixture
    def stores(self, clock: ManualClock, tables: tuple[str, str]) -> Stores:
        return Stores.dynamodb(*tables, clock=clock)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def stores(clock: ManualClock, tables: tuple[str, str]) -> Stores:
    return Stores.dynamodb(*tables, clock=clock)


def test_tables_have_the_documented_schema(tables: tuple[str, str]) -> None:
    ddb = aws.client("dynamodb")
    for name in tables:
        table = ddb.describe_table(TableName=name)["Table"]
        assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                      {"AttributeName": "sk", "KeyType": "RANGE"}]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_stored_items_have_the_documented_shape(stores: Stores, tables: tuple[str, str],
                                                clock: ManualClock) -> None:
    configs_table, offsets_table = tables
    lease = stores.leases.claim("c1", 3, "worker-a", TTL)
    stores.offsets.commit("c1", [(P(0), {"n": 7})], task=3, epoch=lease.epoch, order=("n",))
    stores.configs.put_connector("c1", {"rate": 0.1})

    ddb = aws.client("dynamodb")
    offset = ddb.get_item(TableName=offsets_table, Key={
        "pk": {"S": "c1"}, "sk": {"S": '{"queue":0,"topic":"orders"}'}})["Item"]
    assert json.loads(offset["partition"]["S"]) == P(0)
    assert json.loads(offset["offset"]["S"]) == {"n": 7}
    assert (offset["epoch"]["N"], offset["task"]["N"], float(offset["updated_at"]["N"])) == ("1", "3", clock())
    assert "ord" in offset
    lease_item = ddb.get_item(TableName=configs_table, Key={
        "pk": {"S": "connector#c1"}, "sk": {"S": "lease#task#3"}})["Item"]
    assert lease_item["epoch"]["N"] == "1" and lease_item["owner"]["S"] == "worker-a"
    config = ddb.get_item(TableName=configs_table, Key={
        "pk": {"S": "connector#c1"}, "sk": {"S": "config"}})["Item"]
    assert config["config"]["S"] == '{"rate":0.1}'  # JSON text, not a DynamoDB map


def _race(threads: int, action):
    """Run ``action(i)`` on ``threads`` threads released at the same moment; their results in order."""
    start = threading.Barrier(threads)

    def run(i: int):
        start.wait()
        return action(i)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(run, range(threads)))


def test_racing_claims_have_exactly_one_winner(stores: Stores, clock: ManualClock) -> None:
    for round_ in range(1, 4):
        won = [lease for lease in _race(8, lambda i: stores.leases.claim("c1", 0, f"w{i}", TTL)) if lease]

        assert len(won) == 1
        assert won[0].epoch == round_
        assert stores.leases.get("c1", 0) == won[0]
        clock.advance(TTL)  # expire it for the next round


def test_racing_renew_and_claim_after_expiry(stores: Stores, clock: ManualClock) -> None:
    holder = stores.leases.claim("c1", 0, "holder", TTL)
    clock.advance(TTL)

    def act(i: int):
        try:
            return stores.leases.renew(holder, TTL) if i == 0 else stores.leases.claim("c1", 0, f"w{i}", TTL)
        except LeaseLostError:
            return None

    results = _race(6, act)

    final = stores.leases.get("c1", 0)
    if results[0] is not None:  # the holder renewed first: every claim saw a live lease...
        assert final.owner == "holder" and final.epoch == 1 and not any(results[1:])
    else:  # ...or exactly one claim won, with the next epoch
        winners = [r for r in results[1:] if r]
        assert len(winners) == 1 and final == winners[0] and final.epoch == 2


def test_a_stale_holder_cannot_commit(stores: Stores, clock: ManualClock) -> None:
    old = stores.leases.claim("c1", 0, "old", TTL)
    stores.offsets.commit("c1", [(P(0), {"n": 10}), (P(1), {"n": 10})], task=0, epoch=old.epoch, order=("n",))
    clock.advance(TTL + 1)  # the old holder stalls past its lease
    new = stores.leases.claim("c1", 0, "new", TTL)
    assert new.epoch == old.epoch + 1

    with pytest.raises(StaleEpochError):
        stores.offsets.commit("c1", [(P(0), {"n": 11}), (P(1), {"n": 11})], task=0,
                              epoch=old.epoch, order=("n",))
    with pytest.raises(LeaseLostError):
        stores.leases.renew(old, TTL)
    assert stores.leases.release(old) is False

    assert stores.offsets.read("c1", [P(0), P(1)]).by_key() == {
        '{"queue":0,"topic":"orders"}': {"n": 10}, '{"queue":1,"topic":"orders"}': {"n": 10}}
    assert stores.leases.get("c1", 0) == new


def test_zombie_commits_racing_a_new_claim_are_all_fenced(stores: Stores, clock: ManualClock) -> None:
    old = stores.leases.claim("c1", 0, "old", TTL)
    clock.advance(TTL)
    new_epoch: list[int] = []

    def act(i: int):
        if i == 0:
            lease = stores.leases.claim("c1", 0, "new", TTL)
            new_epoch.append(lease.epoch)
            return "claimed"
        try:
            stores.offsets.commit("c1", [(P(i), {"n": i})], task=0, epoch=old.epoch)
            return "committed"
        except StaleEpochError:
            return "fenced"

    results = _race(6, act)

    # Whatever the interleaving, each zombie commit either landed before the claim or not at all,
    # and after the claim no commit under the old epoch can land.
    committed = {i for i, r in enumerate(results) if r == "committed"}
    assert set(stores.offsets.read_all("c1").by_key()) == {partition_key(P(i)) for i in committed}
    with pytest.raises(StaleEpochError):
        stores.offsets.commit("c1", [(P(0), {"n": 0})], task=0, epoch=old.epoch)
    assert new_epoch == [old.epoch + 1]


def test_offsets_stay_monotone_under_concurrent_writers(stores: Stores) -> None:
    lease: TaskLease = stores.leases.claim("c1", 0, "w", TTL)
    partitions = [P(q) for q in range(3)]
    writers, commits_each = 6, 12
    # Writers run up, down and in a zigzag, so most commits race someone with a higher offset.
    sequences = []
    for w in range(writers):
        values = [w + writers * k for k in range(commits_each)]
        sequences.append(values if w % 3 == 0 else values[::-1] if w % 3 == 1 else values[::2] + values[1::2])
    accepted: list[int] = []
    rejected: list[int] = []
    lock = threading.Lock()
    done = threading.Event()
    seen_backwards: list[tuple] = []

    def write(w: int) -> None:
        for n in sequences[w]:
            try:
                stores.offsets.commit("c1", [(p, {"n": n, "writer": w}) for p in partitions], task=0,
                                      epoch=lease.epoch, order=("n",))
                with lock:
                    accepted.append(n)
            except OffsetRegressionError:
                with lock:
                    rejected.append(n)

    def read() -> None:
        last = {}
        while not done.is_set():
            for partition, offset in stores.offsets.read("c1", partitions).pairs():
                key = partition["queue"]
                if offset["n"] < last.get(key, -1):
                    seen_backwards.append((key, last[key], offset["n"]))
                last[key] = offset["n"]

    reader = threading.Thread(target=read)
    reader.start()
    try:
        _race(writers, lambda w: write(w))
    finally:
        done.set()
        reader.join()

    final = stores.offsets.read("c1", partitions)
    top = max(n for seq in sequences for n in seq)
    assert {offset["n"] for offset in final.values()} == {top} == {max(accepted)}
    assert len(accepted) + len(rejected) == writers * commits_each
    assert rejected and all(n < top for n in rejected)
    assert seen_backwards == []
