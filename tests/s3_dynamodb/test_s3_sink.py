"""``s3-sink`` against the embedded S3: object layout, rolling, offset-derived names, failures."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from sink_delivery import objects

from connect_core import aws
from connect_core.api import ConnectRecord, SinkRecordErrors
from connect_core.config import validate_config
from connect_core.connectors.s3 import ObjectWriteError, RecordEncodingError
from connect_core.errors import ConfigError, RetriableError
from connect_core.runtime.pipeline import Message, SinkPipeline

pytestmark = pytest.mark.integration

P0 = {"datagen": "gen", "partition": 0}
P1 = {"datagen": "gen", "partition": 1}
MAY_1 = 1714521600000  # 2024-05-01T00:00:00Z in epoch milliseconds


def config(bucket: str, **overrides) -> dict:
    return {"name": "archive", "connector": "s3-sink", "bucket": bucket, **overrides}


def record(seq: int, partition=P0, *, topic="orders", timestamp=MAY_1, value=None) -> ConnectRecord:
    return ConnectRecord(topic, {"seq": seq} if value is None else value, f"k{seq}", partition, {"seq": seq},
                         timestamp)


# -- configuration -------------------------------------------------------------------------------

def test_invalid_configs_name_every_field_and_the_reason():
    raw = config("Not_A_Bucket", path_format="{topic}/{week}", timezone="Mars/Olympus", max_records=0,
                 compression="zip", colour="blue")

    with pytest.raises(ConfigError) as failure:
        validate_config(raw)

    errors = failure.value.as_dict()
    assert "S3 bucket name" in errors["bucket"][0]
    assert "unknown placeholder {week}" in errors["path_format"][0]
    assert "unknown time zone 'Mars/Olympus'" in errors["timezone"][0]
    assert "greater than or equal to 1" in errors["max_records"][0]
    assert "'none' or 'gzip'" in errors["compression"][0]
    assert errors["colour"] == ["unknown option (misspelt, or not an option of this connector)"]


def test_a_kms_key_without_kms_encryption_and_format_specs_in_the_path_are_refused():
    with pytest.raises(ConfigError) as failure:
        validate_config(config("archive-bucket", kms_key_id="alias/archive", path_format="{date:%Y}/../x"))

    errors = failure.value.as_dict()
    assert errors["kms_key_id"] == ["needs server_side_encryption 'aws:kms'"]
    assert errors["path_format"] == ["placeholder {date} takes no format spec or conversion"]


def test_defaults_partition_by_topic_and_date_and_slashes_around_the_prefix_are_ignored():
    cfg = validate_config(config("archive-bucket", prefix="/raw/events/")).config

    assert (cfg.prefix, cfg.path_format, cfg.format, cfg.compression) == ("raw/events", "topic={topic}/dt={date}",
                                                                          "value", "none")


# -- layout and rolling ------------------------------------------------------------------------

def test_records_become_json_lines_objects_per_topic_and_date_rolled_by_count(bucket, start_task):
    task = start_task(config(bucket, prefix="raw", max_records=4))
    batch = [record(s) for s in range(10)] + [record(100, topic="refunds", timestamp=MAY_1 + 86_400_000)]

    task.put(batch)

    stored = objects(bucket)
    orders = sorted(k for k in stored if k.startswith("raw/topic=orders/dt=2024-05-01/"))
    assert [len(stored[k]["lines"]) for k in orders] == [4, 4, 2]
    assert [line["seq"] for k in orders for line in stored[k]["lines"]] == list(range(10))  # names sort in offset order
    [refunds] = [k for k in stored if k.startswith("raw/topic=refunds/dt=2024-05-02/")]
    assert stored[refunds]["lines"] == [{"seq": 100}]
    assert all(k.endswith(".jsonl") and stored[k]["type"] == "application/x-ndjson" for k in stored)
    assert stored[orders[0]]["metadata"] == {"connect-connector": "archive", "connect-records": "4"}


def test_objects_are_rolled_by_bytes_and_a_record_larger_than_the_limit_gets_its_own(bucket, start_task):
    task = start_task(config(bucket, max_bytes=1024))
    small = [record(s, value={"seq": s, "pad": "x" * 300}) for s in range(5)]  # ~320 bytes a line
    large = record(5, value={"seq": 5, "pad": "y" * 2000})

    task.put(small + [large])

    sizes = sorted(len(o["lines"]) for o in objects(bucket).values())
    assert sizes == [1, 2, 3]  # 3 + 2 small records under 1 KiB each, the large one alone


def test_each_source_partition_gets_its_own_objects_in_offset_order_whatever_the_arrival(bucket, start_task):
    task = start_task(config(bucket))
    batch = [record(s, P0) for s in range(5)] + [record(s, P1) for s in range(3)]
    random.Random(7).shuffle(batch)

    task.put(batch)

    stored = objects(bucket)
    assert sorted([line["seq"] for line in o["lines"]] for o in stored.values()) == [[0, 1, 2], [0, 1, 2, 3, 4]]
    names = {key.rsplit("/", 1)[1] for key in stored}
    assert {name.split("-")[1] for name in names} == {"00000000000000000000"}  # both start at offset 0
    assert len({name.split("-")[0] for name in names}) == 2  # one partition hash each


def test_record_format_keeps_the_envelope_and_gzip_sets_the_encoding(bucket, start_task):
    task = start_task(config(bucket, format="record", compression="gzip", storage_class="STANDARD_IA"))
    rec = ConnectRecord("orders", {"total": 9.5}, "o-1", P0, {"seq": 3}, MAY_1, headers={"tenant": "acme"})

    task.put([rec])

    [(key, stored)] = objects(bucket).items()
    assert key.endswith(".jsonl.gz") and stored["encoding"] == "gzip"
    assert stored["storage_class"] == "STANDARD_IA"
    assert stored["lines"] == [{"topic": "orders", "partition": P0, "offset": {"seq": 3}, "timestamp": MAY_1,
                                "key": "o-1", "value": {"total": 9.5}, "headers": {"tenant": "acme"}}]


def test_server_side_encryption_is_requested_per_object(bucket, start_task):
    task = start_task(config(bucket, server_side_encryption="AES256"))

    task.put([record(0)])

    [key] = objects(bucket)
    assert aws.client("s3").head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] == "AES256"


def test_the_date_path_follows_a_value_field_in_the_configured_time_zone(bucket, start_task):
    task = start_task(config(bucket, path_format="{topic}/{year}/{month}/{day}/{hour}", timezone="Asia/Tokyo",
                             timestamp_field="event.at"))
    batch = [record(1, value={"event": {"at": "2024-05-01T23:30:00Z"}}),      # 08:30 next day in Tokyo
             record(2, value={"event": {"at": MAY_1 + 3_600_000}}),           # epoch ms: 10:00 in Tokyo
             record(3, value={"event": {"at": "2024-05-01T12:00:00+09:00"}})]

    task.put(batch)

    folders = sorted(key.rsplit("/", 1)[0] for key in objects(bucket))
    assert folders == ["orders/2024/05/01/10", "orders/2024/05/01/12", "orders/2024/05/02/08"]


def test_tombstones_are_skipped_written_or_failed_as_configured(bucket, start_task):
    tombstone = ConnectRecord("orders", None, "k9", P0, {"seq": 9}, MAY_1)
    live = record(1)

    start_task(config(bucket, tombstones="skip", name="skip")).put([live, tombstone])
    assert [o["lines"] for o in objects(bucket).values()] == [[{"seq": 1}]]

    start_task(config(bucket, tombstones="write", format="record", prefix="w")).put([tombstone])
    written = [o["lines"] for k, o in objects(bucket).items() if k.startswith("w/")]
    assert written == [[{"topic": "orders", "partition": P0, "offset": {"seq": 9}, "timestamp": MAY_1,
                         "key": "k9", "value": None, "headers": {}}]]

    with pytest.raises(SinkRecordErrors) as failure:
        start_task(config(bucket, tombstones="fail", prefix="f")).put([live, tombstone])
    assert list(failure.value.errors) == [1] and "tombstone" in str(failure.value.errors[1])
    assert [k for k in objects(bucket) if k.startswith("f/")]  # the live record was written


# -- names derived from offsets: redelivery overwrites ---------------------------------------------

def test_redelivering_the_same_records_overwrites_the_same_objects_with_the_same_bytes(bucket, start_task):
    task = start_task(config(bucket, compression="gzip", max_records=3))
    batch = [record(s, P0) for s in range(7)] + [record(s, P1) for s in range(2)]
    task.put(batch)
    first = {k: o["etag"] for k, o in objects(bucket).items()}

    again = list(batch)
    random.Random(3).shuffle(again)  # SQS redelivers in any order
    start_task(config(bucket, compression="gzip", max_records=3)).put(again)  # a new instance: a retry elsewhere

    assert {k: o["etag"] for k, o in objects(bucket).items()} == first
    assert len(first) == 4  # P0: 3 + 3 + 1, P1: 2


def test_a_batch_of_other_records_never_replaces_an_object_it_overlaps(bucket, start_task):
    task = start_task(config(bucket))
    task.put([record(s) for s in range(4)])
    task.put([record(s) for s in range(2)])  # redelivered in a smaller batch: a different set, a different name

    stored = objects(bucket)
    assert sorted(len(o["lines"]) for o in stored.values()) == [2, 4]  # duplicates possible, loss never


def test_a_record_published_twice_into_one_batch_is_written_once(bucket, start_task):
    task = start_task(config(bucket))

    task.put([record(0), record(1), record(1), record(2)])

    [stored] = objects(bucket).values()
    assert [line["seq"] for line in stored["lines"]] == [0, 1, 2]


def test_records_without_a_position_are_named_by_their_content_and_filed_under_the_write_time(bucket, start_task):
    task = start_task(config(bucket))
    task.clock = lambda: dt.datetime(2024, 7, 4, 12, tzinfo=dt.timezone.utc).timestamp()
    bare = [ConnectRecord(None, {"clicked": n}) for n in (2, 1, 1)]

    task.put(bare)
    task.put(list(reversed(bare)))  # the same messages delivered again, in another order

    [(key, stored)] = objects(bucket).items()
    assert key.startswith("topic=unknown/dt=2024-07-04/content-")
    assert sorted(line["clicked"] for line in stored["lines"]) == [1, 1, 2]  # equal records are both kept


# -- failures ------------------------------------------------------------------------------------

def test_a_record_that_cannot_be_written_fails_alone_and_the_rest_is_written(bucket, start_task):
    task = start_task(config(bucket, timestamp_field="at"))
    batch = [record(0, value={"at": MAY_1}), record(1, value={"at": MAY_1, "score": float("nan")}),
             record(2, value={"no_time": True}), record(3, value={"at": "yesterday"}), record(4, value={"at": MAY_1})]

    with pytest.raises(SinkRecordErrors) as failure:
        task.put(batch)

    errors = failure.value.errors
    assert sorted(errors) == [1, 2, 3] and all(isinstance(e, RecordEncodingError) for e in errors.values())
    assert "cannot be written as JSON" in str(errors[1])
    assert "timestamp_field 'at' is not in the record value" in str(errors[2])
    assert "not epoch milliseconds or ISO-8601" in str(errors[3])
    [stored] = objects(bucket).values()
    assert [line.get("at") for line in stored["lines"]] == [MAY_1, MAY_1]


def test_a_missing_bucket_fails_every_record_with_the_bucket_named(embedded_aws, start_task):
    task = start_task(config("no-such-bucket-here"))

    with pytest.raises(SinkRecordErrors) as failure:
        task.put([record(0), record(1, P1)])

    assert sorted(failure.value.errors) == [0, 1]
    error = failure.value.errors[0]
    assert isinstance(error, ObjectWriteError)
    assert "s3://no-such-bucket-here/" in str(error) and "NoSuchBucket" in str(error)


class SlowDownFirst:
    """The real S3 client, except that the first PutObject is refused with SlowDown. Fault injection:
    the embedded S3 never throttles."""

    def __init__(self, real) -> None:
        self.real, self.refused = real, 0

    def put_object(self, **request):
        if not self.refused:
            self.refused += 1
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."},
                               "ResponseMetadata": {"HTTPStatusCode": 503}}, "PutObject")
        return self.real.put_object(**request)


def test_a_throttled_write_is_retried_by_the_runtime_and_the_retry_overwrites(bucket, start_task):
    raw = config(bucket, max_records=2, errors={"retry_timeout_ms": 10_000})
    task = start_task(raw)
    task.s3 = SlowDownFirst(aws.client("s3"))
    pipeline = SinkPipeline(validate_config(raw).config, task, sleep=lambda s: None)
    messages = [Message(json.dumps({"seq": s}).encode(), f"k{s}".encode(), "orders", {}, P0, {"seq": s}, MAY_1,
                        id=f"m{s}") for s in range(5)]

    result = pipeline.deliver(messages)

    assert task.s3.refused == 1
    assert (result.written, result.failed_ids) == (5, [])
    assert sorted(len(o["lines"]) for o in objects(bucket).values()) == [1, 2, 2]  # each object once


def test_a_throttled_write_is_a_retriable_failure_of_the_put(bucket, start_task):
    task = start_task(config(bucket))
    task.s3 = SlowDownFirst(aws.client("s3"))

    with pytest.raises(RetriableError, match="SlowDown"):
        task.put([record(0)])
