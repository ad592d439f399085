"""Converters: JSON (plain and with Kafka Connect's envelope), string and bytes."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import types
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from connect_core.api.schema import (
    BOOLEAN_SCHEMA,
    BYTES_SCHEMA,
    DATE,
    DATE_SCHEMA,
    DECIMAL,
    FLOAT32_SCHEMA,
    FLOAT64_SCHEMA,
    INT16_SCHEMA,
    INT32_SCHEMA,
    INT64_SCHEMA,
    INT8_SCHEMA,
    OPTIONAL_BYTES_SCHEMA,
    OPTIONAL_STRING_SCHEMA,
    STRING_SCHEMA,
    TIME,
    TIMESTAMP,
    TIMESTAMP_SCHEMA,
    TIME_SCHEMA,
    Field,
    FieldType,
    Schema,
    decimal_scale,
)
from connect_core.convert import (
    BytesConverter,
    BytesConverterConfig,
    ConversionError,
    Converter,
    JsonConverter,
    JsonConverterConfig,
    StringConverter,
    StringConverterConfig,
    build_converter,
)
from connect_core.errors import ConnectError

UTC = dt.timezone.utc
D = decimal.Decimal
FAST = settings(max_examples=75, deadline=None)
EXACT = decimal.Context(prec=200)


def plain_json() -> Converter:
    return build_converter(JsonConverterConfig())


def enveloped(decimal_format: str = "base64") -> Converter:
    return build_converter(JsonConverterConfig(schemas_enable=True, decimal_format=decimal_format))


def struct(name: str | None = None, /, *, optional: bool = False, **fields: Schema) -> Schema:
    return Schema(FieldType.STRUCT, optional=optional, name=name, fields=tuple(Field(n, s) for n, s in fields.items()))


def conversion_error(call, *args: Any) -> ConversionError:
    with pytest.raises(ConversionError) as info:
        call(*args)
    return info.value


# -- building ---------------------------------------------------------------------------------

@pytest.mark.parametrize("config, kind", [
    (JsonConverterConfig(), JsonConverter),
    (StringConverterConfig(), StringConverter),
    (BytesConverterConfig(), BytesConverter),
])
def test_build_converter_picks_the_converter_by_config_type(config, kind):
    converter = build_converter(config, is_key=True)
    assert type(converter) is kind
    assert converter.config is config and converter.is_key


def test_build_converter_refuses_unknown_configs():
    with pytest.raises(TypeError, match="no converter for config"):
        build_converter(object())  # type: ignore[arg-type]


# -- tombstones -------------------------------------------------------------------------------

@pytest.mark.parametrize("converter", [
    plain_json(), enveloped(), build_converter(StringConverterConfig()), build_converter(BytesConverterConfig()),
], ids=["json", "json-envelope", "string", "bytes"])
def test_none_is_a_tombstone_both_ways(converter):
    assert converter.serialize("t", None, None) is None
    assert converter.deserialize("t", None) == (None, None)


def test_a_tombstone_with_a_schema_is_still_no_bytes():
    assert enveloped().serialize("t", struct("S", a=INT32_SCHEMA, optional=True), None) is None


# -- JSON without schemas ---------------------------------------------------------------------

def test_plain_json_is_compact_utf8():
    # GIVEN a value with non-ASCII text
    value = {"name": "Zoë", "tags": ["a", None], "n": 1, "ok": True, "x": 1.5}

    # WHEN it is serialized
    data = plain_json().serialize("t", None, value)

    # THEN it is compact JSON, UTF-8, without \u escapes, and reads back with no schema
    assert data == '{"name":"Zoë","tags":["a",null],"n":1,"ok":true,"x":1.5}'.encode()
    assert plain_json().deserialize("t", data) == (None, value)


def test_plain_json_writes_python_types_json_lacks():
    # GIVEN values with bytes, dates, times and decimals but no schema
    value = {
        "raw": b"\x00\xff", "buf": bytearray(b"hi"),
        "at": dt.datetime(2024, 5, 1, 12, 30, tzinfo=UTC), "naive": dt.datetime(2024, 5, 1, 12, 30),
        "day": dt.date(1969, 7, 20), "time": dt.time(23, 59, 1, 500),
        "price": D("12345678901234567890.10"), "nan": D("NaN"),
        "view": types.MappingProxyType({"k": (1, 2)}),
    }

    # WHEN it is serialized
    data = plain_json().serialize("t", None, value)

    # THEN bytes are base64, dates and times ISO 8601, decimals exact JSON numbers
    assert data == (
        b'{"raw":"AP8=","buf":"aGk=","at":"2024-05-01T12:30:00+00:00","naive":"2024-05-01T12:30:00",'
        b'"day":"1969-07-20","time":"23:59:01.000500","price":12345678901234567890.10,"nan":NaN,'
        b'"view":{"k":[1,2]}}'
    )


def test_plain_json_with_a_schema_writes_the_payload_in_the_schemas_form():
    # Kafka's JsonConverter does the same with schemas.enable=false: the schema shapes the payload.
    schema = struct("S", day=DATE_SCHEMA, price=Schema.decimal(2), note=OPTIONAL_STRING_SCHEMA)
    data = plain_json().serialize("t", schema, {"day": dt.date(1970, 1, 2), "price": D("1.28")})
    assert data == b'{"day":1,"price":"AIA=","note":null}'


@pytest.mark.parametrize("value, reason", [
    ({1, 2}, "a set has no JSON form"),
    ({(1, 2): "a"}, "keys must be str, int, float, bool or None"),
    ({"s": "\ud800"}, "surrogates not allowed"),
])
def test_plain_json_refuses_values_it_cannot_write(value, reason):
    error = conversion_error(plain_json().serialize, "orders", None, value)
    assert reason in str(error)
    assert str(error).startswith("json converter could not serialize the value of a record for topic 'orders': ")


def test_plain_json_refuses_circular_values():
    loop: list[Any] = []
    loop.append(loop)
    assert "Circular reference" in str(conversion_error(plain_json().serialize, "t", None, loop))


@pytest.mark.parametrize("data, reason", [
    (b"{", "not valid JSON: Expecting property name"),
    (b"", "not valid JSON: Expecting value"),
    (b'{"a":1} x', "not valid JSON: Extra data"),
    (b'"\xff"', "not UTF-8 text: invalid start byte at byte 1"),
])
def test_plain_json_refuses_bytes_that_are_not_json(data, reason):
    # GIVEN a key converter
    converter = build_converter(JsonConverterConfig(), is_key=True)

    # WHEN it reads bytes that are not JSON
    error = conversion_error(converter.deserialize, "orders", data)

    # THEN the error says what failed, for which topic and which side of the record
    assert str(error).startswith("json converter could not deserialize the key of a record for topic 'orders': ")
    assert reason in str(error)
    assert (error.topic, error.is_key, error.operation, error.converter) == ("orders", True, "deserialize", "json")
    assert isinstance(error, ConnectError)


def test_plain_json_reads_an_envelope_as_plain_json():
    data = b'{"schema":{"type":"int32","optional":false},"payload":5}'
    assert plain_json().deserialize("t", data) == (None, json.loads(data))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@FAST
@given(json_values, st.booleans())
def test_plain_json_values_round_trip(value, schemas_enable):
    converter = build_converter(JsonConverterConfig(schemas_enable=schemas_enable))
    data = converter.serialize("t", None, value)
    if value is None:
        assert data is None
    else:
        assert converter.deserialize("t", data) == (None, value)


# -- JSON with the schema envelope ------------------------------------------------------------

def test_envelope_is_exactly_what_kafka_connect_writes():
    # GIVEN a struct value with an optional field left out
    schema = struct("shop.Order", id=INT32_SCHEMA, customer=OPTIONAL_STRING_SCHEMA, total=FLOAT64_SCHEMA)
    value = {"id": 1, "total": 9.5}

    # WHEN it is serialized with schemas enabled
    data = enveloped().serialize("orders", schema, value)

    # THEN the envelope has the schema, then the payload with every field in schema order
    assert data == (
        b'{"schema":{"type":"struct","fields":['
        b'{"type":"int32","optional":false,"field":"id"},'
        b'{"type":"string","optional":true,"field":"customer"},'
        b'{"type":"double","optional":false,"field":"total"}],'
        b'"optional":false,"name":"shop.Order"},'
        b'"payload":{"id":1,"customer":null,"total":9.5}}'
    )
    assert enveloped().deserialize("orders", data) == (schema, {"id": 1, "customer": None, "total": 9.5})


def test_envelope_of_a_primitive_and_of_a_value_without_schema():
    assert enveloped().serialize("t", INT8_SCHEMA, 5) == b'{"schema":{"type":"int8","optional":false},"payload":5}'
    assert enveloped().serialize("t", None, {"a": [1]}) == b'{"schema":null,"payload":{"a":[1]}}'
    assert enveloped().deserialize("t", b'{"schema":null,"payload":{"a":[1]}}') == (None, {"a": [1]})


def test_envelope_payload_encodes_logical_types_and_bytes():
    # GIVEN one field of each logical type, with values before 1970 and a negative decimal
    schema = struct(
        "Logical",
        day=DATE_SCHEMA, time=TIME_SCHEMA, at=TIMESTAMP_SCHEMA, price=Schema.decimal(2), raw=BYTES_SCHEMA,
    )
    value = {
        "day": dt.date(1969, 12, 31),
        "time": dt.time(1, 0, 0, 5000),
        "at": dt.datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        "price": D("-12.34"),
        "raw": b"\x00\xff",
    }

    # WHEN it is serialized
    data = enveloped().serialize("t", schema, value)

    # THEN the payload holds days, milliseconds and base64, and reads back as Python types
    assert json.loads(data)["payload"] == {"day": -1, "time": 3_600_005, "at": -1, "price": "+y4=", "raw": "AP8="}
    assert enveloped().deserialize("t", data) == (schema, value)


def test_numeric_decimals_are_json_numbers_with_every_digit():
    # GIVEN a decimal with more digits than a float holds
    schema = struct("P", price=Schema.decimal(12), qty=FLOAT64_SCHEMA)
    value = {"price": D("-12345678901234567890.123456789012"), "qty": 0.1}

    # WHEN it is written with decimal_format numeric
    data = enveloped("numeric").serialize("t", schema, value)

    # THEN the JSON number has every digit, and each converter reads it back exactly
    assert data.endswith(b'"payload":{"price":-12345678901234567890.123456789012,"qty":0.1}}')
    for reader in (enveloped("numeric"), enveloped("base64")):
        _, back = reader.deserialize("t", data)
        assert back == value and type(back["qty"]) is float


def test_reads_what_kafka_connect_wrote():
    # GIVEN an envelope as Kafka Connect writes it (Kafka's logical names, extra parameters)
    data = (
        b'{"schema":{"type":"struct","fields":['
        b'{"type":"int32","optional":false,"field":"id"},'
        b'{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,'
        b'"parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"price"},'
        b'{"type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp","version":1,'
        b'"field":"ts"},'
        b'{"type":"float","optional":true,"field":"weight"}],'
        b'"optional":false,"name":"dbserver1.inventory.products.Value"},'
        b'"payload":{"id":101,"price":"B14=","ts":1700000000000,"weight":2}}'
    )

    # WHEN it is read
    schema, value = enveloped().deserialize("products", data)

    # THEN values are Python types and the schema keeps its names
    assert value == {"id": 101, "price": D("18.86"), "ts": dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
                     "weight": 2.0}
    assert type(value["weight"]) is float
    assert schema.name == "dbserver1.inventory.products.Value"
    assert schema.field("price").schema.parameters == {"scale": "2", "connect.decimal.precision": "10"}


def test_maps_with_string_keys_are_objects_and_others_are_pairs():
    by_name = Schema.map(STRING_SCHEMA, INT32_SCHEMA)
    by_day = Schema.map(DATE_SCHEMA, Schema.array(BYTES_SCHEMA))
    assert enveloped().serialize("t", by_name, {"a": 1}).endswith(b'"payload":{"a":1}}')
    data = enveloped().serialize("t", by_day, {dt.date(1970, 1, 3): [b"\x01"]})
    assert data.endswith(b'"payload":[[2,["AQ=="]]]}')
    assert enveloped().deserialize("t", data) == (by_day, {dt.date(1970, 1, 3): [b"\x01"]})


def test_defaults_fill_in_for_nulls_both_ways():
    # GIVEN required fields with defaults
    schema = struct(
        "D",
        day=Schema(FieldType.INT32, name=DATE, version=1, default=dt.date(1970, 1, 2)),
        tags=Schema(FieldType.ARRAY, value_schema=STRING_SCHEMA, default=["none"]),
    )

    # WHEN a value without them is written, and a payload with nulls is read
    data = enveloped().serialize("t", schema, {})
    _, first = enveloped().deserialize("t", data.replace(b'"payload":{"day":1,"tags":["none"]}',
                                                           b'"payload":{"day":null,"tags":null}'))

    # THEN the defaults are written in their JSON form and read back in Python form
    assert data.endswith(b'"payload":{"day":1,"tags":["none"]}}')
    assert first == {"day": dt.date(1970, 1, 2), "tags": ["none"]}


def test_reading_fills_missing_fields_and_drops_unknown_ones():
    schema = struct("S", a=INT32_SCHEMA, b=OPTIONAL_STRING_SCHEMA)
    data = enveloped().serialize("t", schema, {"a": 1}).replace(b'"b":null', b'"zzz":true')
    assert enveloped().deserialize("t", data) == (schema, {"a": 1, "b": None})


def test_a_value_that_does_not_match_its_schema_is_a_conversion_error():
    # GIVEN an order whose second line has a bad quantity
    line = struct("Line", qty=INT16_SCHEMA)
    schema = struct("Order", lines=Schema.array(line))
    value = {"lines": [{"qty": 1}, {"qty": "two"}]}

    # WHEN it is serialized, with or without the envelope
    errors = [conversion_error(c.serialize, "orders", schema, value) for c in (enveloped(), plain_json())]

    # THEN the error names the topic, the side and the path of the bad value
    for error in errors:
        assert str(error) == ("json converter could not serialize the value of a record for topic 'orders': "
                              "value.lines[1].qty: expected INT16 integer, got str")


def test_key_errors_say_key():
    converter = build_converter(JsonConverterConfig(schemas_enable=True), is_key=True)
    error = conversion_error(converter.serialize, None, INT64_SCHEMA, "7")
    assert str(error) == ("json converter could not serialize the key of a record (no topic): "
                          "key: expected INT64 integer, got str")


INT32_MAP = '{"type":"map","keys":{"type":"int32","optional":false},"values":{"type":"string","optional":false},' \
            '"optional":false}'


@pytest.mark.parametrize("data, reason", [
    ('{"payload":1}', 'exactly the keys "schema" and "payload"; for plain JSON set schemas_enable: false'),
    ('{"schema":null,"payload":1,"x":2}', 'exactly the keys "schema" and "payload"'),
    ("[1]", 'exactly the keys "schema" and "payload"'),
    ('{"schema":{"type":"uuid"},"payload":1}', "unknown or missing schema type 'uuid'"),
    ('{"schema":{"type":"int32"},"payload":"x"}', "value: expected INT32 integer, got str"),
    ('{"schema":{"type":"int32"},"payload":null}', "value: null for a required INT32 field"),
    ('{"schema":{"type":"int8"},"payload":300}', "value: out of range for INT8"),
    ('{"schema":{"type":"bytes"},"payload":"%%%"}', "value: not valid base64"),
    ('{"schema":{"type":"int32","name":"org.apache.rocketmq.connect.data.Date"},"payload":"2024-01-01"}',
     "value: Date (days since 1970-01-01) must be a JSON integer, got string"),
    ('{"schema":{"type":"int32","name":"org.apache.rocketmq.connect.data.Date"},"payload":100000000}',
     "not a date in years 1..9999"),
    ('{"schema":{"type":"int64","name":"org.apache.rocketmq.connect.data.Timestamp"},"payload":1.5}',
     "value: Timestamp (milliseconds since the epoch) must be a JSON integer, got number"),
    ('{"schema":{"type":"bytes","name":"org.apache.rocketmq.connect.data.Decimal","parameters":{"scale":"2"}},'
     '"payload":true}', "value: Decimal must be a base64 string or a JSON number, got boolean"),
    ('{"schema":{"type":"bytes","name":"org.apache.rocketmq.connect.data.Decimal","parameters":{"scale":"2"}},'
     '"payload":NaN}', "value: a Decimal must be finite"),
    ('{"schema":' + INT32_MAP + ',"payload":{"1":"a"}}',
     "value: a map with INT32 keys must be a JSON array of [key, value] pairs, got object"),
    ('{"schema":' + INT32_MAP + ',"payload":[[1]]}', "value: each map entry must be a [key, value] pair"),
    ('{"schema":{"type":"struct","fields":[{"type":"array","items":{"type":"bytes"},"field":"blobs"}]},'
     '"payload":{"blobs":["AA==",5]}}', "value.blobs[]: BYTES must be a base64 JSON string, got number"),
])
def test_envelopes_that_do_not_fit_are_conversion_errors(data, reason):
    error = conversion_error(enveloped().deserialize, "orders", data.encode())
    assert str(error).startswith("json converter could not deserialize the value of a record for topic 'orders': ")
    assert reason in str(error)


def test_equal_schemas_read_from_many_messages_come_back_as_one_object():
    converter = enveloped()
    schema = struct("S", a=INT32_SCHEMA)
    first, _ = converter.deserialize("t", converter.serialize("t", schema, {"a": 1}))
    second, _ = converter.deserialize("t", converter.serialize("t", Schema.from_dict(schema.to_dict()), {"a": 2}))
    assert first == schema and second is first


# -- schema'd round trips ---------------------------------------------------------------------

ms = 1000


def present_values(schema: Schema) -> st.SearchStrategy[Any]:
    logical = schema.logical
    if logical == DATE:
        return st.dates()
    if logical == TIME:
        return st.times().map(lambda t: t.replace(microsecond=t.microsecond // ms * ms))
    if logical == TIMESTAMP:
        return st.datetimes(timezones=st.just(UTC)).map(lambda t: t.replace(microsecond=t.microsecond // ms * ms))
    if logical == DECIMAL:
        scale = decimal_scale(schema)
        return st.integers(-(10**40), 10**40).map(lambda u: D(u).scaleb(-scale, context=EXACT))
    t = schema.type
    if t is FieldType.INT8:
        return st.integers(-(2**7), 2**7 - 1)
    if t is FieldType.INT16:
        return st.integers(-(2**15), 2**15 - 1)
    if t is FieldType.INT32:
        return st.integers(-(2**31), 2**31 - 1)
    if t is FieldType.INT64:
        return st.integers(-(2**63), 2**63 - 1)
    if t in (FieldType.FLOAT32, FieldType.FLOAT64):
        return st.floats(allow_nan=False, allow_infinity=False)
    if t is FieldType.BOOLEAN:
        return st.booleans()
    if t is FieldType.STRING:
        return st.text(max_size=8)
    if t is FieldType.BYTES:
        return st.binary(max_size=8)
    if t is FieldType.ARRAY:
        return st.lists(values_of(schema.value_schema), max_size=3)
    if t is FieldType.MAP:
        return st.dictionaries(values_of(schema.key_schema), values_of(schema.value_schema), max_size=3)
    return st.fixed_dictionaries({f.name: values_of(f.schema) for f in schema.fields})


def values_of(schema: Schema) -> st.SearchStrategy[Any]:
    present = present_values(schema)
    return st.none() | present if schema.optional else present


field_names = st.text(alphabet="abcdefgh_", min_size=1, max_size=5)
leaf_schemas = st.sampled_from([
    INT8_SCHEMA, INT16_SCHEMA, INT32_SCHEMA, INT64_SCHEMA, FLOAT32_SCHEMA, FLOAT64_SCHEMA, BOOLEAN_SCHEMA,
    STRING_SCHEMA, BYTES_SCHEMA, DATE_SCHEMA, TIME_SCHEMA, TIMESTAMP_SCHEMA,
]) | st.integers(-3, 12).map(Schema.decimal)
map_keys = st.sampled_from([STRING_SCHEMA, INT32_SCHEMA, DATE_SCHEMA])
schemas = st.recursive(
    st.tuples(leaf_schemas, st.booleans()).map(lambda s: s[0].with_optional(s[1])),
    lambda children: st.one_of(
        st.builds(Schema.array, children, optional=st.booleans()),
        st.builds(Schema.map, map_keys, children, optional=st.booleans()),
        st.builds(lambda fs, o: struct("S", optional=o, **fs), st.dictionaries(field_names, children, max_size=4),
                  st.booleans()),
    ),
    max_leaves=10,
)
schemas_and_values = schemas.flatmap(lambda s: st.tuples(st.just(s), values_of(s)))


@FAST
@given(schemas_and_values, st.sampled_from(["base64", "numeric"]))
def test_schemad_values_round_trip_with_their_schema(schema_and_value, decimal_format):
    schema, value = schema_and_value
    converter = enveloped(decimal_format)
    data = converter.serialize("t", schema, value)
    if value is None:
        assert data is None
    else:
        assert converter.deserialize("t", data) == (schema, value)


# -- string -----------------------------------------------------------------------------------

class Color:
    def __str__(self) -> str:
        return "red"


@pytest.mark.parametrize("value, text", [
    ("héllo", "héllo"),
    (True, "true"),
    (42, "42"),
    (-1.5, "-1.5"),
    (D("12.50"), "12.50"),
    (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "2024-01-02T03:04:05+00:00"),
    (dt.date(2024, 1, 2), "2024-01-02"),
    ({"a": [1, None], "b": "é"}, '{"a":[1,null],"b":"é"}'),
    ([1, "x"], '[1,"x"]'),
    (b"raw text", "raw text"),
    (Color(), "red"),
])
def test_string_converter_writes_the_text_of_a_value(value, text):
    converter = build_converter(StringConverterConfig())
    data = converter.serialize("t", None, value)
    assert data == text.encode()
    assert converter.deserialize("t", data) == (OPTIONAL_STRING_SCHEMA, text)


def test_string_converter_uses_its_encoding():
    converter = build_converter(StringConverterConfig(encoding="latin-1"))
    assert converter.serialize("t", STRING_SCHEMA, "é") == b"\xe9"
    assert converter.deserialize("t", b"\xe9") == (OPTIONAL_STRING_SCHEMA, "é")
    assert "not text in latin-1" in str(conversion_error(converter.serialize, "t", None, "€"))


def test_string_converter_refuses_bytes_that_are_not_text():
    converter = build_converter(StringConverterConfig(), is_key=True)
    for call in (converter.serialize, converter.deserialize):
        args = ("t", None, b"\xff") if call == converter.serialize else ("t", b"\xff")
        error = conversion_error(call, *args)
        assert "the key of a record for topic 't': not text in utf-8: invalid start byte" in str(error)


@pytest.mark.parametrize("encoding", ["no-such-codec", "base64"])
def test_string_converter_config_refuses_unknown_encodings(encoding):
    with pytest.raises(ValidationError, match="unknown text encoding"):
        StringConverterConfig(encoding=encoding)


@FAST
@given(st.text(), st.sampled_from(["utf-8", "utf-16", "utf-32"]))
def test_strings_round_trip(text, encoding):
    converter = build_converter(StringConverterConfig(encoding=encoding))
    assert converter.deserialize("t", converter.serialize("t", None, text)) == (OPTIONAL_STRING_SCHEMA, text)


# -- bytes ------------------------------------------------------------------------------------

def test_bytes_converter_passes_bytes_through():
    converter = build_converter(BytesConverterConfig())
    data = b"\x00\x01"
    assert converter.serialize("t", BYTES_SCHEMA, data) is data
    assert converter.serialize("t", None, bytearray(b"ab")) == b"ab"
    assert converter.serialize("t", None, memoryview(b"abc")[1:]) == b"bc"
    assert converter.deserialize("t", bytearray(b"ab")) == (OPTIONAL_BYTES_SCHEMA, b"ab")


@pytest.mark.parametrize("schema, value, reason", [
    (None, "text", "expected bytes, bytearray or memoryview, got str"),
    (None, [1], "expected bytes, bytearray or memoryview, got list"),
    (STRING_SCHEMA, b"x", "the bytes converter needs a BYTES schema, not STRING"),
])
def test_bytes_converter_refuses_anything_but_bytes(schema, value, reason):
    error = conversion_error(build_converter(BytesConverterConfig()).serialize, "t", schema, value)
    assert str(error) == f"bytes converter could not serialize the value of a record for topic 't': {reason}"


@FAST
@given(st.binary())
def test_bytes_round_trip(data):
    converter = build_converter(BytesConverterConfig())
    assert converter.deserialize("t", converter.serialize("t", None, data)) == (OPTIONAL_BYTES_SCHEMA, data)
