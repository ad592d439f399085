"""Per-thread environment variables, so handlers with different settings can run at once.

Lambda gives every function its own process and so its own ``os.environ``. In-process, a
function's variables are laid over the process environment for the thread that runs its handler
only: ``os.environ`` (and ``os.getenv``) read the overlay first in that thread, and writes there
stay in it, while every other thread - the emulator's, other handlers' - sees the process
environment unchanged.

    with function_environment({"TABLE": "t1"}):
        os.environ["TABLE"]              # "t1" in this thread only

``install()`` swaps ``os.environ`` for a subclass sharing the same data (nothing changes for
code without an overlay); ``uninstall()`` puts the original back. Threads and subprocesses a
handler starts itself, and modules that did ``from os import environ`` before ``install()``,
see the process environment.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any, Iterator, Mapping

_local = threading.local()
_lock = threading.Lock()
_original: os._Environ[str] | None = None   # type: ignore[name-defined]


class _ThreadEnviron(os._Environ):  # type: ignore[misc,name-defined]
    """``os.environ`` that answers from the current thread's overlay first."""

    @staticmethod
    def _overlay() -> dict[str, str] | None:
        return getattr(_local, "overlay", None)

    def __getitem__(self, key: str) -> str:
        overlay = self._overlay()
        if overlay is not None and key in overlay:
            value = overlay[key]
            if value is None:
                raise KeyError(key)
            return value
        return super().__getitem__(key)

    def __setitem__(self, key: str, value: str) -> None:
        overlay = self._overlay()
        if overlay is None:
            super().__setitem__(key, value)
            return
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"str expected, not {type(value).__name__}")
        overlay[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = self._overlay()
        if overlay is None:
            super().__delitem__(key)
            return
        if key not in self:
            raise KeyError(key)
        overlay[key] = None  # type: ignore[assignment] - hides the process value in this thread

    def __iter__(self) -> Iterator[str]:
        overlay = self._overlay()
        if overlay is None:
            yield from super().__iter__()
            return
        for key in list(super().__iter__()):
            if overlay.get(key, "") is not None:
                yield key
        for key, value in list(overlay.items()):
            if value is not None and self.encodekey(key) not in self._data:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, key: object) -> bool:
        overlay = self._overlay()
        if overlay is not None and key in overlay:
            return overlay[key] is not None  # type: ignore[index]
        try:
            return self.encodekey(key) in self._data
        except TypeError:
            return False

    def copy(self) -> dict[str, str]:
        return dict(self)


def install() -> None:
    """Make ``os.environ`` thread-aware (idempotent)."""
    global _original
    with _lock:
        if _original is not None:
            return
        current = os.environ
        _original = current
        os.environ = _ThreadEnviron(current._data, current.encodekey, current.decodekey,  # type: ignore[attr-defined]
                                    current.encodevalue, current.decodevalue)


def uninstall() -> None:
    """Put the original ``os.environ`` back (it shares the data, so nothing is lost)."""
    global _original
    with _lock:
        if _original is not None:
            os.environ = _original
            _original = None


@contextlib.contextmanager
def function_environment(values: Mapping[str, str]) -> Iterator[None]:
    """Lay ``values`` over the process environment for this thread while the block runs."""
    install()
    previous: Any = getattr(_local, "overlay", None)
    _local.overlay = {**(previous or {}), **{str(k): str(v) for k, v in values.items()}}
    try:
        yield
    finally:
        _local.overlay = previous
