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
