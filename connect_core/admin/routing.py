"""Requests, responses and the route type: the transport-independent half of the HTTP layer.

The Lambda handler (API Gateway payload 2.0) and the local HTTP server both turn what they receive
into a :class:`Request` and send back the :class:`Response` that ``AdminApi.handle`` returns.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import BadRequest, UnsupportedMediaType, Unprocessable

M = TypeVar("M", bound=BaseModel)

JSON = "application/json"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    body: bytes
    headers: Mapping[str, str]
    params: Mapping[str, str] = field(default_factory=dict)
    #: Time left for the request (the Lambda's remaining time); None = no limit of its own.
    remaining_ms: Callable[[], int] | None = None

    def values(self, name: str) -> list[str]:
        return list(self.query.get(name, []))

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean query parameter, ``true``/``false`` as Kafka Connect spells them."""
        values = self.values(name)
        if not values:
            return default
        value = values[-1].strip().lower()
        if value in ("true", "false"):
            return value == "true"
        raise BadRequest(f"query parameter {name!r} must be true or false, not {values[-1]!r}")

    def json(self) -> Any:
        content_type = self.headers.get("content-type", JSON).split(";")[0].strip().lower()
        if content_type and content_type != JSON and not content_type.endswith("+json"):
            raise UnsupportedMediaType(f"the request body must be {JSON}, not {content_type}")
        if not self.body.strip():
            raise BadRequest("the request needs a JSON body")
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequest(f"the request body is not valid JSON: {exc}") from None

    def body_as(self, model: type[M]) -> M:
        """The JSON body as ``model``; a body of the wrong shape is a 422 naming each field."""
        raw = self.json()
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            errors: dict[str, list[str]] = {}
            for err in exc.errors(include_url=False):
                where = ".".join(str(part) for part in err["loc"])
                errors.setdefault(where, []).append(err["msg"])
            listed = "; ".join(f"{k or 'body'}: {', '.join(v)}" for k, v in errors.items())
            raise Unprocessable(f"the request body does not fit {model.__name__}: {listed}",
                                errors=errors) from None


@dataclass
class Response:
    status: int
    json_body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def has_body(self) -> bool:
        return self.json_body is not None and self.status not in (204, 304)

    def body_bytes(self) -> bytes:
        if not self.has_body:
            return b""
        return json.dumps(self.json_body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def all_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.has_body:
            headers.setdefault("Content-Type", JSON)
        return headers


@dataclass(frozen=True)
class QueryParam:
    name: str
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class Route:
    """One operation: the dispatch table and the OpenAPI document are both built from these."""

    method: str
    path: str
    operation: str
    summary: str
    responses: Mapping[int, tuple[str, Any]]
    request: Any = None
    request_description: str = ""
    query: tuple[QueryParam, ...] = ()
    description: str = ""

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compile(self.path)

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)


_compiled: dict[str, re.Pattern[str]] = {}


def _compile(template: str) -> re.Pattern[str]:
    pattern = _compiled.get(template)
    if pattern is None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        pattern = _compiled[template] = re.compile(regex)
    return pattern


def parse_query(raw: str | None) -> dict[str, list[str]]:
    """A raw query string as every value of every parameter (``expand=status&expand=info``)."""
    return urllib.parse.parse_qs(raw or "", keep_blank_values=True)


def normalise_path(path: str) -> str:
    """The path without a trailing slash (``/connectors/`` is ``/connectors``)."""
    path = "/" + path.lstrip("/")
    return path.rstrip("/") or "/"
