"""RocketMQ: the remoting client (explicit-offset pull, send, routes, admin), the 5.x gRPC producer
adapter, and real 5.x brokers started from Maven Central jars for tests and demos (``broker``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

# The remoting client's public names and their modules, loaded on first use (PEP 562): importing
# connect_core.rocketmq.broker does not load the client, nor the client the broker harness.
_EXPORTS = {
    "RocketMQClient": "client", "PullResult": "client", "SendResult": "client", "Call": "client",
    "pipelined": "flight",
    "Message": "message", "MessageExt": "message", "MessageQueue": "message",
    "TopicRoute": "route", "BrokerData": "route", "QueueData": "route", "ClusterInfo": "route",
    "ConnectionPool": "connection", "shared_pool": "connection",
    "RocketMQError": "errors", "TopicNotFoundError": "errors", "BrokerUnavailableError": "errors",
    "BrokerBusyError": "errors", "SendFailedError": "errors", "ProtocolError": "errors",
    "SecurityError": "errors", "AuthenticationError": "errors", "PermissionDeniedError": "errors",
    "TlsError": "errors", "TlsRequiredError": "errors",
    "Security": "security", "Tls": "security", "Credentials": "security",
}

if TYPE_CHECKING:
    from .client import Call, PullResult, RocketMQClient, SendResult
    from .connection import ConnectionPool, shared_pool
    from .flight import pipelined
    from .errors import (AuthenticationError, BrokerBusyError, BrokerUnavailableError, PermissionDeniedError,
                         ProtocolError, RocketMQError, SecurityError, SendFailedError, TlsError, TlsRequiredError,
                         TopicNotFoundError)
    from .security import Credentials, Security, Tls
    from .message import Message, MessageExt, MessageQueue
    from .route import BrokerData, ClusterInfo, QueueData, TopicRoute


def close_connections() -> None:
    """Close every pooled remoting connection of this process (they are otherwise kept for reuse)."""
    from .connection import shared_pools

    for pool in shared_pools():
        pool.close()


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)


__all__ = sorted([*_EXPORTS, "close_connections"])
