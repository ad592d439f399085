"""Single message transforms, predicates and the chain that runs them."""

from __future__ import annotations

import copy
import datetime as dt
import decimal
from typing import Any

import pytest
from pydantic import ValidationError

from connect_core.api.record import ConnectRecord
from connect_core.api.schema import (
    FLOAT64_SCHEMA,
    INT32_SCHEMA,
    INT64_SCHEMA,
    OPTIONAL_STRING_SCHEMA,
    STRING_SCHEMA,
    FieldType,
    Schema,
)
from connect_core.config import ConnectorConfig
from connect_core.transforms import (
    PREDICATES,
    TRANSFORMS,
    TransformChain,
    TransformError,
    build_chain,
)
from connect_core.transforms.predicates import HasHeaderKeyConfig, RecordIsTombstoneConfig
from connect_core.transforms.routing import FilterConfig

ORDER_SCHEMA = Schema.struct(
    "shop.Order",
    id=INT64_SCHEMA,
    customer=STRING_SCHEMA,
    card=OPTIONAL_STRING_SCHEMA,
    total=FLOAT64_SCHEMA,
)


def config(transforms: list[dict[str, Any]], predicates: dict[str, Any] | None = None) -> ConnectorConfig:
    return ConnectorConfig.model_validate(
        {"name": "orders", "connector": "x", "transforms": transforms, "predicates": predicates or {}})


def chain(*transforms: dict[str, Any], predicates: dict[str, Any] | None = None) -> TransformChain:
    cfg = config(list(transforms), predicates)
    return build_chain(cfg.transforms, cfg.predicates)


def order(**changes: Any) -> ConnectRecord:
    fields = {
        "topic": "orders",
        "value": {"id": 7, "customer": "ada", "card": "4111-1111", "total": 12.5},
        "key": "7",
        "partition": {"queueId": 1, "topic": "orders"},
        "offset": {"queueOffset": 42},
        "timestamp": 1_700_000_000_000,
        "headers": {"trace": "abc"},
    }
    fields.update(changes)
    return ConnectRecord(**fields)


def order_with_schema(**changes: Any) -> ConnectRecord:
    return order(value_schema=ORDER_SCHEMA, **changes)


def config_errors(transforms: list[dict[str, Any]], predicates: dict[str, Any] | None = None) -> str:
    with pytest.raises(ValidationError) as info:
        config(transforms, predicates)
    return str(info.value)


# -- the chain ---------------------------------------------------------------------------------

def test_empty_chain_returns_the_record_itself():
    # GIVEN a connector without transforms
    empty = chain()
    record = order()

    # WHEN a record goes through
    out = empty.apply(record)

    # THEN it is the very same object
    assert out is record
    assert len(empty) == 0


def test_transforms_never_mutate_the_input_record():
    # GIVEN a chain of transforms that each rewrite the value or the key
    transforms = chain(
        {"type": "InsertField", "topic_field": "source_topic"},
        {"type": "ReplaceField", "exclude": ["card"], "renames": {"customer": "who"}},
        {"type": "MaskField", "fields": ["total"]},
        {"type": "ChangeCase", "from_case": "lower_underscore", "to_case": "upper_camel"},
        {"type": "ValueToKey", "fields": ["Id"]},
        {"type": "RegexRouter", "regex": "orders", "replacement": "orders-copy"},
    )
    record = order()
    before = copy.deepcopy(record)

    # WHEN the record goes through
    out = transforms.apply(record)

    # THEN the output is new and the input is exactly as it was
    assert out is not None and out is not record
    assert out.value == {"Id": 7, "Who": "ada", "Total": 0.0, "SourceTopic": "orders"}
    assert out.key == {"Id": 7}
    assert out.topic == "orders-copy"
    assert record == before


def test_chain_applies_each_transform_only_where_its_predicate_holds():
    # GIVEN tombstones are dropped and only "audit-*" topics get their topic inserted
    transforms = chain(
        {"type": "Filter", "predicate": "tombstone"},
        {"type": "InsertField", "topic_field": "from", "predicate": "audit"},
        predicates={"tombstone": {"type": "RecordIsTombstone"},
                    "audit": {"type": "TopicNameMatches", "pattern": "audit-.*"}},
    )

    # WHEN records of each kind go through
    tombstone = transforms.apply(order(value=None))
    audit = transforms.apply(order(topic="audit-eu"))
    other = transforms.apply(order(topic="orders"))

    # THEN each transform applied exactly where its predicate held
    assert tombstone is None
    assert audit is not None and audit.value["from"] == "audit-eu"
    assert other is not None and "from" not in other.value


