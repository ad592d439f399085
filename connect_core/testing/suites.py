"""Standard test suites: a connector's contract checked by pytest in one class.

    from connect_core.testing import SinkConnectorSuite, SourceConnectorSuite

    class TestTicker(SourceConnectorSuite):
        connector = TickerConnector                  # or "ticker", "my_pkg.ticker:TickerConnector"
        config = {"count": 25, "batch_size": 10}     # a valid config ("name" and "connector" optional)

Every connector gets: a valid config is accepted (also as CloudFormation passes it, all strings);
invalid configs are rejected naming the field (an unknown option, each required option missing,
and the cases in ``invalid_configs``); every option is described; importing the connector loads
no AWS SDK; ``task_configs(max_tasks)`` stays within ``max_tasks`` and survives storage.

Sources also get: every partition read by exactly one task (or by every task, for competing
readers of a queue: ``shared_partitions``); a restarted source resumes exactly
from its committed offsets; a tick killed between publish and commit loses nothing and repeats
only what it had not committed; a drained source publishes nothing more. They run through the
real source runner on in-memory stores (:class:`SourceHarness`).

Sinks also get: a batch is written; a redelivered batch - whole or overlapping - leaves the same
end state (through the runtime's ``deduplicate`` ledger unless the task declares itself
idempotent); records the target rejects fail alone (with
:meth:`SinkConnectorSuite.rejected_records`). A sink's suite says what its target holds by
implementing :meth:`SinkConnectorSuite.target_state`.

Configs that need a place on disk use ``"{tmp_path}"`` in string values; a suite whose config
needs other fixtures (a server, a bucket) overrides the ``connector_config`` fixture. Tests that
cannot apply to a connector are not collected (never skipped): the rejected-records test without
``rejected_records``.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Hashable, Mapping, Sequence

import pytest

from ..api.connector import Connector
from ..api.record import ConnectRecord, OffsetMap, partition_key
from ..config import SinkConnectorConfig, SourceConnectorConfig, validate_config
from ..errors import ConfigError
from ..local.custom_resource import stringify
from ..registry import load_connector_class
from ..storage import Stores
from .events import redelivered
from .harness import CommitFailsOnce, SinkHarness, SourceHarness, record_identity, started_task, task_partitions

TMP_PATH = "{tmp_path}"


@dataclass(frozen=True)
class InvalidCase:
    """A change that makes a valid config invalid, and the field the error must name."""

    field: str
    changes: Mapping[str, Any] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    id: str = ""

    def apply(self, config: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in config.items() if k not in self.remove}
        out.update(self.changes)
        return out


class ConnectorSuite:
    """What every connector must do. Subclass :class:`SourceConnectorSuite` or
    :class:`SinkConnectorSuite` instead."""

    #: The connector: its class, a built-in short name or an import path.
    connector: ClassVar[Any] = None
    #: A valid config. "name" and "connector" are filled in when missing.
    config: ClassVar[Mapping[str, Any]] = {}
    #: Invalid configs beyond the generic ones: {field the error must name: changes to the config},
    #: or a list of (field, changes) pairs to try several cases for one field.
    invalid_configs: ClassVar[Mapping[str, Mapping[str, Any]] | Sequence[tuple[str, Mapping[str, Any]]]] = {}
    #: The max_tasks values task_configs is tried with.
    task_counts: ClassVar[Sequence[int]] = (1, 2, 3, 8)
    kind: ClassVar[str] = ""

    # --- setup ---------------------------------------------------------------------------------

    @classmethod
    def connector_class(cls) -> type[Connector[Any]]:
        if cls.connector is None:
            raise TypeError(f"{cls.__name__} needs `connector = <class, short name or import path>`")
        found = load_connector_class(cls.connector) if isinstance(cls.connector, str) else cls.connector
        if getattr(found, "kind", None) != cls.kind:
            raise TypeError(f"{cls.__name__} tests {cls.kind} connectors; {found.__name__} is a "
                            f"{getattr(found, 'kind', '?')} connector")
        return found

    @classmethod
    def complete_config(cls, config: Mapping[str, Any], tmp_path: Path | None = None) -> dict[str, Any]:
        """``config`` with "name" and "connector" filled in and "{tmp_path}" replaced."""
        reference = cls.connector if isinstance(cls.connector, str) else cls.connector_class().plugin_name()
        out = {"name": f"suite-{cls.kind}", "connector": reference, **config}
        return _substitute(out, str(tmp_path)) if tmp_path is not None else out

    @pytest.fixture
    def connector_config(self, tmp_path: Path) -> dict[str, Any]:
        """The valid config every test starts from; override this fixture to build it from others."""
        return self.complete_config(self.config, tmp_path)

    def invalid_cases(self) -> list[InvalidCase]:
        model = self.connector_class().config_model
        cases = [InvalidCase("not_an_option", {"not_an_option": "x"}, id="unknown-option")]
        for name, info in model.model_fields.items():
            if info.is_required() and name not in ("name", "connector"):
                cases.append(InvalidCase(name, remove=(name,), id=f"missing-{name}"))
        declared = self.invalid_configs
        pairs = declared.items() if isinstance(declared, Mapping) else declared
        cases += [InvalidCase(field_, dict(changes), id=field_) for field_, changes in pairs]
        return cases

    def pytest_generate_tests(self, metafunc: Any) -> None:
        if "invalid_case" in metafunc.fixturenames:
            cases = self.invalid_cases()
            metafunc.parametrize("invalid_case", cases, ids=[c.id for c in cases])
        if "max_tasks" in metafunc.fixturenames:
            metafunc.parametrize("max_tasks", list(self.task_counts), ids=[f"max_tasks={n}" for n in self.task_counts])

    # --- every connector -----------------------------------------------------------------------

    def test_a_valid_config_is_accepted(self, connector_config: dict[str, Any]) -> None:
        connector = validate_config(connector_config)

        assert isinstance(connector, self.connector_class())
        from_template = validate_config(stringify(connector_config))
        assert from_template.config.model_dump(mode="json") == connector.config.model_dump(mode="json"), (
            "the config means something else when CloudFormation passes it (every value a string)")

    def test_an_invalid_config_is_rejected_naming_the_field(self, connector_config: dict[str, Any],
                                                           invalid_case: InvalidCase) -> None:
        config = invalid_case.apply(connector_config)

        with pytest.raises(ConfigError) as raised:
            validate_config(config)

        fields = [error.field for error in raised.value.errors]
        assert invalid_case.field in fields, (
            f"expected an error naming {invalid_case.field!r}; got: {raised.value}")
        assert all(error.message for error in raised.value.errors), "every error says why"

    def test_every_option_is_described(self) -> None:
        model = self.connector_class().config_model
        base = SourceConnectorConfig if self.kind == "source" else SinkConnectorConfig
        own = [name for name in model.model_fields if name not in base.model_fields]
        undescribed = [name for name in own if not (model.model_fields[name].description or "").strip()]
        assert not undescribed, f"options without a description (they reach the generated docs): {undescribed}"

    def test_importing_the_connector_loads_no_aws_sdk(self) -> None:
        module = self.connector_class().__module__
        code = (f"import importlib, sys; importlib.import_module({module!r}); "
                "print(','.join(m for m in ('boto3', 'botocore') if m in sys.modules))")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 0, f"importing {module} failed: {out.stderr[-2000:]}"
        assert out.stdout.strip() == "", (
            f"importing {module} loads {out.stdout.strip()}: create AWS clients on first use "
            "(connect_core.aws.client) so a cold start does not pay for them")

    def test_task_configs_stay_within_max_tasks_and_survive_storage(self, connector_config: dict[str, Any],
                                                                     max_tasks: int) -> None:
        connector = validate_config({**connector_config, "max_tasks": max_tasks})

        configs = connector.task_configs(max_tasks)

        assert 1 <= len(configs) <= max_tasks, f"task_configs({max_tasks}) returned {len(configs)} task configs"
        for config in configs:
            assert isinstance(config, dict), f"a task config is a dict, not {type(config).__name__}"
            assert json.loads(json.dumps(config)) == config, (
                f"task config {config!r} changes when stored as JSON")


class SourceConnectorSuite(ConnectorSuite):
    """The contract of a source connector. See the module doc."""

    kind: ClassVar[str] = "source"
    #: How many polls each task gets before the restart in the resume test.
    restart_after_polls: ClassVar[int] = 1
    #: Polls one tick may take; a source that does not drain within them fails the suite.
    max_polls: ClassVar[int] = 1000
    #: The tasks are competing readers of the same partitions (the consumers of one queue) instead
    #: of each reading partitions of its own.
    shared_partitions: ClassVar[bool] = False

    def record_identity(self, record: ConnectRecord) -> Hashable:
        """What makes a record the same record (its source position by default)."""
        return record_identity(record)

    def expected_identities(self, config: Mapping[str, Any]) -> set[Hashable] | None:
        """Every record the source holds; None to find out with an uninterrupted run first.
        Sources that consume what they read (a queue) override this."""
        return None

    def harness(self, config: Mapping[str, Any], **options: Any) -> SourceHarness:
        options.setdefault("max_polls", self.max_polls)
        return SourceHarness(config, **options)

    def reference(self, config: Mapping[str, Any]) -> set[Hashable]:
        expected = self.expected_identities(config)
        if expected is None:
            with self.harness(config) as source:
                source.deploy()
                source.drain()
                identities = [self.record_identity(r) for r in source.records]
            duplicated = _duplicates(identities)
            assert not duplicated, f"one uninterrupted run published these positions twice: {duplicated[:10]}"
            expected = set(identities)
        assert expected, "the source produced no records: give the suite a config whose source holds data"
        return expected

    def test_the_tasks_cover_every_partition(self, connector_config: dict[str, Any], max_tasks: int) -> None:
        single = validate_config({**connector_config, "max_tasks": 1})
        expected = {partition_key(p) for config in single.task_configs(1) for p in task_partitions(single, config)}
        connector = validate_config({**connector_config, "max_tasks": max_tasks})

        per_task = [[partition_key(p) for p in task_partitions(connector, config)]
                    for config in connector.task_configs(max_tasks)]
        read = [key for keys in per_task for key in keys]

        assert expected, "the tasks read no partition at all"
        if self.shared_partitions:
            assert all(set(keys) == expected for keys in per_task), "every reader reads every partition"
        else:
            assert not _duplicates(read), f"partitions read by more than one task: {_duplicates(read)}"
        assert set(read) == expected, (f"lost partitions: {sorted(expected - set(read))}; "
                                       f"unknown partitions: {sorted(set(read) - expected)}")

    def test_a_restarted_source_resumes_from_its_committed_offsets(self, connector_config: dict[str, Any]) -> None:
        expected = self.reference(connector_config)

        with self.harness(connector_config) as source:
            source.deploy()
            for task in range(len(source.task_configs)):
                source.tick(task, polls=self.restart_after_polls)
            before_restart = len(source.records)
            assert 0 < before_restart < len(expected), (
                f"{before_restart} of {len(expected)} records were published in the first "
                f"{self.restart_after_polls} poll(s) of each task, so the restart does not fall mid-stream: "
                "give the suite a config with smaller batches or more records")
            source.restart()
            source.drain()
            got = [self.record_identity(r) for r in source.records]

        assert not _duplicates(got), f"published twice after the restart: {_duplicates(got)[:10]}"
        assert set(got) == expected, (f"lost after the restart: {sorted(expected - set(got))[:10]}; "
                                      f"unexpected: {sorted(set(got) - expected)[:10]}")

    def test_a_tick_killed_between_publish_and_commit_loses_nothing(self, connector_config: dict[str, Any]) -> None:
        expected = self.reference(connector_config)
        stores = Stores.in_memory()
        committed_at: list[int] = []  # records published when each commit went through
        failing = CommitFailsOnce(stores.offsets, after=1, on_commit=lambda: committed_at.append(len(source.records)))

        with self.harness(connector_config, stores=replace(stores, offsets=failing)) as source:
            source.deploy()
            for task in range(len(source.task_configs)):
                if source.tick(task).outcome == "failed":
                    break
            assert not failing.armed, (
                "no tick reached a second commit, so none could be killed after one: give the suite "
                "a config with smaller batches or more records")
            uncommitted = {self.record_identity(r) for r in source.records[committed_at[-1]:]}
            source.restart()
            source.drain()
            got = [self.record_identity(r) for r in source.records]

        assert set(got) == expected, f"lost: {sorted(expected - set(got))[:10]}"
        repeated = set(_duplicates(got))
        assert repeated == uncommitted, (
            "after the kill the source must resume from the committed offsets and repeat exactly the "
            f"uncommitted batch ({len(uncommitted)} records), not {len(repeated)} records")
        assert max(collections.Counter(got).values()) <= 2

    def test_a_drained_source_publishes_nothing_more(self, connector_config: dict[str, Any]) -> None:
        """Also: the committed offsets are those of the last records published (a suite config
        whose transforms drop records would need its own check)."""
        with self.harness(connector_config) as source:
            source.deploy()
            source.drain()
            published = source.records
            committed = source.committed()

            again = [source.tick(task) for task in range(len(source.task_configs))]

            assert [r.records for r in again] == [0] * len(again), "a drained source polled records again"
            assert len(source.records) == len(published)
            assert source.committed().by_key() == committed.by_key()
        assert committed.by_key() == OffsetMap.last_of(published).by_key(), (
            "the committed offsets are not those of the last record published per partition")


class SinkConnectorSuite(ConnectorSuite):
    """The contract of a sink connector. See the module doc."""

    kind: ClassVar[str] = "sink"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.connector is not None:
            cls.connector_class()  # a suite for the wrong kind of connector fails where it is defined
        # Tests that cannot apply are not collected rather than skipped.
        if cls.rejected_records is SinkConnectorSuite.rejected_records:
            cls.test_records_the_target_rejects_fail_alone = None  # type: ignore[assignment]

    # --- hooks ---------------------------------------------------------------------------------

    def target_state(self, config: Mapping[str, Any]) -> Any:
        """What the sink's target holds now, comparable with ``==`` (file lines, table items)."""
        raise NotImplementedError(f"{type(self).__name__} must implement target_state(config): "
                                  "what the sink's target holds, for the suite to compare")

    def records(self) -> list[ConnectRecord]:
        """Records the target accepts. By default ten JSON records in two partitions."""
        return [ConnectRecord(topic="suite-records", key=f"key-{i}",
                              value={"id": i, "name": f"item {i}", "amount": i * 1.25, "tags": ["a", str(i)]},
                              partition={"suite": "records", "partition": i % 2}, offset={"seq": i // 2},
                              timestamp=1_700_000_000_000 + i, headers={"origin": "suite"})
                for i in range(10)]

    def rejected_records(self) -> list[ConnectRecord]:
        """Records the target refuses one by one (implement to get the rejected-records test)."""
        raise NotImplementedError

    def assert_written(self, state: Any, records: list[ConnectRecord]) -> None:
        """Check that ``state`` holds ``records`` once each. By default: the target holds one
        item per record (when its state has a length)."""
        if hasattr(state, "__len__"):
            assert len(state) == len(records), (
                f"the target holds {len(state)} items after {len(records)} records were written once")

    def harness(self, config: Mapping[str, Any], **options: Any) -> SinkHarness:
        return SinkHarness(config, **options)

    # --- tests ---------------------------------------------------------------------------------

    def test_a_batch_is_written(self, connector_config: dict[str, Any]) -> None:
        records = self.records()
        with self.harness(connector_config) as sink:
            before = self.target_state(connector_config)

            result = sink.deliver(records)

            assert result.failures == [], f"failed records: {result.failures}"
            assert result.written == len(records)
            state = self.target_state(connector_config)
        assert state != before, "the target did not change"
        self.assert_written(state, records)

    def test_a_redelivered_batch_leaves_the_same_end_state(self, connector_config: dict[str, Any]) -> None:
        config = dict(connector_config)
        connector = validate_config(config)
        with started_task(connector, connector.task_configs(1)[0]) as task:
            idempotent = task.idempotent  # a task may say so per config (an upsert mode, a FIFO queue)
        if not idempotent:
            config["deduplicate"] = True  # not idempotent itself: the runtime's ledger makes it so
        records = self.records()
        with self.harness(config) as sink:
            event = sink.event(records)
            first_half = {"Records": event["Records"][: len(records) // 2]}
            assert sink.deliver(first_half).failures == []
            sink.restart()  # redeliveries usually land on another instance
            assert sink.deliver(redelivered(event)).failures == []
            state = self.target_state(config)
            sink.restart()
            assert sink.deliver(redelivered(event, times=2)).failures == []

            assert self.target_state(config) == state, "redelivering the batch changed the target"
        self.assert_written(state, records)

    def test_records_the_target_rejects_fail_alone(self, connector_config: dict[str, Any]) -> None:
        good, bad = self.records(), self.rejected_records()
        assert bad, "rejected_records() returned no records"
        middle = len(good) // 2
        with self.harness(connector_config) as sink:
            event = sink.event([*good[:middle], *bad, *good[middle:]])
            bad_ids = [r["messageId"] for r in event["Records"][middle:middle + len(bad)]]

            result = sink.deliver(event)

            if sink.connector.config.errors.tolerance == "none":
                assert sorted(result.failures) == sorted(bad_ids), "only the rejected records fail"
            else:
                assert (result.failures, result.dead_lettered) == ([], len(bad))
            assert result.written == len(good)
            state = self.target_state(connector_config)
        self.assert_written(state, good)


def _substitute(value: Any, tmp_path: str) -> Any:
    if isinstance(value, str):
        return value.replace(TMP_PATH, tmp_path)
    if isinstance(value, Mapping):
        return {k: _substitute(v, tmp_path) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, tmp_path) for v in value]
    return value


def _duplicates(items: Sequence[Hashable]) -> list[Hashable]:
    return [item for item, count in collections.Counter(items).items() if count > 1]
