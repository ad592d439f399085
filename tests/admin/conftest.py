"""The admin API's tests: template.yaml deployed by the local runtime on the session's embedded
endpoint (tests/conftest.py), one stack per test module, with the API in front of it.

The runtime's clock is virtual and nothing runs in the background: a test moves time itself
(``stack.runtime.advance``) or invokes a tick (``admin_helpers.tick``), so nothing depends on timing.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest

from admin_helpers import ROOT, Client
from connect_core import aws

START = datetime(2030, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def stack(embedded_aws, tmp_path_factory) -> Iterator[Any]:
    """A LocalAdmin: ``.runtime`` (the deployed template.yaml), ``.api``, ``.url``."""
    from connect_core.admin.local import local_admin
    from connect_core.local.clock import VirtualClock

    out = tmp_path_factory.mktemp("admin") / "demo.jsonl"
    parameters = {"DemoRecords": 10, "DemoOutputPath": str(out)}
    with local_admin(ROOT / "template.yaml", parameters, port=0, endpoint=embedded_aws, clock=VirtualClock(START),
                     background=False, stack_name=f"admin{uuid.uuid4().hex[:8]}") as admin:
        yield admin


@pytest.fixture(scope="module")
def call(stack) -> Client:
    return Client(stack.api)


@pytest.fixture
def name() -> str:
    """A connector name no other test uses."""
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue of its own for a test's source to publish to (no sink reads it)."""
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=f"admin-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


