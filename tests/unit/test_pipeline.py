"""The in-process data path: source records -> transforms -> converters -> messages, and back into a sink."""

import json

import pytest

from connect_core import ConnectRecord, RetriableError, SinkRecordErrors, SinkTask, TaskContext, validate_config
from connect_core.config import SinkConnectorConfig
from connect_core.runtime.pipeline import Message, Retrier, SinkPipeline, SourcePipeline


class RecordingSink(SinkTask[SinkConnectorConfig]):
    """An in-memory sink: what a real sink would write ends up in ``written``."""

    def __init__(self, config, fail_values=(), retriable_failures=0, reject_batches=False):
        super().__init__(config, {}, TaskContext("c", 0))
        self.written: list[ConnectRecord] = []
        self.fail_values = set(fail_values)
        self.retriable_failures = retriable_failures
        self.reject_batches = reject_batches
        self.calls = 0
        self.committed = []

    def put(self, records):
        self.calls += 1
        if self.retriable_failures:
            self.retriable_failures -= 1
            raise RetriableError("throttled")
        bad = {i: ValueError(f"cannot write {r.value!r}") for i, r in enumerate(records)
               if isinstance(r.value, dict) and r.value.get("n") in self.fail_values}
        if bad and self.reject_batches:
            raise ValueError("batch rejected")
        if bad:
            self.written.extend(r for i, r in enumerate(records) if i not in bad)
            raise SinkRecordErrors(bad)
        self.written.extend(records)

    def flush(self, offsets):
        self.committed.append({json.dumps(dict(p), sort_keys=True): dict(o) for p, o in offsets.items()})


def sink_config(**overrides):
    return SinkConnectorConfig(name="sink", connector="file-sink", **overrides)


def source_config(**overrides):
    return validate_config({"name": "src", "connector": "datagen-source", **overrides}).config


def record(n, **kw):
    return ConnectRecord(topic="orders", key=f"k{n}", value={"n": n}, partition={"p": 0}, offset={"seq": n}, **kw)


def message(n, value=None, **kw):
    body = json.dumps({"n": n}).encode() if value is None else value
    return Message(body, f"k{n}".encode(), "orders", {}, {"p": 0}, {"seq": n}, None, id=f"m{n}", **kw)


# -- source side ---------------------------------------------------------------------------------

def test_source_records_are_transformed_and_converted():
    config = source_config(transforms=[{"type": "InsertField", "static_field": "region", "static_value": "eu"}])

    batch = SourcePipeline(config).process([record(1), record(2)])

    assert [json.loads(m.value) for m in batch.messages] == [{"n": 1, "region": "eu"}, {"n": 2, "region": "eu"}]
    assert [m.key for m in batch.messages] == [b"k1", b"k2"]
    assert batch.offsets[{"p": 0}] == {"seq": 2}
    assert batch.records_in == 2 and batch.dead_letters == []


def test_dropped_records_still_advance_the_offsets():
    config = source_config(transforms=[{"type": "Filter"}])

    batch = SourcePipeline(config).process([record(1), record(2)])

    assert batch.messages == [] and batch.offsets[{"p": 0}] == {"seq": 2}


def test_source_failure_with_tolerance_none_raises():
    config = source_config(transforms=[{"type": "ExtractField", "field": "missing"}])

    with pytest.raises(Exception):
        SourcePipeline(config).process([record(1)])


def test_source_failure_with_tolerance_all_dead_letters_and_continues():
    config = source_config(transforms=[{"type": "ExtractField", "field": "n"}],
                           errors={"tolerance": "all"})
    bad = ConnectRecord(topic="orders", value="not a struct", partition={"p": 0}, offset={"seq": 2})

    batch = SourcePipeline(config).process([record(1), bad, record(3)])

    assert [m.value for m in batch.messages] == [b"1", b"3"]
    [letter] = batch.dead_letters
    assert letter.stage == "transform" and letter.message.offset == {"seq": 2}
    assert letter.to_dict()["record"]["value_base64"]
    assert batch.offsets[{"p": 0}] == {"seq": 3}


# -- sink side -----------------------------------------------------------------------------------

