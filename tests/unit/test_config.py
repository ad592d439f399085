"""Connector config validation: typed models, every error with its field path, JSON Schema export."""

import pytest

from connect_core import ConfigError, SecretRef, config_json_schema, validate_config
from connect_core.config import SourceConnectorConfig
from connect_core.connectors.datagen import DataGenSourceConnector


def datagen(**overrides):
    return {"name": "orders", "connector": "datagen-source", **overrides}


def errors_of(raw) -> dict[str, list[str]]:
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    return info.value.as_dict()


def test_valid_config_gets_defaults_and_builds_the_connector():
    connector = validate_config(datagen(partitions=4, max_tasks=2))

    assert isinstance(connector, DataGenSourceConnector)
    assert connector.config.max_tasks == 2
    assert connector.config.errors.tolerance == "none"
    assert connector.config.value_converter.type == "json"
    assert connector.config.key_converter.type == "string"
    assert connector.task_configs(2) == [{"partitions": [0, 2]}, {"partitions": [1, 3]}]


def test_every_error_is_reported_at_once_with_its_field_path():
    errors = errors_of(datagen(
        max_tasks=0,
        partitions="many",
        batchsize=10,
        errors={"tolerance": "some", "dead_letter_queue": "not-a-queue"},
        value_converter={"type": "json", "schemas_enabled": True},
    ))

    assert set(errors) == {"max_tasks", "partitions", "batchsize", "errors.tolerance",
                           "errors.dead_letter_queue", "value_converter.schemas_enabled"}
    assert "unknown option" in errors["batchsize"][0]
    assert "greater than or equal to 1" in errors["max_tasks"][0]
    assert "SQS queue URL" in errors["errors.dead_letter_queue"][0]
    assert "'none'" in errors["errors.tolerance"][0] and "'all'" in errors["errors.tolerance"][0]


def test_missing_and_malformed_name():
    assert errors_of({"connector": "datagen-source"}) == {"name": ["required"]}
    assert "name" in errors_of(datagen(name="has spaces"))


def test_unknown_connector_is_reported_with_the_common_key_errors():
    errors = errors_of({"name": "x", "connector": "no-such-connector", "max_tasks": -1})

    assert "not a built-in" in errors["connector"][0]
    assert "datagen-source" in errors["connector"][0]
    assert "max_tasks" in errors


def test_connector_by_import_path():
    path = "connect_core.connectors.datagen:DataGenSourceConnector"
    assert isinstance(validate_config(datagen(connector=path)), DataGenSourceConnector)

    errors = errors_of(datagen(connector="connect_core.connectors.datagen:DataGenConfig"))
    assert "not a connector class" in errors["connector"][0]
    errors = errors_of(datagen(connector="no_such_module:Thing"))
    assert "cannot import module 'no_such_module'" in errors["connector"][0]


def test_unknown_transform_type_and_bad_transform_options_are_field_errors():
    errors = errors_of(datagen(transforms=[
        {"type": "RegexRouter", "regex": "(", "replacement": "x"},
        {"type": "NoSuchTransform"},
        {"type": "InsertField", "static_field": "f", "static_value": "v", "colour": "red"},
    ]))

    assert list(errors) == ["transforms[0].regex", "transforms[1]", "transforms[2].colour"]
    assert "NoSuchTransform" in errors["transforms[1]"][0]


def test_kafka_style_key_variant_spelling_is_accepted():
    connector = validate_config(datagen(transforms=[
        {"type": "InsertField$Key", "static_field": "region", "static_value": "eu"}]))

    assert connector.config.transforms[0].type == "InsertField"
    assert connector.config.transforms[0].target == "key"


def test_predicates_must_exist_and_negate_needs_one():
    errors = errors_of(datagen(
        transforms=[{"type": "Filter", "predicate": "isTombstone"}, {"type": "Filter", "negate": True}],
        predicates={"other": {"type": "RecordIsTombstone"}},
    ))

    assert errors == {
        "transforms[0].predicate": ["unknown predicate 'isTombstone' (predicates: other)"],
        "transforms[1].negate": ["negate needs a predicate"],
    }


def test_bad_predicate_options_have_paths():
    errors = errors_of(datagen(predicates={"p": {"type": "TopicNameMatches", "pattern": "["}}))
    assert list(errors) == ["predicates.p.pattern"]


def test_non_object_config():
    assert "must be an object" in str(errors_of(["not", "a", "dict"]))


def test_error_message_names_the_connector_and_counts_errors():
    with pytest.raises(ConfigError) as info:
        validate_config(datagen(max_tasks=0, partitions=0))
    assert str(info.value).startswith("connector 'orders': invalid config (2 errors): ")


def test_json_schema_export_per_connector():
    schema = config_json_schema("datagen-source")

    assert schema["title"] == "DataGenConfig"
    assert schema["additionalProperties"] is False
    assert {"name", "connector", "max_tasks", "transforms", "errors", "partitions", "topic"} <= set(
        schema["properties"])
    assert "name" in schema["required"] and "connector" in schema["required"]
    assert schema["description"]


class DbConfig(SourceConnectorConfig):
    password: SecretRef


@pytest.mark.parametrize("ref,store,secret_id,key", [
    ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf", "secretsmanager",
     "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf", None),
    ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf#password", "secretsmanager",
     "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf", "password"),
    ("secretsmanager:prod/db", "secretsmanager", "prod/db", None),
    ("ssm:/connect/db/password", "ssm", "/connect/db/password", None),
    ("/connect/db/password", "ssm", "/connect/db/password", None),
    ("arn:aws:ssm:us-east-1:123456789012:parameter/connect/db", "ssm",
     "arn:aws:ssm:us-east-1:123456789012:parameter/connect/db", None),
])
def test_secret_references_are_accepted(ref, store, secret_id, key):
    config = DbConfig(name="db", connector="x", password=ref)

    assert (config.password.store, config.password.secret_id, config.password.json_key) == (store, secret_id, key)
    assert config.model_dump()["password"] == ref


@pytest.mark.parametrize("literal", ["hunter2", "p@ss word", "ssm:", "secretsmanager:"])
def test_literal_secrets_are_rejected_without_echoing_them(literal):
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        DbConfig(name="db", connector="x", password=literal)
    error = info.value.errors(include_input=False)[0]
    assert error["loc"] == ("password",)
    assert "literal secret values are not accepted" in error["msg"]
    assert literal not in error["msg"] or literal in ("ssm:", "secretsmanager:")
