"""The store contract: every OffsetStore, LeaseStore, ConfigStore and StatusStore behaves like this.

``StoreContract`` holds the tests; a subclass supplies a ``stores`` fixture built with the
``clock`` fixture. Here it runs on the in-memory stores; tests/integration runs the same class on
DynamoDB (the embedded endpoint). Time only moves when a test advances the clock.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connect_core.api.record import OffsetMap
from connect_core.errors import ConflictError, LeaseLostError, NotFoundError, OffsetRegressionError, StaleEpochError
from connect_core.storage import (ConnectorEntry, ConnectorStatus, EpochFence, State, StatusEntry, Stores, TargetState,
                                  TaskLease, order_key)

T0 = 1_700_000_000.0
TTL = 30.0


class ManualClock:
    """A clock that only moves when told to; safe to share between threads."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def P(queue: int, topic: str = "orders") -> dict:
    return {"topic": topic, "queue": queue}


class StoreContract:
    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    @pytest.fixture
    def stores(self, clock: ManualClock) -> Stores:  # pragma: no cover - subclasses override
        raise NotImplementedError

    @pytest.fixture
    def lease(self, stores: Stores) -> TaskLease:
        lease = stores.leases.claim("c1", 0, "worker-a", TTL)
        assert lease is not None
        return lease

    # --- leases --------------------------------------------------------------------------

    def test_first_claim_gets_epoch_1(self, stores: Stores, clock: ManualClock) -> None:
        lease = stores.leases.claim("c1", 0, "worker-a", TTL)

        assert lease == TaskLease("c1", 0, "worker-a", 1, T0 + TTL, False, renewed_at=T0)
        assert lease.is_live(clock()) and lease.previous is None
        assert stores.leases.get("c1", 0) == lease

    def test_get_of_unclaimed_lease_is_none(self, stores: Stores) -> None:
        assert stores.leases.get("c1", 0) is None

    def test_live_lease_cannot_be_claimed_by_anyone(self, stores: Stores, lease: TaskLease,
                                                    clock: ManualClock) -> None:
        clock.advance(TTL - 1)

        assert stores.leases.claim("c1", 0, "worker-b", TTL) is None
        assert stores.leases.claim("c1", 0, "worker-a", TTL) is None
        assert stores.leases.get("c1", 0) == lease

    def test_expired_lease_is_claimed_with_the_next_epoch(self, stores: Stores, lease: TaskLease,
                                                          clock: ManualClock) -> None:
        clock.advance(TTL)  # expires_at <= now: expired

        taken = stores.leases.claim("c1", 0, "worker-b", 10)

        assert taken == TaskLease("c1", 0, "worker-b", 2, T0 + TTL + 10, False, renewed_at=T0 + TTL)
        assert stores.leases.get("c1", 0) == taken

    def test_leases_are_per_connector_and_task(self, stores: Stores, lease: TaskLease) -> None:
        other_task = stores.leases.claim("c1", 1, "worker-b", TTL)
        other_connector = stores.leases.claim("c2", 0, "worker-c", TTL)

        assert other_task is not None and other_task.epoch == 1
        assert other_connector is not None and other_connector.epoch == 1

    def test_renew_extends_the_lease(self, stores: Stores, lease: TaskLease, clock: ManualClock) -> None:
        clock.advance(20)

        renewed = stores.leases.renew(lease, TTL)

        assert renewed == TaskLease("c1", 0, "worker-a", 1, T0 + 20 + TTL, False, renewed_at=T0 + 20)
        clock.advance(TTL - 1)
        assert stores.leases.claim("c1", 0, "worker-b", TTL) is None

    def test_renew_of_expired_but_unclaimed_lease_succeeds(self, stores: Stores, lease: TaskLease,
                                                          clock: ManualClock) -> None:
        clock.advance(TTL + 5)

        renewed = stores.leases.renew(lease, TTL)

        assert renewed.epoch == lease.epoch and renewed.expires_at == clock() + TTL

    def test_renew_after_another_claim_raises_lease_lost(self, stores: Stores, lease: TaskLease,
                                                         clock: ManualClock) -> None:
        clock.advance(TTL)
        taken = stores.leases.claim("c1", 0, "worker-b", TTL)

        with pytest.raises(LeaseLostError):
            stores.leases.renew(lease, TTL)
        assert stores.leases.get("c1", 0) == taken

    def test_renew_by_another_owner_raises_lease_lost(self, stores: Stores, lease: TaskLease) -> None:
        impostor = TaskLease(lease.connector, lease.task, "worker-b", lease.epoch, lease.expires_at)

        with pytest.raises(LeaseLostError):
            stores.leases.renew(impostor, TTL)

    def test_renew_after_release_raises_lease_lost(self, stores: Stores, lease: TaskLease) -> None:
        stores.leases.release(lease)

        with pytest.raises(LeaseLostError):
            stores.leases.renew(lease, TTL)

    def test_claim_carries_the_lease_it_replaced(self, stores: Stores, lease: TaskLease,
                                                 clock: ManualClock) -> None:
        clock.advance(5)
        stores.leases.release(lease)
        clock.advance(1)

        taken = stores.leases.claim("c1", 0, "worker-b", TTL)

        assert taken is not None and taken.previous is not None
        assert (taken.previous.owner, taken.previous.epoch, taken.previous.released) == ("worker-a", 1, True)
        assert taken.previous.ended_at() == T0 + 5  # released then
        clock.advance(TTL)  # worker-b dies: its lease runs out
        again = stores.leases.claim("c1", 0, "worker-c", TTL)
        assert again is not None and again.previous is not None and not again.previous.released
        assert again.previous.ended_at() == T0 + 6  # its last sign of life: the claim

    def test_a_handover_request_reaches_the_holder_at_its_renewal(self, stores: Stores, lease: TaskLease,
                                                                   clock: ManualClock) -> None:
        asked = stores.leases.request_handover("c1", 0, "worker-b")

        assert asked is not None and asked.epoch == lease.epoch and asked.handover_requested_by == "worker-b"
        renewed = stores.leases.renew(lease, TTL)
        assert renewed.handover_requested and renewed.handover_requested_by == "worker-b"
        assert stores.leases.renew(lease, TTL).handover_requested  # it stays until the next claim

    def test_a_handover_request_needs_a_live_lease(self, stores: Stores, clock: ManualClock) -> None:
        assert stores.leases.request_handover("c1", 0, "worker-b") is None  # never claimed
        lease = stores.leases.claim("c1", 0, "worker-a", TTL)
        assert lease is not None
        stores.leases.release(lease)
        assert stores.leases.request_handover("c1", 0, "worker-b") is None  # released: claim it
        other = stores.leases.claim("c1", 1, "worker-a", TTL)
        assert other is not None
        clock.advance(TTL)
        assert stores.leases.request_handover("c1", 1, "worker-b") is None  # expired: claim it

    def test_the_claim_after_a_handover_clears_the_request(self, stores: Stores, lease: TaskLease) -> None:
        stores.leases.request_handover("c1", 0, "worker-b")
        stores.leases.release(lease)

        taken = stores.leases.claim("c1", 0, "worker-b", TTL)

        assert taken is not None and not taken.handover_requested
        assert taken.previous is not None and taken.previous.handover_requested_by == "worker-b"
        assert not stores.leases.renew(taken, TTL).handover_requested

    def test_of_racing_successors_exactly_one_gets_the_lease(self, stores: Stores, lease: TaskLease) -> None:
        assert stores.leases.request_handover("c1", 0, "worker-b") is not None
        assert stores.leases.request_handover("c1", 0, "worker-c") is not None
        stores.leases.release(lease)

        winners = [claim for claim in (stores.leases.claim("c1", 0, "worker-b", TTL),
                                       stores.leases.claim("c1", 0, "worker-c", TTL)) if claim is not None]

        assert len(winners) == 1 and winners[0].epoch == lease.epoch + 1

    def test_release_ends_the_lease_and_keeps_its_epoch(self, stores: Stores, lease: TaskLease,
                                                        clock: ManualClock) -> None:
        clock.advance(1)

        assert stores.leases.release(lease) is True

        stored = stores.leases.get("c1", 0)
        assert stored is not None and stored.released and stored.epoch == 1
        assert not stored.is_live(clock())
        next_lease = stores.leases.claim("c1", 0, "worker-b", TTL)
        assert next_lease is not None and next_lease.epoch == 2

    def test_release_twice_is_harmless(self, stores: Stores, lease: TaskLease) -> None:
        assert stores.leases.release(lease) is True
        assert stores.leases.release(lease) is True

    def test_release_of_a_lost_lease_changes_nothing(self, stores: Stores, lease: TaskLease,
                                                     clock: ManualClock) -> None:
        clock.advance(TTL)
        taken = stores.leases.claim("c1", 0, "worker-b", TTL)

        assert stores.leases.release(lease) is False

        assert stores.leases.get("c1", 0) == taken
        assert stores.leases.claim("c1", 0, "worker-c", TTL) is None

    # --- offsets -------------------------------------------------------------------------

    def test_read_of_nothing_committed_is_empty(self, stores: Stores) -> None:
        assert len(stores.offsets.read("c1", [P(0), P(1)])) == 0
        assert len(stores.offsets.read_all("c1")) == 0

    def test_commit_then_read(self, stores: Stores, lease: TaskLease) -> None:
        stores.offsets.commit("c1", [(P(0), {"n": 5}), (P(1), {"n": 7})], task=0, epoch=lease.epoch)

        read = stores.offsets.read("c1", [P(0), P(2)])
        assert read.pairs() == [(P(0), {"n": 5})]
        assert stores.offsets.read_all("c1").by_key() == OffsetMap.of(
            [(P(0), {"n": 5}), (P(1), {"n": 7})]).by_key()

    def test_partitions_match_whatever_their_key_order(self, stores: Stores, lease: TaskLease) -> None:
        stores.offsets.commit("c1", [({"b": 1, "a": 2}, {"n": 1})], task=0, epoch=lease.epoch)

        assert stores.offsets.read("c1", [{"a": 2, "b": 1}])[{"b": 1, "a": 2}] == {"n": 1}

    def test_read_with_repeated_partitions(self, stores: Stores, lease: TaskLease) -> None:
        stores.offsets.commit("c1", [(P(0), {"n": 1})], task=0, epoch=lease.epoch)

        assert stores.offsets.read("c1", [P(0), P(0), P(1)]).pairs() == [(P(0), {"n": 1})]

    def test_commit_accepts_an_offset_map(self, stores: Stores, lease: TaskLease) -> None:
        stores.offsets.commit("c1", OffsetMap.of([(P(0), {"n": 3})]), task=0, epoch=lease.epoch)

        assert stores.offsets.read("c1", [P(0)])[P(0)] == {"n": 3}

    def test_offsets_round_trip_exactly(self, stores: Stores, lease: TaskLease) -> None:
        offset = {"pos": 0.1 + 0.2, "big": 2**62 + 1, "nested": {"list": [1, "ü", None, True]}, "s": ""}
        partition = {"file": "día/😀.txt", "shard": 1.5}

        stores.offsets.commit("c1", [(partition, offset)], task=0, epoch=lease.epoch)

        assert stores.offsets.read("c1", [partition])[partition] == offset
        assert stores.offsets.read_all("c1").pairs() == [(partition, offset)]

    def test_offsets_are_per_connector(self, stores: Stores, lease: TaskLease) -> None:
        other = stores.leases.claim("c2", 0, "worker-a", TTL)
        stores.offsets.commit("c1", [(P(0), {"n": 1})], task=0, epoch=lease.epoch)
        stores.offsets.commit("c2", [(P(0), {"n": 2})], task=0, epoch=other.epoch)

        assert stores.offsets.read("c1", [P(0)])[P(0)] == {"n": 1}
        assert stores.offsets.read_all("c2")[P(0)] == {"n": 2}

    def test_commit_without_a_lease_is_stale(self, stores: Stores) -> None:
        with pytest.raises(StaleEpochError):
            stores.offsets.commit("c1", [(P(0), {"n": 1})], task=0, epoch=1)
        assert len(stores.offsets.read_all("c1")) == 0

    def test_commit_under_another_tasks_lease_is_stale(self, stores: Stores, lease: TaskLease) -> None:
        with pytest.raises(StaleEpochError):
            stores.offsets.commit("c1", [(P(0), {"n": 1})], task=1, epoch=lease.epoch)

    def test_commit_with_a_stale_epoch_writes_nothing(self, stores: Stores, lease: TaskLease,
                                                      clock: ManualClock) -> None:
        stores.offsets.commit("c1", [(P(0), {"n": 1})], task=0, epoch=lease.epoch)
        clock.advance(TTL)
        newer = stores.leases.claim("c1", 0, "worker-b", TTL)

        with pytest.raises(StaleEpochError):
            stores.offsets.commit("c1", [(P(0), {"n": 2}), (P(1), {"n": 2})], task=0, epoch=lease.epoch)

        assert stores.offsets.read_all("c1").pairs() == [(P(0), {"n": 1})]
        stores.offsets.commit("c1", [(P(0), {"n": 3})], task=0, epoch=newer.epoch)
        assert stores.offsets.read("c1", [P(0)])[P(0)] == {"n": 3}

    def test_empty_commit_still_checks_the_epoch(self, stores: Stores, lease: TaskLease) -> None:
        stores.offsets.commit("c1", [], task=0, epoch=lease.epoch)
        with pytest.raises(StaleEpochError):
            stores.offsets.commit("c1", [], task=0, epoch=lease.epoch + 1)

    def test_expired_but_unclaimed_holder_may_still_commit(self, stores: Stores, lease: TaskLease,
                                                           clock: ManualClock) -> None:
        clock.advance(TTL * 3)

        stores.offsets.commit("c1", [(P(0), {"n": 1})], task=0, epoch=lease.epoch)

        assert stores.offsets.read("c1", [P(0)])[P(0)] == {"n": 1}

    def test_released_lease_epoch_still_fences_older_epochs(self, stores: Stores, lease: TaskLease) -> None:
        stores.leases.release(lease)
        newer = stores.leases.claim("c1", 0, "worker-b", TTL)
        stores.leases.release(newer)

        with pytest.raises(StaleEpochError):
            stores.offsets.commit("c1", [(P(0), {"n": 1})], task=0, epoch=lease.epoch)

    def test_ordered_commit_moves_forward_or_stays(self, stores: Stores, lease: TaskLease) -> None:
        for n in (1, 5, 5, 9):
            stores.offsets.commit("c1", [(P(0), {"n": n})], task=0, epoch=lease.epoch, order=("n",))

        assert stores.offsets.read("c1", [P(0)])[P(0)] == {"n": 9}

    def test_regression_raises_and_writes_nothing(self, stores: Stores, lease: TaskLease) -> None:
        stores.offsets.commit("c1", [(P(0), {"n": 10}), (P(1), {"n": 10})], task=0,
                              epoch=lease.epoch, order=("n",))

        with pytest.raises(OffsetRegressionError):
            stores.offsets.commit("c1", [(P(0), {"n": 11}), (P(1), {"n": 9}), (P(2), {"n": 1})],
                                  task=0, epoch=lease.epoch, order=("n",))

        assert stores.offsets.read_all("c1").by_key() == OffsetMap.of(
            [(P(0), {"n": 10}), (P(1), {"n": 10})]).by_key()

    def test_order_compares_fields_as_a_tuple(self, stores: Stores, lease: TaskLease) -> None:
        def commit(offset: dict) -> None:
            stores.offsets.commit("c1", [(P(0), offset)], task=0, epoch=lease.epoch, order=("gen", "pos"))

        commit({"gen": 1, "pos": 900, "note": "x"})
        commit({"gen": 2, "pos": 3})  # a higher generation wins even with a lower position
        with pytest.raises(OffsetRegressionError):
            commit({"gen": 1, "pos": 10_000})
        with pytest.raises(OffsetRegressionError):
            commit({"gen": 2, "pos": 2})
        commit({"gen": 2, "pos": 3.5})

        assert stores.offsets.read("c1", [P(0)])[P(0)] == {"gen": 2, "pos": 3.5}

    def test_order_on_strings_and_negative_numbers(self, stores: Stores, lease: TaskLease) -> None:
        def commit(partition: dict, offset: dict) -> None:
            stores.offsets.commit("c1", [(partition, offset)], task=0, epoch=lease.epoch, order=("k",))

        for k in ("2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00.500Z", "2024-01-02T00:00:00.000Z"):
            commit(P(0), {"k": k})
        for k in (-100, -99.5, -3, 0, 0.25, 7):
            commit(P(1), {"k": k})
        with pytest.raises(OffsetRegressionError):
            commit(P(0), {"k": "2024-01-01T23:00:00.000Z"})
        with pytest.raises(OffsetRegressionError):
            commit(P(1), {"k": 6.999})

    def test_regression_within_one_commit_is_rejected(self, stores: Stores, lease: TaskLease) -> None:
        with pytest.raises(OffsetRegressionError):
            stores.offsets.commit("c1", [(P(0), {"n": 5}), (P(0), {"n": 4})], task=0,
                                  epoch=lease.epoch, order=("n",))
        assert len(stores.offsets.read_all("c1")) == 0

    def test_same_partition_twice_keeps_the_last(self, stores: Stores, lease: TaskLease) -> None:
        stores.offsets.commit("c1", [(P(0), {"n": 4}), (P(0), {"n": 5})], task=0,
                              epoch=lease.epoch, order=("n",))

        assert stores.offsets.read_all("c1").pairs() == [(P(0), {"n": 5})]

    def test_missing_order_field_is_a_value_error(self, stores: Stores, lease: TaskLease) -> None:
        with pytest.raises(ValueError):
            stores.offsets.commit("c1", [(P(0), {"x": 1})], task=0, epoch=lease.epoch, order=("n",))

    def test_stale_epoch_wins_over_regression(self, stores: Stores, lease: TaskLease) -> None:
        stores.offsets.commit("c1", [(P(0), {"n": 5})], task=0, epoch=lease.epoch, order=("n",))

        with pytest.raises(StaleEpochError):
            stores.offsets.commit("c1", [(P(0), {"n": 1})], task=0, epoch=lease.epoch + 1, order=("n",))

    def test_unordered_commit_may_move_backwards(self, stores: Stores, lease: TaskLease) -> None:
        stores.offsets.commit("c1", [(P(0), {"n": 5})], task=0, epoch=lease.epoch, order=("n",))
        stores.offsets.commit("c1", [(P(0), {"n": 2})], task=0, epoch=lease.epoch)

        stores.offsets.commit("c1", [(P(0), {"n": 3})], task=0, epoch=lease.epoch, order=("n",))
        assert stores.offsets.read("c1", [P(0)])[P(0)] == {"n": 3}

    def test_large_commit_spans_several_transactions(self, stores: Stores, lease: TaskLease) -> None:
        offsets = [(P(q), {"n": q}) for q in range(230)]

        stores.offsets.commit("c1", offsets, task=0, epoch=lease.epoch, order=("n",))

        assert stores.offsets.read_all("c1").by_key() == OffsetMap.of(offsets).by_key()
        assert stores.offsets.read("c1", [P(q) for q in range(0, 230, 2)]).by_key() == OffsetMap.of(
            offsets[::2]).by_key()

    def test_large_commit_regressing_in_its_last_chunk_writes_nothing(self, stores: Stores,
                                                                      lease: TaskLease) -> None:
        stores.offsets.commit("c1", [(P(229), {"n": 1000})], task=0, epoch=lease.epoch, order=("n",))

        with pytest.raises(OffsetRegressionError):
            stores.offsets.commit("c1", [(P(q), {"n": q}) for q in range(230)], task=0,
                                  epoch=lease.epoch, order=("n",))

        assert stores.offsets.read_all("c1").pairs() == [(P(229), {"n": 1000})]

    def test_large_commit_with_a_stale_epoch_writes_nothing(self, stores: Stores, lease: TaskLease) -> None:
        with pytest.raises(StaleEpochError):
            stores.offsets.commit("c1", [(P(q), {"n": q}) for q in range(150)], task=0,
                                  epoch=lease.epoch + 1)
        assert len(stores.offsets.read_all("c1")) == 0

    def test_reset_some_partitions(self, stores: Stores, lease: TaskLease) -> None:
        stores.offsets.commit("c1", [(P(q), {"n": q}) for q in range(3)], task=0, epoch=lease.epoch)

        stores.offsets.reset("c1", [P(0), P(2), P(7)])

        assert stores.offsets.read_all("c1").pairs() == [(P(1), {"n": 1})]

    def test_reset_everything_of_one_connector(self, stores: Stores, lease: TaskLease) -> None:
        other = stores.leases.claim("c2", 0, "worker-a", TTL)
        stores.offsets.commit("c1", [(P(q), {"n": q}) for q in range(30)], task=0, epoch=lease.epoch)
        stores.offsets.commit("c2", [(P(0), {"n": 0})], task=0, epoch=other.epoch)

        stores.offsets.reset("c1")

        assert len(stores.offsets.read_all("c1")) == 0
        assert stores.offsets.read_all("c2").pairs() == [(P(0), {"n": 0})]

    def test_a_versioned_write_succeeds_only_over_the_version_it_read(self, stores: Stores) -> None:
        assert stores.offsets.write_versioned("c1.runs", P(0), {"n": 1}, expected_version=0) == 1
        assert stores.offsets.write_versioned("c1.runs", P(0), {"n": 2}, expected_version=1) == 2

        with pytest.raises(ConflictError):
            stores.offsets.write_versioned("c1.runs", P(0), {"n": 9}, expected_version=1)  # a stale writer
        with pytest.raises(ConflictError):
            stores.offsets.write_versioned("c1.runs", P(0), {"n": 9}, expected_version=0)

        assert stores.offsets.read("c1.runs", [P(0)])[P(0)] == {"n": 2}

    def test_alter_writes_without_fence_or_order(self, stores: Stores, lease: TaskLease) -> None:
        stores.offsets.commit("c1", [(P(0), {"n": 50}), (P(1), {"n": 50})], task=0,
                              epoch=lease.epoch, order=("n",))

        stores.offsets.alter("c1", [(P(0), {"n": 3}), (P(1), None), (P(2), {"n": 1})])

        assert stores.offsets.read_all("c1").by_key() == OffsetMap.of(
            [(P(0), {"n": 3}), (P(2), {"n": 1})]).by_key()
        # After an alter the next ordered commit compares with nothing.
        stores.offsets.commit("c1", [(P(0), {"n": 1})], task=0, epoch=lease.epoch, order=("n",))
        assert stores.offsets.read("c1", [P(0)])[P(0)] == {"n": 1}

    def test_alter_of_a_connector_without_leases(self, stores: Stores) -> None:
        stores.offsets.alter("c9", OffsetMap.of([(P(0), {"n": 1})]))

        assert stores.offsets.read_all("c9").pairs() == [(P(0), {"n": 1})]

    def test_a_fenced_alter_writes_under_the_epoch_and_nothing_once_the_lease_was_claimed_again(
            self, stores: Stores, lease: TaskLease, clock: ManualClock) -> None:
        fence = EpochFence("c1", 0, lease.epoch)
        stores.offsets.alter("c1.syncs", [(P(0), {"n": 1})], fence=fence)
        clock.advance(TTL)
        stores.leases.claim("c1", 0, "worker-b", TTL)

        with pytest.raises(StaleEpochError):
            stores.offsets.alter("c1.syncs", [(P(0), {"n": 2}), (P(1), {"n": 2})], fence=fence)

        assert stores.offsets.read_all("c1.syncs").pairs() == [(P(0), {"n": 1})]

    def test_a_large_fenced_alter_spans_several_transactions(self, stores: Stores, lease: TaskLease) -> None:
        fence = EpochFence("c1", 0, lease.epoch)
        stores.offsets.alter("c1.syncs", [(P(q), {"n": q}) for q in range(150)], fence=fence)
        stores.offsets.alter("c1.syncs", [(P(0), None)], fence=fence)

        assert len(stores.offsets.read_all("c1.syncs")) == 149
        with pytest.raises(StaleEpochError):
            stores.offsets.alter("c1.syncs", [], fence=EpochFence("c1", 0, lease.epoch + 1))

    # --- configs -------------------------------------------------------------------------

    def test_put_and_get_connector(self, stores: Stores) -> None:
        config = {"connector.class": "file", "rate": 0.1 + 0.2, "nested": {"a": [1, 2.5, None]}}

        assert stores.configs.put_connector("c1", config) == 1

        assert stores.configs.get_connector("c1") == ConnectorEntry("c1", config, TargetState.RUNNING, 1)

    def test_get_of_missing_connector_is_none(self, stores: Stores) -> None:
        assert stores.configs.get_connector("nope") is None

    def test_put_again_bumps_the_version_and_keeps_the_target_state(self, stores: Stores) -> None:
        stores.configs.put_connector("c1", {"v": 1})
        stores.configs.set_target_state("c1", TargetState.PAUSED)

        assert stores.configs.put_connector("c1", {"v": 2}) == 2

        entry = stores.configs.get_connector("c1")
        assert (entry.config, entry.version, entry.target_state) == ({"v": 2}, 2, TargetState.PAUSED)

    def test_expected_version_zero_means_create_only(self, stores: Stores) -> None:
        assert stores.configs.put_connector("c1", {"v": 1}, expected_version=0) == 1

        with pytest.raises(ConflictError):
            stores.configs.put_connector("c1", {"v": 2}, expected_version=0)
        assert stores.configs.get_connector("c1").config == {"v": 1}

    def test_expected_version_must_match(self, stores: Stores) -> None:
        stores.configs.put_connector("c1", {"v": 1})
        stores.configs.put_connector("c1", {"v": 2})

        with pytest.raises(ConflictError):
            stores.configs.put_connector("c1", {"v": 3}, expected_version=1)
        with pytest.raises(ConflictError):
            stores.configs.put_connector("c2", {"v": 1}, expected_version=1)
        assert stores.configs.put_connector("c1", {"v": 3}, expected_version=2) == 3
        assert stores.configs.get_connector("c2") is None

    def test_list_connectors_is_sorted_names(self, stores: Stores, lease: TaskLease) -> None:
        for name in ("zeta", "alpha", "mid"):
            stores.configs.put_connector(name, {})
        stores.status.put_connector_status("ghost", State.RUNNING)

        assert stores.configs.list_connectors() == ["alpha", "mid", "zeta"]

    def test_set_target_state(self, stores: Stores) -> None:
        stores.configs.put_connector("c1", {})

        stores.configs.set_target_state("c1", TargetState.STOPPED)
        assert stores.configs.get_connector("c1").target_state is TargetState.STOPPED
        stores.configs.set_target_state("c1", "RUNNING")  # type: ignore[arg-type]
        assert stores.configs.get_connector("c1").target_state is TargetState.RUNNING

    def test_set_target_state_of_missing_connector(self, stores: Stores) -> None:
        with pytest.raises(NotFoundError):
            stores.configs.set_target_state("nope", TargetState.PAUSED)
        assert stores.configs.get_connector("nope") is None

    def test_set_target_state_rejects_unknown_states(self, stores: Stores) -> None:
        stores.configs.put_connector("c1", {})
        with pytest.raises(ValueError):
            stores.configs.set_target_state("c1", "SLEEPING")  # type: ignore[arg-type]

    def test_task_configs_replace_the_whole_set(self, stores: Stores) -> None:
        stores.configs.put_connector("c1", {})
        stores.configs.put_task_configs("c1", [{"q": q} for q in range(12)], generation=1)

        assert stores.configs.get_task_configs("c1") == [{"q": q} for q in range(12)]
        assert stores.configs.get_task_config("c1", 10) == {"q": 10}

        stores.configs.put_task_configs("c1", [{"q": "a"}, {"q": "b"}], generation=2)

        assert stores.configs.get_task_configs("c1") == [{"q": "a"}, {"q": "b"}]
        assert stores.configs.get_task_config("c1", 2) is None
        assert stores.configs.get_connector("c1").task_generation == 2

    def test_staged_task_configs_are_invisible_until_promoted(self, stores: Stores) -> None:
        stores.configs.put_connector("c1", {})
        stores.configs.put_task_configs("c1", [{"q": "old0"}, {"q": "old1"}, {"q": "old2"}], generation=1)

        stores.configs.stage_task_config("c1", 2, 1, {"q": "new1"})
        stores.configs.stage_task_config("c1", 2, 0, {"q": "new0"})

        assert stores.configs.get_task_configs("c1") == [{"q": "old0"}, {"q": "old1"}, {"q": "old2"}]
        assert stores.configs.promote_staged("c1", 2, 2) == [{"q": "new0"}, {"q": "new1"}]
        assert stores.configs.get_task_configs("c1") == [{"q": "new0"}, {"q": "new1"}]
        assert stores.configs.get_connector("c1").task_generation == 2
        assert stores.configs.discard_staged("c1") == 0

    def test_promoting_an_incomplete_generation_changes_nothing(self, stores: Stores) -> None:
        stores.configs.put_connector("c1", {})
        stores.configs.put_task_configs("c1", [{"q": "old"}], generation=1)
        stores.configs.stage_task_config("c1", 2, 0, {"q": "new0"})

        with pytest.raises(NotFoundError, match=r"\[1\]|task 1"):
            stores.configs.promote_staged("c1", 2, 2)

        assert stores.configs.get_task_configs("c1") == [{"q": "old"}]
        assert stores.configs.discard_staged("c1", 2) == 1
        assert stores.configs.discard_staged("c1", 2) == 0

    def test_queue_bindings_route_one_queue_to_one_sink(self, stores: Stores) -> None:
        arn = "arn:aws:sqs:us-east-1:123456789012:records"

        assert stores.configs.connector_for_queue(arn) is None
        stores.configs.bind_queue(arn, "sink-a")
        stores.configs.bind_queue(arn, "sink-a")  # idempotent
        with pytest.raises(ConflictError, match="sink-a"):
            stores.configs.bind_queue(arn, "sink-b")
        stores.configs.unbind_queue(arn, "sink-b")  # not its binding: untouched
        assert stores.configs.connector_for_queue(arn) == "sink-a"
        stores.configs.unbind_queue(arn, "sink-a")
        assert stores.configs.connector_for_queue(arn) is None

    def test_no_task_configs(self, stores: Stores) -> None:
        stores.configs.put_connector("c1", {})

        assert stores.configs.get_task_configs("c1") == []
        assert stores.configs.get_task_config("c1", 0) is None
        assert stores.configs.get_connector("c1").task_generation is None
        stores.configs.put_task_configs("c1", [{"q": 1}], generation=1)
        stores.configs.put_task_configs("c1", [], generation=2)
        assert stores.configs.get_task_configs("c1") == []

    def test_task_configs_of_an_older_generation_conflict(self, stores: Stores) -> None:
        stores.configs.put_connector("c1", {})
        stores.configs.put_task_configs("c1", [{"q": 1}, {"q": 2}], generation=5)

        with pytest.raises(ConflictError):
            stores.configs.put_task_configs("c1", [{"q": 0}], generation=4)

        assert stores.configs.get_task_configs("c1") == [{"q": 1}, {"q": 2}]
        stores.configs.put_task_configs("c1", [{"q": 3}], generation=5)  # same generation: a retry
        assert stores.configs.get_task_configs("c1") == [{"q": 3}]

    def test_task_configs_of_missing_connector(self, stores: Stores) -> None:
        with pytest.raises(NotFoundError):
            stores.configs.put_task_configs("nope", [{"q": 1}], generation=1)
        assert stores.configs.get_task_configs("nope") == []

    def test_delete_connector_keeps_offsets_and_lease_epochs(self, stores: Stores, lease: TaskLease) -> None:
        stores.configs.put_connector("c1", {"v": 1})
        stores.configs.put_task_configs("c1", [{"q": 1}, {"q": 2}], generation=1)
        stores.status.put_connector_status("c1", State.RUNNING)
        stores.status.put_task_status("c1", 0, State.RUNNING)
        stores.offsets.commit("c1", [(P(0), {"n": 1})], task=0, epoch=lease.epoch)
        stores.configs.put_connector("c2", {"v": 2})

        stores.configs.delete_connector("c1")

        assert stores.configs.get_connector("c1") is None
        assert stores.configs.get_task_configs("c1") == []
        assert stores.status.get_status("c1") is None
        assert stores.configs.list_connectors() == ["c2"]
        assert stores.offsets.read_all("c1").pairs() == [(P(0), {"n": 1})]
        stores.leases.release(lease)
        again = stores.leases.claim("c1", 0, "worker-b", TTL)
        assert again is not None and again.epoch == lease.epoch + 1

    def test_delete_of_missing_connector(self, stores: Stores) -> None:
        with pytest.raises(NotFoundError):
            stores.configs.delete_connector("nope")

    # --- status --------------------------------------------------------------------------

    def test_status_of_unreported_connector_is_none(self, stores: Stores) -> None:
        assert stores.status.get_status("c1") is None

    def test_connector_and_task_status(self, stores: Stores, clock: ManualClock) -> None:
        stores.status.put_connector_status("c1", State.RUNNING, worker_id="w1")
        clock.advance(1)
        for task in (10, 2, 0):
            stores.status.put_task_status("c1", task, State.RUNNING, worker_id=f"w{task}")
        stores.status.put_task_status("c1", 2, State.FAILED, trace="Traceback: boom", worker_id="w9")

        assert stores.status.get_status("c1") == ConnectorStatus("c1", StatusEntry(
            State.RUNNING, None, "w1", T0), [
            StatusEntry(State.RUNNING, None, "w0", T0 + 1, task=0),
            StatusEntry(State.FAILED, "Traceback: boom", "w9", T0 + 1, task=2),
            StatusEntry(State.RUNNING, None, "w10", T0 + 1, task=10),
        ])

    def test_a_task_reports_its_progress_with_its_state(self, stores: Stores) -> None:
        stores.status.put_task_status("c1", 0, State.RUNNING, progress={"lag_messages": 12, "lag_seconds": 0.25})

        assert stores.status.get_status("c1").tasks[0].progress == {"lag_messages": 12, "lag_seconds": 0.25}
        stores.status.put_task_status("c1", 0, State.PAUSED)
        assert stores.status.get_status("c1").tasks[0].progress is None  # a report replaces the last

    def test_status_overwrite_clears_the_old_trace(self, stores: Stores) -> None:
        stores.status.put_connector_status("c1", State.FAILED, trace="boom")
        stores.status.put_connector_status("c1", State.RESTARTING)

        assert stores.status.get_status("c1").connector.trace is None

    def test_every_state_round_trips(self, stores: Stores) -> None:
        for task, state in enumerate(State):
            stores.status.put_task_status("c1", task, state)

        assert [t.state for t in stores.status.get_status("c1").tasks] == list(State)

    def test_tasks_without_connector_status_are_unassigned(self, stores: Stores) -> None:
        stores.status.put_task_status("c1", 0, State.PAUSED)

        status = stores.status.get_status("c1")
        assert status.connector.state is State.UNASSIGNED
        assert [t.task for t in status.tasks] == [0]

    def test_unknown_state_is_a_value_error(self, stores: Stores) -> None:
        with pytest.raises(ValueError):
            stores.status.put_connector_status("c1", "DANCING")  # type: ignore[arg-type]

    def test_delete_status_leaves_configs(self, stores: Stores) -> None:
        stores.configs.put_connector("c1", {"v": 1})
        stores.configs.put_task_configs("c1", [{"q": 1}], generation=1)
        stores.status.put_connector_status("c1", State.RUNNING)
        stores.status.put_task_status("c1", 0, State.RUNNING)

        stores.status.delete_status("c1")

        assert stores.status.get_status("c1") is None
        assert stores.configs.get_connector("c1").config == {"v": 1}
        assert stores.configs.get_task_configs("c1") == [{"q": 1}]

    def test_status_does_not_touch_configs(self, stores: Stores) -> None:
        stores.configs.put_connector("c1", {"v": 1})
        stores.status.put_connector_status("c1", State.RUNNING)

        assert stores.configs.get_connector("c1").version == 1
        assert stores.configs.list_connectors() == ["c1"]


