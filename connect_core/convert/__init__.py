"""Converters: json (optionally with a schema envelope), string, bytes."""

from .base import Converter, ConverterConfigBase
from .build import build_converter
from .bytes_converter import BytesConverter
from .config import BytesConverterConfig, ConverterConfig, JsonConverterConfig, StringConverterConfig
from .exceptions import ConversionError
from .json_converter import JsonConverter
from .string_converter import StringConverter

__all__ = [
    "BytesConverter",
    "BytesConverterConfig",
    "ConversionError",
    "Converter",
    "ConverterConfig",
    "ConverterConfigBase",
    "JsonConverter",
    "JsonConverterConfig",
    "StringConverter",
    "StringConverterConfig",
    "build_converter",
]
