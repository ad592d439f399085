"""CloudFormation's template language: parameters, conditions and intrinsic functions.

``Evaluator.resolve(value)`` turns a template fragment into plain data, given the stack's
parameter values and what its resources answer to ``Ref`` and ``Fn::GetAtt``.
``references(value)`` finds the resources a fragment depends on.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any, Callable, Mapping

PSEUDO_PARAMETERS = ("AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
                     "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix")
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class TemplateEvaluationError(ValueError):
    """A template fragment cannot be evaluated (bad intrinsic, unknown reference, ...)."""


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


# --- parameters ------------------------------------------------------------------------------------

def resolve_parameters(declared: Mapping[str, Any], overrides: Mapping[str, Any] | None,
                       ssm_lookup: Callable[[str], str] | None = None) -> dict[str, Any]:
    """Parameter values from defaults and overrides, checked against the declared constraints.

    Values are strings (a ``Number`` parameter's ``Ref`` is a string in CloudFormation too);
    ``CommaDelimitedList`` and ``List<...>`` parameters are lists of strings.
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateEvaluationError(f"Parameters: {unknown} do not exist in the template")
    values: dict[str, Any] = {}
    missing = []
    for name, spec in declared.items():
        spec = spec or {}
        if name in overrides:
            raw = overrides[name]
        elif "Default" in spec:
            raw = spec["Default"]
        else:
            missing.append(name)
            continue
        values[name] = _check_parameter(name, spec, raw, ssm_lookup)
    if missing:
        raise TemplateEvaluationError(f"Parameters: {missing} must have values")
    return values


def _check_parameter(name: str, spec: Mapping[str, Any], raw: Any,
                     ssm_lookup: Callable[[str], str] | None) -> Any:
    kind = str(spec.get("Type", "String"))
    if kind.startswith("AWS::SSM::Parameter::Value<"):
        if ssm_lookup is None:
            raise TemplateEvaluationError(f"parameter {name}: SSM parameter types need SSM")
        raw = ssm_lookup(_text(raw))
        kind = kind[len("AWS::SSM::Parameter::Value<"):-1]
    is_list = kind == "CommaDelimitedList" or kind.startswith("List<")
    if is_list:
        items = raw if isinstance(raw, list) else [p.strip() for p in _text(raw).split(",")]
        value: Any = [_text(item) for item in items]
    else:
        value = _text(raw)
    for item in value if is_list else [value]:
        allowed = spec.get("AllowedValues")
        if allowed is not None and item not in [_text(a) for a in allowed]:
            raise TemplateEvaluationError(
                f"Parameter '{name}' must be one of AllowedValues {[_text(a) for a in allowed]}, "
                f"not {item!r}")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and kind == "String" and not re.fullmatch(pattern, item):
            raise TemplateEvaluationError(
                f"Parameter '{name}' must match pattern {pattern} ({item!r} does not)")
        if kind == "String":
            if "MinLength" in spec and len(item) < int(spec["MinLength"]):
                raise TemplateEvaluationError(f"Parameter '{name}' must contain at least "
                                              f"{spec['MinLength']} characters")
            if "MaxLength" in spec and len(item) > int(spec["MaxLength"]):
                raise TemplateEvaluationError(f"Parameter '{name}' must contain at most "
                                              f"{spec['MaxLength']} characters")
        if kind in ("Number", "List<Number>"):
            try:
                number = float(item)
            except ValueError:
                raise TemplateEvaluationError(f"Parameter '{name}' must be a number, not "
                                              f"{item!r}") from None
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise TemplateEvaluationError(f"Parameter '{name}' must be a number not less "
                                              f"than {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise TemplateEvaluationError(f"Parameter '{name}' must be a number not greater "
                                              f"than {spec['MaxValue']}")
    return value


def _text(value: Any) -> str:
    """A scalar as CloudFormation writes it in a string context."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- dependencies ----------------------------------------------------------------------------------

def references(value: Any) -> set[str]:
    """Logical names a fragment refers to through Ref, Fn::GetAtt and Fn::Sub (including
    parameters and pseudo parameters; the caller keeps the resources)."""
    found: set[str] = set()
    _collect(value, found)
    return found


def _collect(value: Any, found: set[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _collect(item, found)
        return
    if not isinstance(value, dict):
        return
    if len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref" and isinstance(arg, str):
            found.add(arg)
            return
        if key == "Fn::GetAtt":
            target = arg.split(".", 1)[0] if isinstance(arg, str) else (
                arg[0] if isinstance(arg, list) and arg and isinstance(arg[0], str) else None)
            if target:
                found.add(target)
            if isinstance(arg, list):
                _collect(arg[1:], found)
            return
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (
                (arg[0], arg[1] if len(arg) > 1 else {}) if isinstance(arg, list) else ("", {}))
            if isinstance(text, str):
                for name in sub_variables(text):
                    if name not in (variables or {}):
                        found.add(name.split(".", 1)[0])
            _collect(variables, found)
            return
    for item in value.values():
        _collect(item, found)


def sub_variables(text: str) -> list[str]:
    """The ``${...}`` names in a ``Fn::Sub`` string, without the ``${!literal}`` escapes."""
    return [name.strip() for name in _SUB_VARIABLE.findall(text) if not name.startswith("!")]


# --- evaluation ------------------------------------------------------------------------------------

RefResolver = Callable[[str], Any]
AttResolver = Callable[[str, str], Any]


class Evaluator:
    """Evaluates intrinsic functions.

    ``ref(name)`` answers ``Ref`` for resources; ``get_att(name, attribute)`` answers
    ``Fn::GetAtt``. Parameters, pseudo parameters, mappings and conditions come from the template.
    """

    def __init__(self, *, parameters: Mapping[str, Any], pseudo: Mapping[str, Any],
                 mappings: Mapping[str, Any] | None = None,
                 conditions: Mapping[str, Any] | None = None,
                 ref: RefResolver | None = None, get_att: AttResolver | None = None,
                 region: str = "us-east-1") -> None:
        self.parameters = dict(parameters)
        self.pseudo = dict(pseudo)
        self.mappings = dict(mappings or {})
        self._condition_specs = dict(conditions or {})
        self._conditions: dict[str, bool] = {}
        self._evaluating: set[str] = set()
        self._ref = ref
        self._get_att = get_att
        self.region = region

    # conditions

    def condition(self, name: str) -> bool:
        if name in self._conditions:
            return self._conditions[name]
        if name not in self._condition_specs:
            raise TemplateEvaluationError(f"Condition {name!r} is not defined in the template")
        if name in self._evaluating:
            raise TemplateEvaluationError(f"Condition {name!r} refers to itself")
        self._evaluating.add(name)
        try:
            value = self._condition_value(self._condition_specs[name])
        finally:
            self._evaluating.discard(name)
        self._conditions[name] = value
        return value

    def conditions(self) -> dict[str, bool]:
        return {name: self.condition(name) for name in self._condition_specs}

    def _condition_value(self, spec: Any) -> bool:
        if isinstance(spec, dict) and len(spec) == 1:
            (key, arg), = spec.items()
            if key == "Condition":
                return self.condition(arg)
            if key in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"):
                return bool(self.resolve(spec))
        if isinstance(spec, bool):
            return spec
        raise TemplateEvaluationError(f"a condition must be Fn::Equals/Not/And/Or or Condition, "
                                      f"not {spec!r}")

    # values

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function evaluated; ``AWS::NoValue`` entries dropped."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            handler = _FUNCTIONS.get(key)
            if handler is not None:
                return handler(self, arg)
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if self._ref is None:
            raise TemplateEvaluationError(f"Unresolved resource dependencies [{name}]")
        return self._ref(name)

    def get_att(self, name: str, attribute: str) -> Any:
        if self._get_att is None:
            raise TemplateEvaluationError(f"Unresolved resource dependencies [{name}]")
        return self._get_att(name, attribute)

    # the functions

    def _fn_ref(self, arg: Any) -> Any:
        if not isinstance(arg, str):
            raise TemplateEvaluationError(f"Ref takes a name, not {arg!r}")
        return self.ref(arg)

    def _fn_get_att(self, arg: Any) -> Any:
        if isinstance(arg, str):
            name, _, attribute = arg.partition(".")
        elif isinstance(arg, list) and len(arg) == 2:
            name, attribute = arg[0], self.resolve(arg[1])
        else:
            raise TemplateEvaluationError(f"Fn::GetAtt takes [resource, attribute], not {arg!r}")
        return self.get_att(name, str(attribute))

    def _fn_sub(self, arg: Any) -> str:
        if isinstance(arg, str):
            text, variables = arg, {}
        elif isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str):
            text, variables = arg[0], self.resolve(arg[1])
        else:
            raise TemplateEvaluationError(f"Fn::Sub takes a string or [string, variables], not "
                                          f"{arg!r}")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            name = name.strip()
            if name in variables:
                value = variables[name]
            elif "." in name and not name.startswith("AWS::"):
                resource, _, attribute = name.partition(".")
                value = self.get_att(resource, attribute)
            else:
                value = self.ref(name)
            if isinstance(value, (list, dict)) or value is NO_VALUE:
                raise TemplateEvaluationError(f"Fn::Sub: ${{{name}}} is not a string")
            return _text(value)

        return _SUB_VARIABLE.sub(replace, text)

    def _fn_join(self, arg: Any) -> str:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateEvaluationError(f"Fn::Join takes [delimiter, list], not {arg!r}")
        delimiter, items = arg[0], self.resolve(arg[1])
        if not isinstance(items, list):
            raise TemplateEvaluationError(f"Fn::Join: {items!r} is not a list")
        return str(delimiter).join(_text(item) for item in items)

    def _fn_select(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateEvaluationError(f"Fn::Select takes [index, list], not {arg!r}")
        index, items = int(self.resolve(arg[0])), self.resolve(arg[1])
        if not isinstance(items, list) or not 0 <= index < len(items):
            raise TemplateEvaluationError(f"Fn::Select: index {index} is outside {items!r}")
        return items[index]

    def _fn_split(self, arg: Any) -> list[str]:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateEvaluationError(f"Fn::Split takes [delimiter, string], not {arg!r}")
        return _text(self.resolve(arg[1])).split(str(arg[0]))

    def _fn_if(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str)):
            raise TemplateEvaluationError(f"Fn::If takes [condition, then, else], not {arg!r}")
        return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])

    def _fn_equals(self, arg: Any) -> bool:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateEvaluationError(f"Fn::Equals takes two values, not {arg!r}")
        left, right = (self.resolve(v) for v in arg)
        return _comparable(left) == _comparable(right)

    def _fn_not(self, arg: Any) -> bool:
        if not (isinstance(arg, list) and len(arg) == 1):
            raise TemplateEvaluationError(f"Fn::Not takes one condition, not {arg!r}")
        return not self._condition_value(arg[0])

    def _fn_and(self, arg: Any) -> bool:
        return all(self._condition_value(c) for c in self._conditions_list("Fn::And", arg))

    def _fn_or(self, arg: Any) -> bool:
        return any(self._condition_value(c) for c in self._conditions_list("Fn::Or", arg))

    @staticmethod
    def _conditions_list(name: str, arg: Any) -> list[Any]:
        if not (isinstance(arg, list) and 2 <= len(arg) <= 10):
            raise TemplateEvaluationError(f"{name} takes 2 to 10 conditions, not {arg!r}")
        return arg

    def _fn_find_in_map(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) in (3, 4)):
            raise TemplateEvaluationError(f"Fn::FindInMap takes [map, key, key], not {arg!r}")
        names = [_text(self.resolve(v)) for v in arg[:3]]
        try:
            return self.mappings[names[0]][names[1]][names[2]]
        except (KeyError, TypeError):
            if len(arg) == 4 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                return self.resolve(arg[3]["DefaultValue"])
            raise TemplateEvaluationError(f"Fn::FindInMap: no {names[1]}/{names[2]} in mapping "
                                          f"{names[0]}") from None

    def _fn_base64(self, arg: Any) -> str:
        return base64.b64encode(_text(self.resolve(arg)).encode("utf-8")).decode("ascii")

    def _fn_get_azs(self, arg: Any) -> list[str]:
        region = _text(self.resolve(arg)) or self.region
        return [f"{region}{zone}" for zone in "abc"]

    def _fn_to_json_string(self, arg: Any) -> str:
        return json.dumps(self.resolve(arg), separators=(",", ":"))

    def _fn_length(self, arg: Any) -> int:
        value = self.resolve(arg)
        if not isinstance(value, list):
            raise TemplateEvaluationError(f"Fn::Length: {value!r} is not a list")
        return len(value)

    def _fn_unsupported(self, name: str) -> Callable[[Any], Any]:
        def fail(arg: Any) -> Any:
            raise TemplateEvaluationError(f"{name} is not supported by the local runtime")
        return fail


def _comparable(value: Any) -> Any:
    if isinstance(value, (bool, int, float)):
        return _text(value)
    return value


_FUNCTIONS: dict[str, Callable[[Evaluator, Any], Any]] = {
    "Ref": Evaluator._fn_ref,
    "Fn::GetAtt": Evaluator._fn_get_att,
    "Fn::Sub": Evaluator._fn_sub,
    "Fn::Join": Evaluator._fn_join,
    "Fn::Select": Evaluator._fn_select,
    "Fn::Split": Evaluator._fn_split,
    "Fn::If": Evaluator._fn_if,
    "Fn::Equals": Evaluator._fn_equals,
    "Fn::Not": Evaluator._fn_not,
    "Fn::And": Evaluator._fn_and,
    "Fn::Or": Evaluator._fn_or,
    "Fn::FindInMap": Evaluator._fn_find_in_map,
    "Fn::Base64": Evaluator._fn_base64,
    "Fn::GetAZs": Evaluator._fn_get_azs,
    "Fn::ToJsonString": Evaluator._fn_to_json_string,
    "Fn::Length": Evaluator._fn_length,
}
for _name in ("Fn::ImportValue", "Fn::Cidr", "Fn::Transform"):
    _FUNCTIONS[_name] = (lambda name: lambda self, arg: self._fn_unsupported(name)(arg))(_name)