def test_negate_applies_the_transform_where_the_predicate_does_not_hold():
    # GIVEN a Filter that keeps only records with a "keep" header
    transforms = chain({"type": "Filter", "predicate": "keep", "negate": True},
                       predicates={"keep": {"type": "HasHeaderKey", "name": "keep"}})

    # WHEN records with and without the header go through
    kept = transforms.apply(order(headers={"keep": ""}))
    dropped = transforms.apply(order(headers={}))

    # THEN only the record without the header is dropped
    assert kept is not None
    assert dropped is None


def test_filter_without_predicate_drops_every_record():
    # GIVEN a lone Filter followed by another transform
    transforms = chain({"type": "Filter"}, {"type": "InsertField", "topic_field": "t"})

    # WHEN / THEN every record is dropped and the later transform never sees it
    assert transforms.apply(order()) is None
    assert transforms.apply(order(value=None)) is None


def test_build_chain_rejects_a_transform_naming_an_undefined_predicate():
    # GIVEN a transform that refers to a predicate nobody defined
    cfg = config([{"type": "Filter"}, {"type": "Filter", "predicate": "missing"}],
                 {"other": {"type": "RecordIsTombstone"}})

    # WHEN the chain is built
    with pytest.raises(TransformError) as info:
        build_chain(cfg.transforms, cfg.predicates)

    # THEN the error names the option and what exists
    assert "transforms[1].predicate" in str(info.value)
    assert "'missing'" in str(info.value) and "other" in str(info.value)


def test_build_chain_rejects_negate_without_predicate():
    # GIVEN negate without a predicate
    transforms = [FilterConfig(negate=True)]

    # WHEN / THEN building names the option
    with pytest.raises(TransformError, match=r"transforms\[0\]\.negate"):
        build_chain(transforms, {})


def test_predicates_are_built_once_and_shared():
    # GIVEN two transforms naming the same predicate
    transforms = chain({"type": "InsertField", "topic_field": "a", "predicate": "p"},
                       {"type": "InsertField", "topic_field": "b", "predicate": "p", "negate": True},
                       predicates={"p": {"type": "HasHeaderKey", "name": "trace"}})

    # WHEN a record with the header goes through
    out = transforms.apply(order())

    # THEN exactly one of the two applied
    assert out is not None and "a" in out.value and "b" not in out.value


def test_chain_errors_name_the_failing_transform_position():
    # GIVEN an ExtractField after a harmless transform
    transforms = chain({"type": "InsertField", "topic_field": "t"},
                       {"type": "ExtractField", "field": "nope"})

    # WHEN a record without that field goes through
    with pytest.raises(TransformError) as info:
        transforms.apply(order())

    # THEN the message names the position, the transform and the field, not the record's contents
    message = str(info.value)
    assert message.startswith("transforms[1]: ExtractField on the value")
    assert "'nope'" in message
    assert "ada" not in message and "4111" not in message


def test_registries_list_every_transform_and_predicate():
    # GIVEN / WHEN the registries
    # THEN they cover the Kafka and RocketMQ transforms, each with its model and class
    assert set(TRANSFORMS) == {"InsertField", "ReplaceField", "MaskField", "ValueToKey", "ExtractField",
                               "RegexRouter", "Filter", "ChangeCase", "PatternFilter", "PatternRename"}
    assert set(PREDICATES) == {"TopicNameMatches", "HasHeaderKey", "RecordIsTombstone"}
    for name, (model, implementation) in {**TRANSFORMS, **PREDICATES}.items():
        assert model.model_fields["type"].default == name
        assert implementation.__name__ == name


# -- predicates --------------------------------------------------------------------------------

@pytest.mark.parametrize(("topic", "expected"), [
    ("orders-eu", True), ("orders-", True), ("my-orders-eu", False), ("orders", False), (None, False)])
