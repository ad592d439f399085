"""The admin HTTP API: Kafka Connect's REST contract for connectors running on AWS.

- ``AdminApi`` (``api``): the transport-independent core, ``handle(method, path, query, body,
  headers) -> Response``; routes in ``routes``, bodies in ``models``.
- ``handle_http_event`` (``apigateway``): API Gateway HTTP API events (payload 2.0) for the Lambda.
- ``AdminServer`` (``server``): the same API over plain HTTP on loopback.
- ``local_admin`` / ``run`` (``local``): a local stack with the API in front (``connectctl local up``).
- ``openapi_document`` (``openapi``): the OpenAPI 3.1 document, generated from the routes and models.

Every name is imported on first use: importing this package loads neither boto3 nor pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .api import AdminApi
    from .apigateway import handle_http_event
    from .local import LocalAdmin, local_admin, run
    from .openapi import openapi_document
    from .routing import Request, Response
    from .server import AdminServer

_EXPORTS = {
    "AdminApi": "api",
    "handle_http_event": "apigateway",
    "AdminServer": "server",
    "LocalAdmin": "local",
    "local_admin": "local",
    "run": "local",
    "openapi_document": "openapi",
    "Request": "routing",
    "Response": "routing",
}

__all__ = ["AdminApi", "AdminServer", "LocalAdmin", "Request", "Response", "handle_http_event", "local_admin",
           "openapi_document", "run"]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
