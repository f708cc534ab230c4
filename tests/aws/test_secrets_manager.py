"""The Secrets Manager source against moto: stages, JSON keys, caching, references at cold start,
and signing-key rotation through the key ring."""

from __future__ import annotations

import json
import logging
import secrets
import uuid

import boto3
import pytest

from core.auth.keys import KeyRing, key_id
from core.auth.tokens import Tokens
from core.config import ConfigError, load_settings
from core.errors import ServiceUnavailable, Unauthorized
from core.secrets.aws_secrets_manager import AwsSecretsManagerSource
from core.secrets.references import resolve_setting_references
from tests.rotation_support import (
    CACHE_TTL_S,
    FakeClock,
    check_a_rotation_logs_nobody_out,
    signed_with,
)

REGION = "us-east-1"
NAME = "MODULE_SECRET_KEY"
TTL_S = 60
GET_SECRET_VALUE = "before-call.secrets-manager.GetSecretValue"
BUILD_GET_SECRET_VALUE = "before-parameter-build.secrets-manager.GetSecretValue"


class CallLog:
    """Counts the Secrets Manager calls of one boto3 session (a botocore event hook)."""

    def __init__(self, session: boto3.session.Session) -> None:
        self.calls: list[dict] = []
        session.events.register(BUILD_GET_SECRET_VALUE, self._record)

    def _record(self, params: dict, **_: object) -> None:
        self.calls.append(params)


def new_key() -> str:
    return secrets.token_urlsafe(48)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def admin(moto_url):
    """A client that sets secrets up, as an operator (or a rotation Lambda) would."""
    return boto3.client("secretsmanager", region_name=REGION, endpoint_url=moto_url)


@pytest.fixture
def session():
    return boto3.session.Session()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
async def make_source(moto_url, session, clock):
    sources: list[AwsSecretsManagerSource] = []

    def make(environ: dict[str, str], cache_ttl_s: int = TTL_S) -> AwsSecretsManagerSource:
        source = AwsSecretsManagerSource(
            REGION, moto_url, cache_ttl_s, environ, clock=clock, session=session
        )
        sources.append(source)
        return source

    yield make
    for source in sources:
        await source.close()


def create_secret(admin, value: str) -> tuple[str, str]:
    name = unique("fnproxy-test")
    return name, admin.create_secret(Name=name, SecretString=value)["ARN"]


def rotate(admin, name: str, value: str) -> None:
    admin.put_secret_value(SecretId=name, SecretString=value)


def stages(admin, name: str) -> dict[str, list[str]]:
    versions = admin.list_secret_version_ids(SecretId=name)["Versions"]
    return {version["VersionId"]: sorted(version["VersionStages"]) for version in versions}


async def test_current_and_previous_follow_the_version_stages(admin, make_source):
    key_a, key_b = new_key(), new_key()
    secret, _ = create_secret(admin, key_a)
    rotate(admin, secret, key_b)
    assert sorted(stages(admin, secret).values()) == [["AWSCURRENT"], ["AWSPREVIOUS"]]

    source = make_source({f"{NAME}_SECRET": secret})

    assert await source.get(NAME, "current") == key_b
    assert await source.get(NAME, "previous") == key_a


async def test_previous_is_none_before_the_first_rotation(admin, make_source):
    secret, _ = create_secret(admin, new_key())
    source = make_source({f"{NAME}_SECRET": secret})

    assert await source.get(NAME, "previous") is None


async def test_secret_arn_alias_with_a_json_key(admin, make_source):
    key = new_key()
    _, arn = create_secret(admin, json.dumps({"signing": key, "port": 8443}))
    source = make_source(
        {
            f"{NAME}_SECRET_ARN": f"{arn}#signing",
            "REST_PORT_SECRET": f"{arn}#port",
            "LOG_LEVEL_SECRET": f"{arn}#absent",
        }
    )

    assert await source.get(NAME) == key
    assert await source.get("REST_PORT") == "8443"
    assert await source.get("LOG_LEVEL") is None


