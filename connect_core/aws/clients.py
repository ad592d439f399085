"""The client factory. Code asks for ``client("dynamodb")`` and never learns which AWS it talks to.

Endpoint resolution, first match wins:

1. ``AWS_ENDPOINT_URL_<SERVICE>`` / ``AWS_ENDPOINT_URL`` (botocore's own convention; also what the
   embedded endpoint sets), passed explicitly so older botocore behaves the same;
2. ``LOCALSTACK_HOST=host:port`` (the localstack-client convention; ``USE_SSL=true`` for https);
3. nothing: real AWS, botocore's normal resolution.

Clients are created on first use, never at import time, and cached per thread-safe key so warm
Lambda invocations reuse their connections.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.config import Config

_lock = threading.Lock()
_clients: dict[tuple[str, str | None, str | None], Any] = {}

DEFAULT_REGION = "us-east-1"


def endpoint_url(service: str) -> str | None:
    """The endpoint URL this process uses for ``service``, or None for real AWS."""
    env_name = "AWS_ENDPOINT_URL_" + service.upper().replace("-", "_")
    url = os.environ.get(env_name) or os.environ.get("AWS_ENDPOINT_URL")
    if url:
        return url
    if os.environ.get("LOCALSTACK_HOST"):
        from localstack_client.config import get_service_endpoint

        return get_service_endpoint(service, localstack_host=os.environ["LOCALSTACK_HOST"])
    return None


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def _config() -> "Config":
    from botocore.config import Config

    # Adaptive retries absorb throttling; short connect timeouts keep a Lambda tick from hanging.
    return Config(retries={"mode": "adaptive", "max_attempts": 8}, connect_timeout=5, read_timeout=30,
                  max_pool_connections=32)


def client(service: str, region_name: str | None = None) -> Any:
    """A cached boto3 client for ``service`` at the resolved endpoint."""
    region_name = region_name or region()
    url = endpoint_url(service)
    key = (service, region_name, url)
    cached = _clients.get(key)
    if cached is not None:
        return cached
    with _lock:
        cached = _clients.get(key)
        if cached is None:
            import boto3

            session = boto3.session.Session()
            cached = session.client(service, region_name=region_name, endpoint_url=url, config=_config())
            _clients[key] = cached
        return cached


def resource(service: str, region_name: str | None = None) -> Any:
    """A boto3 resource at the resolved endpoint (not cached: resources are not thread-safe)."""
    import boto3

    return boto3.session.Session().resource(service, region_name=region_name or region(),
                                            endpoint_url=endpoint_url(service), config=_config())


def reset_clients() -> None:
    """Forget cached clients (after the endpoint environment changed, e.g. in tests)."""
    with _lock:
        _clients.clear()
