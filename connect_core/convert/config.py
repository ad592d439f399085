"""Converter options, one model per converter, chosen by ``type``."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from .base import ConverterConfigBase


class JsonConverterConfig(ConverterConfigBase):
    type: Literal["json"] = "json"
    #: Wrap each value as ``{"schema": ..., "payload": ...}`` (Kafka Connect's JsonConverter envelope).
    schemas_enable: bool = False
    #: How Decimal values are written: ``base64`` of the unscaled bytes (Kafka's default) or a JSON number.
    decimal_format: Literal["base64", "numeric"] = "base64"


class StringConverterConfig(ConverterConfigBase):
    type: Literal["string"] = "string"
    encoding: str = "utf-8"


class BytesConverterConfig(ConverterConfigBase):
    type: Literal["bytes"] = "bytes"


ConverterConfig = Annotated[
    Union[JsonConverterConfig, StringConverterConfig, BytesConverterConfig],
    Field(discriminator="type"),
]
