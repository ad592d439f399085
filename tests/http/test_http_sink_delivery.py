"""What the server receives: bodies, batching, headers, the auth secret, idempotency keys, connections."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import ssl
import uuid

import pytest

from connect_core import aws
from http_support import Reply, Webhook, config, order

pytestmark = pytest.mark.integration


def test_each_record_is_posted_as_its_json_value_over_one_kept_alive_connection(webhook, make_sink):
    sink = make_sink(config(webhook))

    result = sink.deliver([order(1, qty=2), order(2, qty=5), order(3, qty=1)])

    assert (result.written, result.failed_ids) == (3, [])
    assert [(r.method, r.path, r.json) for r in webhook.requests] == [
        ("POST", "/hooks/orders", {"order": n, "qty": q}) for n, q in ((1, 2), (2, 5), (3, 1))]
    assert all(r.headers["Content-Type"] == "application/json" for r in webhook.requests)
    assert len(webhook.connections) == 1  # warm: one connection for every request


def test_a_warm_task_keeps_its_connection_across_invocations(webhook, make_sink):
    sink = make_sink(config(webhook))

    sink.deliver([order(1)])
    sink.deliver([order(2)])

    assert len(webhook.requests) == 2 and len(webhook.connections) == 1


def test_idempotency_keys_follow_the_source_position_not_the_delivery(webhook, make_sink):
    sink = make_sink(config(webhook))

    sink.deliver([order(1), order(2)])
    sink.deliver([order(1)])  # redelivered (same partition and offset)
    other = make_sink(config(webhook, name="another-hook"))
    other.deliver([order(1)])

    keys = [r.headers["Idempotency-Key"] for r in webhook.requests]
    assert keys[0] == keys[2] != keys[1]
    assert keys[3] not in keys[:3]  # scoped by connector
    assert all(uuid.UUID(k) for k in keys)


def test_records_without_a_source_position_get_no_idempotency_key(webhook, make_sink):
    plain = order(1)
    plain.partition, plain.offset = {}, {}

    make_sink(config(webhook)).deliver([plain])

    assert webhook.requests[0].headers["Idempotency-Key"] is None


def test_static_headers_and_the_auth_header_from_secrets_manager(webhook, make_sink, token_secret):
    sink = make_sink(config(webhook, auth_secret=token_secret["ref"], auth_prefix="Bearer ",
                            headers={"X-Source": "rocketmq", "Content-Type": "application/vnd.orders+json"}))

    sink.deliver([order(1)])

    [received] = webhook.requests
    assert received.headers["Authorization"] == f"Bearer {token_secret['token']}"
    assert received.headers["X-Source"] == "rocketmq"
    assert received.headers["Content-Type"] == "application/vnd.orders+json"
    assert received.headers["User-Agent"].startswith("rocketmq-connect-serverless")


def test_the_auth_header_from_an_ssm_secure_string(webhook, make_sink, fresh_secrets):
    name = f"/connect/{uuid.uuid4().hex[:8]}/api-key"
    aws.client("ssm").put_parameter(Name=name, Value="k-123", Type="SecureString")

    make_sink(config(webhook, auth_secret=name, auth_header="X-Api-Key")).deliver([order(1)])

    assert webhook.requests[0].headers["X-Api-Key"] == "k-123"
    assert webhook.requests[0].headers["Authorization"] is None


def test_json_arrays_of_at_most_batch_max_records(webhook, make_sink):
    sink = make_sink(config(webhook, batch_max_records=2))

    result = sink.deliver([order(n) for n in range(1, 6)])

    assert result.written == 5
    assert [[item["order"] for item in r.json] for r in webhook.requests] == [[1, 2], [3, 4], [5]]
    keys = [r.headers["Idempotency-Key"] for r in webhook.requests]
    assert len(set(keys)) == 3


def test_json_arrays_stay_under_batch_max_bytes(webhook, make_sink):
    pad = "x" * 400  # each item is ~420 bytes
    sink = make_sink(config(webhook, batch_max_records=100, batch_max_bytes=1024))

    sink.deliver([order(n, pad=pad) for n in range(5)])

    assert [len(r.json) for r in webhook.requests] == [2, 2, 1]
    assert all(len(r.body) <= 1024 for r in webhook.requests)


def test_a_record_larger_than_batch_max_bytes_is_sent_alone(webhook, make_sink):
    sink = make_sink(config(webhook, batch_max_records=10, batch_max_bytes=1024))

    sink.deliver([order(1), order(2, pad="y" * 2000), order(3)])

    assert [[item["order"] for item in r.json] for r in webhook.requests] == [[1], [2], [3]]


def test_the_record_format_carries_topic_key_headers_position_and_id(webhook, make_sink):
    sink = make_sink(config(webhook, body_format="record", batch_max_records=10))

    sink.deliver([order(1, qty=2), order(2)])

    [received] = webhook.requests
    first = received.json[0]
    assert first == {"id": first["id"], "topic": "orders", "key": "order-1", "value": {"order": 1, "qty": 2},
                     "headers": {"x-trace": "t1"}, "partition": {"shop": "eu", "queue": 0}, "offset": {"seq": 1},
                     "timestamp": 1_700_000_000_001}
    # each element names the idempotency key it would have alone, so receivers of arrays can dedupe
    single = make_sink(config(webhook, name="orders-hook"))
    single.deliver([order(1)])
    assert webhook.requests[-1].headers["Idempotency-Key"] == first["id"]


def test_raw_bodies_are_the_value_bytes(webhook, make_sink):
    sink = make_sink(config(webhook, body_format="raw", value_converter={"type": "bytes"},
                            headers={"Content-Type": "text/csv"}))
    message = order(1)
    message.value = b"id,qty\n1,2\n\xff"

    sink.deliver([message])

    assert webhook.requests[0].body == b"id,qty\n1,2\n\xff"
    assert webhook.requests[0].headers["Content-Type"] == "text/csv"


def test_bytes_inside_json_are_base64(webhook, make_sink):
    sink = make_sink(config(webhook, value_converter={"type": "bytes"}))
    message = order(1)
    message.value = b"\x00\x01binary"

    sink.deliver([message])

    assert base64.b64decode(webhook.requests[0].json) == b"\x00\x01binary"


def test_put_to_a_url_per_key_and_topic(webhook, make_sink):
    sink = make_sink(config(webhook, method="PUT", url=f"{webhook.url}/items/${{key}}?source=${{topic}}",
                            batch_max_records=10))
    odd = order(3)
    odd.key = b"a/b c"

    result = sink.deliver([order(1), order(1), odd])

    assert result.written == 3
    assert [(r.method, r.path, len(r.json)) for r in webhook.requests] == [
        ("PUT", "/items/order-1?source=orders", 2), ("PUT", "/items/a%2Fb%20c?source=orders", 1)]


# -- https ------------------------------------------------------------------------------------------

@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for 127.0.0.1 (a private CA, as far as the client is concerned)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webhook.test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_webhook(certificate):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server = Webhook(tls=context)
    try:
        yield server
    finally:
        server.stop()


def test_https_with_a_private_ca_bundle(tls_webhook, certificate, make_sink):
    sink = make_sink(config(tls_webhook, ca_bundle=str(certificate[0])))

    result = sink.deliver([order(1), order(2)])

    assert result.written == 2 and len(tls_webhook.requests) == 2 and len(tls_webhook.connections) == 1


def test_an_untrusted_certificate_fails_without_retrying(tls_webhook, make_sink, virtual_time):
    sink = make_sink(config(tls_webhook, errors={"retry_timeout_ms": 30_000}))

    result = sink.deliver([order(1), order(2)])

    assert result.written == 0 and tls_webhook.requests == [] and virtual_time.sleeps == []
    assert result.failures["m1"].error_type == "HttpTlsError"
    assert "set ca_bundle" in result.failures["m1"].error_message
    assert result.failures["m2"].error_type == "HttpNotSentError"


def test_a_missing_ca_bundle_stops_the_task_from_starting(tls_webhook, make_sink, tmp_path):
    from connect_core.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        make_sink(config(tls_webhook, ca_bundle=str(tmp_path / "nope.pem")))
    assert "ca_bundle" in info.value.as_dict()


def test_responses_are_read_whole_so_the_connection_can_be_reused(webhook, make_sink):
    webhook.responder = lambda request: Reply(200, json.dumps({"echo": "z" * 50_000}))
    sink = make_sink(config(webhook))

    sink.deliver([order(1), order(2), order(3)])

    assert len(webhook.requests) == 3 and len(webhook.connections) == 1