async def test_a_json_key_of_a_secret_that_is_not_json_is_a_config_error(admin, make_source):
    secret, _ = create_secret(admin, "plain text")
    source = make_source({f"{NAME}_SECRET": f"{secret}#signing"})

    with pytest.raises(ConfigError, match=f"^{NAME}_SECRET: secret {secret} is not a JSON"):
        await source.get(NAME)


async def test_a_missing_secret_is_none(make_source):
    source = make_source({f"{NAME}_SECRET": unique("never-created")})

    assert await source.get(NAME, "current") is None
    assert await source.get(NAME, "previous") is None


async def test_without_a_reference_the_environment_answers_and_nothing_is_called(
    make_source, session
):
    calls = CallLog(session)
    current, previous = new_key(), new_key()
    source = make_source({NAME: current, f"{NAME}_PREVIOUS": previous})

    assert await source.get(NAME, "current") == current
    assert await source.get(NAME, "previous") == previous
    assert await source.get("UNSET_SETTING") is None
    await source.ping()
    assert calls.calls == []


async def test_values_are_cached_per_stage_for_the_ttl(admin, make_source, session, clock):
    calls = CallLog(session)
    secret, _ = create_secret(admin, new_key())
    source = make_source({f"{NAME}_SECRET": secret})

    for _ in range(3):
        await source.get(NAME, "current")
        await source.get(NAME, "previous")  # a missing stage is cached too
    assert [call["VersionStage"] for call in calls.calls] == ["AWSCURRENT", "AWSPREVIOUS"]

    clock.now += TTL_S
    await source.get(NAME, "current")
    assert len(calls.calls) == 3


async def test_read_current_fills_the_cache_that_get_uses(admin, make_source, session):
    calls = CallLog(session)
    key = new_key()
    secret, _ = create_secret(admin, key)
    source = make_source({f"{NAME}_SECRET": secret})

    assert source.read_current(secret) == key
    assert await source.get(NAME) == key
    assert len(calls.calls) == 1


async def test_a_zero_ttl_reads_every_time(admin, make_source, session):
    calls = CallLog(session)
    secret, _ = create_secret(admin, new_key())
    source = make_source({f"{NAME}_SECRET": secret}, cache_ttl_s=0)

    await source.get(NAME)
    await source.get(NAME)
    assert len(calls.calls) == 2


async def test_a_failing_call_is_service_unavailable_naming_the_secret_only(
    admin, make_source, session, caplog
):
    key = new_key()
    secret, _ = create_secret(admin, key)
    session.events.register(GET_SECRET_VALUE, access_denied)
    source = make_source({f"{NAME}_SECRET": secret})

    with pytest.raises(ServiceUnavailable) as raised:
        await source.get(NAME)

    assert raised.value.detail == (
        f"secret {secret} (AWSCURRENT) could not be read: AccessDeniedException"
    )
    assert "AccessDeniedException" in caplog.text


def access_denied(**_: object):
    """A before-call hook that answers for the service, as botocore's Stubber does."""

    class Response:
        status_code = 400

    error = {"Code": "AccessDeniedException", "Message": "not allowed"}
    return Response(), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}


async def test_ping_describes_the_signing_key_secret(admin, make_source):
    secret, _ = create_secret(admin, new_key())

    await make_source({f"{NAME}_SECRET": secret}).ping()
    with pytest.raises(ServiceUnavailable, match="ResourceNotFoundException"):
        await make_source({f"{NAME}_SECRET": unique("never-created")}).ping()


async def test_an_unreachable_endpoint_is_service_unavailable(session):
    source = AwsSecretsManagerSource(
        REGION, "http://127.0.0.1:9", environ={f"{NAME}_SECRET": "any"}, session=session
    )
    try:
        with pytest.raises(ServiceUnavailable, match="EndpointConnectionError"):
            await source.ping()
    finally:
        await source.close()