def test_topic_name_matches_needs_the_whole_topic_to_match(topic, expected):
    # GIVEN a predicate on "orders-.*" guarding an InsertField
    transforms = chain({"type": "InsertField", "static_field": "hit", "static_value": True, "predicate": "p"},
                       predicates={"p": {"type": "TopicNameMatches", "pattern": "orders-.*"}})

    # WHEN a record of that topic goes through
    out = transforms.apply(order(topic=topic))

    # THEN the field is there exactly when the topic matched as a whole
    assert ("hit" in out.value) is expected


def test_has_header_key_and_record_is_tombstone():
    # GIVEN the two predicates on their own
    has_trace = PREDICATES["HasHeaderKey"][1](HasHeaderKeyConfig(name="trace"))
    tombstone = PREDICATES["RecordIsTombstone"][1](RecordIsTombstoneConfig())

    # WHEN / THEN they test the header name and the null value
    assert has_trace.test(order()) is True
    assert has_trace.test(order(headers={})) is False
    assert tombstone.test(order(value=None)) is True
    assert tombstone.test(order(value="")) is False


# -- InsertField -------------------------------------------------------------------------------

def test_insert_field_adds_metadata_to_a_schemaless_value():
    # GIVEN every kind of inserted field
    transforms = chain({"type": "InsertField", "topic_field": "topic", "partition_field": "partition",
                        "offset_field": "offset", "timestamp_field": "ts",
                        "static_field": "source", "static_value": "rocketmq"})

    # WHEN a record goes through
    out = transforms.apply(order())

    # THEN they are added next to the original fields
    assert out.value == {"id": 7, "customer": "ada", "card": "4111-1111", "total": 12.5,
                         "topic": "orders", "partition": '{"queueId":1,"topic":"orders"}',
                         "offset": '{"queueOffset":42}', "ts": 1_700_000_000_000, "source": "rocketmq"}
    assert out.value_schema is None


def test_insert_field_with_a_struct_schema_adds_optional_fields_once_per_schema():
    # GIVEN an InsertField and two records sharing one value schema
    transforms = chain({"type": "InsertField", "topic_field": "topic", "timestamp_field": "ts",
                        "static_field": "version", "static_value": 3})

    # WHEN both go through
    first = transforms.apply(order_with_schema())
    second = transforms.apply(order_with_schema())

    # THEN the schema gains optional fields of fitting types, built once
    schema = first.value_schema
    assert [f.name for f in schema.fields] == ["id", "customer", "card", "total", "topic", "ts", "version"]
    assert schema.name == "shop.Order"
    assert schema.field("topic").schema == OPTIONAL_STRING_SCHEMA
    assert schema.field("ts").schema.type is FieldType.INT64 and schema.field("ts").schema.optional
    assert schema.field("version").schema.type is FieldType.INT64
    schema.validate(first.value)
    assert second.value_schema is schema


def test_insert_field_key_spelling_targets_the_key():
    # GIVEN Kafka's "InsertField$Key" spelling
    cfg = config([{"type": "InsertField$Key", "topic_field": "topic"}])
    transforms = build_chain(cfg.transforms, cfg.predicates)

    # WHEN a record with a dict key goes through
    out = transforms.apply(order(key={"id": 7}))

    # THEN the key, not the value, gets the field
    assert cfg.transforms[0].target == "key"
    assert out.key == {"id": 7, "topic": "orders"}
    assert "topic" not in out.value


def test_insert_field_lets_tombstones_through():
    # GIVEN an InsertField
    transforms = chain({"type": "InsertField", "topic_field": "topic"})
    record = order(value=None)

    # WHEN / THEN a null value is left alone
    assert transforms.apply(record) is record


def test_insert_field_rejects_a_value_that_is_not_a_struct():
    # GIVEN an InsertField and a string value
    transforms = chain({"type": "InsertField", "topic_field": "topic"})

    # WHEN / THEN the error names the transform, the side and the type found
    with pytest.raises(TransformError, match=r"InsertField on the value: needs a struct \(dict\) value, got str"):
        transforms.apply(order(value="plain text"))


