"""The local runtime: the embedded AWS endpoint and what runs connectors against it.

``EmbeddedAWS`` is imported on first use, so importing this package never loads moto.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .emulator import EmbeddedAWS

__all__ = ["EmbeddedAWS"]


def __getattr__(name: str) -> Any:
    if name == "EmbeddedAWS":
        from .emulator import EmbeddedAWS

        return EmbeddedAWS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
