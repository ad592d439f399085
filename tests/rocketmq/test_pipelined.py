"""``pipelined``: requests of several keys in flight from one thread, each key's in order. Calls
here are stand-ins that record when they start, finish and are cancelled; the real calls are
exercised against brokers by the source and Replicator tests."""

from __future__ import annotations

import pytest

from connect_core.rocketmq.flight import pipelined


class Recorded:
    def __init__(self, log: list[str], name: str, fail: bool = False) -> None:
        self.log, self.name, self.fail = log, name, fail
        log.append(f"start {name}")

    def result(self) -> str:
        self.log.append(f"read {self.name}")
        if self.fail:
            raise ConnectionError(f"{self.name} failed")
        return self.name

    def cancel(self) -> None:
        self.log.append(f"cancel {self.name}")


def run(work: dict[str, int], limit: int) -> tuple[list[str], dict[str, list[str]]]:
    log: list[str] = []
    left = dict(work)
    got: dict[str, list[str]] = {key: [] for key in work}

    def start(key: str) -> Recorded | None:
        if not left[key]:
            return None
        left[key] -= 1
        name = f"{key}{work[key] - left[key]}"
        return Recorded(log, name)

    pipelined(list(work), start, lambda key, result: got[key].append(result), limit)
    return log, got


def test_each_key_runs_its_requests_in_order_one_at_a_time():
    log, got = run({"a": 3, "b": 2, "c": 1}, limit=3)

    assert got == {"a": ["a1", "a2", "a3"], "b": ["b1", "b2"], "c": ["c1"]}
    for key, count in (("a", 3), ("b", 2)):
        for n in range(1, count):  # a key's next request starts only after the last one was read
            assert log.index(f"read {key}{n}") < log.index(f"start {key}{n + 1}")
    assert log[:3] == ["start a1", "start b1", "start c1"]  # the keys are in flight together


def test_no_more_than_the_limit_is_in_flight():
    log, got = run({"a": 2, "b": 2, "c": 2, "d": 2}, limit=2)

    in_flight = peak = 0
    for entry in log:
        in_flight += 1 if entry.startswith("start") else -1
        peak = max(peak, in_flight)
    assert peak == 2 and all(len(v) == 2 for v in got.values())


def test_a_failure_cancels_what_is_in_flight_and_propagates():
    log: list[str] = []

    def start(key: str) -> Recorded:
        return Recorded(log, key, fail=key == "a")

    with pytest.raises(ConnectionError):
        pipelined(["a", "b", "c"], start, lambda key, result: None, 3)
    assert log == ["start a", "start b", "start c", "read a", "cancel b", "cancel c"]
