"""The offsets API (KIP-875) end to end: alter then read back and resume from there, reset and start
over, and changes that respect the epoch fence of the offset store."""

from __future__ import annotations

import pytest

from admin_helpers import datagen, drain, tick
from connect_core.errors import StaleEpochError

pytestmark = pytest.mark.integration


def seqs(messages: list[dict]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for value in messages:
        out.setdefault(value["partition"], []).append(value["seq"])
    return {p: sorted(s) for p, s in sorted(out.items())}


def partition(name: str, p: int) -> dict:
    return {"datagen": name, "partition": p}


def test_altered_offsets_read_back_and_the_source_resumes_after_them(call, stack, name, queue):
    call("POST", "/connectors", {"name": name, "config": datagen(name, queue)})
    tick(stack, name)
    assert seqs(drain(queue)) == {0: [0, 1, 2, 3, 4], 1: [0, 1, 2, 3, 4]}

    assert call("PUT", f"/connectors/{name}/stop").status == 204
    altered = call("PATCH", f"/connectors/{name}/offsets", {"offsets": [
        {"partition": partition(name, 0), "offset": {"seq": 1}},     # replay from seq 2
        {"partition": partition(name, 1), "offset": None},           # forget: start over
    ]})
    assert altered.status == 200
    assert altered.body == {"message": "The offsets for this connector have been altered successfully"}
    assert call("GET", f"/connectors/{name}/offsets").body == {"offsets": [
        {"partition": partition(name, 0), "offset": {"seq": 1}}]}

    assert tick(stack, name)["outcome"] == "stopped"  # nothing runs while stopped
    assert drain(queue) == []
    call("PUT", f"/connectors/{name}/resume")
    assert tick(stack, name)["records"] == 8

    assert seqs(drain(queue)) == {0: [2, 3, 4], 1: [0, 1, 2, 3, 4]}
    assert call("GET", f"/connectors/{name}/offsets").body == {"offsets": [
        {"partition": partition(name, 0), "offset": {"seq": 4}},
        {"partition": partition(name, 1), "offset": {"seq": 4}}]}


def test_altering_forward_skips_records(call, stack, name, queue):
    call("POST", "/connectors", {"name": name, "config": datagen(name, queue, records=10)})
    call("PUT", f"/connectors/{name}/stop")
    call("PATCH", f"/connectors/{name}/offsets", {"offsets": [
        {"partition": partition(name, 0), "offset": {"seq": 7}},
        {"partition": partition(name, 1), "offset": {"seq": 8}}]})
    call("PUT", f"/connectors/{name}/resume")
    tick(stack, name)
    assert seqs(drain(queue)) == {0: [8, 9], 1: [9]}


def test_reset_makes_the_source_start_over(call, stack, name, queue):
    call("POST", "/connectors", {"name": name, "config": datagen(name, queue, records=3)})
    tick(stack, name)
    assert seqs(drain(queue)) == {0: [0, 1, 2], 1: [0, 1, 2]}
    assert tick(stack, name)["records"] == 0  # drained: nothing new

    call("PUT", f"/connectors/{name}/stop")
    reset = call("DELETE", f"/connectors/{name}/offsets")
    assert reset.status == 200
    assert reset.body == {"message": "The offsets for this connector have been reset successfully"}
    assert call("GET", f"/connectors/{name}/offsets").body == {"offsets": []}
    call("PUT", f"/connectors/{name}/resume")

    assert tick(stack, name)["records"] == 6
    assert seqs(drain(queue)) == {0: [0, 1, 2], 1: [0, 1, 2]}


def test_a_tick_still_running_makes_a_change_wait_409(call, stack, name, queue):
    call("POST", "/connectors", {"name": name, "config": datagen(name, queue)})
    call("PUT", f"/connectors/{name}/stop")
    stores = stack.api.stores
    running = stores.leases.claim(name, 0, "a tick that started before the stop", ttl_s=300)
    change = {"offsets": [{"partition": partition(name, 0), "offset": {"seq": 3}}]}

    assert "still running a tick" in call("PATCH", f"/connectors/{name}/offsets", change).body["message"]
    assert call("DELETE", f"/connectors/{name}/offsets").status == 409
    assert call("GET", f"/connectors/{name}/offsets").body == {"offsets": []}

    stores.leases.release(running)
    assert call("PATCH", f"/connectors/{name}/offsets", change).status == 200


def test_a_tick_that_outlived_its_lease_cannot_commit_over_an_alter(call, stack, name, queue):
    call("POST", "/connectors", {"name": name, "config": datagen(name, queue)})
    call("PUT", f"/connectors/{name}/stop")
    stores = stack.api.stores
    # A tick whose lease already expired while it still polls (the fence is all that stops it).
    zombie = stores.leases.claim(name, 0, "zombie tick", ttl_s=-1)

    assert call("PATCH", f"/connectors/{name}/offsets", {"offsets": [
        {"partition": partition(name, 0), "offset": {"seq": 1}}]}).status == 200

    with pytest.raises(StaleEpochError):
        stores.offsets.commit(name, [(partition(name, 0), {"seq": 4})], task=0, epoch=zombie.epoch, order=("seq",))
    assert call("GET", f"/connectors/{name}/offsets").body["offsets"] == [
        {"partition": partition(name, 0), "offset": {"seq": 1}}]
