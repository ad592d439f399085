"""Validating a raw connector config: every error at once, each with its field path and reason."""

from __future__ import annotations

from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, ValidationError

from ..api.connector import Connector
from ..errors import ConfigError, FieldError, UnknownConnectorError
from ..registry import load_connector_class
from .base import ConnectorConfig

_MESSAGES = {
    "extra_forbidden": "unknown option (misspelt, or not an option of this connector)",
    "missing": "required",
}


class _CommonKeysOnly(ConnectorConfig):
    """The common keys, tolerating connector-specific ones: used when the connector is unknown."""

    model_config = ConfigDict(extra="ignore", frozen=True)


def validate_config(raw: Mapping[str, Any]) -> Connector[Any]:
    """Build the connector for ``raw`` or raise :class:`ConfigError` listing every problem.

    Three layers, all reported together where possible: the connector class must load; the
    config must fit the connector's model (types, ranges, unknown keys, transforms); then
    cross-references and the connector's own ``validate()``.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError.single("", f"a connector config must be an object, not {type(raw).__name__}")
    name = raw.get("name") if isinstance(raw.get("name"), str) else None
    errors: list[FieldError] = []

    connector_name = raw.get("connector")
    connector_class = None
    if not isinstance(connector_name, str) or not connector_name:
        errors.append(FieldError("connector", "required: a built-in connector name or an import path"))
    else:
        try:
            connector_class = load_connector_class(connector_name)
        except UnknownConnectorError as exc:
            errors.append(FieldError("connector", str(exc)))

    model: type[BaseModel] = connector_class.config_model if connector_class else _CommonKeysOnly
    config = None
    try:
        config = model.model_validate(dict(raw))
    except ValidationError as exc:
        errors.extend(field_errors(exc, raw))
    if config is not None:
        errors.extend(_reference_errors(config))
    errors.extend(_direct_sink_errors(raw.get("target")))
    if errors:
        raise ConfigError(_dedupe(errors), connector=name)

    assert connector_class is not None and config is not None
    connector = connector_class(config)
    try:
        connector.validate()
    except ConfigError as exc:
        raise ConfigError(exc.errors, connector=name) from None
    return connector


def field_errors(exc: ValidationError, raw: Any = None) -> list[FieldError]:
    """pydantic's errors as ``FieldError``s with readable paths: ``transforms[0].regex``."""
    out = []
    for err in exc.errors(include_url=False):
        path = _path(err["loc"], raw)
        message = _MESSAGES.get(err["type"], err["msg"])
        if err["type"] == "extra_forbidden":
            message = _MESSAGES["extra_forbidden"]
        elif err["type"].startswith("value_error"):
            message = message.removeprefix("Value error, ")
        out.append(FieldError(path, message))
    return out


def _path(loc: tuple[Any, ...], raw: Any) -> str:
    """Join a pydantic location, skipping the union-tag steps (``transforms.0.InsertField.x``)
    that do not exist in the user's input, by walking the input alongside the location."""
    parts: list[str] = []
    node = raw
    for step in loc:
        if isinstance(step, int):
            parts.append(f"[{step}]")
            node = node[step] if isinstance(node, list) and step < len(node) else None
            continue
        if isinstance(node, Mapping) and step not in node and node.get("type") is not None and (
                step == node.get("type") or "[" in step or step in ("function-after", "function-before")):
            continue  # a discriminated-union tag, not a key the user wrote
        if isinstance(node, Mapping) and step not in node and "$" in str(node.get("type", "")) \
                and step == str(node["type"]).partition("$")[0]:
            continue
        parts.append(("." if parts else "") + str(step))
        node = node.get(step) if isinstance(node, Mapping) else None
    return "".join(parts)


def _reference_errors(config: ConnectorConfig) -> list[FieldError]:
    errors = []
    for i, transform in enumerate(config.transforms):
        if transform.predicate is not None and transform.predicate not in config.predicates:
            known = ", ".join(sorted(config.predicates)) or "none defined"
            errors.append(FieldError(f"transforms[{i}].predicate",
                                     f"unknown predicate {transform.predicate!r} (predicates: {known})"))
        if transform.negate and transform.predicate is None:
            errors.append(FieldError(f"transforms[{i}].negate", "negate needs a predicate"))
    return errors


def _direct_sink_errors(target: Any) -> list[FieldError]:
    """A direct target's sink config is validated in full, its errors under ``target.sink``."""
    if not (isinstance(target, Mapping) and target.get("type") == "direct" and isinstance(target.get("sink"), Mapping)):
        return []
    try:
        sink = validate_config(target["sink"])
    except ConfigError as exc:
        return [FieldError(f"target.sink.{e.field}" if e.field else "target.sink", e.message) for e in exc.errors]
    if sink.kind != "sink":
        return [FieldError("target.sink.connector", f"{target['sink'].get('connector')!r} is a {sink.kind} "
                                                    "connector; a direct target needs a sink connector")]
    return []


def _dedupe(errors: list[FieldError]) -> list[FieldError]:
    seen: set[FieldError] = set()
    return [e for e in errors if not (e in seen or seen.add(e))]


def config_json_schema(connector: str) -> dict[str, Any]:
    """The JSON Schema of a connector's config (for docs and the validate endpoint)."""
    cls = load_connector_class(connector)
    schema = cls.config_model.model_json_schema()
    schema.setdefault("title", cls.__name__)
    if cls.description:
        schema.setdefault("description", cls.description)
    return schema
