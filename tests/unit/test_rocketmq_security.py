"""Secured clusters without brokers: request signing, the configs' security fields, the client cache
key, and that secrets stay out of reprs and error messages."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ssl

import pytest

from connect_core.config import validate_config
from connect_core.errors import ConfigError
from connect_core.connectors.replicator import ReplicatorConfig
from connect_core.connectors.rocketmq import RocketMQSourceConfig, client_for
from connect_core.rocketmq import AuthenticationError, PermissionDeniedError, RocketMQClient
from connect_core.rocketmq.codes import RequestCode, ResponseCode
from connect_core.rocketmq.protocol import FLAG_RESPONSE, RemotingCommand
from connect_core.rocketmq.proxy import ProxyProducer
from connect_core.rocketmq.security import Credentials, Security, Tls, signature

SECRET = "s3cret-Key/+="


def test_signature_is_hmac_sha1_of_the_sorted_field_values_and_the_body():
    # GIVEN the documented algorithm, spelled out by hand for these fields (sorted by name:
    # AccessKey, queueId, topic) and this body
    fields = {"topic": "orders", "queueId": "3", "AccessKey": "replicator"}
    expected = base64.b64encode(hmac.new(SECRET.encode(), b"replicator" + b"3" + b"orders" + b"\x00\xffbody",
                                         hashlib.sha1).digest()).decode()

    assert signature(SECRET, fields, b"\x00\xffbody") == expected


def test_signing_adds_access_key_token_and_signature_and_leaves_the_secret_out():
    cmd = RemotingCommand.request(RequestCode.GET_MAX_OFFSET, {"topic": "orders", "queueId": 1})
    Credentials("replicator", SECRET, "tok-123").sign(cmd)

    assert cmd.ext_fields["AccessKey"] == "replicator" and cmd.ext_fields["SecurityToken"] == "tok-123"
    unsigned = {k: v for k, v in cmd.ext_fields.items() if k != "Signature"}
    # values sorted by name: AccessKey, SecurityToken, queueId, topic
    content = "replicator" + "tok-123" + "1" + "orders"
    assert cmd.ext_fields["Signature"] == base64.b64encode(
        hmac.new(SECRET.encode(), content.encode(), hashlib.sha1).digest()).decode()
    assert signature(SECRET, cmd.ext_fields) == signature(SECRET, unsigned)  # Signature itself is left out
    assert SECRET not in cmd.encode().decode("latin-1")


def test_signing_again_replaces_the_signature():
    cmd = RemotingCommand.request(RequestCode.GET_MAX_OFFSET, {"topic": "orders"})
    credentials = Credentials("replicator", SECRET)
    first = credentials.sign(cmd).ext_fields["Signature"]

    assert credentials.sign(cmd).ext_fields["Signature"] == first


def test_credentials_and_settings_never_show_their_secrets():
    settings = Security(tls=Tls(ca_pem="-----BEGIN CERTIFICATE-----PEMTEXT"), credentials=Credentials("u", SECRET, "tok"))

    for text in (repr(settings), str(settings), settings.describe(),
                 repr(RocketMQClient("127.0.0.1:9876", security=settings))):
        assert SECRET not in text and "tok" not in text and "PEMTEXT" not in text
    assert "access key 'u'" in settings.describe()


def test_tls_verification_is_on_by_default():
    assert Tls().verify is True
    assert Tls().context().verify_mode.name == "CERT_REQUIRED" and Tls().context().check_hostname


def test_a_given_ca_is_trusted_instead_of_the_system_trust_store_not_besides_it():
    # GIVEN two CAs of the system store: one given as the cluster's CA, the other still publicly trusted
    system = ssl.create_default_context().get_ca_certs(binary_form=True)
    if len(system) < 2:
        pytest.skip("no system trust store here to compare with")
    given, public = system[0], system[1]

    # WHEN the context is built with the one CA
    context = Tls(ca_pem=ssl.DER_cert_to_PEM_cert(given)).context()

    # THEN it trusts that CA alone: a certificate from the other one is refused
    assert context.get_ca_certs(binary_form=True) == [given] and public not in context.get_ca_certs(True)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_without_a_ca_the_system_trust_store_is_used():
    assert Tls().context().cert_store_stats()["x509_ca"] == ssl.create_default_context().cert_store_stats()["x509_ca"]


def test_an_unreadable_ca_bundle_is_named_in_the_error(tmp_path):
    with pytest.raises(ValueError, match="CA file .*missing.pem"):
        Tls(ca_file=str(tmp_path / "missing.pem")).context()


def refusal(remark: str, request: int) -> RemotingCommand:
    answer = RemotingCommand(code=ResponseCode.NO_PERMISSION, remark=remark, flag=FLAG_RESPONSE)
    answer.request_code = request
    return answer


@pytest.mark.parametrize("remark", ["check signature failed.", "username cannot be null.", "User:bob is not found.",
                                    "[10002:signature-failed] unable to calculate a request signature"])
def test_refused_credentials_are_authentication_errors(remark):
    client = RocketMQClient("127.0.0.1:9876", cluster="eu-west-1",
                            security=Security(credentials=Credentials("bob", SECRET)))

    error = client._fail(refusal(remark, RequestCode.PULL_MESSAGE), "pull of orders/b/0 at 0", "127.0.0.1:10911")

    assert isinstance(error, AuthenticationError)
    assert "cluster 'eu-west-1'" in str(error) and "PULL_MESSAGE(11)" in str(error) and remark in str(error)
    assert SECRET not in str(error) and "access key 'bob'" in str(error)


def test_a_missing_permission_names_the_resource_and_the_action_the_request_needs():
    client = RocketMQClient("127.0.0.1:9876", security=Security(credentials=Credentials("bob", SECRET)))
    remark = "User:bob has no permission to access Topic:orders from 10.0.0.1, no matched policies."

    error = client._fail(refusal(remark, RequestCode.SEND_BATCH_MESSAGE), "send to orders/b/0", "10.0.0.2:10911")

    assert isinstance(error, PermissionDeniedError)
    assert "Topic:orders" in str(error) and "needs Pub on the topic" in str(error)


def base_source(**security) -> dict:
    return {"name": "src", "connector": "rocketmq-source", "namesrv_addr": "127.0.0.1:9876", "topics": ["t"],
            **security}


def model_of(raw: dict):
    """A valid config's model (validate_config would go on to connect to the cluster)."""
    return (ReplicatorConfig if "source_cluster" in raw else RocketMQSourceConfig).model_validate(raw)


