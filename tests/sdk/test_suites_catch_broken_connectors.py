"""The standard suites fail for connectors that break the contract, and pass for one that keeps it.

Each broken connector below has one fault a user could really write; the suite's test for that
fault is called directly and must fail with an AssertionError naming the problem.
"""

from __future__ import annotations

import inspect
import sys
import textwrap
import uuid
from typing import Any

import pytest
from pydantic import ConfigDict, Field

from connect_core import (ConnectRecord, RetriableError, SinkConnector, SinkConnectorConfig, SinkRecordErrors,
                          SinkTask, SourceConnector, SourceConnectorConfig, SourceTask)
from connect_core.testing import InvalidCase, SinkConnectorSuite, SourceConnectorSuite


# --- sources ---------------------------------------------------------------------------------------

class CounterConfig(SourceConnectorConfig):
    records: int = Field(30, ge=0, description="Records in each partition.")
    batch_size: int = Field(7, ge=1, description="Most records one poll returns.")
    partitions: int = Field(2, ge=1, description="Independent counters, split over tasks.")


class CounterTask(SourceTask[CounterConfig]):
    """Keeps the contract: resumes from the offsets it is given."""

    offset_order = ("n",)

    def partitions(self):
        return [{"counter": self.config.name, "p": p} for p in self.task_config["partitions"]]

    def first(self, partition, offsets) -> int:
        return offsets[partition]["n"] + 1 if partition in offsets else 0

    def poll(self, offsets):
        for partition in self.partitions():
            start = self.first(partition, offsets)
            end = min(start + self.config.batch_size, self.config.records)
            if start < end:
                return [ConnectRecord(topic="counts", key=str(n), value={"n": n}, partition=partition,
                                      offset={"n": n}) for n in range(start, end)]
        return []


class CounterConnector(SourceConnector[CounterConfig]):
    config_model = CounterConfig
    task_class = CounterTask

    def task_configs(self, max_tasks):
        partitions = list(range(self.config.partitions))
        tasks = min(max_tasks, len(partitions))
        return [{"partitions": partitions[i::tasks]} for i in range(tasks)]


class ForgetfulTask(CounterTask):
    """Counts in instance memory and ignores the committed offsets: a restart starts over."""

    def start(self):
        self.position: dict[int, int] = {}

    def first(self, partition, offsets):
        return self.position.get(partition["p"], 0)

    def poll(self, offsets):
        records = super().poll(offsets)
        if records:
            self.position[records[0].partition["p"]] = records[-1].offset["n"] + 1
        return records


class ForgetfulConnector(CounterConnector):
    task_class = ForgetfulTask


class SkippingTask(CounterTask):
    """Resumes one record after the committed offset: loses a record at every restart."""

    def start(self):
        self.fresh = True

    def first(self, partition, offsets):
        start = super().first(partition, offsets)
        if self.fresh and partition in offsets:
            start += 1
        return start

    def poll(self, offsets):
        records = super().poll(offsets)
        self.fresh = False
        return records


class SkippingConnector(CounterConnector):
    task_class = SkippingTask


class OverlappingSplitConnector(CounterConnector):
    """Gives every task every partition."""

    def task_configs(self, max_tasks):
        return [{"partitions": list(range(self.config.partitions))} for _ in range(max_tasks)]


class TooManyTasksConnector(CounterConnector):
    def task_configs(self, max_tasks):
        return [{"partitions": [p]} for p in range(max_tasks + 1)]


class UnstorableTaskConfigConnector(CounterConnector):
    """Puts a tuple in its task config: DynamoDB gives back a list."""

    def task_configs(self, max_tasks):
        return [{"partitions": tuple(range(self.config.partitions))}]


class VagueConfig(CounterConfig):
    region: str = "eu"


class VagueConnector(CounterConnector):
    config_model = VagueConfig


class SourceSuite(SourceConnectorSuite):
    connector = CounterConnector
    config = {"max_tasks": 2}


def run(suite: type, test: str, tmp_path, **params: Any) -> None:
    """Call one of the suite's tests, with the suite's config as ``connector_config`` unless given."""
    method = getattr(suite(), test)
    if "connector_config" in inspect.signature(method).parameters:
        params.setdefault("connector_config", suite.complete_config(suite.config, tmp_path))
    method(**params)


