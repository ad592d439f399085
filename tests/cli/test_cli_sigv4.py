"""SigV4: when connectctl signs, and that what reaches the server verifies.

The verifier below recomputes the signature from the request as the stub server received it,
with the standard library only (the SigV4 algorithm as AWS documents it), so a header or query that
was signed one way and sent another fails here as it would fail at API Gateway.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

import pytest

from cli_helpers import Received, run_cli
from connect_core.cli.sigv4 import SigningError, SigningTarget, aws_host_target, signing_target

ACCESS_KEY, SECRET_KEY, TOKEN = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-1"


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Credentials from the environment only: no profile or config file of the machine leaks in."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def verify(request: Received, secret: str) -> dict[str, str]:
    """Check the request's SigV4 signature; the parts of its credential scope."""
    algorithm, _, fields = request.headers["authorization"].partition(" ")
    assert algorithm == "AWS4-HMAC-SHA256"
    parts = dict(item.strip().split("=", 1) for item in fields.split(","))
    access_key, date, region, service, terminator = parts["Credential"].split("/")
    signed = parts["SignedHeaders"].split(";")
    assert {"host", "x-amz-date"} <= set(signed)
    canonical_headers = "".join(f"{name}:{' '.join(request.headers[name].split())}\n" for name in signed)
    canonical_query = "&".join(sorted(pair for pair in request.query.split("&") if pair))
    canonical_request = "\n".join([
        request.method, quote(request.path, safe="/~"), canonical_query, canonical_headers,
        ";".join(signed), hashlib.sha256(request.body).hexdigest()])
    scope = f"{date}/{region}/{service}/{terminator}"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", request.headers["x-amz-date"], scope,
                         hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = _hmac(("AWS4" + secret).encode(), date)
    for step in (region, service, terminator):
        key = _hmac(key, step)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    assert parts["Signature"] == expected, "signature does not verify"
    return {"access_key": access_key, "region": region, "service": service}


def test_signed_requests_verify_with_query_and_body(stub_api, credentials, tmp_path):
    stub_api.on("POST", "/connectors/orders/restart", 204)
    stub_api.on("PATCH", "/connectors/orders/offsets", 200, {"message": "ok"})
    base = ["--url", stub_api.url, "--sigv4", "--region", "eu-west-1"]

    restart = run_cli(*base, "connectors", "restart", "orders", "--include-tasks")
    alter = run_cli(*base, "offsets", "alter", "orders", "--partition", '{"shard": 0}', "--offset", '{"n": 1}')

    assert (restart.code, alter.code) == (0, 0), restart.err + alter.err
    restart_request, alter_request = stub_api.received
    assert restart_request.query == "includeTasks=true&onlyFailed=false"
    assert alter_request.body
    for request in (restart_request, alter_request):
        assert verify(request, SECRET_KEY) == {"access_key": ACCESS_KEY, "region": "eu-west-1",
                                               "service": "execute-api"}
        assert request.headers["x-amz-security-token"] == TOKEN


def test_a_tampered_body_does_not_verify(stub_api, credentials, monkeypatch):
    stub_api.on("PUT", "/connectors/orders/config", 200, {"name": "orders", "config": {}, "tasks": [], "type": "sink"})
    run_cli("--url", stub_api.url, "--sigv4", "--region", "eu-west-1", "connectors", "update", "orders",
            "-f", "-", stdin='{"connector": "file-sink"}', monkeypatch=monkeypatch)
    request = stub_api.last
    verify(request, SECRET_KEY)
    request.body = request.body.replace(b"file-sink", b"evil-sink")
    with pytest.raises(AssertionError, match="does not verify"):
        verify(request, SECRET_KEY)


def test_signing_is_switched_on_by_the_environment(stub_api, credentials, monkeypatch):
    stub_api.on("GET", "/connector-plugins", body=[])
    monkeypatch.setenv("CONNECTCTL_SIGV4", "1")
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    assert run_cli("--url", stub_api.url, "plugins").code == 0
    assert verify(stub_api.last, SECRET_KEY)["region"] == "ap-southeast-2"


def test_plain_http_to_the_local_api_is_not_signed(stub_api, credentials):
    stub_api.on("GET", "/connector-plugins", body=[])
    assert run_cli("--url", stub_api.url, "plugins").code == 0
    assert "authorization" not in stub_api.last.headers


def test_no_credentials_is_reported_and_nothing_is_sent(stub_api, credentials, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    # no instance metadata service here: make the chain's last step fail at once
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = run_cli("--url", stub_api.url, "--sigv4", "--region", "eu-west-1", "plugins")
    assert result.code == 1
    assert "no AWS credentials found" in result.err
    assert stub_api.received == []


def test_no_region_is_reported(stub_api, credentials):
    result = run_cli("--url", stub_api.url, "--sigv4", "plugins")
    assert result.code == 1 and "no AWS region" in result.err


@pytest.mark.parametrize(("url", "target"), [
    ("https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/prod", SigningTarget("execute-api", "eu-central-1")),
    ("https://a1b2c3d4e5.execute-api.cn-north-1.amazonaws.com.cn", SigningTarget("execute-api", "cn-north-1")),
    ("https://abcdefghijklmnop.lambda-url.us-west-2.on.aws/", SigningTarget("lambda", "us-west-2")),
    ("http://127.0.0.1:8083", None),
    ("https://connect.example.com", None),
])
def test_aws_hosts_are_recognised(url, target):
    assert aws_host_target(url) == target


def test_aws_hosts_are_signed_without_being_asked_and_region_can_be_overridden(credentials):
    url = "https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/prod"
    assert signing_target(url, force=False, region=None) == SigningTarget("execute-api", "eu-central-1")
    assert signing_target(url, force=False, region="us-east-1") == SigningTarget("execute-api", "us-east-1")
    assert signing_target("https://connect.example.com", force=False, region=None) is None
    assert signing_target("https://connect.example.com", force=True, region="eu-west-1") == \
        SigningTarget("execute-api", "eu-west-1")
    with pytest.raises(SigningError, match="no AWS region"):
        signing_target("https://connect.example.com", force=True, region=None)
