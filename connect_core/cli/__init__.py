"""``connectctl``: the admin API from the command line, and the HTTP client underneath it."""

from .client import ApiError, ApiUnreachable, ConnectClient
from .commands import main

__all__ = ["ApiError", "ApiUnreachable", "ConnectClient", "main"]
