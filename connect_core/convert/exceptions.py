"""The error every converter raises when a key or value cannot cross the wire."""

from __future__ import annotations

from typing import Literal

from ..errors import ConnectError

Operation = Literal["serialize", "deserialize"]


class ConversionError(ConnectError):
    """A record key or value could not be converted to bytes, or bytes back to a key or value.

    The message says which converter, which side of the record and which topic; ``reason`` is the
    cause alone. Messages name types and schema paths, never record contents (they reach the logs).
    """

    def __init__(self, reason: str, *, converter: str = "", topic: str | None = None,
                 is_key: bool = False, operation: Operation = "serialize") -> None:
        self.reason = reason
        self.converter = converter
        self.topic = topic
        self.is_key = is_key
        self.operation = operation
        side = "key" if is_key else "value"
        where = f"for topic {topic!r}" if topic is not None else "(no topic)"
        who = f"{converter} converter" if converter else "converter"
        super().__init__(f"{who} could not {operation} the {side} of a record {where}: {reason}")

    def __reduce__(self):  # type: ignore[override]
        # Rebuild from the parts: ``args`` holds the composed message, not the constructor's arguments.
        return _rebuild, (self.reason, self.converter, self.topic, self.is_key, self.operation)


def _rebuild(reason: str, converter: str, topic: str | None, is_key: bool, operation: Operation) -> ConversionError:
    return ConversionError(reason, converter=converter, topic=topic, is_key=is_key, operation=operation)
