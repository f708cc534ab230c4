"""A signing-key rotation seen by an instance that still holds the old keys: the scenario the
key ring is tested with on each cloud's secret store (tests/aws, tests/gcp) and in unit tests."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

import jwt
import pytest

from core.auth.keys import KeyRing, key_id
from core.auth.tokens import Tokens
from core.errors import Unauthorized
from core.secrets.base import SecretSource

RECHECK_S = 10
"""The key rings' recheck interval here."""
CACHE_TTL_S = 300
"""SECRETS_CACHE_TTL_S as deployed: the key ring's and the source's cache."""
BURST = 20


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def instance_tokens(source: SecretSource, clock: FakeClock) -> Tokens:
    """The tokens of one instance, its keys cached for CACHE_TTL_S."""
    keyring = KeyRing(source, cache_ttl_s=CACHE_TTL_S, clock=clock, recheck_interval_s=RECHECK_S)
    return Tokens(keyring, issuer="fnproxy", audience="fnproxy")


def signed_with(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def stranger_token() -> str:
    """A well-formed token signed by a key nobody has: its kid is unknown everywhere."""
    key = secrets.token_urlsafe(48)
    claims = {"iss": "fnproxy", "aud": "fnproxy", "sub": "x", "scope": "admin", "jti": "j"}
    return jwt.encode(claims, key, algorithm="HS256", headers={"kid": key_id(key)})


async def refuse_a_burst(tokens: Tokens) -> None:
    """BURST strangers at once, each refused as signed by an unknown key."""

    async def refused(token: str) -> None:
        with pytest.raises(Unauthorized, match="^unknown signing key$"):
            await tokens.verify(token)

    await asyncio.gather(*(refused(stranger_token()) for _ in range(BURST)))


async def check_a_rotation_logs_nobody_out(
    new_source: Callable[[], SecretSource],
    rotate: Callable[[str], None],
    reads: Callable[[], int],
    clock: FakeClock,
) -> None:
    """`new_source()` gives an instance's source of the signing key, `rotate(key)` makes `key`
    the secret's current value (the old one previous), `reads()` counts the calls to the secret
    store so far. An instance that cached the keys before the rotation accepts a token of the
    new key at once, reading the keys again once; a burst of unknown kids reads them at most
    once per RECHECK_S."""
    stale = instance_tokens(new_source(), clock)
    before, _ = await stale.issue("module", ["admin"], 600)  # the old keys are cached
    clock.now += 60  # long before CACHE_TTL_S
    new_key = secrets.token_urlsafe(48)
    rotate(new_key)
    after, _ = await instance_tokens(new_source(), clock).issue("client:c", ["read"], 600, "c")
    assert signed_with(after) == key_id(new_key)
    reads_before = reads()

    assert (await stale.verify(after)).client_id == "c"
    assert (await stale.verify(before)).subject == "module"  # the old key still verifies
    one_read = reads() - reads_before
    assert one_read > 0
    await refuse_a_burst(stale)
    assert reads() == reads_before + one_read  # read again at most once per RECHECK_S
    clock.now += RECHECK_S
    await refuse_a_burst(stale)
    assert reads() == reads_before + 2 * one_read
