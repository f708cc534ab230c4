"""Tokens and the key ring: issue/verify, rotation, and every way a token is rejected."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time

import jwt
import pytest

from core.auth.keys import KeyRing, SigningKey, key_id
from core.auth.principal import Principal
from core.auth.tokens import Tokens, VerifiedTokens
from core.errors import ServiceUnavailable, Unauthorized
from core.secrets.env import EnvSecretSource
from tests.rotation_support import (
    RECHECK_S,
    FakeClock,
    check_a_rotation_logs_nobody_out,
    instance_tokens,
    stranger_token,
)

NAME = "MODULE_SECRET_KEY"


def new_key() -> str:
    return secrets.token_urlsafe(48)


def make_tokens(values: dict[str, str], token_clock=time.time, **keyring_options) -> Tokens:
    keyring = KeyRing(EnvSecretSource(values), **keyring_options)
    return Tokens(keyring, issuer="fnproxy", audience="fnproxy", clock=token_clock)


def b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(**overrides) -> dict:
    now = int(time.time())
    base = {
        "iss": "fnproxy",
        "aud": "fnproxy",
        "sub": "module",
        "scope": "admin",
        "iat": now,
        "exp": now + 60,
        "jti": "j1",
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def sign(key: str, payload: dict, **headers) -> str:
    return jwt.encode(payload, key, algorithm="HS256", headers={"kid": key_id(key), **headers})


@pytest.fixture
def key() -> str:
    return new_key()


@pytest.fixture
def tokens(key: str) -> Tokens:
    return make_tokens({NAME: key})


async def rejection(tokens: Tokens, token: str) -> str:
    with pytest.raises(Unauthorized) as caught:
        await tokens.verify(token)
    assert not token or token not in caught.value.detail
    return caught.value.detail


# --- issue and verify ---------------------------------------------------------------------------


async def test_roundtrip_carries_every_claim_and_the_kid(tokens: Tokens, key: str) -> None:
    token, expires_in = await tokens.issue("client:cl_1", ["read", "invoke:local:*"], 600, "cl_1")

    assert expires_in == 600
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT", "kid": key_id(key)}
    payload = jwt.decode(token, key, algorithms=["HS256"], audience="fnproxy")
    assert set(payload) == {"iss", "aud", "sub", "scope", "iat", "exp", "jti", "client_id"}
    assert payload["exp"] - payload["iat"] == 600
    assert payload["scope"] == "read invoke:local:*"

    principal = await tokens.verify(token)
    assert principal.subject == "client:cl_1"
    assert principal.client_id == "cl_1"
    assert principal.scopes == frozenset({"read", "invoke:local:*"})
    assert principal.token_id == payload["jti"]


async def test_module_token_has_no_client(tokens: Tokens) -> None:
    token, _ = await tokens.issue("module", ["admin"], 60)
    principal = await tokens.verify(token)
    assert (principal.subject, principal.client_id, principal.is_admin) == ("module", None, True)


async def test_every_token_gets_its_own_jti(tokens: Tokens) -> None:
    first, _ = await tokens.issue("module", ["admin"], 60)
    second, _ = await tokens.issue("module", ["admin"], 60)
    assert (await tokens.verify(first)).token_id != (await tokens.verify(second)).token_id


# --- rotation -----------------------------------------------------------------------------------


async def test_token_of_the_previous_key_still_verifies_after_rotation() -> None:
    old, new = new_key(), new_key()
    values, keyring_clock = {NAME: old}, FakeClock()
    tokens = make_tokens(values, cache_ttl_s=60, clock=keyring_clock)
    old_token, _ = await tokens.issue("module", ["admin"], 60)

    values.update({NAME: new, f"{NAME}_PREVIOUS": old})
    keyring_clock.now += 61
    new_token, _ = await tokens.issue("module", ["admin"], 60)

    assert jwt.get_unverified_header(new_token)["kid"] == key_id(new)
    assert (await tokens.verify(old_token)).subject == "module"
    assert (await tokens.verify(new_token)).subject == "module"


async def test_token_of_a_key_that_is_neither_current_nor_previous_is_rejected() -> None:
    retired = new_key()
    tokens = make_tokens({NAME: new_key(), f"{NAME}_PREVIOUS": new_key()})
    assert await rejection(tokens, sign(retired, claims())) == "unknown signing key"


async def test_a_known_kid_with_a_foreign_signature_is_rejected(tokens: Tokens, key: str) -> None:
    forged = sign(new_key(), claims(), kid=key_id(key))
    assert await rejection(tokens, forged) == "invalid token signature"


# --- rejections ---------------------------------------------------------------------------------


async def test_expired_token(key: str) -> None:
    an_hour_ago = time.time() - 3600
    issuer = make_tokens({NAME: key}, token_clock=lambda: an_hour_ago)
    token, _ = await issuer.issue("module", ["admin"], 60)
    assert await rejection(make_tokens({NAME: key}), token) == "token expired"


async def test_tampered_payload(tokens: Tokens) -> None:
    token, _ = await tokens.issue("client:cl_1", ["read"], 60, "cl_1")
    header, payload, signature = token.split(".")
    raised = json.loads(base64.urlsafe_b64decode(payload + "=="))
    raised["scope"] = "admin"
    tampered = ".".join([header, b64(raised), signature])
    assert await rejection(tokens, tampered) == "invalid token signature"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_alg_none_is_rejected(tokens: Tokens, key: str, alg: str) -> None:
    unsigned = f"{b64({'alg': alg, 'typ': 'JWT', 'kid': key_id(key)})}.{b64(claims())}."
    assert await rejection(tokens, unsigned) == "token algorithm not allowed"


@pytest.mark.parametrize("alg", ["HS512", "HS384", "RS256", "ES256"])
async def test_any_alg_but_hs256_is_rejected(tokens: Tokens, key: str, alg: str) -> None:
    header = b64({"alg": alg, "typ": "JWT", "kid": key_id(key)})
    token = f"{header}.{b64(claims())}.{b64(b'signature')}"
    assert await rejection(tokens, token) == "token algorithm not allowed"


async def test_hs512_signed_with_the_right_key_is_rejected(tokens: Tokens, key: str) -> None:
    token = jwt.encode(claims(), key, algorithm="HS512", headers={"kid": key_id(key)})
    assert await rejection(tokens, token) == "token algorithm not allowed"


async def test_wrong_audience(tokens: Tokens, key: str) -> None:
    assert (
        await rejection(tokens, sign(key, claims(aud="someone-else"))) == "invalid token audience"
    )


async def test_wrong_issuer(tokens: Tokens, key: str) -> None:
    assert await rejection(tokens, sign(key, claims(iss="evil"))) == "invalid token issuer"


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub", "jti", "scope"])
async def test_missing_claim(tokens: Tokens, key: str, claim: str) -> None:
    detail = await rejection(tokens, sign(key, claims(**{claim: None})))
    assert detail == f"token lacks the {claim!r} claim"


async def test_non_string_scope_is_malformed(tokens: Tokens, key: str) -> None:
    assert await rejection(tokens, sign(key, claims(scope=["admin"]))) == "malformed token"


async def test_unknown_kid(tokens: Tokens, key: str) -> None:
    token = sign(key, claims(), kid="0123456789abcdef")
    assert await rejection(tokens, token) == "unknown signing key"


async def test_missing_kid(tokens: Tokens, key: str) -> None:
    token = jwt.encode(claims(), key, algorithm="HS256")
    assert await rejection(tokens, token) == "token has no key id"


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b.c", "!!!.@@@.###", f"{b64(b'[1]')}.e30.", "é.é.é", "x" * 5000],
)
async def test_malformed(tokens: Tokens, token: str) -> None:
    assert await rejection(tokens, token) == "malformed token"


async def test_garbage_after_a_valid_header_is_malformed(tokens: Tokens) -> None:
    token, _ = await tokens.issue("module", ["admin"], 60)
    header = token.split(".")[0]
    assert await rejection(tokens, f"{header}.not-base64!.x") == "malformed token"


# --- the key ring -------------------------------------------------------------------------------


class CountingSource:
    def __init__(self, values: dict[str, str]) -> None:
        self.inner = EnvSecretSource(values)
        self.reads = 0

    async def get(self, name: str, stage: str = "current", *, fresh: bool = False) -> str | None:
        self.reads += 1
        await asyncio.sleep(0)
        return await self.inner.get(name, stage)

    async def ping(self) -> None:
        return None


class FailingSource:
    async def get(self, name: str, stage: str = "current", *, fresh: bool = False) -> str | None:
        raise ConnectionError("secret manager down")

    async def ping(self) -> None:
        raise ConnectionError("secret manager down")


async def test_keyring_gives_current_for_signing_and_both_for_verifying() -> None:
    current, previous = new_key(), new_key()
    keyring = KeyRing(EnvSecretSource({NAME: current, f"{NAME}_PREVIOUS": previous}))

    assert await keyring.signing_key() == SigningKey(key_id(current), current)
    keys = await keyring.verification_keys()
    assert {kid: key.secret for kid, key in keys.items()} == {
        key_id(current): current,
        key_id(previous): previous,
    }


async def test_kid_is_a_sha256_prefix_and_not_the_key(key: str) -> None:
    kid = key_id(key)
    assert len(kid) == 16 and int(kid, 16) >= 0
    assert kid not in key


async def test_signing_key_repr_hides_the_secret(key: str) -> None:
    signing_key = SigningKey.from_secret(key)
    assert key not in repr(signing_key)
    assert key not in str(signing_key)
    assert signing_key.kid in repr(signing_key)


async def test_keyring_caches_for_the_ttl() -> None:
    source, clock = CountingSource({NAME: new_key()}), FakeClock()
    keyring = KeyRing(source, cache_ttl_s=300, clock=clock)

    await keyring.signing_key()
    await keyring.verification_keys()
    assert source.reads == 2  # current and previous, once

    clock.now += 301
    await keyring.signing_key()
    assert source.reads == 4


async def test_keyring_fetches_once_under_concurrency() -> None:
    source = CountingSource({NAME: new_key()})
    keyring = KeyRing(source)
    await asyncio.gather(*(keyring.verification_keys() for _ in range(50)))
    assert source.reads == 2


async def test_missing_current_key_is_service_unavailable() -> None:
    keyring = KeyRing(EnvSecretSource({f"{NAME}_PREVIOUS": new_key()}))
    with pytest.raises(ServiceUnavailable, match="^signing key unavailable$"):
        await keyring.signing_key()


@pytest.mark.parametrize("stage_name", [NAME, f"{NAME}_PREVIOUS"])
async def test_short_keys_are_refused_without_showing_them(stage_name: str) -> None:
    short = "s3cr3t-but-short"
    values = {NAME: new_key(), stage_name: short}
    with pytest.raises(ServiceUnavailable) as caught:
        await KeyRing(EnvSecretSource(values)).verification_keys()
    assert NAME in caught.value.detail
    assert short not in caught.value.detail


async def test_unreachable_source_is_service_unavailable() -> None:
    with pytest.raises(ServiceUnavailable, match="^signing key unavailable$"):
        await KeyRing(FailingSource()).signing_key()


async def test_a_custom_secret_name_is_read() -> None:
    key = new_key()
    keyring = KeyRing(EnvSecretSource({"JWT_KEY": key}), name="JWT_KEY")
    assert (await keyring.signing_key()).secret == key


def test_verified_tokens_are_forgotten_at_expiry_and_beyond_capacity():
    cache = VerifiedTokens(capacity=2)
    principal = Principal(subject="module", scopes=frozenset({"admin"}), token_id="j")
    cache.put("a", principal, expires_at=100)
    assert cache.get("a", now=99.9) is principal
    assert cache.get("a", now=100) is None and cache.get("a", now=50) is None  # evicted
    for token in ("b", "c", "d"):
        cache.put(token, principal, expires_at=200)
    assert cache.get("b", now=0) is None  # the oldest went first
    assert cache.get("c", now=0) is principal and cache.get("d", now=0) is principal


async def test_a_verified_token_stops_working_when_its_key_is_retired(key):
    values = {NAME: key}
    keyring_clock = FakeClock()
    tokens = make_tokens(values, cache_ttl_s=10, clock=keyring_clock)
    token, _ = await tokens.issue("module", ["admin"], ttl_s=60)
    await tokens.verify(token)
    values[NAME] = new_key()  # rotated twice: the old key is neither current nor previous
    keyring_clock.now += 11
    with pytest.raises(Unauthorized, match="unknown signing key"):
        await tokens.verify(token)


# --- an unknown key after a rotation ------------------------------------------------------------


async def test_a_rotation_logs_nobody_out() -> None:
    values = {NAME: new_key()}
    sources: list[CountingSource] = []

    def new_source() -> CountingSource:
        sources.append(CountingSource(values))
        return sources[-1]

    def rotate(key: str) -> None:
        values[f"{NAME}_PREVIOUS"], values[NAME] = values[NAME], key

    def reads() -> int:
        return sum(source.reads for source in sources)

    await check_a_rotation_logs_nobody_out(new_source, rotate, reads, FakeClock())


async def test_unknown_kids_read_the_keys_at_most_once_per_interval() -> None:
    source, clock = CountingSource({NAME: new_key()}), FakeClock()
    tokens = instance_tokens(source, clock)
    await tokens.verify((await tokens.issue("module", ["admin"], 60))[0])
    assert source.reads == 2  # current and previous
    clock.now += RECHECK_S

    burst = [stranger_token() for _ in range(50)]
    answers = await asyncio.gather(*(rejection(tokens, t) for t in burst))
    assert set(answers) == {"unknown signing key"}
    assert source.reads == 4  # one read again for the whole burst

    clock.now += RECHECK_S - 0.001
    await rejection(tokens, stranger_token())
    assert source.reads == 4  # still within the interval
    clock.now += 0.001
    await rejection(tokens, stranger_token())
    assert source.reads == 6


async def test_a_fresh_read_within_the_interval_counts_as_the_check() -> None:
    source, clock = CountingSource({NAME: new_key()}), FakeClock()
    tokens = instance_tokens(source, clock)

    assert await rejection(tokens, stranger_token()) == "unknown signing key"
    assert source.reads == 2  # the first read just happened: no second one for the stranger


class FlakySource(CountingSource):
    """Answers until `down` is set, then fails as an unreachable secret manager does."""

    down = False

    async def get(self, name: str, stage: str = "current", *, fresh: bool = False) -> str | None:
        if self.down:
            self.reads += 1
            raise ConnectionError("secret manager down")
        return await super().get(name, stage, fresh=fresh)


async def test_a_failing_read_again_keeps_the_held_keys_and_its_interval() -> None:
    key = new_key()
    source, clock = FlakySource({NAME: key}), FakeClock()
    tokens = instance_tokens(source, clock)
    token, _ = await tokens.issue("module", ["admin"], 600)
    clock.now += RECHECK_S
    source.down, reads = True, source.reads

    for _ in range(5):
        assert await rejection(tokens, stranger_token()) == "unknown signing key"
    assert source.reads == reads + 1  # one failed attempt, not one per request
    assert (await tokens.verify(token)).subject == "module"  # the held key still verifies