@pytest.mark.parametrize("test", ["test_a_restarted_source_resumes_from_its_committed_offsets",
                                  "test_a_tick_killed_between_publish_and_commit_loses_nothing",
                                  "test_a_drained_source_publishes_nothing_more",
                                  "test_a_valid_config_is_accepted", "test_every_option_is_described",
                                  "test_importing_the_connector_loads_no_aws_sdk"])
def test_a_source_that_keeps_the_contract_passes(test, tmp_path):
    run(SourceSuite, test, tmp_path)


@pytest.mark.parametrize("max_tasks", [1, 2, 5])
def test_a_source_that_keeps_the_contract_covers_every_partition(max_tasks, tmp_path):
    run(SourceSuite, "test_the_tasks_cover_every_partition", tmp_path, max_tasks=max_tasks)


def test_a_source_that_ignores_its_committed_offsets_fails_the_resume_tests(tmp_path):
    class Suite(SourceSuite):
        connector = ForgetfulConnector

    with pytest.raises(AssertionError, match="published twice after the restart"):
        run(Suite, "test_a_restarted_source_resumes_from_its_committed_offsets", tmp_path)
    with pytest.raises(AssertionError, match="repeat exactly the uncommitted batch"):
        run(Suite, "test_a_tick_killed_between_publish_and_commit_loses_nothing", tmp_path)


def test_a_source_that_skips_a_record_on_resume_fails_for_the_lost_record(tmp_path):
    class Suite(SourceSuite):
        connector = SkippingConnector

    with pytest.raises(AssertionError, match="lost after the restart"):
        run(Suite, "test_a_restarted_source_resumes_from_its_committed_offsets", tmp_path)


def test_a_source_that_drains_in_one_poll_cannot_prove_it_resumes(tmp_path):
    class Suite(SourceSuite):
        config = {"records": 3, "batch_size": 10, "partitions": 1}

    with pytest.raises(AssertionError, match="does not fall mid-stream"):
        run(Suite, "test_a_restarted_source_resumes_from_its_committed_offsets", tmp_path)


def test_a_split_that_gives_a_partition_to_two_tasks_fails(tmp_path):
    class Suite(SourceSuite):
        connector = OverlappingSplitConnector

    run(Suite, "test_the_tasks_cover_every_partition", tmp_path, max_tasks=1)
    with pytest.raises(AssertionError, match="read by more than one task"):
        run(Suite, "test_the_tasks_cover_every_partition", tmp_path, max_tasks=2)


def test_more_tasks_than_max_tasks_fails(tmp_path):
    class Suite(SourceSuite):
        connector = TooManyTasksConnector

    with pytest.raises(AssertionError, match=r"task_configs\(2\) returned 3 task configs"):
        run(Suite, "test_task_configs_stay_within_max_tasks_and_survive_storage", tmp_path, max_tasks=2)


def test_a_task_config_that_changes_in_storage_fails(tmp_path):
    class Suite(SourceSuite):
        connector = UnstorableTaskConfigConnector

    with pytest.raises(AssertionError, match="changes when stored as JSON"):
        run(Suite, "test_task_configs_stay_within_max_tasks_and_survive_storage", tmp_path, max_tasks=1)


def test_an_option_without_a_description_fails(tmp_path):
    class Suite(SourceSuite):
        connector = VagueConnector

    with pytest.raises(AssertionError, match=r"\['region'\]"):
        run(Suite, "test_every_option_is_described", tmp_path)


