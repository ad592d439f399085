"""What the remoting client raises. Every broker answer that is not a success becomes one of these,
with the broker's response code and remark kept, so an operator sees the broker's own words."""

from __future__ import annotations

from ..errors import ConnectError, RetriableError


class RocketMQError(ConnectError):
    """A request failed. ``code`` is the broker's response code (None when there was no answer),
    ``remark`` its explanation, ``addr`` the server asked."""

    def __init__(self, message: str, *, code: int | None = None, remark: str | None = None,
                 addr: str | None = None) -> None:
        self.code = code
        self.remark = remark
        self.addr = addr
        super().__init__(message)


class TopicNotFoundError(RocketMQError):
    """The name server has no route for the topic, or the broker does not know it. Create it first."""


class BrokerUnavailableError(RocketMQError, RetriableError):
    """No answer: connection refused or reset, or a timeout. The request may or may not have been
    processed (a timed-out send may have been stored), so retry only where duplicates are acceptable."""


class BrokerBusyError(RocketMQError, RetriableError):
    """The broker answered but refused for now (system busy, flow control, service not available)."""


class SendFailedError(RocketMQError):
    """The broker rejected a message (illegal message, no permission, wrong message type, ...)."""


class ProtocolError(RocketMQError):
    """A frame or a stored message could not be decoded."""


class SecurityError(RocketMQError):
    """The cluster refused who the client is or how it connects: wrong or missing credentials, a
    missing permission, a TLS failure. Retrying does not help; the configuration must change. The
    message names the server, the request and the reason, never a secret."""


class AuthenticationError(SecurityError):
    """The credentials were refused: unknown access key, wrong secret key (signature mismatch), or
    none sent to a cluster that requires them."""


class PermissionDeniedError(SecurityError):
    """The user is known but lacks a permission on a resource (topic, group, cluster)."""


class TlsError(SecurityError):
    """The TLS handshake failed (certificate not trusted, host name mismatch, not a TLS server), or a
    plaintext connection was dropped by a server that requires TLS."""


class TlsRequiredError(TlsError, BrokerUnavailableError):
    """A fresh plaintext connection was closed right after its first request (or answered with a TLS
    record): what a server that requires TLS does. Also retriable, as a broker going down mid-request
    looks the same from here."""
