"""Secrets in connector configs are references, never values.

A field typed :class:`SecretRef` accepts

* a Secrets Manager ARN ``arn:aws:secretsmanager:<region>:<account>:secret:<name>`` or
  ``secretsmanager:<name-or-arn>``;
* an SSM parameter: ``ssm:<name>``, a path name ``/connect/db/password`` or an SSM parameter ARN;

optionally followed by ``#<key>`` to pick one key out of a JSON secret (``...:secret:db#password``).
Anything else - in particular a literal password - fails validation. :meth:`SecretRef.resolve`
fetches the value at run time through Powertools' parameter providers (cached for ``max_age``
seconds across warm invocations) and returns a :class:`pydantic.SecretStr`, whose ``str`` and
``repr`` are masked, so the value never reaches a log line or an API response by accident.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any, Literal

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, SecretStr
from pydantic_core import PydanticCustomError, core_schema

_SM_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$")
_SSM_ARN = re.compile(r"^arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter/[\w/.-]+$")
_SSM_NAME = re.compile(r"^/?[\w.-]+(/[\w.-]+)*$")
_SM_NAME = re.compile(r"^[\w/+=.@-]{1,512}$")

DEFAULT_MAX_AGE_S = 300
_providers: dict[str, Any] = {}
_providers_lock = threading.Lock()

PATTERN_HELP = ("a secret reference: a Secrets Manager ARN or 'secretsmanager:<name>', or an SSM "
                "parameter ('ssm:<name>', '/path/to/name' or its ARN), optionally with '#<json key>'; "
                "literal secret values are not accepted in connector configs")


class SecretRef(str):
    """A validated reference to a secret; safe to log, store and return."""

    store: Literal["secretsmanager", "ssm"]
    secret_id: str
    json_key: str | None

    def __new__(cls, value: str) -> "SecretRef":
        store, secret_id, json_key = _parse(value)
        self = super().__new__(cls, value)
        self.store, self.secret_id, self.json_key = store, secret_id, json_key
        return self

    def resolve(self, max_age: int = DEFAULT_MAX_AGE_S, force: bool = False) -> SecretStr:
        """The secret's value; cached per process for ``max_age`` seconds unless ``force``."""
        provider = _provider(self.store)
        if self.store == "ssm":
            raw = provider.get(self.secret_id, max_age=max_age, decrypt=True, force_fetch=force)
        else:
            raw = provider.get(self.secret_id, max_age=max_age, force_fetch=force)
        if isinstance(raw, bytes):
            raw = raw.decode()
        if self.json_key is not None:
            try:
                raw = json.loads(raw)[self.json_key]
            except (ValueError, KeyError, TypeError) as exc:
                # Name the reference and the key, never the content.
                raise ValueError(f"secret {self.secret_id!r} is not a JSON object with key "
                                 f"{self.json_key!r}") from exc
        return SecretStr(str(raw))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def validate(value: str) -> SecretRef:
            try:
                return cls(value)
            except ValueError:
                raise PydanticCustomError("secret_reference", "must be " + PATTERN_HELP) from None

        return core_schema.no_info_after_validator_function(
            validate, core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str))

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> dict:
        out = handler(schema)
        out.update(format="secret-reference", description="A " + PATTERN_HELP + ".")
        return out


def _parse(value: str) -> tuple[Literal["secretsmanager", "ssm"], str, str | None]:
    ref, _, json_key = value.partition("#")
    key = json_key or None
    if _SM_ARN.match(ref):
        return "secretsmanager", ref, key
    if ref.startswith("secretsmanager:"):
        name = ref[len("secretsmanager:"):]
        if _SM_ARN.match(name) or _SM_NAME.match(name):
            return "secretsmanager", name, key
    elif ref.startswith("ssm:"):
        name = ref[len("ssm:"):]
        if _SSM_NAME.match(name) or _SSM_ARN.match(name):
            return "ssm", name, key
    elif _SSM_ARN.match(ref):
        return "ssm", ref, key
    elif ref.startswith("/") and _SSM_NAME.match(ref):
        return "ssm", ref, key
    raise ValueError("not " + PATTERN_HELP)


def _provider(store: str) -> Any:
    provider = _providers.get(store)
    if provider is None:
        with _providers_lock:
            provider = _providers.get(store)
            if provider is None:
                from aws_lambda_powertools.utilities import parameters

                from ..aws import client

                if store == "ssm":
                    provider = parameters.SSMProvider(boto3_client=client("ssm"))
                else:
                    provider = parameters.SecretsProvider(boto3_client=client("secretsmanager"))
                _providers[store] = provider
    return provider


def clear_cache() -> None:
    """Drop cached providers and values (after an endpoint change, or to force re-reads)."""
    with _providers_lock:
        _providers.clear()
