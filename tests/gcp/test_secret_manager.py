"""The Secret Manager source against the Secret Manager test server, through the official
client: enabled versions as stages, JSON keys, caching, errors, references at cold start, and
signing-key rotation through the key ring."""

from __future__ import annotations

import base64
import json
import logging
import secrets
import subprocess
import sys
import uuid

import grpc
import pytest

from core.auth.keys import KeyRing, key_id
from core.auth.tokens import Tokens
from core.config import ConfigError, load_settings
from core.errors import ServiceUnavailable, Unauthorized
from core.secrets.gcp_secret_manager import GcpSecretManagerSource
from core.secrets.references import resolve_setting_references
from tests.conftest import GCP_PROJECT
from tests.rotation_support import (
    CACHE_TTL_S,
    FakeClock,
    check_a_rotation_logs_nobody_out,
    signed_with,
)

NAME = "MODULE_SECRET_KEY"
TTL_S = 60
LIST, ACCESS, GET = "ListSecretVersions", "AccessSecretVersion", "GetSecret"


def new_key() -> str:
    return secrets.token_urlsafe(48)


def short_name(secret: str) -> str:
    return secret.rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def admin(secret_manager):
    """An official client that sets secrets up, as an operator would."""
    return secret_manager.client()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
async def make_source(secret_manager, clock):
    sources: list[GcpSecretManagerSource] = []

    def make(environ: dict[str, str], cache_ttl_s: int = TTL_S) -> GcpSecretManagerSource:
        source = GcpSecretManagerSource(
            GCP_PROJECT, secret_manager.host, cache_ttl_s, environ, clock=clock
        )
        sources.append(source)
        return source

    yield make
    for source in sources:
        await source.close()


def create_secret(admin, *values: str) -> str:
    """A new secret of the test project with one version per value; its full name."""
    secret = admin.create_secret(
        parent=f"projects/{GCP_PROJECT}",
        secret_id=f"fnproxy-test-{uuid.uuid4().hex}",
        secret={"replication": {"automatic": {}}},
    ).name
    for value in values:
        add_version(admin, secret, value)
    return secret


def reads_of(secret_manager, secret: str) -> list[str]:
    """The calls that read `secret` (those that set it up left out), in order."""
    return [method for method in secret_manager.calls_on(secret) if method in (LIST, ACCESS, GET)]


def add_version(admin, secret: str, value: str) -> None:
    admin.add_secret_version(parent=secret, payload={"data": value.encode()})


def disable(admin, secret: str, version: int) -> None:
    admin.disable_secret_version(name=f"{secret}/versions/{version}")


async def test_current_and_previous_are_the_two_newest_enabled_versions(admin, make_source):
    key_a, key_b, key_c = new_key(), new_key(), new_key()
    secret = create_secret(admin, key_a, key_b, key_c)
    disable(admin, secret, 2)

    source = make_source({f"{NAME}_SECRET": secret})

    assert await source.get(NAME, "current") == key_c
    assert await source.get(NAME, "previous") == key_a


async def test_disabling_the_newest_version_rolls_back_to_the_one_before(admin, make_source):
    key_a, key_b = new_key(), new_key()
    secret = create_secret(admin, key_a, key_b)
    disable(admin, secret, 2)

    source = make_source({f"{NAME}_SECRET": secret})

    assert await source.get(NAME, "current") == key_a
    assert await source.get(NAME, "previous") is None


async def test_previous_is_none_before_the_first_rotation(admin, make_source):
    secret = create_secret(admin, new_key())
    source = make_source({f"{NAME}_SECRET": secret})

    assert await source.get(NAME, "previous") is None


async def test_short_names_and_full_ids_share_one_read_and_json_keys_select(
    admin, make_source, secret_manager
):
    key = new_key()
    secret = create_secret(admin, json.dumps({"signing": key, "port": 8443}))
    source = make_source(
        {
            f"{NAME}_SECRET_ARN": f"{short_name(secret)}#signing",
            "REST_PORT_SECRET": f"{secret}#port",
            "LOG_LEVEL_SECRET": f"{secret}#absent",
        }
    )

    assert await source.get(NAME) == key
    assert await source.get("REST_PORT") == "8443"
    assert await source.get("LOG_LEVEL") is None
    assert reads_of(secret_manager, secret) == [LIST, ACCESS]


async def test_a_missing_secret_and_one_without_versions_are_none(admin, make_source):
    empty = create_secret(admin)
    for secret_id in (f"never-created-{uuid.uuid4().hex}", empty):
        source = make_source({f"{NAME}_SECRET": secret_id})

        assert await source.get(NAME, "current") is None
        assert await source.get(NAME, "previous") is None


async def test_a_binary_secret_is_service_unavailable(admin, make_source):
    secret = create_secret(admin)
    admin.add_secret_version(parent=secret, payload={"data": b"\xff\xfe binary"})
    source = make_source({f"{NAME}_SECRET": secret})

    with pytest.raises(ServiceUnavailable, match=f"^secret {secret} holds binary data, not text$"):
        await source.get(NAME)


