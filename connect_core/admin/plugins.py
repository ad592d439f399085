"""Connector plugins for the API: listing them, finding one by any of its names, describing its
config keys and validating a config against them in Kafka Connect's ``ConfigInfos`` shape."""

from __future__ import annotations

import functools
import json
import re
import typing
from typing import Any, Callable, Mapping

from pydantic import BaseModel, TypeAdapter

from .. import __version__
from ..api.connector import Connector
from ..config import validate_config
from ..errors import ConfigError, ConnectError, FieldError
from ..registry import load_connector_class, plugin_names
from .errors import BadRequest, NotFound
from .models import ConfigInfo, ConfigInfos, ConfigKeyInfo, ConfigValueInfo, PluginInfo

#: Common keys by group, in the order they are listed; a connector's own keys follow in a group
#: named after the connector.
_GROUPS: dict[str, tuple[str, ...]] = {
    "Common": ("name", "connector", "max_tasks"),
    "Converters": ("key_converter", "value_converter"),
    "Transforms": ("transforms", "predicates"),
    "Error Handling": ("errors",),
    "Source": ("target", "schedule"),
    "Sink": ("source_queue", "deduplicate"),
}
_GROUP_OF = {key: group for group, keys in _GROUPS.items() for key in keys}
_HIGH = {"name", "connector", "max_tasks"}
_KAFKA_ALIASES = {"connector.class": "connector", "tasks.max": "max_tasks"}
_INT32_MAX = 2**31 - 1


# -- listing and finding --------------------------------------------------------------------------

def connector_plugins() -> list[tuple[str, type[Connector[Any]]]]:
    """Every connector that loads, by the name a config's ``connector`` takes."""
    found = []
    for name in plugin_names():
        try:
            found.append((name, load_connector_class(name)))
        except ConnectError:
            continue  # a registered plugin whose module is missing is not offered
    return found


def plugin_infos(connectors_only: bool = True) -> list[PluginInfo]:
    infos = [PluginInfo(class_=name, type=cls.kind, version=cls.version) for name, cls in connector_plugins()]
    if connectors_only:
        return infos
    from ..convert.config import ConverterConfig
    from ..transforms.registry import PREDICATES, TRANSFORMS

    infos += [PluginInfo(class_=name, type="transformation", version=__version__) for name in TRANSFORMS]
    infos += [PluginInfo(class_=name, type="predicate", version=__version__) for name in PREDICATES]
    for model in typing.get_args(typing.get_args(ConverterConfig)[0]):
        infos.append(PluginInfo(class_=model.model_fields["type"].default, type="converter", version=__version__))
    return infos


def _aliases(name: str, cls: type[Connector[Any]]) -> set[str]:
    simple = cls.__name__
    return {name, cls.plugin_name(), simple, simple.removesuffix("Connector"),
            f"{cls.__module__}.{cls.__qualname__}"}


def find_plugin(name: str) -> tuple[str, type[Connector[Any]]]:
    """A connector by short name, import path, class name or class name without 'Connector'
    (Kafka Connect's aliases). Raises NotFound."""
    for short, cls in connector_plugins():
        if name in _aliases(short, cls):
            return short, cls
    if ":" in name or "." in name:
        try:
            return name, load_connector_class(name)
        except ConnectError as exc:
            raise NotFound(f"Connector plugin {name!r} not found: {exc}") from None
    known = ", ".join(short for short, _ in connector_plugins())
    raise NotFound(f"Connector plugin {name!r} not found (plugins: {known}; or an import path "
                   "'package.module:Class')")


def kafka_aliases(config: Mapping[str, Any]) -> dict[str, Any]:
    """Kafka's ``connector.class`` / ``tasks.max`` as this project's ``connector`` / ``max_tasks``."""
    out = dict(config)
    for kafka, ours in _KAFKA_ALIASES.items():
        if kafka in out and ours not in out:
            out[ours] = out.pop(kafka)
    return out


# -- definitions ----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _schema(model: type[BaseModel]) -> dict[str, Any]:
    """A config model's JSON schema (built once per model; read only)."""
    return model.model_json_schema()


def config_definitions(short_name: str, cls: type[Connector[Any]]) -> list[ConfigKeyInfo]:
    model = cls.config_model
    schema = _schema(model)
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    own_group = short_name if ":" not in short_name else cls.__name__
    order: dict[str, int] = {}
    out = []
    for key, field in model.model_fields.items():
        prop = props.get(key, {})
        group = _GROUP_OF.get(key, own_group)
        order[group] = order.get(group, 0) + 1
        kind = _kafka_type(prop, field.annotation)
        is_required = key in required
        out.append(ConfigKeyInfo(
            name=key, type=kind, required=is_required,
            default_value=None if is_required else _json_text(field.get_default(call_default_factory=True)),
            importance="HIGH" if is_required or key in _HIGH else ("MEDIUM" if group == own_group else "LOW"),
            documentation=field.description or prop.get("description", ""),
            group=group, width=_width(kind), display_name=prop.get("title") or key.replace("_", " ").title(),
            dependents=[], order=order[group]))
    return out


