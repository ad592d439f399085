"""How AWS-backed code (connectors, stores) tells a transient AWS failure from a permanent one.

Transient (retrying may succeed): throttling, server errors, timeouts, dropped connections.
Permanent: everything the caller must change first (a missing bucket or table, access denied,
an invalid item).
"""

from __future__ import annotations

from typing import Any

_TRANSIENT_CODES = frozenset({
    "InternalError", "InternalFailure", "InternalServerError", "LimitExceededException",
    "ProvisionedThroughputExceededException", "RequestLimitExceeded", "RequestThrottled",
    "RequestTimeout", "RequestTimeoutException", "ServiceUnavailable", "SlowDown", "Throttling",
    "ThrottlingException", "TooManyRequestsException", "TransactionConflictException",
})


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (``"NoSuchBucket"``), else None."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    return response.get("Error", {}).get("Code") or None


def is_transient(exc: BaseException) -> bool:
    code = error_code(exc)
    if code is not None:
        if code in _TRANSIENT_CODES:
            return True
        status = _status(exc)
        return status == 429 or status >= 500
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    return isinstance(exc, (BotoConnectionError, HTTPClientError))


def describe(exc: BaseException) -> str:
    """``"<code>: <message>"`` for an AWS error, the exception's text otherwise."""
    code = error_code(exc)
    if code is None:
        return str(exc) or type(exc).__name__
    message = exc.response.get("Error", {}).get("Message")  # type: ignore[attr-defined]
    return f"{code}: {message}" if message else code


def _status(exc: Any) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
