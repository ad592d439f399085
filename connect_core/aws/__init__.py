"""One way to reach AWS: real AWS, LocalStack or the embedded endpoint, decided by the environment."""

from .clients import client, endpoint_url, reset_clients, resource

__all__ = ["client", "endpoint_url", "reset_clients", "resource"]