def test_insert_field_rejects_a_field_already_in_the_schema():
    # GIVEN an InsertField writing to a field the schema has
    transforms = chain({"type": "InsertField", "topic_field": "customer"})

    # WHEN / THEN the conflict is reported
    with pytest.raises(TransformError, match="'customer' is already in the schema"):
        transforms.apply(order_with_schema())


@pytest.mark.parametrize(("options", "message"), [
    ({}, "nothing to insert"),
    ({"static_field": "s"}, "static_field and static_value go together"),
    ({"topic_field": "x", "offset_field": "x"}, "a name of its own"),
])
def test_insert_field_config_errors(options, message):
    # GIVEN an InsertField with inconsistent options
    # WHEN it is validated / THEN the error says why
    assert message in config_errors([{"type": "InsertField", **options}])


# -- ReplaceField ------------------------------------------------------------------------------

def test_replace_field_include_and_renames_schemaless():
    # GIVEN an include list with a rename
    transforms = chain({"type": "ReplaceField", "include": ["id", "customer"], "renames": {"customer": "name"}})

    # WHEN a record goes through
    out = transforms.apply(order())

    # THEN only the included fields remain, renamed
    assert out.value == {"id": 7, "name": "ada"}


def test_replace_field_can_swap_two_names():
    # GIVEN renames that swap two fields
    transforms = chain({"type": "ReplaceField", "renames": {"id": "total", "total": "id"}})

    # WHEN / THEN each value ends up under the other name
    assert transforms.apply(order()).value == {"id": 12.5, "total": 7, "customer": "ada", "card": "4111-1111"}


def test_replace_field_exclude_and_renames_with_struct_schema():
    # GIVEN an exclude list with a rename
    transforms = chain({"type": "ReplaceField", "exclude": ["card"], "renames": {"total": "amount"}})

    # WHEN a record with a schema goes through
    out = transforms.apply(order_with_schema())

    # THEN value and schema lose the field and carry the new name
    assert out.value == {"id": 7, "customer": "ada", "amount": 12.5}
    assert [f.name for f in out.value_schema.fields] == ["id", "customer", "amount"]
    assert out.value_schema.field("amount").schema == FLOAT64_SCHEMA
    assert out.value_schema.name == "shop.Order"
    out.value_schema.validate(out.value)


def test_replace_field_on_the_key():
    # GIVEN a ReplaceField on the key
    transforms = chain({"type": "ReplaceField", "target": "key", "exclude": ["region"]})

    # WHEN a record with a struct key goes through
    out = transforms.apply(order(key={"id": 7, "region": "eu"}))

    # THEN the key changed and the value did not
    assert out.key == {"id": 7}
    assert out.value == order().value


def test_replace_field_rename_onto_an_existing_field_fails_with_a_schema():
    # GIVEN a rename onto a field that is kept
    transforms = chain({"type": "ReplaceField", "renames": {"card": "customer"}})

    # WHEN / THEN the clash is reported
    with pytest.raises(TransformError, match="ReplaceField on the value: duplicate field names"):
        transforms.apply(order_with_schema())


@pytest.mark.parametrize(("options", "message"), [
    ({"include": ["a"], "exclude": ["b"]}, "include and exclude cannot be combined"),
    ({}, "nothing to do"),
    ({"renames": {"a": "c", "b": "c"}}, "renamed to the same name"),
    ({"exclude": ["a", "a"]}, "listed twice"),
])
def test_replace_field_config_errors(options, message):
    # GIVEN a ReplaceField with inconsistent options
    # WHEN it is validated / THEN the error says why
    assert message in config_errors([{"type": "ReplaceField", **options}])


# -- MaskField ---------------------------------------------------------------------------------

def test_mask_field_defaults_to_the_empty_value_of_each_type():
    # GIVEN fields of many types
    value = {"s": "secret", "i": 42, "f": 1.5, "b": True, "bytes": b"\x01", "l": [1], "m": {"a": 1},
             "d": decimal.Decimal("9.99"), "date": dt.date(2024, 5, 1),
             "ts": dt.datetime(2024, 5, 1, 12, tzinfo=dt.timezone.utc), "none": None, "kept": "visible"}
    transforms = chain({"type": "MaskField", "fields": [k for k in value if k != "kept"] + ["absent"]})

    # WHEN the record goes through
    out = transforms.apply(order(value=value))

    # THEN each field has its type's empty value; nulls and other fields stay; absent fields are skipped
    assert out.value == {"s": "", "i": 0, "f": 0.0, "b": False, "bytes": b"", "l": [], "m": {},
                         "d": decimal.Decimal(0), "date": dt.date(1970, 1, 1),
                         "ts": dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc), "none": None, "kept": "visible"}
    assert type(out.value["b"]) is bool
    assert value["s"] == "secret"


