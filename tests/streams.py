"""A source connector the test feeds while ticks run: for continuous polling, handovers and crashes.

    stream = Stream()                           # an in-process log of values
    config = stream_source_config(stream, capture)
    stream.append(*range(10))                   # producers append while a tick polls
    stream.hold()                               # the next poll stops half-way (mid-batch) ...
    stream.release()                            # ... until released

Offsets are ``{"next": n}`` (the next index to read), so every record's identity is its index and
the capture shows exactly what was lost or published twice. ``wait`` is told of new values the way
a RocketMQ long poll is: it returns the moment one is appended.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any, Literal

from pydantic import Field

from connect_core import ConnectRecord, SourceConnector, SourceConnectorConfig, SourceTask
from connect_core.api import OffsetMap

CONNECTOR = "streams:StreamSourceConnector"

_streams: dict[str, "Stream"] = {}


class Stream:
    def __init__(self) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.values: list[int] = []
        self.changed = threading.Condition()
        self._open = threading.Event()
        self._open.set()
        #: Set while a poll is held half-way (``hold``), so a test knows the tick is mid-batch.
        self.held = threading.Event()
        #: Set: every poll fails, as a source that went away does.
        self.broken = False
        _streams[self.id] = self

    def append(self, *values: int) -> None:
        with self.changed:
            self.values.extend(values)
            self.changed.notify_all()

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def read(self, start: int, count: int) -> list[int]:
        with self.changed:
            return self.values[start:start + count]

    def wait_for_more_than(self, count: int, timeout_s: float) -> None:
        with self.changed:
            self.changed.wait_for(lambda: len(self.values) > count, timeout_s)

    def gate(self) -> None:
        if not self._open.is_set():
            self.held.set()
            self._open.wait(60)
            self.held.clear()

    def close(self) -> None:
        _streams.pop(self.id, None)


class StreamSourceConfig(SourceConnectorConfig):
    stream: str = Field(description="Id of the in-process Stream to read.")
    batch_size: int = Field(5, ge=1)
    polling: Literal["continuous", "drain"] = "continuous"


class StreamSourceTask(SourceTask[StreamSourceConfig]):
    offset_order = ("next",)

    def start(self) -> None:
        self.stream = _streams[self.config.stream]
        self.partition = {"stream": self.config.stream}

    def partitions(self) -> list[dict[str, Any]]:
        return [self.partition]

    def _next(self, offsets: OffsetMap) -> int:
        return offsets[self.partition]["next"] if self.partition in offsets else 0

    def poll(self, offsets: OffsetMap) -> list[ConnectRecord]:
        start = self._next(offsets)
        if self.stream.broken:
            raise ConnectionRefusedError("the source went away")
        values = self.stream.read(start, self.config.batch_size)
        if values:
            self.stream.gate()
        return [ConnectRecord(topic="stream", value={"n": value}, partition=self.partition,
                              offset={"next": start + i + 1}) for i, value in enumerate(values)]

    def wait(self, offsets: OffsetMap, timeout_s: float) -> None:
        self.stream.wait_for_more_than(self._next(offsets), timeout_s)

    def lag(self, offsets: OffsetMap) -> int:
        return len(self.stream.values) - self._next(offsets)


class StreamSourceConnector(SourceConnector[StreamSourceConfig]):
    config_model = StreamSourceConfig
    task_class = StreamSourceTask


def stream_source_config(stream: Stream, capture: Any, **overrides: Any) -> dict[str, Any]:
    name = overrides.pop("name", f"stream-{stream.id}")
    return {"name": name, "connector": CONNECTOR, "stream": stream.id,
            "target": {"type": "direct", "sink": capture.sink_config(name)}, **overrides}