async def test_a_malformed_secret_id_is_a_config_error_naming_the_variable(make_source):
    source = make_source({f"{NAME}_SECRET": "projects/p/secrets/s/versions/3"})

    with pytest.raises(ConfigError, match=f"^{NAME}_SECRET: secret projects/p/secrets/s/vers"):
        await source.get(NAME)


async def test_a_short_name_without_a_project_is_a_config_error(secret_manager):
    source = GcpSecretManagerSource("", secret_manager.host, environ={f"{NAME}_SECRET": "key"})

    with pytest.raises(ConfigError, match=f"^{NAME}_SECRET: secret key: .* needs GCP_PROJECT_ID"):
        await source.get(NAME)
    await source.close()


async def test_without_a_reference_the_environment_answers_and_nothing_is_called(
    make_source, secret_manager
):
    calls_before = len(secret_manager.calls)
    current, previous = new_key(), new_key()
    source = make_source({NAME: current, f"{NAME}_PREVIOUS": previous})

    assert await source.get(NAME, "current") == current
    assert await source.get(NAME, "previous") == previous
    assert await source.get("UNSET_SETTING") is None
    await source.ping()
    assert len(secret_manager.calls) == calls_before


async def test_values_are_cached_per_stage_for_the_ttl(admin, make_source, secret_manager, clock):
    secret = create_secret(admin, new_key())
    source = make_source({f"{NAME}_SECRET": secret})

    for _ in range(3):
        await source.get(NAME, "current")
        await source.get(NAME, "previous")  # an absent stage is cached too
    assert reads_of(secret_manager, secret) == [LIST, ACCESS, LIST]

    clock.now += TTL_S
    await source.get(NAME, "current")
    assert reads_of(secret_manager, secret) == [LIST, ACCESS, LIST, LIST, ACCESS]


async def test_read_current_fills_the_cache_that_get_uses(admin, make_source, secret_manager):
    key = new_key()
    secret = create_secret(admin, key)
    source = make_source({f"{NAME}_SECRET": short_name(secret)})

    assert source.read_current(short_name(secret)) == key
    assert await source.get(NAME) == key
    assert reads_of(secret_manager, secret) == [LIST, ACCESS]


async def test_a_zero_ttl_reads_every_time(admin, make_source, secret_manager):
    secret = create_secret(admin, new_key())
    source = make_source({f"{NAME}_SECRET": secret}, cache_ttl_s=0)

    await source.get(NAME)
    await source.get(NAME)
    assert reads_of(secret_manager, secret) == [LIST, ACCESS, LIST, ACCESS]


async def test_a_failing_call_is_service_unavailable_naming_the_secret_and_code_only(
    admin, make_source, secret_manager, caplog
):
    key = new_key()
    secret = create_secret(admin, key)
    secret_manager.fail(secret, grpc.StatusCode.PERMISSION_DENIED)
    source = make_source({f"{NAME}_SECRET": secret})

    with pytest.raises(ServiceUnavailable) as raised:
        await source.get(NAME)

    assert raised.value.detail == f"secret {secret} (current) could not be read: PERMISSION_DENIED"
    assert "PERMISSION_DENIED" in caplog.text
    with pytest.raises(ServiceUnavailable):  # a failure is not cached: the next read asks again
        await source.get(NAME)
    assert reads_of(secret_manager, secret) == [LIST, LIST]


async def test_an_unreachable_server_is_service_unavailable_within_the_timeout():
    source = GcpSecretManagerSource(
        GCP_PROJECT, "127.0.0.1:9", environ={f"{NAME}_SECRET": "any"}, timeout_s=0.5
    )
    try:
        with pytest.raises(ServiceUnavailable, match=r"\(get\) could not be read: UNAVAILABLE$"):
            await source.ping()
    finally:
        await source.close()


async def test_ping_gets_the_signing_key_secret(admin, make_source, secret_manager):
    secret = create_secret(admin, new_key())

    await make_source({f"{NAME}_SECRET": secret}).ping()
    assert reads_of(secret_manager, secret) == [GET]
    with pytest.raises(ServiceUnavailable, match="NOT_FOUND"):
        await make_source({f"{NAME}_SECRET": f"never-created-{uuid.uuid4().hex}"}).ping()


async def test_key_rotation_signs_with_current_and_verifies_previous_until_disabled(
    admin, make_source, clock
):
    key_a, key_b = new_key(), new_key()
    secret = create_secret(admin, key_a)
    source = make_source({f"{NAME}_SECRET": secret})
    tokens = Tokens(KeyRing(source, NAME, cache_ttl_s=0), issuer="fnproxy", audience="fnproxy")
    token_a, _ = await tokens.issue("module", ["admin"], ttl_s=300)

    add_version(admin, secret, key_b)
    token_before_ttl, _ = await tokens.issue("module", ["admin"], ttl_s=300)
    assert signed_with(token_before_ttl) == key_id(key_a)

    clock.now += TTL_S
    token_b, _ = await tokens.issue("module", ["admin"], ttl_s=300)
    assert signed_with(token_b) == key_id(key_b)
    assert (await tokens.verify(token_a)).subject == "module"
    assert (await tokens.verify(token_b)).subject == "module"

    disable(admin, secret, 1)
    assert (await tokens.verify(token_a)).subject == "module"  # until the cache expires
    clock.now += TTL_S
    with pytest.raises(Unauthorized, match="unknown signing key"):
        await tokens.verify(token_a)
    assert (await tokens.verify(token_b)).subject == "module"


