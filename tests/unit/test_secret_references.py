"""Secret references (`NAME_SECRET=<id>[#json-key]`, alias `NAME_SECRET_ARN`): parsing, and
resolving them into settings at cold start."""

from __future__ import annotations

import json

import pytest

from core.config import ConfigError
from core.errors import ServiceUnavailable
from core.secrets.references import (
    SecretReference,
    find_reference,
    parse_reference,
    referenced_names,
    resolve_setting_references,
)

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:fnproxy/keys-AbCdEf"
GCP_ID = "projects/demo-fnproxy/secrets/keys"
SECRET_VALUE = "s3cr3t-value-that-must-never-be-shown"


class Secrets:
    """A `read` callable over a dict that remembers what it was asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.reads: list[str] = []

    def __call__(self, secret_id: str) -> str | None:
        self.reads.append(secret_id)
        return self.values.get(secret_id)


@pytest.mark.parametrize(
    ("raw", "secret_id", "json_key"),
    [
        ("fnproxy/module-key", "fnproxy/module-key", None),
        (f"{ARN}#signing", ARN, "signing"),
        (f"{GCP_ID}#signing", GCP_ID, "signing"),
        ("  padded  ", "padded", None),
    ],
)
def test_parse_reference(raw, secret_id, json_key):
    assert parse_reference("X_SECRET", raw) == SecretReference("X_SECRET", secret_id, json_key)


@pytest.mark.parametrize(
    ("raw", "message"),
    [("#key", "X_SECRET: expected a secret id"), ("id#", "X_SECRET: expected a JSON key")],
)
def test_malformed_references_name_the_variable(raw, message):
    with pytest.raises(ConfigError, match=f"^{message}"):
        parse_reference("X_SECRET", raw)


def test_find_reference_takes_either_variable():
    assert find_reference({"A_SECRET": "one"}, "A") == SecretReference("A_SECRET", "one")
    assert find_reference({"A_SECRET_ARN": ARN}, "A") == SecretReference("A_SECRET_ARN", ARN)
    assert find_reference({"A_SECRET": ARN, "A_SECRET_ARN": ARN}, "A").secret_id == ARN
    assert find_reference({"A": "plain", "A_SECRET": " "}, "A") is None


def test_two_different_references_for_one_setting_are_refused():
    with pytest.raises(ConfigError, match="^A: set only one of A_SECRET or A_SECRET_ARN$"):
        find_reference({"A_SECRET": "one", "A_SECRET_ARN": "two"}, "A")


def test_referenced_names():
    environ = {
        "MODULE_SECRET_KEY_SECRET_ARN": ARN,
        "OPENWHISK_AUTH_KEY_SECRET": "ow",
        "_SECRET": "no name",
        "MODULE_SECRET_KEY": "not a reference",
    }
    assert referenced_names(environ) == ["MODULE_SECRET_KEY", "OPENWHISK_AUTH_KEY"]


def test_resolve_fills_referenced_settings_and_leaves_the_input_alone():
    environ = {
        "MODULE_SECRET_KEY_SECRET_ARN": ARN,
        "OPENWHISK_AUTH_KEY_SECRET": f"{GCP_ID}#auth",
        "REST_PORT": "9000",
    }
    read = Secrets({ARN: SECRET_VALUE, GCP_ID: json.dumps({"auth": "uuid:key"})})

    resolved = resolve_setting_references(environ, read)

    assert resolved == {
        **environ,
        "MODULE_SECRET_KEY": SECRET_VALUE,
        "OPENWHISK_AUTH_KEY": "uuid:key",
    }
    assert "MODULE_SECRET_KEY" not in environ


def test_an_explicit_value_wins_and_its_secret_is_not_read():
    read = Secrets({ARN: SECRET_VALUE})

    resolved = resolve_setting_references({"A": "explicit", "A_SECRET": ARN}, read)

    assert resolved["A"] == "explicit"
    assert read.reads == []


def test_one_secret_is_read_once_for_all_its_keys():
    read = Secrets({ARN: json.dumps({"port": 8443, "tracing": True, "level": "DEBUG"})})
    environ = {
        "REST_PORT_SECRET": f"{ARN}#port",
        "FNPROXY_TRACING_SECRET": f"{ARN}#tracing",
        "LOG_LEVEL_SECRET_ARN": f"{ARN}#level",
    }

    resolved = resolve_setting_references(environ, read)

    assert (resolved["REST_PORT"], resolved["FNPROXY_TRACING"]) == ("8443", "true")
    assert resolved["LOG_LEVEL"] == "DEBUG"
    assert read.reads == [ARN]


@pytest.mark.parametrize(
    ("reference", "stored", "message"),
    [
        ("missing", None, "A_SECRET: secret missing not found"),
        (f"{ARN}#absent", json.dumps({"other": SECRET_VALUE}), f"A_SECRET: secret {ARN}#absent"),
        (f"{ARN}#key", SECRET_VALUE, f"A_SECRET: secret {ARN} is not a JSON object"),
        (f"{ARN}#key", json.dumps([SECRET_VALUE]), f"A_SECRET: secret {ARN} is not a JSON"),
        (f"{ARN}#key", json.dumps({"key": {"nested": SECRET_VALUE}}), "A_SECRET: #key of secret"),
    ],
)
def test_an_unusable_reference_is_a_config_error_without_the_value(reference, stored, message):
    read = Secrets({} if stored is None else {reference.partition("#")[0]: stored})

    with pytest.raises(ConfigError) as raised:
        resolve_setting_references({"A_SECRET": reference}, read)

    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)
    assert SECRET_VALUE not in str(raised.value)


def test_a_failing_read_names_the_variable():
    def unreachable(secret_id: str) -> str | None:
        raise ServiceUnavailable(f"secret {secret_id} (AWSCURRENT) could not be read: Timeout")

    with pytest.raises(ConfigError, match=f"^A_SECRET_ARN: secret {ARN} .*: Timeout$"):
        resolve_setting_references({"A_SECRET_ARN": ARN}, unreachable)