def _kafka_type(prop: Mapping[str, Any], annotation: Any) -> str:
    if prop.get("format") == "secret-reference":
        return "PASSWORD"
    if "anyOf" in prop:
        others = [p for p in prop["anyOf"] if p.get("type") != "null"]
        if len(others) == 1:
            return _kafka_type(others[0], None)
        return "OBJECT"
    kind = prop.get("type")
    if kind == "string" or "enum" in prop or "const" in prop:
        return "STRING"
    if kind == "integer":
        top = prop.get("maximum")
        return "INT" if top is not None and top <= _INT32_MAX else "LONG"
    if kind == "number":
        return "DOUBLE"
    if kind == "boolean":
        return "BOOLEAN"
    if kind == "array":
        return "LIST"
    return "OBJECT"


def _width(kind: str) -> str:
    return {"STRING": "LONG", "PASSWORD": "MEDIUM", "LIST": "LONG", "OBJECT": "LONG"}.get(kind, "SHORT")


def _jsonable(value: Any) -> Any:
    return TypeAdapter(Any).dump_python(value, mode="json")


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(_jsonable(value), sort_keys=True, ensure_ascii=False)


def _recommended(prop: Mapping[str, Any], key: str) -> list[Any]:
    if key == "connector":
        return [name for name, _ in connector_plugins()]
    for candidate in [prop, *prop.get("anyOf", [])]:
        if "enum" in candidate:
            return list(candidate["enum"])
        if candidate.get("type") == "boolean":
            return [True, False]
    return []


# -- validation -----------------------------------------------------------------------------------

_TOP_KEY = re.compile(r"^([^.\[]*)")


def validate_plugin_config(path_type: str, raw: Any,
                           validate: Callable[[Mapping[str, Any]], Any] = validate_config) -> ConfigInfos:
    """Validate ``raw`` against plugin ``path_type`` (404 when unknown): every key of the plugin
    with its value and errors, plus any unknown key given. ``validate``: what creating it would
    check (the controller adds whether this stack can run it)."""
    if not isinstance(raw, Mapping):
        raise BadRequest("the request body must be a JSON object holding the connector config")
    short, cls = find_plugin(path_type)
    config = kafka_aliases(raw)
    given = config.get("connector")
    if given is None:
        config["connector"] = short
    elif not isinstance(given, str) or _resolves_to(given) is not cls:
        raise BadRequest(f"Included connector type {given!r} does not match request type {path_type!r}")

    errors: list[FieldError] = []
    try:
        validate(config)
    except ConfigError as exc:
        errors = exc.errors
    by_key: dict[str, list[str]] = {}
    for error in errors:
        # An error of the config as a whole (the connector's own validate()) goes with 'connector'.
        top = (_TOP_KEY.match(error.field).group(1) if error.field else "") or "connector"
        by_key.setdefault(top, []).append(error.message if error.field == top else str(error))

    definitions = config_definitions(short, cls)
    props = _schema(cls.config_model).get("properties", {})
    infos = []
    for definition in definitions:
        key = definition.name
        value = config[key] if key in config else (
            None if definition.default_value is None else json.loads(definition.default_value))
        infos.append(ConfigInfo(definition=definition, value=ConfigValueInfo(
            name=key, value=_jsonable(value), recommended_values=_recommended(props.get(key, {}), key),
            errors=by_key.pop(key, []), visible=True)))
    known = {d.name for d in definitions}
    for key in [*(k for k in config if k not in known), *(k for k in by_key if k not in config)]:
        infos.append(ConfigInfo(
            definition=ConfigKeyInfo(name=key, type="STRING", required=False, default_value=None, importance="LOW",
                                     documentation="Not an option of this connector.", group="Unknown",
                                     width="NONE", display_name=key, dependents=[], order=len(infos) + 1),
            value=ConfigValueInfo(name=key, value=_jsonable(config.get(key)), recommended_values=[],
                                  errors=by_key.pop(key, []), visible=True)))
    groups = list(dict.fromkeys(info.definition.group for info in infos))
    return ConfigInfos(name=short, error_count=sum(len(i.value.errors) for i in infos), groups=groups,
                       configs=infos)


def _resolves_to(name: str) -> type[Connector[Any]] | None:
    try:
        return find_plugin(name)[1]
    except NotFound:
        return None

