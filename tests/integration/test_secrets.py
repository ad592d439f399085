"""Secret references resolve through Secrets Manager and SSM on the endpoint, cached, never shown."""

import json
import logging
import uuid

import pytest

from connect_core import aws
from connect_core.config import SecretRef
from connect_core.config.secrets import clear_cache

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def fresh_cache(embedded_aws):
    clear_cache()
    yield
    clear_cache()


def test_secrets_manager_arn_with_json_key_resolves_to_a_masked_value(caplog):
    name = f"db-{uuid.uuid4().hex[:8]}"
    arn = aws.client("secretsmanager").create_secret(
        Name=name, SecretString=json.dumps({"user": "app", "password": "s3cr3t!"}))["ARN"]

    caplog.set_level(logging.DEBUG, logger="connect_core")
    secret = SecretRef(f"{arn}#password").resolve()
    logging.getLogger("connect_core.test").info("resolved %s %r", secret, secret)

    assert secret.get_secret_value() == "s3cr3t!"
    assert str(secret) == "**********" and "s3cr3t!" not in repr(secret)
    assert "s3cr3t!" not in caplog.text


def test_ssm_secure_string_by_path_name():
    name = f"/connect/{uuid.uuid4().hex[:8]}/password"
    aws.client("ssm").put_parameter(Name=name, Value="pa55", Type="SecureString")

    assert SecretRef(name).resolve().get_secret_value() == "pa55"
    assert SecretRef(f"ssm:{name}").resolve().get_secret_value() == "pa55"


def test_values_are_cached_across_invocations_for_max_age():
    name = f"/connect/{uuid.uuid4().hex[:8]}/token"
    ssm = aws.client("ssm")
    ssm.put_parameter(Name=name, Value="v1", Type="SecureString")
    assert SecretRef(name).resolve(max_age=300).get_secret_value() == "v1"

    ssm.put_parameter(Name=name, Value="v2", Type="SecureString", Overwrite=True)

    assert SecretRef(name).resolve(max_age=300).get_secret_value() == "v1"  # a warm invocation: cached
    assert SecretRef(name).resolve(force=True).get_secret_value() == "v2"


def test_a_missing_json_key_names_the_secret_not_its_content():
    name = f"db-{uuid.uuid4().hex[:8]}"
    aws.client("secretsmanager").create_secret(Name=name, SecretString=json.dumps({"user": "app"}))

    with pytest.raises(ValueError) as info:
        SecretRef(f"secretsmanager:{name}#password").resolve()
    assert name in str(info.value) and "app" not in str(info.value)
