"""Schemas: validation with paths, the JSON form, and the logical type encodings."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_core.api.schema import (
    BOOLEAN_SCHEMA,
    BYTES_SCHEMA,
    DATE,
    DATE_SCHEMA,
    DECIMAL,
    FLOAT32_SCHEMA,
    FLOAT64_SCHEMA,
    INT8_SCHEMA,
    INT16_SCHEMA,
    INT32_SCHEMA,
    INT64_SCHEMA,
    OPTIONAL_STRING_SCHEMA,
    STRING_SCHEMA,
    TIME,
    TIME_SCHEMA,
    TIMESTAMP,
    TIMESTAMP_SCHEMA,
    Field,
    FieldType,
    Schema,
    SchemaError,
    bytes_to_decimal,
    date_to_days,
    days_to_date,
    decimal_scale,
    decimal_to_bytes,
    millis_to_time,
    millis_to_timestamp,
    time_to_millis,
    timestamp_to_millis,
)

UTC = dt.timezone.utc
D = decimal.Decimal
FAST = settings(max_examples=60, deadline=None)


def struct(name: str | None = None, /, *, optional: bool = False, **fields: Schema) -> Schema:
    return Schema(FieldType.STRUCT, optional=optional, name=name, fields=tuple(Field(n, s) for n, s in fields.items()))


def error_of(schema: Schema, value: Any) -> str:
    with pytest.raises(SchemaError) as info:
        schema.validate(value)
    return str(info.value)


# -- validation: integers --------------------------------------------------------------------

@pytest.mark.parametrize("schema, lo, hi", [
    (INT8_SCHEMA, -128, 127),
    (INT16_SCHEMA, -32768, 32767),
    (INT32_SCHEMA, -(2**31), 2**31 - 1),
    (INT64_SCHEMA, -(2**63), 2**63 - 1),
])
def test_integer_types_accept_exactly_their_range(schema, lo, hi):
    # GIVEN the bounds of a signed integer type
    # WHEN values at and just past each bound are validated
    schema.validate(lo)
    schema.validate(hi)
    below, above = error_of(schema, lo - 1), error_of(schema, hi + 1)

    # THEN the bounds pass, the neighbours fail, and the message names the type and range
    # (but not the value: messages reach the logs)
    assert below == above == f"value: out of range for {schema.type.value} [{lo}, {hi}]"


@pytest.mark.parametrize("value", [True, 1.0, "1", b"1"])
def test_integer_types_refuse_other_python_types(value):
    assert "expected INT32 integer, got" in error_of(INT32_SCHEMA, value)


def test_float_types_take_ints_and_floats_but_not_bools():
    FLOAT64_SCHEMA.validate(1)
    FLOAT32_SCHEMA.validate(1.5)
    assert error_of(FLOAT64_SCHEMA, True) == "value: expected FLOAT64 number, got bool"


@pytest.mark.parametrize("schema, good, bad", [
    (BOOLEAN_SCHEMA, False, 0),
    (STRING_SCHEMA, "", b""),
    (BYTES_SCHEMA, bytearray(b"x"), "x"),
])
def test_scalar_types(schema, good, bad):
    schema.validate(good)
    assert error_of(schema, bad).startswith(f"value: expected {schema.type.value}, got")


# -- validation: null, optional, default ------------------------------------------------------

def test_null_needs_an_optional_schema_or_a_default():
    # GIVEN a required, an optional and a defaulted schema of the same type
    required = STRING_SCHEMA
    optional = OPTIONAL_STRING_SCHEMA
    defaulted = Schema(FieldType.STRING, default="n/a")

    # WHEN null is validated against each
    optional.validate(None)
    defaulted.validate(None)

    # THEN only the required one refuses it
    assert error_of(required, None) == "value: null for a required STRING field"


def test_missing_struct_fields_count_as_null():
    schema = struct("Person", name=STRING_SCHEMA, nick=OPTIONAL_STRING_SCHEMA)
    schema.validate({"name": "ada"})
    assert error_of(schema, {"nick": "a"}) == "value.name: null for a required STRING field"


# -- validation: paths ------------------------------------------------------------------------

def test_errors_name_the_path_through_structs_arrays_and_maps():
    # GIVEN orders with lines, each line with quantities per warehouse
    line = struct("Line", sku=STRING_SCHEMA, qty=Schema.map(STRING_SCHEMA, INT16_SCHEMA))
    order = struct("Order", id=INT64_SCHEMA, lines=Schema.array(line))
    value = {"id": 1, "lines": [{"sku": "a", "qty": {"eu": 1}}, {"sku": "b", "qty": {"eu": 2, "us": 40000}}]}

    # WHEN the order is validated
    message = error_of(order, value)

    # THEN the message leads to the one bad quantity
    assert message == "value.lines[1].qty['us']: out of range for INT16 [-32768, 32767]"


def test_errors_name_bad_map_keys_and_unknown_struct_fields():
    assert error_of(Schema.map(INT32_SCHEMA, STRING_SCHEMA), {"1": "a"}) == \
        "value.<key>: expected INT32 integer, got str"
    assert error_of(struct("P", a=INT32_SCHEMA), {"a": 1, "b": 2, "c": 3}) == \
        "value: fields not in the schema: ['b', 'c']"


def test_validate_prefixes_the_given_path():
    with pytest.raises(SchemaError, match=r"^key\.id: expected INT64 integer, got str$"):
        struct(id=INT64_SCHEMA).validate({"id": "7"}, "key")


def test_containers_check_every_item():
    # The quick check of plain item types must still catch each kind of bad item.
    assert error_of(Schema.array(INT8_SCHEMA), [1, 2, 200]) == "value[2]: out of range for INT8 [-128, 127]"
    assert error_of(Schema.array(BOOLEAN_SCHEMA), [True, 1]) == "value[1]: expected BOOLEAN, got int"
    assert error_of(Schema.array(FLOAT64_SCHEMA), [1.0, True]) == "value[1]: expected FLOAT64 number, got bool"
    assert error_of(Schema.array(STRING_SCHEMA), ("a", None)) == "value[1]: null for a required STRING field"
    assert error_of(Schema.map(STRING_SCHEMA, INT32_SCHEMA), {"a": 1, "b": 2.0}) == \
        "value['b']: expected INT32 integer, got float"
    Schema.array(OPTIONAL_STRING_SCHEMA).validate(["a", None])
    Schema.array(INT8_SCHEMA).validate([])


# -- validation: logical types ----------------------------------------------------------------

def test_logical_types_take_their_python_types():
    DATE_SCHEMA.validate(dt.date(2024, 2, 29))
    TIME_SCHEMA.validate(dt.time(12, 30))
    TIMESTAMP_SCHEMA.validate(dt.datetime(2024, 1, 1, tzinfo=UTC))
    Schema.decimal(2).validate(D("1.5"))
    assert error_of(DATE_SCHEMA, dt.datetime(2024, 1, 1)) == "value: expected date for Date, got datetime"
    assert error_of(TIMESTAMP_SCHEMA, 1_700_000_000_000) == "value: expected datetime for Timestamp, got int"
    assert error_of(Schema.decimal(2), 1.5) == "value: expected Decimal for Decimal, got float"


def test_decimals_must_be_finite_and_fit_their_scale():
    assert error_of(Schema.decimal(2), D("1.005")) == "value: Decimal has more fractional digits than its scale 2"
    assert "finite" in error_of(Schema.decimal(2), D("NaN"))
    assert "finite" in error_of(Schema.decimal(2), D("-Infinity"))
    Schema.decimal(2).validate(D("1.500"))  # trailing zeros lose nothing
    Schema.decimal(-2).validate(D("1200"))


def test_kafka_logical_names_are_the_same_logical_types():
    kafka_date = Schema(FieldType.INT32, name="org.apache.kafka.connect.data.Date", version=1)
    assert kafka_date.logical == DATE
    assert error_of(kafka_date, 3) == "value: expected date for Date, got int"


# -- construction -----------------------------------------------------------------------------

def test_malformed_schemas_are_refused():
    with pytest.raises(SchemaError, match="ARRAY schema needs a value_schema"):
        Schema(FieldType.ARRAY)
    with pytest.raises(SchemaError, match="MAP schema needs"):
        Schema(FieldType.MAP, value_schema=STRING_SCHEMA)
    with pytest.raises(SchemaError, match="duplicate field names"):
        Schema(FieldType.STRUCT, fields=(Field("a", STRING_SCHEMA), Field("a", INT8_SCHEMA)))
    with pytest.raises(SchemaError, match="integer 'scale'"):
        decimal_scale(Schema(FieldType.BYTES, name=DECIMAL))


def test_schemas_are_hashable_and_equal_schemas_hash_alike():
    # GIVEN two equal schemas built separately, one with an unhashable default
    a = struct("P", tags=Schema(FieldType.ARRAY, value_schema=STRING_SCHEMA, default=["x"]), price=Schema.decimal(2))
    b = struct("P", tags=Schema(FieldType.ARRAY, value_schema=STRING_SCHEMA, default=["x"]), price=Schema.decimal(2))

    # THEN they work as dict keys
    assert a == b and hash(a) == hash(b)
    assert {a: 1}[b] == 1


# -- the JSON form ----------------------------------------------------------------------------

def test_to_dict_is_kafka_connects_json_schema():
    # GIVEN a struct with every kind of member
    schema = struct(
        "shop.Order",
        id=INT64_SCHEMA,
        price=Schema.decimal(2),
        weight=FLOAT32_SCHEMA,
        tags=Schema.array(STRING_SCHEMA, optional=True),
        stock=Schema.map(STRING_SCHEMA, FLOAT64_SCHEMA),
    )

    # WHEN it is written as JSON
    text = json.dumps(schema.to_dict(), separators=(",", ":"))

    # THEN it is what Kafka Connect's JsonConverter writes: lower-case types, float/double,
    # "field" after the field's schema, "optional" after the nested schemas
    assert text == (
        '{"type":"struct","fields":['
        '{"type":"int64","optional":false,"field":"id"},'
        '{"type":"bytes","optional":false,"name":"org.apache.rocketmq.connect.data.Decimal","version":1,'
        '"parameters":{"scale":"2"},"field":"price"},'
        '{"type":"float","optional":false,"field":"weight"},'
        '{"type":"array","items":{"type":"string","optional":false},"optional":true,"field":"tags"},'
        '{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"double","optional":false},'
        '"optional":false,"field":"stock"}'
        '],"optional":false,"name":"shop.Order"}'
    )


def test_from_dict_reads_kafka_names_and_field_type_names():
    kafka = {"type": "struct", "optional": False, "fields": [
        {"field": "a", "type": "double", "optional": True},
        {"field": "b", "type": "float"},
        {"field": "c", "type": "INT16"},
        {"field": "d", "type": "int64", "name": "org.apache.kafka.connect.data.Timestamp", "version": 1},
    ]}
    schema = Schema.from_dict(kafka)
    assert [f.schema.type for f in schema.fields] == [
        FieldType.FLOAT64, FieldType.FLOAT32, FieldType.INT16, FieldType.INT64]
    assert schema.fields[0].schema.optional and not schema.fields[1].schema.optional
    assert schema.field("d").schema.logical == TIMESTAMP


@pytest.mark.parametrize("data, message", [
    ({"type": "uuid"}, "unknown or missing schema type 'uuid'"),
    ({"optional": True}, "unknown or missing schema type None"),
    ({"type": "struct", "fields": [{"type": "int8"}]}, "needs a string 'field' name"),
    ("int8", "must be a JSON object"),
    ({"type": "array"}, "needs a value_schema"),
])
def test_from_dict_refuses_malformed_json(data, message):
    with pytest.raises(SchemaError, match=message):
        Schema.from_dict(data)


def test_defaults_are_written_in_their_json_form_and_read_back():
    # GIVEN fields whose defaults have no JSON type of their own
    schema = struct(
        "Defaults",
        raw=Schema(FieldType.BYTES, default=b"\x00\xff"),
        day=Schema(FieldType.INT32, name=DATE, version=1, default=dt.date(1969, 12, 31)),
        at=Schema(FieldType.INT32, name=TIME, version=1, default=dt.time(0, 0, 1)),
        price=Schema(FieldType.BYTES, name=DECIMAL, version=1, parameters={"scale": "2"}, default=D("-1.28")),
    )

    # WHEN the schema goes to JSON text and back
    data = json.loads(json.dumps(schema.to_dict()))
    back = Schema.from_dict(data)

    # THEN the JSON holds base64 and integers, and the schema comes back equal
    assert [f["default"] for f in data["fields"]] == ["AP8=", -1, 1000, "gA=="]
    assert back == schema


def test_a_default_that_does_not_fit_its_schema_is_refused():
    with pytest.raises(SchemaError, match=r"^default: out of range for INT8"):
        Schema.from_dict({"type": "int8", "default": 300})


names = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)
leaf_schemas = st.one_of(
    st.sampled_from([INT8_SCHEMA, INT16_SCHEMA, INT32_SCHEMA, INT64_SCHEMA, FLOAT32_SCHEMA, FLOAT64_SCHEMA,
                     BOOLEAN_SCHEMA, STRING_SCHEMA, BYTES_SCHEMA, DATE_SCHEMA, TIME_SCHEMA, TIMESTAMP_SCHEMA]),
    st.integers(-5, 20).map(Schema.decimal),
    st.builds(lambda d: Schema(FieldType.STRING, default=d, doc="with a default"), st.text(max_size=5)),
    st.builds(lambda d: Schema(FieldType.BYTES, default=d), st.binary(min_size=1, max_size=5)),
    st.builds(lambda d: Schema(FieldType.INT32, name=DATE, version=1, default=d), st.dates()),
)
all_schemas = st.recursive(
    st.tuples(leaf_schemas, st.booleans()).map(lambda s: s[0].with_optional(s[1])),
    lambda children: st.one_of(
        st.builds(Schema.array, children, optional=st.booleans()),
        st.builds(Schema.map, st.sampled_from([STRING_SCHEMA, INT64_SCHEMA]), children),
        st.builds(lambda fs, o: struct("S", optional=o, **fs),
                  st.dictionaries(names, children, max_size=4), st.booleans()),
    ),
    max_leaves=10,
)


@FAST
@given(all_schemas)
def test_schemas_survive_the_json_form(schema):
    # The JSON form goes through real JSON text, as it does inside the envelope.
    text = json.dumps(schema.to_dict())
    assert Schema.from_dict(json.loads(text)) == schema


# -- logical type encodings -------------------------------------------------------------------

def test_date_encoding_counts_days_from_1970_both_ways():
    assert date_to_days(dt.date(1970, 1, 1)) == 0
    assert date_to_days(dt.date(1969, 12, 31)) == -1
    assert date_to_days(dt.date(1, 1, 1)) == -719162
    assert days_to_date(-719162) == dt.date(1, 1, 1)
    assert days_to_date(19_000) == dt.date(2022, 1, 8)
    with pytest.raises(SchemaError, match="not a date"):
        days_to_date(10**8)


def test_time_encoding_counts_milliseconds_since_midnight():
    assert time_to_millis(dt.time(23, 59, 59, 999_999)) == 86_399_999  # sub-millisecond part is dropped
    assert millis_to_time(86_399_999) == dt.time(23, 59, 59, 999_000)
    assert millis_to_time(0) == dt.time(0)
    for bad in (-1, 86_400_000):
        with pytest.raises(SchemaError, match="not a time of day"):
            millis_to_time(bad)


def test_timestamp_encoding_floors_to_milliseconds_and_handles_pre_1970():
    assert timestamp_to_millis(dt.datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert timestamp_to_millis(dt.datetime(1969, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)) == -1
    assert timestamp_to_millis(dt.datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)) == -1
    assert timestamp_to_millis(dt.datetime(1900, 1, 1, tzinfo=UTC)) == -2_208_988_800_000
    # naive means UTC; other zones are converted
    assert timestamp_to_millis(dt.datetime(2024, 1, 1, 1)) == 1_704_070_800_000
    assert timestamp_to_millis(dt.datetime(2024, 1, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=1)))) == \
        1_704_070_800_000
    assert millis_to_timestamp(-1) == dt.datetime(1969, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)
    with pytest.raises(SchemaError, match="not a timestamp"):
        millis_to_timestamp(10**18)


@pytest.mark.parametrize("value, scale, data", [
    (D("0"), 2, b"\x00"),
    (D("1.27"), 2, b"\x7f"),
    (D("1.28"), 2, b"\x00\x80"),
    (D("-1.28"), 2, b"\x80"),  # minimal, as Java's BigInteger.toByteArray
    (D("-1.29"), 2, b"\xff\x7f"),
    (D("-0.01"), 2, b"\xff"),
    (D("-12.34"), 2, b"\xfb\x2e"),
    (D("-327.68"), 2, b"\x80\x00"),
    (D("1200"), -2, b"\x0c"),
    (D("0.125"), 2, b"\x0c"),  # rounded half-even
    (D("0.135"), 2, b"\x0e"),
])
def test_decimal_encoding_is_minimal_twos_complement_of_the_unscaled_value(value, scale, data):
    assert decimal_to_bytes(value, scale) == data


def test_decimal_encoding_is_exact_beyond_the_default_28_digits():
    value = D("-123456789012345678901234567890.123456789")
    assert bytes_to_decimal(decimal_to_bytes(value, 9), 9) == value
    assert str(bytes_to_decimal(decimal_to_bytes(value, 9), 9)) == str(value)


def test_decimal_encoding_refuses_what_it_cannot_write():
    with pytest.raises(SchemaError, match="finite"):
        decimal_to_bytes(D("NaN"), 2)
    with pytest.raises(SchemaError, match="digits"):
        decimal_to_bytes(D("1E+100000"), 0)


@FAST
@given(st.integers(-(10**40), 10**40), st.integers(-10, 30))
def test_decimals_round_trip_through_bytes(unscaled, scale):
    value = D(unscaled).scaleb(-scale, context=decimal.Context(prec=100))
    data = decimal_to_bytes(value, scale)
    assert bytes_to_decimal(data, scale) == value
    assert len(data) == (unscaled if unscaled >= 0 else ~unscaled).bit_length() // 8 + 1


@FAST
@given(st.dates())
def test_dates_round_trip_through_days(value):
    assert days_to_date(date_to_days(value)) == value


@FAST
@given(st.times().map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)))
def test_times_round_trip_through_millis(value):
    assert millis_to_time(time_to_millis(value)) == value


@FAST
@given(st.datetimes(timezones=st.just(UTC)).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)))
def test_timestamps_round_trip_through_millis(value):
    assert millis_to_timestamp(timestamp_to_millis(value)) == value
