"""A sink connector that keeps what it is given in this process, for tests of source connectors.

A source under test publishes to it with a direct target, so its records travel the real path
(transforms, converters, the direct publisher, the sink pipeline) and end in a :class:`Capture`
the test reads::

    with Capture() as capture:
        config = {..., "target": {"type": "direct", "sink": capture.sink_config("my-source")}}
        ...
        capture.records        # every record the sink was given, in order
"""

from __future__ import annotations

import threading
import uuid
from typing import Any, Mapping

from pydantic import Field

from ..api import ConnectRecord, SinkConnector, SinkTask
from ..config import SinkConnectorConfig
from ..errors import ConnectError

CAPTURE_CONNECTOR = "connect_core.testing.capture:CaptureSinkConnector"

_captures: dict[str, list[ConnectRecord]] = {}
_lock = threading.Lock()


class Capture:
    """A named list of records a :class:`CaptureSinkConnector` appends to."""

    def __init__(self) -> None:
        self.id = uuid.uuid4().hex
        with _lock:
            _captures[self.id] = []

    @property
    def records(self) -> list[ConnectRecord]:
        with _lock:
            return list(_captures.get(self.id, []))

    def sink_config(self, name: str, converters_from: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A sink config writing into this capture. ``converters_from``: the source config whose
        key and value converters the sink must mirror to read what the source wrote."""
        config: dict[str, Any] = {"name": f"{name[:71]}-capture", "connector": CAPTURE_CONNECTOR,
                                  "capture": self.id}
        for converter in ("key_converter", "value_converter"):
            if converters_from and converters_from.get(converter) is not None:
                config[converter] = converters_from[converter]
        return config

    def close(self) -> None:
        with _lock:
            _captures.pop(self.id, None)

    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class CaptureSinkConfig(SinkConnectorConfig):
    capture: str = Field(min_length=1, description="Id of the in-process Capture the records go to.")


class CaptureSinkTask(SinkTask[CaptureSinkConfig]):
    def put(self, records: list[ConnectRecord]) -> None:
        with _lock:
            target = _captures.get(self.config.capture)
            if target is None:
                raise ConnectError(f"capture {self.config.capture!r} is closed or does not exist")
            target.extend(records)


class CaptureSinkConnector(SinkConnector[CaptureSinkConfig]):
    config_model = CaptureSinkConfig
    task_class = CaptureSinkTask
    description = "Keeps records in this process, for tests of source connectors."