def test_mask_field_replacement_for_strings_and_numbers():
    # GIVEN a numeric replacement and a textual one
    numeric = chain({"type": "MaskField", "fields": ["card", "id", "total"], "replacement": "9"})
    textual = chain({"type": "MaskField", "fields": ["card", "id"], "replacement": "****"})

    # WHEN records go through
    a = numeric.apply(order()).value
    b = textual.apply(order()).value

    # THEN numbers take the replacement when it is numeric, else their empty value
    assert (a["card"], a["id"], a["total"]) == ("9", 9, 9.0)
    assert (b["card"], b["id"]) == ("****", 0)


def test_mask_field_with_struct_schema_keeps_the_schema_and_checks_fields():
    # GIVEN a MaskField on an existing field and one on a missing field
    ok = chain({"type": "MaskField", "fields": ["card"]})
    wrong = chain({"type": "MaskField", "fields": ["cvv"]})

    # WHEN records with a schema go through
    out = ok.apply(order_with_schema())

    # THEN the field is masked under the same schema; a field outside the schema is an error
    assert out.value["card"] == "" and out.value_schema is ORDER_SCHEMA
    with pytest.raises(TransformError, match="MaskField on the value: the schema has no field 'cvv'"):
        wrong.apply(order_with_schema())


# -- ValueToKey --------------------------------------------------------------------------------

def test_value_to_key_schemaless():
    # GIVEN a ValueToKey on two fields
    transforms = chain({"type": "ValueToKey", "fields": ["customer", "id"]})

    # WHEN a record goes through
    out = transforms.apply(order())

    # THEN the key is a dict of those fields, the value is unchanged
    assert out.key == {"customer": "ada", "id": 7}
    assert out.key_schema is None
    assert out.value == order().value


def test_value_to_key_builds_a_key_schema():
    # GIVEN a ValueToKey and a value with a schema
    transforms = chain({"type": "ValueToKey", "fields": ["id"]})

    # WHEN two records go through
    first = transforms.apply(order_with_schema())
    second = transforms.apply(order_with_schema())

    # THEN the key has a struct schema of that field, derived once
    assert first.key == {"id": 7}
    assert first.key_schema == Schema.struct(id=INT64_SCHEMA)
    assert second.key_schema is first.key_schema


def test_value_to_key_missing_field_is_an_error():
    # GIVEN a ValueToKey on a field the value does not have
    transforms = chain({"type": "ValueToKey", "fields": ["sku"]})

    # WHEN records with and without a schema go through / THEN the field is named
    with pytest.raises(TransformError, match="ValueToKey: the value has no field 'sku'"):
        transforms.apply(order())
    with pytest.raises(TransformError, match="ValueToKey: the value schema has no field 'sku'"):
        transforms.apply(order_with_schema())


def test_value_to_key_has_no_key_variant():
    # GIVEN "ValueToKey$Key", which Kafka does not have either
    # WHEN it is validated / THEN "target" is reported as not an option of ValueToKey
    assert "target" in config_errors([{"type": "ValueToKey$Key", "fields": ["id"]}])


# -- ExtractField ------------------------------------------------------------------------------

def test_extract_field_top_level_and_nested_schemaless():
    # GIVEN a nested value
    value = {"id": 7, "address": {"city": "Paris", "geo": {"lat": 48.8}}}
    top = chain({"type": "ExtractField", "field": "id"})
    nested = chain({"type": "ExtractField", "field": "address.geo.lat"})

    # WHEN / THEN the field's value replaces the whole value
    assert top.apply(order(value=value)).value == 7
    assert nested.apply(order(value=value)).value == 48.8


