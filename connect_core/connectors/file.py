"""``file-source`` and ``file-sink``: local files, one record per line (local runs and demos).

The source tails the files a glob pattern matches. Each file is a partition (``{"path": ...}``),
the offset is the byte position after the last delivered line (and the file's inode), so a tick
resumes exactly where the last one committed; a line without its newline yet is left until it is
complete. A file that shrank or was replaced (another inode) is read again from its start.

The sink appends records to one file as JSON lines (or as plain text lines).
"""

from __future__ import annotations

import base64
import glob
import json
import logging
import os
import time
import zlib
from typing import Any, Literal, Sequence

from pydantic import Field, field_validator

from ..api import ConnectRecord, OffsetMap, Partition, SinkConnector, SinkRecordErrors, SinkTask, SourceConnector, \
    SourceTask
from ..config import SinkConnectorConfig, SourceConnectorConfig
from ..convert import StringConverterConfig
from ..convert.config import ConverterConfig
from ..errors import ConnectError

logger = logging.getLogger("connect_core.connectors.file")

_SKIP_CHUNK = 64 * 1024


# == source ========================================================================================

class FileSourceConfig(SourceConnectorConfig):
    """Tails local files, one record per line."""

    path: str = Field(min_length=1, description="A file, or a glob pattern of files ('logs/*.log', "
                                                "'data/**/*.jsonl'); files that appear later are read from "
                                                "the next poll on. Relative paths start at the working folder.")
    topic: str = Field(min_length=1, description="Topic of the records.")
    format: Literal["string", "json"] = Field(
        "string", description="'string': the line is the value; 'json': the line parsed as JSON (a line that is "
                              "not JSON is a failed record: see errors.tolerance).")
    encoding: str = Field("utf-8", description="Text encoding of the files (a Python codec name).")
    skip_blank_lines: bool = Field(True, description="Lines with only whitespace produce no record.")
    batch_size: int = Field(1000, ge=1, le=100_000, description="Most records one poll returns (over all files).")
    max_line_bytes: int = Field(1024 * 1024, ge=16, le=64 * 1024 * 1024,
                                description="Longer lines are failed records (the whole line is skipped).")
    value_converter: ConverterConfig = Field(default_factory=StringConverterConfig,
                                             description="How values become bytes; default string (a line is "
                                                         "sent as it is, a JSON value as JSON).")

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            "".encode(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
        return value


class UnreadableLineError(ConnectError):
    """A line that cannot become a record (not JSON, not text in the encoding, too long)."""


class FileSourceTask(SourceTask[FileSourceConfig]):
    # No order: a file that was truncated or replaced starts again at position 0.
    offset_order = ()

    def start(self) -> None:
        #: Per file: (inode, position) past lines consumed without a record of their own (blank or
        #: failed lines at the end of what was read), so they are not read again while warm.
        self._consumed: dict[str, tuple[int, int]] = {}
        self._first_file = 0

    def partitions(self) -> Sequence[Partition]:
        return [{"path": path} for path in self._files()]

    def poll(self, offsets: OffsetMap) -> list[ConnectRecord]:
        files = self._files()
        records: list[ConnectRecord] = []
        if not files:
            return records
        # Start at another file each poll: a busy file cannot starve the others.
        self._first_file = (self._first_file + 1) % len(files)
        for step in range(len(files)):
            path = files[(self._first_file + step) % len(files)]
            budget = self.config.batch_size - len(records)
            if budget <= 0:
                break
            try:
                self._read(path, offsets.get({"path": path}), budget, records)
            except UnreadableLineError:
                if records:
                    break  # deliver what came before it; the next poll stops at the line
                raise
        return records

    # -- internals -------------------------------------------------------------------------------

    def _files(self) -> list[str]:
        matches = {os.path.abspath(p) for p in glob.glob(self.config.path, recursive=True)}
        tasks, mine = int(self.task_config.get("tasks", 1)), int(self.task_config.get("task", 0))
        return sorted(p for p in matches if os.path.isfile(p) and zlib.crc32(p.encode()) % tasks == mine)

    def _read(self, path: str, offset: Any, budget: int, records: list[ConnectRecord]) -> None:
        cfg = self.config
        try:
            fh = open(path, "rb")
        except FileNotFoundError:
            return  # removed since the glob
        with fh:
            stat = os.fstat(fh.fileno())
            inode = stat.st_ino
            position = self._start(path, offset, inode, stat.st_size)
            fh.seek(position)
            partition = {"path": path}
            now = int(time.time() * 1000)
            emitted = 0
            while emitted < budget:
                line_start = position
                raw = fh.readline(cfg.max_line_bytes + 1)
                if not raw.endswith(b"\n"):
                    if len(raw) <= cfg.max_line_bytes:
                        break  # the end of the file, or a line still being written
                    rest = _skip_to_newline(fh)
                    if rest is None:
                        break  # an overlong line still being written: fail it once it is complete
                    position += len(raw) + rest
                    self._failed(path, line_start, position, inode, raw[:cfg.max_line_bytes],
                                 f"longer than max_line_bytes ({cfg.max_line_bytes})")
                    continue
                position += len(raw)
                line = raw[:-1]
                if line.endswith(b"\r"):
                    line = line[:-1]
                try:
                    text = line.decode(cfg.encoding)
                except UnicodeDecodeError as exc:
                    self._failed(path, line_start, position, inode, line, f"not {cfg.encoding} text: {exc.reason}")
                    continue
                if cfg.skip_blank_lines and not text.strip():
                    self._consumed[path] = (inode, position)
                    continue
                value: Any = text
                if cfg.format == "json":
                    try:
                        value = json.loads(text)
                    except ValueError as exc:
                        self._failed(path, line_start, position, inode, line, f"not JSON: {exc}")
                        continue
                records.append(ConnectRecord(topic=cfg.topic, value=value, partition=partition,
                                             offset={"position": position, "inode": inode}, timestamp=now))
                emitted += 1
                self._consumed.pop(path, None)

    def _start(self, path: str, offset: Any, inode: int, size: int) -> int:
        """Where to read ``path`` from: the committed position, or past lines already consumed
        without a record; 0 for a new, truncated or replaced file."""
        position = 0
        if offset is not None:
            if offset.get("inode") not in (None, inode):
                logger.warning("file replaced: reading it from the start", extra={"connector": self.config.name,
                                                                                   "path": path})
            elif offset["position"] > size:
                logger.warning("file truncated: reading it from the start", extra={"connector": self.config.name,
                                                                                    "path": path})
            else:
                position = int(offset["position"])
        consumed = self._consumed.get(path)
        if consumed is not None and consumed[0] == inode and position < consumed[1] <= size:
            position = consumed[1]
        return position

    def _failed(self, path: str, start: int, end: int, inode: int, line: bytes, reason: str) -> None:
        error = UnreadableLineError(f"{path}: the line at byte {start} is {reason}")
        if self.config.errors.tolerance != "all":
            raise error
        from ..runtime.pipeline import Message

        message = Message(line, None, self.config.topic, {}, {"path": path}, {"position": end, "inode": inode})
        self.reject(error, message)
        self._consumed[path] = (inode, end)


def _skip_to_newline(fh: Any) -> int | None:
    """Read past the next newline; the bytes read (newline included), or None if there is none yet."""
    skipped = 0
    while True:
        chunk = fh.read(_SKIP_CHUNK)
        if not chunk:
            return None
        newline = chunk.find(b"\n")
        if newline >= 0:
            return skipped + newline + 1
        skipped += len(chunk)


class FileSourceConnector(SourceConnector[FileSourceConfig]):
    config_model = FileSourceConfig
    task_class = FileSourceTask
    description = "Tails local files (a glob pattern), one record per line, resuming at the committed byte position."

    def task_configs(self, max_tasks: int) -> list[dict[str, Any]]:
        # Files are divided by a hash of their path, so files that appear later need no re-split.
        return [{"task": i, "tasks": max_tasks} for i in range(max_tasks)]


# == sink ==========================================================================================

class FileSinkConfig(SinkConnectorConfig):
    path: str = Field(min_length=1, description="File to append to; its folder is created if missing.")
    format: Literal["value", "record", "text"] = Field(
        "value", description="'value': one JSON value per line; 'record': the record with its topic, "
                             "key, partition, offset, timestamp and headers; 'text': the value as a line of "
                             "text (strings as they are, other values as JSON; a value with a line break "
                             "fails).")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def _json_line(item: Any) -> str:
    return json.dumps(item, default=_jsonable, ensure_ascii=False, separators=(",", ":"))


class FileSinkTask(SinkTask[FileSinkConfig]):
    def start(self) -> None:
        folder = os.path.dirname(os.path.abspath(self.config.path))
        os.makedirs(folder, exist_ok=True)

    def put(self, records: list[ConnectRecord]) -> None:
        lines = []
        errors: dict[int, BaseException] = {}
        for index, r in enumerate(records):
            if self.config.format == "record":
                lines.append(_json_line({"topic": r.topic, "key": r.key, "value": r.value,
                                         "partition": dict(r.partition), "offset": dict(r.offset),
                                         "timestamp": r.timestamp, "headers": r.headers}))
            elif self.config.format == "text":
                try:
                    lines.append(_text_line(r.value))
                except ValueError as exc:
                    errors[index] = exc
            else:
                lines.append(_json_line(r.value))
        with open(self.config.path, "a", encoding="utf-8") as fh:
            fh.write("".join(line + "\n" for line in lines))
        if errors:
            raise SinkRecordErrors(errors)

    def flush(self, offsets: OffsetMap) -> None:
        pass  # every put closes the file, which hands the bytes to the OS


def _text_line(value: Any) -> str:
    if value is None:
        raise ValueError("a null value (tombstone) has no text")
    if isinstance(value, (bytes, bytearray)):
        try:
            text = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("the value is bytes that are not UTF-8 text") from None
    elif isinstance(value, str):
        text = value
    else:
        text = _json_line(value)
    if "\n" in text or "\r" in text:
        raise ValueError("the value has a line break: it would not stay one line")
    return text


class FileSinkConnector(SinkConnector[FileSinkConfig]):
    config_model = FileSinkConfig
    task_class = FileSinkTask
    description = "Appends records to a local file as JSON lines (or as lines of text)."
