"""Function environments are per thread: two handlers with different settings can run at once."""

from __future__ import annotations

import os
import threading

import pytest

from connect_core.local.environment import function_environment

pytestmark = pytest.mark.integration


def test_an_overlay_is_seen_by_its_thread_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARED", "process")
    monkeypatch.delenv("ONLY_IN_FUNCTION", raising=False)
    seen: dict[str, object] = {}
    inside = threading.Event()
    done = threading.Event()

    def other_thread() -> None:
        inside.wait(5)
        seen["other"] = (os.environ.get("SHARED"), os.getenv("ONLY_IN_FUNCTION"))
        done.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    with function_environment({"SHARED": "function", "ONLY_IN_FUNCTION": "yes"}):
        inside.set()
        done.wait(5)
        assert os.environ["SHARED"] == "function" and os.getenv("ONLY_IN_FUNCTION") == "yes"
        assert "ONLY_IN_FUNCTION" in os.environ and dict(os.environ)["ONLY_IN_FUNCTION"] == "yes"
        os.environ["WRITTEN"] = "stays in the function"
        del os.environ["SHARED"]
        assert "SHARED" not in os.environ and "SHARED" not in dict(os.environ)
        assert os.environ.copy()["WRITTEN"] == "stays in the function"
    thread.join(5)

    assert seen["other"] == ("process", None)
    assert os.environ["SHARED"] == "process"
    assert "WRITTEN" not in os.environ and "ONLY_IN_FUNCTION" not in os.environ


def test_overlays_nest() -> None:
    with function_environment({"A": "1", "B": "1"}):
        with function_environment({"B": "2"}):
            assert (os.environ["A"], os.environ["B"]) == ("1", "2")
        assert os.environ["B"] == "1"
    assert "A" not in os.environ
