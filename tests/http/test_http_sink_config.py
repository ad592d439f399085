"""http-sink config: every mistake is reported with its field and the reason, before anything runs."""

from __future__ import annotations

import pytest

from connect_core.config import validate_config
from connect_core.config.reference import pages
from connect_core.connectors.http import HttpSinkConfig, retry_after_seconds
from connect_core.errors import ConfigError

SM_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:webhook-AbCdEf#token"


def errors_of(**overrides) -> dict[str, list[str]]:
    raw = {"name": "hook", "connector": "http-sink", "url": "https://hooks.example.com/in", **overrides}
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    return info.value.as_dict()


def test_a_minimal_config_has_sensible_defaults():
    config = validate_config({"name": "hook", "connector": "http-sink", "url": "https://hooks.example.com/in"}).config

    assert isinstance(config, HttpSinkConfig)
    assert (config.method, config.body_format, config.batch_max_records) == ("POST", "value", 1)
    assert config.retry_on_status == ["408", "429", "5xx"]
    assert config.idempotency_key_header == "Idempotency-Key"
    assert config.auth_secret is None


def test_cloudformation_strings_and_lowercase_methods_are_accepted():
    config = validate_config({"name": "hook", "connector": "http-sink", "url": "http://10.0.0.5:8080/in",
                              "method": "put", "batch_max_records": "50", "retry_on_status": ["503", 429, "5XX"],
                              "auth_secret": SM_ARN}).config

    assert (config.method, config.batch_max_records) == ("PUT", 50)
    assert config.retry_on_status == ["503", "429", "5xx"]
    assert config.auth_secret.store == "secretsmanager" and config.auth_secret.json_key == "token"


@pytest.mark.parametrize(("url", "reason"), [
    ("ftp://hooks.example.com/in", "must start with http:// or https://"),
    ("https:///in", "has no host"),
    ("https://user:pw@hooks.example.com/in", "must not contain credentials"),
    ("https://hooks.example.com/in#frag", "must not contain a fragment"),
    ("https://${topic}.example.com/in", "placeholders are allowed in the path and query only"),
    ("https://hooks.example.com/${partition}", "unknown placeholder(s) ${partition}"),
    ("https://hooks.example.com:99999/in", "has an invalid port"),
    ("https://hooks.example.com/a b", "must not contain whitespace"),
])
def test_bad_urls_name_the_field_and_the_reason(url, reason):
    assert reason in " ".join(errors_of(url=url)["url"])


def test_a_literal_token_is_refused_as_auth_secret():
    [message] = errors_of(auth_secret="hunter2")["auth_secret"]

    assert "secret reference" in message and "literal secret values are not accepted" in message


def test_header_problems_are_all_reported():
    [message] = errors_of(headers={"Bad Name": "x", "Content-Length": "3", "X-Ok": "a\r\nInjected: 1"})["headers"]

    assert "'Bad Name' is not a valid header name" in message
    assert "'Content-Length' is set by the connection itself" in message
    assert "'X-Ok' must not contain line breaks" in message


def test_every_model_error_comes_at_once():
    errors = errors_of(url="ftp://x", method="GET", batch_max_records=0, retry_on_status=["429", "abc", 200],
                       body_format="xml", connect_timeout_ms=10, unknown_option=1)

    assert set(errors) == {"url", "method", "batch_max_records", "retry_on_status", "body_format",
                           "connect_timeout_ms", "unknown_option"}
    assert "'abc' is not a status code" in errors["retry_on_status"][0]
    assert "unknown option" in errors["unknown_option"][0]


def test_success_statuses_cannot_be_retried():
    assert "is a success status" in errors_of(retry_on_status=["204"])["retry_on_status"][0]


def test_cross_field_rules_name_the_field():
    assert "must be 1 with body_format 'raw'" in errors_of(body_format="raw", batch_max_records=10)["batch_max_records"][0]
    assert errors_of(auth_prefix="Bearer ") == {"auth_prefix": ["has no effect without auth_secret"]}
    assert errors_of(auth_secret=SM_ARN, headers={"authorization": "Bearer x"}) == {
        "headers.authorization": ["is already set by auth_header"]}
    assert errors_of(headers={"Idempotency-Key": "fixed"}) == {
        "headers.Idempotency-Key": ["is already set by idempotency_key_header"]}
    assert errors_of(auth_secret=SM_ARN, auth_header="X-Key", idempotency_key_header="x-key") == {
        "idempotency_key_header": ["must differ from auth_header"]}


def test_retry_after_is_read_as_seconds_or_as_an_http_date():
    now = lambda: 1_700_000_000.0  # noqa: E731 - 2023-11-14T22:13:20Z

    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Tue, 14 Nov 2023 22:13:50 GMT", now=now) == 30.0
    assert retry_after_seconds("Tue, 14 Nov 2023 22:00:00 GMT", now=now) == 0.0  # already past
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_the_reference_page_lists_the_options():
    page = pages()["http-sink.md"]

    for option in ("url", "method", "headers", "auth_secret", "body_format", "batch_max_records", "batch_max_bytes",
                   "retry_on_status", "idempotency_key_header", "read_timeout_ms"):
        assert f"| `{option}`" in page
    assert "| `max_tasks`" not in page
