"""Converters: json (optionally with a schema envelope), string, bytes."""

from .base import Converter, ConverterConfigBase
from .config import BytesConverterConfig, ConverterConfig, JsonConverterConfig, StringConverterConfig

__all__ = [
    "BytesConverterConfig",
    "Converter",
    "ConverterConfig",
    "ConverterConfigBase",
    "JsonConverterConfig",
    "StringConverterConfig",
]