class TestInMemoryStores(StoreContract):
    @pytest.fixture
    def stores(self, clock: ManualClock) -> Stores:
        return Stores.in_memory(clock=clock)

    def test_stores_are_independent(self, clock: ManualClock) -> None:
        first, second = Stores.in_memory(clock=clock), Stores.in_memory(clock=clock)
        first.configs.put_connector("c1", {})

        assert second.configs.get_connector("c1") is None


class TestDynamoDBStoresWithoutAServer:
    """What can be checked of the DynamoDB stores without an endpoint."""

    def test_no_client_until_first_use(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import connect_core.aws

        asked: list[str] = []

        class NoItems:
            def get_item(self, **_: object) -> dict:
                return {}

        def client(service: str, region_name: str | None = None) -> NoItems:
            asked.append(service)
            return NoItems()

        monkeypatch.setattr(connect_core.aws, "client", client)

        stores = Stores.dynamodb("configs", "offsets")
        assert asked == []

        assert stores.leases.get("c1", 0) is None
        assert asked == ["dynamodb"]

    def test_injected_client_is_used(self) -> None:
        calls: list[dict] = []

        class Recorder:
            def get_item(self, **kwargs: object) -> dict:
                calls.append(kwargs)
                return {}

        stores = Stores.dynamodb("my-configs", "my-offsets", client=Recorder())

        assert stores.configs.get_connector("c1") is None
        assert calls == [{"TableName": "my-configs", "ConsistentRead": True,
                          "Key": {"pk": {"S": "connector#c1"}, "sk": {"S": "config"}}}]


# --- the order key: its string order is the tuple order --------------------------------------

_numbers = st.one_of(st.integers(min_value=-(10**30), max_value=10**30),
                     st.floats(allow_nan=False, allow_infinity=False))
_kinds = [st.none(), _numbers, st.text(max_size=8)]


@st.composite
def _two_offsets(draw: st.DrawFn) -> tuple[dict, dict, tuple[str, ...]]:
    fields = tuple(f"f{i}" for i in range(draw(st.integers(1, 3))))
    kinds = [draw(st.sampled_from(_kinds)) for _ in fields]
    a = {name: draw(kind) for name, kind in zip(fields, kinds)}
    b = {name: draw(kind) for name, kind in zip(fields, kinds)}
    return a, b, fields


def _comparable(offset: dict, fields: tuple[str, ...]) -> tuple:
    return tuple((0, 0) if offset[f] is None else (1, offset[f]) for f in fields)


@given(_two_offsets())
def test_order_key_sorts_like_the_tuple_of_fields(case: tuple[dict, dict, tuple[str, ...]]) -> None:
    a, b, fields = case
    ka, kb = order_key(a, fields), order_key(b, fields)
    ta, tb = _comparable(a, fields), _comparable(b, fields)

    assert (ka < kb) == (ta < tb)
    assert (ka == kb) == (ta == tb)


@pytest.mark.parametrize("smaller, larger", [
    (-(10**20), -1), (-1, -0.5), (-0.5, 0), (0, 1e-300), (0.999, 1), (1, 1.0000001), (9, 10),
    (10**20, 10**20 + 1), ("", "a"), ("a", "a\x00"), ("ab", "b"), ("z", "é"), (None, -(10**30)),
    (10**30, ""),
])
def test_order_key_examples(smaller: object, larger: object) -> None:
    assert order_key({"k": smaller}, ["k"]) < order_key({"k": larger}, ["k"])


def test_order_key_treats_equal_numbers_alike() -> None:
    assert order_key({"k": 1}, ["k"]) == order_key({"k": 1.0}, ["k"])
    assert order_key({"k": 0}, ["k"]) == order_key({"k": -0.0}, ["k"])


@pytest.mark.parametrize("value", [True, [1], {"a": 1}, float("nan"), float("inf"),
                                   pytest.param(10**6000, id="10**6000")])
def test_order_key_rejects_what_it_cannot_order(value: object) -> None:
    with pytest.raises(ValueError):
        order_key({"k": value}, ["k"])


def test_importing_the_stores_loads_no_aws_sdk() -> None:
    import subprocess
    import sys

    code = ("import sys, connect_core.storage; "
            "print([m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'moto')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
