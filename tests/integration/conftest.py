"""One embedded AWS endpoint for the whole session; fresh, uniquely named tables per test."""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest

from connect_core import aws
from connect_core.local import EmbeddedAWS
from connect_core.storage import ensure_tables


@pytest.fixture(scope="session")
def embedded_aws() -> Iterator[EmbeddedAWS]:
    endpoint = EmbeddedAWS().start()
    endpoint.activate()
    try:
        yield endpoint
    finally:
        endpoint.stop()


@pytest.fixture
def tables(embedded_aws: EmbeddedAWS) -> Iterator[tuple[str, str]]:
    """(configs table, offsets table), created empty for this test and deleted after it."""
    suffix = uuid.uuid4().hex[:12]
    names = (f"connect-configs-{suffix}", f"connect-offsets-{suffix}")
    ensure_tables(*names)
    yield names
    ddb = aws.client("dynamodb")
    for name in names:
        ddb.delete_table(TableName=name)
