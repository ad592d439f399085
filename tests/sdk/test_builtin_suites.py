"""The standard suites applied to the built-in connectors that need no outside system."""

from __future__ import annotations

import json
from pathlib import Path

from connect_core.testing import SinkConnectorSuite, SourceConnectorSuite


class TestDataGenSource(SourceConnectorSuite):
    connector = "datagen-source"
    config = {"max_tasks": 2, "partitions": 3, "records": 25, "batch_size": 10}
    invalid_configs = {"batch_size": {"batch_size": 0}, "partitions": {"partitions": "many"},
                       "schedule": {"schedule": "every minute"}}


class TestFileSink(SinkConnectorSuite):
    connector = "file-sink"
    config = {"path": "{tmp_path}/out/records.jsonl", "format": "record"}
    invalid_configs = {"format": {"format": "xml"}, "path": {"path": ""}}

    def target_state(self, config):
        path = Path(config["path"])
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