async def test_key_rotation_signs_with_current_and_verifies_previous(admin, make_source, clock):
    key_a, key_b = new_key(), new_key()
    secret, _ = create_secret(admin, key_a)
    source = make_source({f"{NAME}_SECRET": secret})
    tokens = Tokens(KeyRing(source, NAME, cache_ttl_s=0), issuer="fnproxy", audience="fnproxy")
    token_a, _ = await tokens.issue("module", ["admin"], ttl_s=300)

    rotate(admin, secret, key_b)
    token_before_ttl, _ = await tokens.issue("module", ["admin"], ttl_s=300)
    assert signed_with(token_before_ttl) == key_id(key_a)

    clock.now += TTL_S
    token_b, _ = await tokens.issue("module", ["admin"], ttl_s=300)
    assert signed_with(token_b) == key_id(key_b)
    assert (await tokens.verify(token_a)).subject == "module"
    assert (await tokens.verify(token_b)).subject == "module"

    stranger = Tokens(KeyRing(make_source({NAME: new_key()})), issuer="fnproxy", audience="fnproxy")
    token_c, _ = await stranger.issue("module", ["admin"], ttl_s=300)
    with pytest.raises(Unauthorized, match="unknown signing key"):
        await tokens.verify(token_c)


async def test_a_stale_instance_takes_a_rotated_in_key_without_waiting_for_the_ttl(
    admin, make_source, session, clock
):
    calls = CallLog(session)
    secret, _ = create_secret(admin, new_key())

    await check_a_rotation_logs_nobody_out(
        lambda: make_source({f"{NAME}_SECRET": secret}, cache_ttl_s=CACHE_TTL_S),
        lambda key: rotate(admin, secret, key),
        lambda: len(calls.calls),
        clock,
    )


def test_setting_references_resolve_at_cold_start(admin, make_source):
    key = new_key()
    _, key_arn = create_secret(admin, key)
    openwhisk, _ = create_secret(admin, json.dumps({"auth": "uuid:openwhisk-key"}))
    environ = {
        f"{NAME}_SECRET_ARN": key_arn,
        "OPENWHISK_AUTH_KEY_SECRET": f"{openwhisk}#auth",
        "FNPROXY_PLATFORM": "aws",
    }
    source = make_source(environ)

    resolved = resolve_setting_references(environ, source.read_current)

    assert resolved[NAME] == key
    assert resolved["OPENWHISK_AUTH_KEY"] == "uuid:openwhisk-key"
    assert load_settings(resolved, dotenv=None).module_secret_key == key
    assert NAME not in environ


def test_a_missing_referenced_secret_stops_start_up_naming_the_variable(make_source):
    missing = unique("never-created")
    environ = {f"{NAME}_SECRET_ARN": missing}

    with pytest.raises(ConfigError) as raised:
        resolve_setting_references(environ, make_source(environ).read_current)

    assert str(raised.value) == f"{NAME}_SECRET_ARN: secret {missing} not found"


def test_a_failing_read_at_cold_start_is_a_config_error(admin, make_source, session):
    secret, _ = create_secret(admin, new_key())
    session.events.register(GET_SECRET_VALUE, access_denied)
    environ = {f"{NAME}_SECRET": secret}

    with pytest.raises(ConfigError, match=f"^{NAME}_SECRET: secret {secret} .*AccessDenied"):
        resolve_setting_references(environ, make_source(environ).read_current)


async def test_no_secret_value_is_logged(admin, make_source, caplog):
    key_a, key_b, json_key = new_key(), new_key(), new_key()
    secret, _ = create_secret(admin, key_a)
    rotate(admin, secret, key_b)
    json_secret, _ = create_secret(admin, json.dumps({"key": json_key}))
    environ = {f"{NAME}_SECRET": secret, "OTHER_SETTING_SECRET": f"{json_secret}#key"}
    source = make_source(environ)
    caplog.set_level(logging.DEBUG)  # from here on: the admin client above logs what it sends

    resolve_setting_references(environ, source.read_current)
    keyring = KeyRing(source, NAME, cache_ttl_s=0)
    tokens = Tokens(keyring, issuer="fnproxy", audience="fnproxy")
    await tokens.verify((await tokens.issue("module", ["admin"], ttl_s=60))[0])
    await source.ping()

    assert "GetSecretValue" in caplog.text  # botocore did log its calls at DEBUG
    for value in (key_a, key_b, json_key):
        assert value not in caplog.text
        assert value not in repr(source)