def test_literal_secrets_are_refused_in_configs():
    with pytest.raises(ConfigError) as info:
        validate_config(base_source(access_key="ssm:/rmq/ak", secret_key="hunter2-literal"))
    assert "secret_key" in str(info.value) and "hunter2-literal" not in str(info.value)


def test_access_key_and_secret_key_come_together():
    with pytest.raises(ConfigError, match="access_key and secret_key together"):
        validate_config(base_source(access_key="ssm:/rmq/ak"))


def test_a_security_token_is_refused_on_the_grpc_proxy_path_which_would_drop_it():
    sink = {"name": "snk", "connector": "rocketmq-sink", "topic": "t", "proxy_endpoint": "proxy.example.com:8081",
            "access_key": "ssm:/rmq/ak", "secret_key": "ssm:/rmq/sk", "security_token": "ssm:/rmq/token"}

    with pytest.raises(ConfigError, match="security_token cannot be used with proxy_endpoint"):
        validate_config(sink)
    with pytest.raises(ValueError, match="cannot send a security token"):
        ProxyProducer("proxy.example.com:8081", ["t"], credentials=Credentials("ak", SECRET, "tok"))


def test_tls_options_need_tls_and_verification_defaults_to_on():
    config = model_of(base_source(tls=True, tls_ca_file="/opt/ca.pem"))
    assert config.tls_verify is True
    with pytest.raises(ConfigError, match="need tls: true"):
        validate_config(base_source(tls_verify=False))
    with pytest.raises(ConfigError, match="one of tls_ca_file and tls_ca"):
        validate_config(base_source(tls=True, tls_ca_file="/opt/ca.pem", tls_ca="ssm:/rmq/ca"))


def replicator(**overrides) -> dict:
    return {"name": "r", "connector": "rocketmq-replicator", "topics": ["t"],
            "source_cluster": {"name": "A", "namesrv_addr": "10.0.0.1:9876", "tls": True,
                               "access_key": "ssm:/a/ak", "secret_key": "ssm:/a/sk"},
            "target_cluster": {"name": "B", "namesrv_addr": "10.1.0.1:9876"}, **overrides}


def test_each_replicator_side_has_its_own_security_and_none_at_the_top_level():
    config = model_of(replicator())
    assert config.source_cluster.tls and config.source_cluster.access_key == "ssm:/a/ak"
    assert not config.target_cluster.tls and config.target_cluster.access_key is None
    with pytest.raises(ConfigError, match="in source_cluster and target_cluster"):
        validate_config(replicator(tls=True))
    with pytest.raises(ConfigError):
        validate_config(replicator(target_cluster={"name": "B", "namesrv_addr": "10.1.0.1:9876",
                                                   "secret_key": "plain-text-password"}))


def test_client_for_caches_one_client_per_address_and_security_settings():
    addr = "127.0.0.1:19876"
    secured = Security(tls=Tls(), credentials=Credentials("u", SECRET))

    assert client_for(addr) is client_for(addr) is client_for(addr, None) is client_for(addr, Security())
    assert client_for(addr, secured) is client_for(addr, Security(tls=Tls(), credentials=Credentials("u", SECRET)))
    assert client_for(addr, secured) is not client_for(addr)
    assert client_for(addr, Security(tls=Tls(), credentials=Credentials("u", "rotated"))) is not client_for(addr, secured)
    assert client_for(addr, secured).security == secured and client_for(addr).security == Security()


def test_the_grpc_proxy_path_refuses_to_skip_certificate_verification():
    from connect_core.rocketmq.proxy import ProxyProducer

    with pytest.raises(ValueError, match="cannot turn certificate verification off.*tls_ca_file"):
        ProxyProducer("127.0.0.1:1", ["t"], tls=Tls(verify=False))