def test_a_connector_module_that_imports_the_aws_sdk_fails(tmp_path, monkeypatch):
    module = f"eager_connector_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent("""
        import boto3  # a client at import time costs every cold start

        from connect_core.connectors.datagen import DataGenSourceConnector


        class EagerConnector(DataGenSourceConnector):
            pass
    """))
    monkeypatch.syspath_prepend(str(tmp_path))

    class Suite(SourceConnectorSuite):
        connector = f"{module}:EagerConnector"

    with pytest.raises(AssertionError, match="loads boto3"):
        run(Suite, "test_importing_the_connector_loads_no_aws_sdk", tmp_path)
    sys.modules.pop(module, None)


def test_invalid_cases_cover_unknown_options_and_each_required_option():
    class Suite(SinkConnectorSuite):
        connector = ListSinkConnector
        invalid_configs = {"store": {"store": ""}}

    cases = Suite().invalid_cases()

    assert [c.id for c in cases] == ["unknown-option", "missing-store", "store"]
    assert cases[1].apply({"name": "x", "store": "s"}) == {"name": "x"}


# --- sinks -----------------------------------------------------------------------------------------

LISTS: dict[str, list] = {}


class ListSinkConfig(SinkConnectorConfig):
    store: str = Field(min_length=1, description="Key of the in-process list the records go to.")


class ListSinkTask(SinkTask[ListSinkConfig]):
    """Keeps the contract: not idempotent (it says so) and rejects bad records one by one."""

    def put(self, records):
        bad = {i: ValueError("the target refuses records marked bad") for i, r in enumerate(records)
               if r.value.get("bad")}
        LISTS.setdefault(self.config.store, []).extend(r.value for i, r in enumerate(records) if i not in bad)
        if bad:
            raise SinkRecordErrors(bad)


class ListSinkConnector(SinkConnector[ListSinkConfig]):
    config_model = ListSinkConfig
    task_class = ListSinkTask


class ClaimsIdempotentTask(ListSinkTask):
    idempotent = True  # wrong: it appends


class ClaimsIdempotentConnector(ListSinkConnector):
    task_class = ClaimsIdempotentTask


class RetriesEverythingTask(ListSinkTask):
    """Fails the whole batch, retriably, for one bad record."""

    def put(self, records):
        if any(r.value.get("bad") for r in records):
            raise RetriableError("a record was refused")
        super().put(records)


class RetriesEverythingConnector(ListSinkConnector):
    task_class = RetriesEverythingTask


class LenientConfig(ListSinkConfig):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LenientConnector(ListSinkConnector):
    config_model = LenientConfig


class SinkSuite(SinkConnectorSuite):
    connector = ListSinkConnector
    config = {"store": "{tmp_path}"}

    def target_state(self, config):
        return list(LISTS.get(config["store"], []))

    def rejected_records(self):
        return [ConnectRecord(topic="t", value={"bad": True, "n": n}, partition={"bad": 0}, offset={"n": n})
                for n in range(2)]


def test_a_sink_that_keeps_the_contract_passes(tmp_path):
    for test in ("test_a_batch_is_written", "test_a_redelivered_batch_leaves_the_same_end_state",
                 "test_records_the_target_rejects_fail_alone"):
        run(SinkSuite, test, tmp_path / test)  # a list of its own for each test


def test_a_sink_that_claims_to_be_idempotent_but_appends_fails_on_redelivery(tmp_path):
    class Suite(SinkSuite):
        connector = ClaimsIdempotentConnector

    with pytest.raises(AssertionError, match="redelivering the batch changed the target"):
        run(Suite, "test_a_redelivered_batch_leaves_the_same_end_state", tmp_path)


def test_a_sink_that_fails_the_whole_batch_for_one_rejected_record_fails(tmp_path):
    class Suite(SinkSuite):
        connector = RetriesEverythingConnector

    with pytest.raises(AssertionError, match="only the rejected records fail"):
        run(Suite, "test_records_the_target_rejects_fail_alone", tmp_path)


def test_a_config_model_that_ignores_unknown_options_fails(tmp_path):
    class Suite(SinkSuite):
        connector = LenientConnector

    with pytest.raises(pytest.fail.Exception):
        run(Suite, "test_an_invalid_config_is_rejected_naming_the_field", tmp_path,
            invalid_case=InvalidCase("colour", {"colour": "blue"}))


def test_tests_that_cannot_apply_are_not_collected():
    class WithoutRejections(SinkConnectorSuite):
        connector = ListSinkConnector

    assert WithoutRejections.test_records_the_target_rejects_fail_alone is None
    assert callable(SinkSuite.test_records_the_target_rejects_fail_alone)


def test_a_suite_for_the_wrong_kind_of_connector_says_so():
    with pytest.raises(TypeError, match="tests sink connectors"):
        class Suite(SinkConnectorSuite):
            connector = "datagen-source"
