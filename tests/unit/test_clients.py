"""One client factory for real AWS, LocalStack and the embedded endpoint."""

import pytest

from connect_core.aws import client, endpoint_url, reset_clients


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "LOCALSTACK_HOST", "USE_SSL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    reset_clients()
    yield
    reset_clients()


def test_real_aws_when_nothing_is_set():
    assert endpoint_url("dynamodb") is None
    assert client("dynamodb", "eu-west-1").meta.endpoint_url == "https://dynamodb.eu-west-1.amazonaws.com"


def test_aws_endpoint_url_applies_to_every_service(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4599")
    assert endpoint_url("dynamodb") == endpoint_url("sqs") == "http://127.0.0.1:4599"
    assert client("sqs").meta.endpoint_url == "http://127.0.0.1:4599"


def test_service_specific_endpoint_wins(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4599")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9324")
    assert endpoint_url("sqs") == "http://127.0.0.1:9324"
    assert endpoint_url("s3") == "http://127.0.0.1:4599"


def test_localstack_host_convention(monkeypatch):
    monkeypatch.setenv("LOCALSTACK_HOST", "localhost.localstack.cloud:4566")
    assert endpoint_url("stepfunctions") == "http://localhost.localstack.cloud:4566"


def test_clients_are_cached_until_reset(monkeypatch):
    first = client("dynamodb")
    assert client("dynamodb") is first
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4599")
    assert client("dynamodb") is not first  # a new endpoint is a new client
    reset_clients()
    assert client("dynamodb").meta.endpoint_url == "http://127.0.0.1:4599"