def test_extract_field_with_struct_schema_takes_the_field_schema():
    # GIVEN a struct with an optional nested struct
    address = Schema.struct("Address", optional=True, city=STRING_SCHEMA)
    schema = Schema.struct("Customer", id=INT32_SCHEMA, address=address)
    transforms = chain({"type": "ExtractField", "field": "address.city"})

    # WHEN records with and without the address go through
    present = transforms.apply(order(value={"id": 1, "address": {"city": "Paris"}}, value_schema=schema))
    absent = transforms.apply(order(value={"id": 1, "address": None}, value_schema=schema))

    # THEN the value is the field's; its schema is optional because its parent is
    assert present.value == "Paris"
    assert present.value_schema.type is FieldType.STRING and present.value_schema.optional
    assert absent.value is None


def test_extract_field_from_the_key():
    # GIVEN an ExtractField on the key, in Kafka's spelling
    transforms = chain({"type": "ExtractField$Key", "field": "id"})

    # WHEN a record with a struct key goes through
    out = transforms.apply(order(key={"id": 7}, key_schema=Schema.struct(id=INT64_SCHEMA)))

    # THEN the key and its schema are the field's; the value is untouched
    assert out.key == 7 and out.key_schema == INT64_SCHEMA
    assert out.value == order().value


def test_map_schemas_are_handled_like_schemaless_dicts_that_keep_their_schema():
    # GIVEN a value with a MAP schema
    prices = Schema.map(STRING_SCHEMA, FLOAT64_SCHEMA)
    record = order(value={"eu": 1.5, "us": 2.0}, value_schema=prices)

    # WHEN fields are extracted, masked or inserted
    extracted = chain({"type": "ExtractField", "field": "eu"}).apply(record)
    masked = chain({"type": "MaskField", "fields": ["us"]}).apply(record)

    # THEN the map's value schema (optional: a key may be absent) or the map schema itself applies
    assert extracted.value == 1.5 and extracted.value_schema == FLOAT64_SCHEMA.with_optional()
    assert masked.value == {"eu": 1.5, "us": 0.0} and masked.value_schema is prices
    with pytest.raises(TransformError, match="MAP schema"):
        chain({"type": "InsertField", "topic_field": "topic"}).apply(record)


def test_extract_field_runtime_errors():
    # GIVEN an ExtractField on a nested path
    transforms = chain({"type": "ExtractField", "field": "address.city"})

    # WHEN / THEN a missing field, a non-struct on the way and a schema without the field fail clearly
    with pytest.raises(TransformError, match=r"no field 'address.city'"):
        transforms.apply(order())
    with pytest.raises(TransformError, match=r"'address' is a str, not a struct"):
        transforms.apply(order(value={"address": "Paris"}))
    with pytest.raises(TransformError, match=r"the schema has no field 'address'"):
        transforms.apply(order_with_schema())
    with pytest.raises(TransformError, match=r"needs a struct \(dict\) value, got int"):
        transforms.apply(order(value=3))


def test_extract_field_rejects_an_empty_path_segment():
    # GIVEN / WHEN a path with an empty segment / THEN validation rejects it
    assert "between every two dots" in config_errors([{"type": "ExtractField", "field": "a..b"}])


# -- RegexRouter -------------------------------------------------------------------------------

@pytest.mark.parametrize(("regex", "replacement"), [
    (r"(.*)-(\d+)", "$1-archive"),
    (r"(.*)-(\d+)", r"\1-archive"),
    (r"(?<base>.*)-(\d+)", "${base}-archive"),
    (r"(?P<base>.*)-(\d+)", r"\g<base>-archive"),
])
def test_regex_router_accepts_java_and_python_group_references(regex, replacement):
    # GIVEN a router in one of the accepted spellings
    transforms = chain({"type": "RegexRouter", "regex": regex, "replacement": replacement})

    # WHEN a matching record goes through
    out = transforms.apply(order(topic="orders-2024"))

    # THEN the topic is rewritten
    assert out.topic == "orders-archive"


def test_regex_router_needs_the_whole_topic_to_match():
    # GIVEN a regex matching only part of the topic
    transforms = chain({"type": "RegexRouter", "regex": "orders", "replacement": "x"})
    record = order(topic="orders-eu")

    # WHEN / THEN the record passes unchanged
    assert transforms.apply(record) is record