def test_sink_batch_is_decoded_transformed_and_put():
    config = sink_config(transforms=[{"type": "ReplaceField", "renames": {"n": "number"}}])
    sink = RecordingSink(config)

    result = SinkPipeline(config, sink).deliver([message(1), message(2)])

    assert [r.value for r in sink.written] == [{"number": 1}, {"number": 2}]
    assert [r.key for r in sink.written] == ["k1", "k2"]
    assert result.written == 2 and result.failed_ids == [] and result.dead_letters == []
    assert sink.committed == [{'{"p": 0}': {"seq": 2}}]


def test_undecodable_message_fails_alone_with_tolerance_none():
    config = sink_config()
    sink = RecordingSink(config)

    result = SinkPipeline(config, sink).deliver([message(1), message(2, value=b"{not json"), message(3)])

    assert result.failed_ids == ["m2"]
    assert "value_converter" in result.errors["m2"]
    assert [r.value["n"] for r in sink.written] == [1, 3]


def test_undecodable_message_is_dead_lettered_with_tolerance_all():
    config = sink_config(errors={"tolerance": "all"})
    sink = RecordingSink(config)

    result = SinkPipeline(config, sink).deliver([message(1), message(2, value=b"{not json", attempts=3)])

    assert result.failed_ids == []
    [letter] = result.dead_letters
    context = letter.to_dict()
    assert context["connector"] == "sink" and context["stage"] == "value_converter"
    assert context["deliveries"] == 3 and context["record"]["id"] == "m2"
    assert context["error"]["type"]


def test_records_the_sink_rejects_fail_individually():
    config = sink_config()
    sink = RecordingSink(config, fail_values={2})

    result = SinkPipeline(config, sink).deliver([message(1), message(2), message(3)])

    assert result.failed_ids == ["m2"] and result.written == 2
    assert "cannot write" in result.errors["m2"]


def test_a_rejected_batch_is_isolated_record_by_record():
    config = sink_config(errors={"tolerance": "all"})
    sink = RecordingSink(config, fail_values={2}, reject_batches=True)

    result = SinkPipeline(config, sink).deliver([message(1), message(2), message(3)])

    assert [r.value["n"] for r in sink.written] == [1, 3]
    assert [d.message.id for d in result.dead_letters] == ["m2"]
    assert result.failed_ids == []


def test_retriable_errors_are_retried_within_the_timeout_with_capped_backoff():
    config = sink_config(errors={"retry_timeout_ms": 10_000, "retry_max_delay_ms": 300})
    sink = RecordingSink(config, retriable_failures=4)
    slept = []

    result = SinkPipeline(config, sink, sleep=slept.append).deliver([message(1)])

    assert result.written == 1 and sink.calls == 5
    assert slept == [0.1, 0.2, 0.3, 0.3]


def test_retries_give_up_at_the_timeout_and_the_batch_fails():
    config = sink_config(errors={"retry_timeout_ms": 1_000})
    sink = RecordingSink(config, retriable_failures=100)
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    retrier_clock = lambda: now[0]  # noqa: E731
    pipeline = SinkPipeline(config, sink, sleep=sleep)
    pipeline.retrier = Retrier(config.errors, sleep=sleep, clock=retrier_clock)
    result = pipeline.deliver([message(1), message(2)])

    assert result.failed_ids == ["m1", "m2"] and result.written == 0
    assert now[0] == pytest.approx(1.0)


def test_no_retries_by_default():
    config = sink_config()
    sink = RecordingSink(config, retriable_failures=1)

    result = SinkPipeline(config, sink, sleep=lambda s: pytest.fail("slept")).deliver([message(1)])

    assert result.failed_ids == ["m1"] and sink.calls == 1


def test_filtered_sink_records_are_counted_as_dropped():
    config = sink_config(transforms=[{"type": "Filter", "predicate": "t"}],
                         predicates={"t": {"type": "RecordIsTombstone"}})
    sink = RecordingSink(config)

    result = SinkPipeline(config, sink).deliver([message(1), Message(None, b"k", "orders", id="tomb")])

    assert result.dropped == 1 and result.written == 1 and result.failed_ids == []
