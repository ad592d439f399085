"""``connectctl local up`` runs source ticks in process sandboxes, as Lambda would."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from connect_core.admin.local import local_admin
from connect_core.local import VirtualClock
from sandbox_helpers import alive, kill_leftovers

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_the_local_admin_stack_ticks_sources_in_sandboxes(local_endpoint, clock: VirtualClock,
                                                          tmp_path: Path) -> None:
    parameters = {"DemoRecords": 3, "DemoOutputPath": str(tmp_path / "out.jsonl")}
    pids: list[int] = []
    try:
        with local_admin(ROOT / "template.yaml", parameters, port=0, endpoint=local_endpoint,
                         clock=clock, background=False,
                         stack_name=f"sbx{uuid.uuid4().hex[:8]}") as admin:
            lambdas = admin.runtime.lambdas
            assert lambdas.is_sandboxed("SourcePollerFunction")
            assert not lambdas.is_sandboxed("SinkConsumerFunction")

            tick = admin.runtime.invoke("SourcePollerFunction", {"connector": "demo-source",
                                                                 "task": 0})

            assert tick["outcome"] == "ran" and tick["records"] > 0
            pids = lambdas.sandbox_pids("SourcePollerFunction")
            assert len(pids) == 1 and os.getpid() not in pids
        assert [pid for pid in pids if alive(pid)] == []
    finally:
        kill_leftovers([pid for pid in pids if alive(pid)])
