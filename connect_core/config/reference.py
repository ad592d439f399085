"""Generate the configuration reference (Markdown) from the config models themselves.

    python -m connect_core.config.reference docs/reference

writes one page per built-in connector plus ``transforms.md`` and ``converters.md``. The test
suite regenerates them and fails when the committed pages are out of date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..registry import BUILTIN_CONNECTORS, load_connector_class
from .base import ConnectorConfig

_COMMON = set(ConnectorConfig.model_fields)


def _type_of(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return "object (below)" if name == "ErrorsConfig" else name
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    if "anyOf" in prop:
        return " or ".join(_type_of(p, defs) for p in prop["anyOf"])
    if "oneOf" in prop:
        names = [_type_of(p, defs) for p in prop["oneOf"]]
        if all(n.endswith("ConverterConfig") for n in names):
            return "converter ([converters.md](converters.md))"
        if all(n.endswith("Config") for n in names):
            return "transform or predicate ([transforms.md](transforms.md))"
        return "one of " + ", ".join(names)
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type_of(prop.get('items', {}), defs)}"
    if kind == "object" and "additionalProperties" in prop and isinstance(prop["additionalProperties"], dict):
        return f"map of {_type_of(prop['additionalProperties'], defs)}"
    if prop.get("format") == "secret-reference":
        return "secret reference"
    return str(kind)


def _limits(prop: dict[str, Any]) -> str:
    parts = []
    for key, text in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"),
                      ("minLength", "length ≥"), ("maxLength", "length ≤"), ("pattern", "matches")):
        if key in prop:
            parts.append(f"{text} `{prop[key]}`")
    return ", ".join(parts)


def fields_table(model: type[BaseModel], skip: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    rows = ["| option | type | default | description |", "|---|---|---|---|"]
    for name, prop in schema.get("properties", {}).items():
        if name in skip or name == "type":
            continue
        default = "required" if name in required else (
            f"`{json.dumps(prop['default'])}`" if "default" in prop else "")
        description = " ".join(filter(None, [prop.get("description", ""), _limits(prop)])).replace("|", "\\|")
        rows.append(f"| `{name}` | {_type_of(prop, defs)} | {default} | {description} |")
    return "\n".join(rows) if len(rows) > 2 else "_No options of its own._"


def connector_page(short_name: str) -> str:
    cls = load_connector_class(short_name)
    model = cls.config_model
    doc = (model.__doc__ or "").strip() if model.__doc__ != ConnectorConfig.__doc__ else ""
    lines = [f"# `{short_name}` ({cls.kind} connector)", "", cls.description or doc, "",
             f"Class: `{cls.plugin_name()}`", "", "## Options", "",
             "The common options (`name`, `connector`, `max_tasks`, converters, `transforms`, `predicates`, "
             "`errors`) are described in [common.md](common.md).", "", fields_table(model, _COMMON), ""]
    return "\n".join(lines)


def common_page() -> str:
    from .base import ErrorsConfig

    return "\n".join([
        "# Common connector options", "",
        "Every connector config has these keys; unknown keys are rejected.", "",
        fields_table(ConnectorConfig), "",
        "## `errors`", "", fields_table(ErrorsConfig), "",
        "Converters are described in [converters.md](converters.md), transforms and predicates in "
        "[transforms.md](transforms.md).", ""])


def transforms_page() -> str:
    from ..transforms import PREDICATES, TRANSFORMS

    lines = ["# Transforms and predicates", "",
             "Transforms run in the order listed under `transforms`. Each takes `predicate` (the name of an "
             "entry under `predicates`) and `negate`; transforms with a `target` work on the record's "
             "`key` or `value` (`type: InsertField$Key` is accepted for `type: InsertField, target: key`).", ""]
    for title, registry in (("Transforms", TRANSFORMS), ("Predicates", PREDICATES)):
        lines += [f"## {title}", ""]
        for name, (model, _impl) in registry.items():
            doc = " ".join((model.__doc__ or "").split())
            lines += [f"### `{name}`", "", doc, "", fields_table(model, {"predicate", "negate"}), ""]
    return "\n".join(lines)


def converters_page() -> str:
    from ..convert import BytesConverterConfig, JsonConverterConfig, StringConverterConfig

    lines = ["# Converters", "", "`key_converter` and `value_converter` pick one by `type`.", ""]
    for model in (JsonConverterConfig, StringConverterConfig, BytesConverterConfig):
        name = model.model_fields["type"].default
        doc = " ".join((model.__doc__ or "").split())
        lines += [f"## `{name}`", "", doc, "", fields_table(model), ""]
    return "\n".join(lines)


def pages() -> dict[str, str]:
    out = {"common.md": common_page(), "transforms.md": transforms_page(), "converters.md": converters_page()}
    for short_name in sorted(BUILTIN_CONNECTORS):
        out[f"{short_name}.md"] = connector_page(short_name)
    index = ["# Configuration reference", "", "Generated from the config models "
             "(`python -m connect_core.config.reference docs/reference`); do not edit by hand.", "",
             "- [Common options](common.md)", "- [Converters](converters.md)",
             "- [Transforms and predicates](transforms.md)", ""]
    index += [f"- [`{n}`]({n}.md)" for n in sorted(BUILTIN_CONNECTORS)] + [""]
    out["README.md"] = "\n".join(index)
    return out


def main(argv: list[str]) -> int:
    target = Path(argv[0] if argv else "docs/reference")
    target.mkdir(parents=True, exist_ok=True)
    for name, text in pages().items():
        (target / name).write_text(text)
    print(f"wrote {len(pages())} pages to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
