"""The front door: a converter for a converter config."""

from __future__ import annotations

from .base import Converter, ConverterConfigBase
from .bytes_converter import BytesConverter
from .config import BytesConverterConfig, JsonConverterConfig, StringConverterConfig
from .json_converter import JsonConverter
from .string_converter import StringConverter

_CONVERTERS: dict[type[ConverterConfigBase], type[Converter]] = {
    JsonConverterConfig: JsonConverter,
    StringConverterConfig: StringConverter,
    BytesConverterConfig: BytesConverter,
}


def build_converter(config: ConverterConfigBase, is_key: bool = False) -> Converter:
    """The converter ``config`` describes, for the record key (``is_key``) or value."""
    for config_type, converter_type in _CONVERTERS.items():
        if isinstance(config, config_type):
            return converter_type(config, is_key)
    raise TypeError(f"no converter for config {type(config).__name__} (type {getattr(config, 'type', None)!r})")
