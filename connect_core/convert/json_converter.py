"""JSON, with or without Kafka Connect's ``{"schema": ..., "payload": ...}`` envelope."""

from __future__ import annotations

import json
from typing import Any

from ..api.schema import Schema, SchemaError
from .base import Converter
from .config import JsonConverterConfig
from .json_codec import InexactNumber, PayloadCodec, compile_codec, dumps, loads, loads_exact

#: Codecs kept per converter; past this many distinct schemas the cache starts over.
_CACHE_SIZE = 256
#: Schemas read from envelopes, remembered by their parsed JSON (most recent first).
_RECENT_SCHEMAS = 8

_FAILURES = (SchemaError, TypeError, ValueError, OverflowError, RecursionError)


class JsonConverter(Converter):
    """Keys or values as UTF-8 JSON, the format of Kafka Connect's JsonConverter.

    ``schemas_enable: false``: the value alone. Without a schema it is written by the rules of
    :mod:`connect_core.convert.json_codec` (bytes as base64, dates and times as ISO strings,
    Decimal as an exact number); with a schema it is validated and written in the schema's JSON
    form, as Kafka does. Reading gives ``(None, parsed JSON)``.

    ``schemas_enable: true``: ``{"schema":<Schema.to_dict()>,"payload":<value in its JSON form>}``,
    or ``{"schema":null,"payload":...}`` when the record has no schema. Reading requires exactly
    those two keys and gives the schema and the value in Python form (date, time, UTC datetime,
    Decimal, bytes); structs come back with every schema field, missing optional ones as ``None``.

    A ``None`` value is a tombstone either way: no bytes, and no bytes reads as ``(None, None)``.
    """

    config: JsonConverterConfig

    def __init__(self, config: JsonConverterConfig, is_key: bool = False) -> None:
        super().__init__(config, is_key)
        self._envelope = config.schemas_enable
        self._numeric_decimals = config.decimal_format == "numeric"
        self._path = "key" if is_key else "value"
        self._codecs: dict[Schema, PayloadCodec] = {}
        # Producers usually pass the same schema object again and again: an identity hit skips
        # hashing and comparing the schema. Entries hold the schema so its id is not reused.
        self._codecs_by_id: dict[int, tuple[Schema, PayloadCodec]] = {}
        self._recent: list[tuple[Any, PayloadCodec]] = []

    # -- bytes out ----------------------------------------------------------------------------

    def serialize(self, topic: str | None, schema: Schema | None, value: Any) -> bytes | None:
        if value is None:
            return None
        try:
            if schema is None:
                text = dumps(value)
                if self._envelope:
                    text = '{"schema":null,"payload":' + text + "}"
                return text.encode("utf-8")
            codec = self._codec(schema)
            schema.validate(value, self._path)
            payload = dumps(value if codec.encode is None else codec.encode(value))
            if self._envelope:
                payload = codec.envelope_prefix + payload + "}"
            return payload.encode("utf-8")
        except _FAILURES as exc:
            raise self._error("serialize", topic, exc) from exc

    # -- bytes in -----------------------------------------------------------------------------

    def deserialize(self, topic: str | None, data: bytes | None) -> tuple[Schema | None, Any]:
        if data is None:
            return None, None
        try:
            text = str(data, "utf-8")
            doc = loads(text)
            if not self._envelope:
                return None, doc
            return self._open_envelope(text, doc)
        except json.JSONDecodeError as exc:
            raise self._error("deserialize", topic, f"not valid JSON: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise self._error("deserialize", topic, f"not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
        except _FAILURES as exc:
            raise self._error("deserialize", topic, exc) from exc

    def _open_envelope(self, text: str, doc: Any) -> tuple[Schema | None, Any]:
        if type(doc) is not dict or len(doc) != 2 or "schema" not in doc or "payload" not in doc:
            raise SchemaError('with schemas_enable the JSON must be an object with exactly the keys "schema" '
                              'and "payload"; for plain JSON set schemas_enable: false')
        schema_json = doc["schema"]
        if schema_json is None:
            return None, doc["payload"]
        codec = self._codec_of_json(schema_json)
        if codec.decode is None:
            value = doc["payload"]
        else:
            try:
                value = codec.decode(doc["payload"])
            except InexactNumber:
                # A Decimal written as a JSON number: read its digits again, without rounding.
                value = codec.decode(loads_exact(text)["payload"])
        codec.schema.validate(value, self._path)
        return codec.schema, value

    # -- codecs -------------------------------------------------------------------------------

    def _codec(self, schema: Schema) -> PayloadCodec:
        hit = self._codecs_by_id.get(id(schema))
        if hit is not None and hit[0] is schema:
            return hit[1]
        codec = self._codec_of_schema(schema)
        if len(self._codecs_by_id) >= _CACHE_SIZE:
            self._codecs_by_id.clear()
        self._codecs_by_id[id(schema)] = (schema, codec)
        return codec

    def _codec_of_schema(self, schema: Schema) -> PayloadCodec:
        codec = self._codecs.get(schema)
        if codec is None:
            codec = compile_codec(schema, numeric_decimals=self._numeric_decimals, path=self._path)
            if len(self._codecs) >= _CACHE_SIZE:
                self._codecs.clear()
            self._codecs[schema] = codec
        return codec

    def _codec_of_json(self, schema_json: Any) -> PayloadCodec:
        # Comparing parsed JSON is far cheaper than building a Schema from it for every message.
        recent = self._recent
        for seen, codec in recent:
            if seen == schema_json:
                return codec
        codec = self._codec_of_schema(Schema.from_dict(schema_json))
        recent.insert(0, (schema_json, codec))
        del recent[_RECENT_SCHEMAS:]
        return codec
