"""Fresh, uniquely named tables per test on the session's embedded endpoint (tests/conftest.py)."""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest

from connect_core import aws
from connect_core.local import EmbeddedAWS  # noqa: F401 - the fixture's type
from connect_core.storage import ensure_tables


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
