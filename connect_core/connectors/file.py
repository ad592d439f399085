"""``file-sink``: append records to a local file as JSON lines (local runs and demos)."""

from __future__ import annotations

import base64
import json
import os
from typing import Any, Literal

from pydantic import Field

from ..api import ConnectRecord, OffsetMap, SinkConnector, SinkTask
from ..config import SinkConnectorConfig


class FileSinkConfig(SinkConnectorConfig):
    path: str = Field(min_length=1, description="File to append to; its folder is created if missing.")
    format: Literal["value", "record"] = Field(
        "value", description="'value': one JSON value per line; 'record': the record with its topic, "
                             "key, partition, offset, timestamp and headers.")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


class FileSinkTask(SinkTask[FileSinkConfig]):
    def start(self) -> None:
        folder = os.path.dirname(os.path.abspath(self.config.path))
        os.makedirs(folder, exist_ok=True)

    def put(self, records: list[ConnectRecord]) -> None:
        lines = []
        for r in records:
            item: Any = r.value
            if self.config.format == "record":
                item = {"topic": r.topic, "key": r.key, "value": r.value, "partition": dict(r.partition),
                        "offset": dict(r.offset), "timestamp": r.timestamp, "headers": r.headers}
            lines.append(json.dumps(item, default=_jsonable, ensure_ascii=False, separators=(",", ":")))
        with open(self.config.path, "a", encoding="utf-8") as fh:
            fh.write("".join(line + "\n" for line in lines))

    def flush(self, offsets: OffsetMap) -> None:
        pass  # every put closes the file, which hands the bytes to the OS


class FileSinkConnector(SinkConnector[FileSinkConfig]):
    config_model = FileSinkConfig
    task_class = FileSinkTask
    description = "Appends records to a local file as JSON lines."