async def test_a_stale_instance_takes_a_rotated_in_key_without_waiting_for_the_ttl(
    admin, make_source, secret_manager, clock
):
    secret = create_secret(admin, new_key())

    await check_a_rotation_logs_nobody_out(
        lambda: make_source({f"{NAME}_SECRET": secret}, cache_ttl_s=CACHE_TTL_S),
        lambda key: add_version(admin, secret, key),
        lambda: len(reads_of(secret_manager, secret)),
        clock,
    )


def test_setting_references_resolve_at_cold_start(admin, make_source, secret_manager):
    key = new_key()
    key_secret = create_secret(admin, key)
    openwhisk = create_secret(admin, json.dumps({"auth": "uuid:openwhisk-key"}))
    environ = {
        f"{NAME}_SECRET": key_secret,
        "OPENWHISK_AUTH_KEY_SECRET": f"{short_name(openwhisk)}#auth",
        "FNPROXY_PLATFORM": "gcp",
        "GCP_PROJECT_ID": GCP_PROJECT,
    }
    source = make_source(environ)

    resolved = resolve_setting_references(environ, source.read_current)

    assert resolved[NAME] == key
    assert resolved["OPENWHISK_AUTH_KEY"] == "uuid:openwhisk-key"
    assert load_settings(resolved, dotenv=None).module_secret_key == key
    assert NAME not in environ
    assert reads_of(secret_manager, openwhisk) == [LIST, ACCESS]


def test_a_missing_referenced_secret_stops_start_up_naming_the_variable(make_source):
    missing = f"projects/{GCP_PROJECT}/secrets/never-created-{uuid.uuid4().hex}"
    environ = {f"{NAME}_SECRET_ARN": missing}

    with pytest.raises(ConfigError) as raised:
        resolve_setting_references(environ, make_source(environ).read_current)

    assert str(raised.value) == f"{NAME}_SECRET_ARN: secret {missing} not found"


def test_a_failing_read_at_cold_start_is_a_config_error(admin, make_source, secret_manager):
    secret = create_secret(admin, new_key())
    secret_manager.fail(secret, grpc.StatusCode.PERMISSION_DENIED)
    environ = {f"{NAME}_SECRET": secret}

    with pytest.raises(ConfigError, match=f"^{NAME}_SECRET: secret {secret} .*PERMISSION_DENIED"):
        resolve_setting_references(environ, make_source(environ).read_current)


@pytest.fixture
def google_debug_log(caplog):
    """caplog, receiving the Google clients' DEBUG records too (their "google" logger may not
    propagate to the root logger)."""
    google = logging.getLogger("google")
    level = google.level
    google.addHandler(caplog.handler)
    google.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    yield caplog
    google.removeHandler(caplog.handler)
    google.setLevel(level)


async def test_no_secret_value_is_logged(admin, make_source, google_debug_log):
    key_a, key_b, json_key = new_key(), new_key(), new_key()
    secret = create_secret(admin, key_a, key_b)
    json_secret = create_secret(admin, json.dumps({"key": json_key}))
    environ = {f"{NAME}_SECRET": secret, "OTHER_SETTING_SECRET": f"{json_secret}#key"}
    source = make_source(environ)
    google_debug_log.clear()  # from here on: the admin client above logged what it sent

    resolve_setting_references(environ, source.read_current)
    tokens = Tokens(KeyRing(source, NAME, cache_ttl_s=0), issuer="fnproxy", audience="fnproxy")
    await tokens.verify((await tokens.issue("module", ["admin"], ttl_s=60))[0])
    await source.ping()

    logged = "\n".join(repr(vars(record)) for record in google_debug_log.records)
    assert f"/{ACCESS}" in logged  # the transport did log its calls at DEBUG
    for value in (key_a, key_b, json_key):
        for form in (value, base64.b64encode(value.encode()).decode()):
            assert form not in logged
            assert form not in repr(source)


SECRETS_IN_ENVIRONMENT = """
import asyncio, json, sys
from core.secrets.gcp_secret_manager import GcpSecretManagerSource

source = GcpSecretManagerSource("p", "127.0.0.1:1", environ={{"MODULE_SECRET_KEY": "k"}})
value = asyncio.run(source.get("MODULE_SECRET_KEY"))
{then}
print(json.dumps([value, "google.cloud.secretmanager_v1" in sys.modules, "grpc" in sys.modules]))
"""


def imports_of_a_read(then: str = "") -> list:
    script = SECRETS_IN_ENVIRONMENT.format(then=then)
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(run.stdout)


def test_secrets_in_the_environment_never_load_the_secret_manager_library():
    assert imports_of_a_read() == ["k", False, False]


def test_a_referenced_secret_loads_it():
    first_read = "source._secrets_api()"

    assert imports_of_a_read(then=first_read) == ["k", True, True]
