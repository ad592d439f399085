"""Shared by every test folder: one embedded AWS endpoint per test session, started on first use."""

from __future__ import annotations

from typing import Iterator

import pytest


@pytest.fixture(scope="session")
def embedded_aws() -> Iterator["EmbeddedAWS"]:  # noqa: F821 - imported lazily: unit tests never start it
    from connect_core.local import EmbeddedAWS

    endpoint = EmbeddedAWS().start()
    endpoint.activate()
    try:
        yield endpoint
    finally:
        endpoint.stop()
