"""``datagen-source``: a source that needs no outside system, for demos, tests and load.

Each partition is an independent, deterministic sequence ``seq = 0, 1, 2, ...``: the same seq
always yields the same key and value, so a re-run that resumes from the stored offsets provably
writes no duplicates.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from pydantic import Field

from ..api import ConnectRecord, OffsetMap, Partition, SourceConnector, SourceTask
from ..config import SourceConnectorConfig


class DataGenConfig(SourceConnectorConfig):
    topic: str = Field("datagen", min_length=1, description="Topic the records are addressed to.")
    partitions: int = Field(1, ge=1, le=10_000, description="Independent sequences; split over tasks.")
    records: int | None = Field(None, ge=0, description="Records per partition; unset = endless.")
    batch_size: int = Field(100, ge=1, le=10_000, description="Most records one poll returns.")
    payload_bytes: int = Field(0, ge=0, le=900_000, description="Pad each value with this many bytes.")


class DataGenTask(SourceTask[DataGenConfig]):
    offset_order = ("seq",)

    def partitions(self) -> Sequence[Partition]:
        return [{"datagen": self.config.name, "partition": p} for p in self.task_config["partitions"]]

    def poll(self, offsets: OffsetMap) -> list[ConnectRecord]:
        cfg = self.config
        budget = cfg.batch_size
        out: list[ConnectRecord] = []
        now = int(time.time() * 1000)
        padding = "x" * cfg.payload_bytes
        for partition in self.partitions():
            start = offsets[partition]["seq"] + 1 if partition in offsets else 0
            end = start + budget
            if cfg.records is not None:
                end = min(end, cfg.records)
            p = partition["partition"]
            for seq in range(start, end):
                value: dict[str, Any] = {"partition": p, "seq": seq}
                if padding:
                    value["payload"] = padding
                out.append(ConnectRecord(topic=cfg.topic, key=f"{p}-{seq}", value=value, partition=partition,
                                         offset={"seq": seq}, timestamp=now))
            budget -= max(0, end - start)
            if budget <= 0:
                break
        return out


    def lag(self, offsets: OffsetMap) -> int | None:
        if self.config.records is None:
            return None
        return sum(self.config.records - (offsets[p]["seq"] + 1 if p in offsets else 0) for p in self.partitions())


class DataGenSourceConnector(SourceConnector[DataGenConfig]):
    config_model = DataGenConfig
    task_class = DataGenTask
    description = "Deterministic generated records; no outside system needed."

    def task_configs(self, max_tasks: int) -> list[dict[str, Any]]:
        partitions = list(range(self.config.partitions))
        tasks = min(max_tasks, len(partitions))
        return [{"partitions": partitions[i::tasks]} for i in range(tasks)]
