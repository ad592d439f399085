"""API Gateway HTTP API events (payload format 2.0) in and out of :class:`AdminApi`.

The HTTP API authorises every request with IAM (SigV4) before the function runs; the caller's
identity arrives in ``requestContext.authorizer.iam`` and is logged with each change.
"""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from .api import AdminApi

logger = logging.getLogger("connect_core.admin")


def handle_http_event(api: "AdminApi", event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """One API Gateway request event -> the function's response in the 2.0 format."""
    request_context = event.get("requestContext") or {}
    http = request_context.get("http") or {}
    method = http.get("method") or "GET"
    path = event.get("rawPath") or http.get("path") or "/"
    stage = request_context.get("stage")
    if stage and stage != "$default" and (path == f"/{stage}" or path.startswith(f"/{stage}/")):
        path = path[len(stage) + 1:] or "/"  # a named stage's requests carry it in the path
    body: bytes | str = event.get("body") or b""
    if event.get("isBase64Encoded") and body:
        body = base64.b64decode(body)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    response = api.handle(method, path, event.get("rawQueryString") or "", body, event.get("headers") or {},
                          remaining_ms=remaining)
    if method != "GET":
        iam = ((request_context.get("authorizer") or {}).get("iam") or {})
        logger.info("admin change", extra={"method": method, "path": path, "status": response.status,
                                           "caller": iam.get("userArn") or iam.get("callerId"),
                                           "source_ip": http.get("sourceIp")})
    return {"statusCode": response.status, "headers": response.all_headers(),
            "body": response.body_bytes().decode("utf-8"), "isBase64Encoded": False}
