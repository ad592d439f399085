"""Real RocketMQ 5.x brokers for the tests in this folder: clusters A and B, started once per session.

Without Java or Maven (or when a broker does not come up) the tests that use them are skipped with
the reason - except under CI=true, where that is a failure: CI must run them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, NoReturn

import pytest

if TYPE_CHECKING:
    from connect_core.rocketmq.broker import RocketMQCluster, RocketMQClusters


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"RocketMQ brokers are required under CI=true: {reason}", pytrace=False)
    pytest.skip(f"no RocketMQ brokers (set CI=true to make this a failure): {reason}")


@pytest.fixture(scope="session")
def rocketmq_clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RocketMQClusters]:
    """Two independent clusters, ``["A"]`` and ``["B"]``, each a name server and a proxy with its
    embedded broker on loopback ports. Stores and logs are in a fresh temporary folder."""
    yield from running_clusters(("A", "B"), tmp_path_factory.mktemp("rocketmq"))


def running_clusters(names: tuple[str, ...], workdir: Path, **options: Any) -> Iterator[RocketMQClusters]:
    """For a fixture: ``RocketMQClusters.start(names, workdir, **options)``, skipped (a failure under
    CI=true) when they cannot run here, and stopped afterwards with no JVM left behind."""
    from connect_core.rocketmq.broker import BrokerStartError, RocketMQClusters, RocketMQUnavailable

    try:
        clusters = RocketMQClusters.start(names, workdir, **options)
    except (RocketMQUnavailable, BrokerStartError) as exc:
        reason: str | None = str(exc)  # reported below, outside the handler: no chained traceback
    else:
        reason = None
    if reason is not None:
        _unavailable(reason)
    try:
        yield clusters
    finally:
        clusters.stop()
        left = {c.name: c.live_pids() for c in clusters if c.live_pids()}
        assert not left, f"RocketMQ JVMs still running after stop(): {left}"


@pytest.fixture(scope="session")
def start_clusters() -> Callable[..., Iterator[RocketMQClusters]]:
    """For a module's own clusters: ``yield from start_clusters(names, workdir, **options)``."""
    return running_clusters


@pytest.fixture(scope="session")
def rocketmq_cluster(rocketmq_clusters: RocketMQClusters) -> RocketMQCluster:
    """Cluster A of the session's clusters."""
    return rocketmq_clusters["A"]


@pytest.fixture
def a(rocketmq_clusters: RocketMQClusters) -> RocketMQCluster:
    """Cluster A, for tests that name the clusters by their role."""
    return rocketmq_clusters["A"]


@pytest.fixture
def b(rocketmq_clusters: RocketMQClusters) -> RocketMQCluster:
    """Cluster B."""
    return rocketmq_clusters["B"]


@pytest.fixture(scope="session")
def secure_clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RocketMQClusters]:
    """Two secured clusters, ``["A"]`` and ``["B"]``: TLS enforced on every port (certificates from a
    CA made for the session: ``secure_clusters.secure_setup.ca_cert``) and ACL 2.0 on, with the super
    user ``secure_setup.admin``. Started on the first test that asks for them (four more JVMs), once
    per session; skipped without Java or Maven, a failure under CI=true."""
    yield from running_clusters(("A", "B"), tmp_path_factory.mktemp("rocketmq-secure"), secure=True)
