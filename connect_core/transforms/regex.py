"""Regular expressions in transform options.

Configs written for Kafka Connect or RocketMQ Connect use Java's syntax, so both spellings work:
named groups ``(?<name>...)`` as well as ``(?P<name>...)``, and in replacements ``$1``/``${name}``
as well as ``\\1``/``\\g<name>``.
"""

from __future__ import annotations

import re

_JAVA_NAMED_GROUP = re.compile(r"(?<!\\)\(\?<(?=[A-Za-z])")  # (?<name> but not (?<= or (?<!
_JAVA_BACKREFERENCE = re.compile(r"\\k<([A-Za-z][A-Za-z0-9_]*)>")


def python_pattern(pattern: str) -> str:
    """``pattern`` with Java's named groups and named back-references spelled the Python way."""
    if "(?<" in pattern:
        pattern = _JAVA_NAMED_GROUP.sub("(?P<", pattern)
    if "\\k<" in pattern:
        pattern = _JAVA_BACKREFERENCE.sub(r"(?P=\1)", pattern)
    return pattern


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The compiled ``pattern``; ValueError (a config error) when it is not a valid regex."""
    try:
        return re.compile(python_pattern(pattern))
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None


def check_pattern(pattern: str) -> str:
    """A pydantic field validator body: the option is kept as written once it compiles."""
    compile_pattern(pattern)
    return pattern


class Replacement:
    """A replacement string with group references, parsed once and checked against its pattern.

    ``$n``, ``${name}``, ``\\n`` and ``\\g<name>`` insert a group (an unmatched group inserts
    nothing); ``\\`` escapes the next character, so ``\\$`` is a literal ``$``.
    """

    __slots__ = ("template", "_parts", "_literal")

    def __init__(self, template: str, pattern: re.Pattern[str]) -> None:
        self.template = template
        parts: list[str | tuple[int | str]] = []
        text: list[str] = []
        i, n = 0, len(template)
        while i < n:
            char = template[i]
            if char == "\\":
                if i + 1 == n:
                    raise ValueError("the replacement ends with a lone '\\'")
                following = template[i + 1]
                if following.isdigit():
                    end = i + 2
                    if end < n and template[end].isdigit():
                        end += 1  # Python reads up to two digits: \10 is group 10
                    ref: int | str = int(template[i + 1:end])
                    i = end
                elif following == "g" and template.startswith("<", i + 2):
                    ref, i = _braced(template, i + 3, ">", "\\g<")
                else:
                    text.append(following)
                    i += 2
                    continue
            elif char == "$":
                if template.startswith("{", i + 1):
                    ref, i = _braced(template, i + 2, "}", "${")
                elif i + 1 < n and template[i + 1].isdigit():
                    # Java reads digits while they still name an existing group: $12 is group 1
                    # then "2" when the pattern has fewer than 12 groups.
                    number, i = int(template[i + 1]), i + 2
                    while i < n and template[i].isdigit() and number * 10 + int(template[i]) <= pattern.groups:
                        number, i = number * 10 + int(template[i]), i + 1
                    ref = number
                else:
                    raise ValueError("a '$' in the replacement must start a group reference ($1 or ${name}); "
                                     "write \\$ for a literal '$'")
            else:
                text.append(char)
                i += 1
                continue
            _check_group(ref, pattern)
            if text:
                parts.append("".join(text))
                text = []
            parts.append((ref,))
        if text:
            parts.append("".join(text))
        self._parts = tuple(parts)
        self._literal = "".join(parts) if all(p.__class__ is str for p in parts) else None  # type: ignore[arg-type]

    def expand(self, match: re.Match[str]) -> str:
        if self._literal is not None:
            return self._literal
        group = match.group
        return "".join([p if p.__class__ is str else (group(p[0]) or "") for p in self._parts])  # type: ignore[index]

    def __repr__(self) -> str:
        return f"Replacement({self.template!r})"


def _braced(template: str, start: int, close: str, opener: str) -> tuple[int | str, int]:
    end = template.find(close, start)
    if end < 0:
        raise ValueError(f"unterminated {opener} group reference in the replacement")
    name = template[start:end]
    if not name:
        raise ValueError(f"empty {opener}{close} group reference in the replacement")
    return (int(name) if name.isdigit() else name), end + 1


def _check_group(ref: int | str, pattern: re.Pattern[str]) -> None:
    if isinstance(ref, int):
        if ref > pattern.groups:
            raise ValueError(f"the replacement refers to group {ref}, but the pattern has "
                             f"{pattern.groups} group{'s' if pattern.groups != 1 else ''}")
    elif ref not in pattern.groupindex:
        raise ValueError(f"the replacement refers to group {ref!r}, which the pattern does not define")
