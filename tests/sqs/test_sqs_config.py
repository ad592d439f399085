"""sqs-source and sqs-sink configs: defaults, and every mistake reported with its field and reason."""

from __future__ import annotations

import pytest

from connect_core.config import validate_config
from connect_core.errors import ConfigError

QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"
QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:orders"
FIFO_ARN = "arn:aws:sqs:eu-west-1:123456789012:orders.fifo"


def errors_of(config: dict) -> dict[str, list[str]]:
    with pytest.raises(ConfigError) as failure:
        validate_config(config)
    return failure.value.as_dict()


def source(**options):
    return {"name": "orders-in", "connector": "sqs-source", "queue": QUEUE_URL, **options}


def sink(**options):
    return {"name": "orders-out", "connector": "sqs-sink", "queue": QUEUE_ARN, **options}


def test_a_minimal_source_config_has_sensible_defaults():
    config = validate_config(source()).config

    assert (config.value_format, config.max_messages, config.wait_time_s) == ("string", 100, 1)
    assert config.visibility_timeout_s is None and config.topic is None
    assert config.value_converter.type == "string"  # the body passes through unchanged
    assert validate_config(source(max_tasks=3)).task_configs(3) == [{"reader": 0}, {"reader": 1}, {"reader": 2}]


def test_source_mistakes_name_their_field_and_reason():
    errors = errors_of(source(queue="orders", max_messages=0, wait_time_s=21, visibility_timeout_s=0,
                              value_format="xml", colour="blue"))

    assert "SQS queue URL" in errors["queue"][0]
    assert "greater than or equal to 1" in errors["max_messages"][0]
    assert "less than or equal to 20" in errors["wait_time_s"][0]
    assert "greater than or equal to 1" in errors["visibility_timeout_s"][0]
    assert "'string' or 'json'" in errors["value_format"][0]
    assert errors["colour"] == ["unknown option (misspelt, or not an option of this connector)"]


def test_the_queue_is_required():
    assert errors_of({"name": "x", "connector": "sqs-source"}) == {"queue": ["required"]}
    assert errors_of({"name": "x", "connector": "sqs-sink"}) == {"queue": ["required"]}


def test_a_minimal_sink_config_has_sensible_defaults():
    config = validate_config(sink()).config

    assert config.value_converter.type == "bytes"  # the body is sent as it came
    assert (config.header_attributes, config.key_attribute, config.delay_s) == (None, None, 0)
    assert config.deduplication == "position"
    assert validate_config(sink(queue=QUEUE_URL, delay_s=30)).config.delay_s == 30


def test_fifo_options_on_a_standard_queue_are_refused_by_name():
    errors = errors_of(sink(group_id_header="tenant", default_group_id="all", deduplication="content"))

    assert set(errors) == {"group_id_header", "default_group_id", "deduplication"}
    assert all("FIFO queues only" in messages[0] for messages in errors.values())


def test_fifo_sink_cross_field_rules():
    both = errors_of(sink(queue=FIFO_ARN, group_id_header="tenant", group_id_field="tenant",
                          value_converter={"type": "json"}))
    no_json = errors_of(sink(queue=FIFO_ARN, group_id_field="customer.id"))
    delayed = errors_of(sink(queue=FIFO_ARN, delay_s=5))

    assert both == {"group_id_field": ["set group_id_header or group_id_field, not both"]}
    assert "value_converter" in no_json["group_id_field"][0]
    assert "standard queues only" in delayed["delay_s"][0]
    assert validate_config(sink(queue=FIFO_ARN, group_id_field="customer.id",
                                value_converter={"type": "json"})).config.group_id_field == "customer.id"


def test_a_sink_that_writes_to_its_own_source_queue_is_refused():
    errors = errors_of(sink(queue=QUEUE_URL, source_queue=QUEUE_ARN))

    assert "own source_queue" in errors["queue"][0]


@pytest.mark.parametrize("name", ["AWS.trace", "amazon.x", ".lead", "trail.", "dou..ble", "sp ace", "connect.encoding"])
def test_attribute_names_sqs_refuses_are_refused_up_front(name):
    errors = errors_of(sink(header_attributes=["ok", name]))

    assert name in errors["header_attributes"][0] or "reserved" in errors["header_attributes"][0]


def test_more_header_attributes_than_a_message_carries_are_refused():
    errors = errors_of(sink(header_attributes=[f"h{i}" for i in range(11)], default_group_id="bad group id"))

    assert "at most 10" in errors["header_attributes"][0]
    assert "ASCII" in errors["default_group_id"][0]
