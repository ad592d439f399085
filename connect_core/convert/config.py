"""Converter options, one model per converter, chosen by ``type``."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, field_validator

from .base import ConverterConfigBase


class JsonConverterConfig(ConverterConfigBase):
    type: Literal["json"] = "json"
    #: Wrap each value as ``{"schema": ..., "payload": ...}`` (Kafka Connect's JsonConverter envelope).
    schemas_enable: bool = False
    #: How Decimal values are written: ``base64`` of the unscaled bytes (Kafka's default) or a JSON number.
    decimal_format: Literal["base64", "numeric"] = "base64"


class StringConverterConfig(ConverterConfigBase):
    type: Literal["string"] = "string"
    #: A Python codec name (``utf-8``, ``latin-1``, ``utf-16``...).
    encoding: str = "utf-8"

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            "".encode(value)  # also refuses bytes-to-bytes codecs such as base64
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
        return value


class BytesConverterConfig(ConverterConfigBase):
    type: Literal["bytes"] = "bytes"


ConverterConfig = Annotated[
    Union[JsonConverterConfig, StringConverterConfig, BytesConverterConfig],
    Field(discriminator="type"),
]