def test_regex_router_literal_dollar_and_empty_group():
    # GIVEN an escaped dollar and an optional group that does not take part
    transforms = chain({"type": "RegexRouter", "regex": r"(a)?(.*)", "replacement": r"\$$1$2"})

    # WHEN / THEN the dollar is literal and the missing group inserts nothing
    assert transforms.apply(order(topic="bc")).topic == "$bc"


@pytest.mark.parametrize(("options", "message"), [
    ({"regex": "(unclosed", "replacement": "x"}, "invalid regular expression"),
    ({"regex": "(a)", "replacement": "$2"}, "refers to group 2, but the pattern has 1 group"),
    ({"regex": "(a)", "replacement": "${nope}"}, "refers to group 'nope'"),
    ({"regex": "(a)", "replacement": "cost $"}, "write \\$ for a literal"),
])
def test_regex_router_config_errors(options, message):
    # GIVEN a bad regex or replacement
    # WHEN it is validated / THEN the error says what is wrong
    assert message in config_errors([{"type": "RegexRouter", **options}])


# -- ChangeCase --------------------------------------------------------------------------------

@pytest.mark.parametrize(("from_case", "to_case", "names", "expected"), [
    ("lower_camel", "lower_underscore", ["orderId", "userID", "httpServer2"],
     ["order_id", "user_id", "http_server2"]),
    ("lower_underscore", "lower_camel", ["order_id", "id"], ["orderId", "id"]),
    ("upper_underscore", "upper_camel", ["ORDER_ID"], ["OrderId"]),
    ("upper_camel", "lower_hyphen", ["HTTPServer"], ["http-server"]),
    ("lower_hyphen", "upper_underscore", ["order-id"], ["ORDER_ID"]),
])
def test_change_case_schemaless(from_case, to_case, names, expected):
    # GIVEN a ChangeCase between two formats
    transforms = chain({"type": "ChangeCase", "from_case": from_case, "to_case": to_case})

    # WHEN a record with those field names goes through
    out = transforms.apply(order(value={name: i for i, name in enumerate(names)}))

    # THEN the names are rewritten and the values kept
    assert out.value == {name: i for i, name in enumerate(expected)}


def test_change_case_with_struct_schema_and_guava_spelling():
    # GIVEN RocketMQ's Guava spelling of the formats
    transforms = chain({"type": "ChangeCase", "from_case": "LOWER_UNDERSCORE", "to_case": "UPPER_CAMEL"})

    # WHEN a record with a schema goes through
    out = transforms.apply(order_with_schema())

    # THEN value and schema carry the new names
    assert list(out.value) == ["Id", "Customer", "Card", "Total"]
    assert [f.name for f in out.value_schema.fields] == ["Id", "Customer", "Card", "Total"]
    out.value_schema.validate(out.value)


def test_change_case_collision_is_an_error():
    # GIVEN two names that become the same in the target case
    transforms = chain({"type": "ChangeCase", "from_case": "lower_camel", "to_case": "lower_underscore"})

    # WHEN / THEN the clash is reported with both names
    with pytest.raises(TransformError, match="ChangeCase on the value: fields 'order_id' and 'orderId' "
                                             "would both be named 'order_id'"):
        transforms.apply(order(value={"order_id": 1, "orderId": 2}))


def test_change_case_config_errors():
    # GIVEN the same case twice, or an unknown case / WHEN validated / THEN both are rejected
    assert "the same" in config_errors([{"type": "ChangeCase", "from_case": "lower_camel",
                                         "to_case": "LOWER_CAMEL"}])
    assert "lower_camel" in config_errors([{"type": "ChangeCase", "from_case": "snake", "to_case": "lower_camel"}])


# -- PatternRename -----------------------------------------------------------------------------

def test_pattern_rename_schemaless_and_with_schema():
    # GIVEN a rename of every "c..." prefix using a group
    transforms = chain({"type": "PatternRename", "pattern": "^c(ard|ustomer)$", "replacement": "client_$1"})

    # WHEN records with and without a schema go through
    plain = transforms.apply(order())
    typed = transforms.apply(order_with_schema())

    # THEN matching names are rewritten, others kept
    assert list(plain.value) == ["id", "client_ustomer", "client_ard", "total"]
    assert [f.name for f in typed.value_schema.fields] == ["id", "client_ustomer", "client_ard", "total"]
    typed.value_schema.validate(typed.value)


