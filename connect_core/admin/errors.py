"""Errors the admin API answers with, in Kafka Connect's shape ``{"error_code", "message"}``."""

from __future__ import annotations

from typing import Mapping

from ..errors import ConfigError


class ApiError(Exception):
    """An answer other than success; ``status`` is the HTTP status and ``error_code``."""

    status = 500

    def __init__(self, message: str, *, errors: Mapping[str, list[str]] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = dict(errors) if errors else None
        self.headers = dict(headers or {})

    def body(self) -> dict[str, object]:
        out: dict[str, object] = {"error_code": self.status, "message": self.message}
        if self.errors:
            out["errors"] = self.errors
        return out


class BadRequest(ApiError):
    """Malformed JSON, a config that does not validate, a request that contradicts itself."""

    status = 400


class NotFound(ApiError):
    status = 404


class MethodNotAllowed(ApiError):
    status = 405


class Conflict(ApiError):
    """The connector exists already, is not in the state the request needs, or a concurrent change won."""

    status = 409


class UnsupportedMediaType(ApiError):
    status = 415


class Unprocessable(ApiError):
    """Well-formed JSON of the wrong shape (a missing or mistyped field of the request body)."""

    status = 422


class ServerError(ApiError):
    status = 500


class ServiceUnavailable(ApiError):
    """Something this request needs is missing or refused it (the failover state machine did not start)."""

    status = 503


def invalid_config(exc: ConfigError) -> BadRequest:
    """A config that does not validate: every error, each with its field, as Kafka words it."""
    lines = "\n".join(str(e) for e in exc.errors)
    count = len(exc.errors)
    return BadRequest(f"Connector configuration is invalid and contains the following {count} error(s):\n"
                      f"{lines}\nYou can also find the above list of errors at the endpoint "
                      "`/connector-plugins/{connectorType}/config/validate`", errors=exc.as_dict())