def test_pattern_rename_replaces_every_match_in_a_name():
    # GIVEN a rename of dots to underscores
    transforms = chain({"type": "PatternRename", "pattern": r"\.", "replacement": "_"})

    # WHEN / THEN every dot in a name is replaced
    assert transforms.apply(order(value={"a.b.c": 1})).value == {"a_b_c": 1}


def test_pattern_rename_config_errors():
    # GIVEN / WHEN a pattern that does not compile / THEN validation rejects it
    assert "invalid regular expression" in config_errors(
        [{"type": "PatternRename", "pattern": "[", "replacement": "x"}])


# -- PatternFilter -----------------------------------------------------------------------------

def test_pattern_filter_drops_records_whose_field_matches():
    # GIVEN a filter on test customers
    transforms = chain({"type": "PatternFilter", "pattern": "test-.*", "fields": ["customer", "note"]})

    # WHEN matching, partly matching and non-string records go through
    dropped = transforms.apply(order(value={"customer": "test-1"}))
    partial = transforms.apply(order(value={"customer": "a test-1"}))
    number = transforms.apply(order(value={"customer": 5}))

    # THEN only the full match is dropped
    assert dropped is None
    assert partial is not None and number is not None


def test_pattern_filter_not_matching_keeps_only_matches():
    # GIVEN a filter that keeps EU orders only
    transforms = chain({"type": "PatternFilter", "pattern": "eu-.*", "fields": ["region"],
                        "drop": "not_matching"})

    # WHEN / THEN other regions and values without the field are dropped; tombstones pass
    assert transforms.apply(order(value={"region": "eu-west"})) is not None
    assert transforms.apply(order(value={"region": "us-east"})) is None
    assert transforms.apply(order()) is None
    assert transforms.apply(order(value=None)) is not None


def test_pattern_filter_on_a_whole_string_value_or_key():
    # GIVEN filters on the whole value and on the whole key
    on_value = chain({"type": "PatternFilter", "pattern": "heartbeat.*"})
    on_key = chain({"type": "PatternFilter$Key", "pattern": "tmp-.*"})

    # WHEN / THEN string and bytes values are tested whole; the key variant tests the key
    assert on_value.apply(order(value="heartbeat 1")) is None
    assert on_value.apply(order(value=b"heartbeat 2")) is None
    assert on_value.apply(order(value="order 1")) is not None
    assert on_key.apply(order(key="tmp-1")) is None
    assert on_key.apply(order(key="7", value="tmp-1")) is not None


def test_pattern_filter_config_errors():
    # GIVEN / WHEN a bad pattern or drop mode / THEN validation rejects them
    assert "invalid regular expression" in config_errors([{"type": "PatternFilter", "pattern": "*"}])
    assert "matching" in config_errors([{"type": "PatternFilter", "pattern": "a", "drop": "yes"}])


# -- config errors -----------------------------------------------------------------------------

def test_unknown_transform_type_fails_connector_validation():
    # GIVEN / WHEN a transform type nobody provides
    with pytest.raises(ValidationError) as info:
        ConnectorConfig.model_validate({"name": "n", "connector": "x", "transforms": [{"type": "Nope"}]})

    # THEN validation fails on the type, listing the known ones
    message = str(info.value)
    assert "Nope" in message and "InsertField" in message


def test_misspelt_option_fails_validation():
    # GIVEN / WHEN Kafka's dotted option name instead of ours / THEN it is an unknown option
    assert "Extra inputs are not permitted" in config_errors(
        [{"type": "InsertField", "topic.field": "topic"}])


def test_unknown_predicate_type_fails_validation():
    # GIVEN / WHEN a predicate type nobody provides / THEN validation names it
    assert "Nope" in config_errors([], {"p": {"type": "Nope"}})


def test_transform_options_are_documented_in_the_json_schema():
    # GIVEN the connector config's JSON Schema
    schema = ConnectorConfig.model_json_schema()

    # WHEN looking up a transform option
    insert = schema["$defs"]["InsertFieldConfig"]["properties"]

    # THEN it carries its description
    assert "topic" in insert["topic_field"]["description"]
    assert insert["target"]["enum"] == ["key", "value"]
