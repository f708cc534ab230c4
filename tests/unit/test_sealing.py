"""Sealing: AES-GCM under a key derived from MODULE_SECRET_KEY, opened with the current or the
previous key, bound to its context, and refused whole when altered."""

from __future__ import annotations

import base64
import secrets

import pytest

from core.auth.keys import RECHECK_INTERVAL_S, KeyRing
from core.sealing import SealBroken, Sealer
from core.secrets.env import EnvSecretSource

NAME = "MODULE_SECRET_KEY"
CLEAR = {"target": {"provider": "http", "headers": {"X-Api-Key": "s3cr3t"}}, "callback_url": None}


def new_key() -> str:
    return secrets.token_urlsafe(48)


def sealer(current: str, previous: str = "") -> Sealer:
    values = {NAME: current, f"{NAME}_PREVIOUS": previous}
    return Sealer(KeyRing(EnvSecretSource(values), cache_ttl_s=0))


async def test_a_seal_opens_to_its_value_and_shows_nothing_of_it() -> None:
    key = new_key()
    sealed = await sealer(key).seal(CLEAR, "e1")
    assert sealed.startswith("v1.")
    assert "s3cr3t" not in sealed and b"s3cr3t" not in base64.urlsafe_b64decode(sealed[3:])
    assert await sealer(key).open(sealed, "e1") == CLEAR


async def test_two_seals_of_one_value_differ() -> None:
    key = new_key()
    assert await sealer(key).seal(CLEAR, "e1") != await sealer(key).seal(CLEAR, "e1")


async def test_a_seal_made_before_a_rotation_opens_with_the_previous_key() -> None:
    old, new = new_key(), new_key()
    sealed = await sealer(old).seal(CLEAR, "e1")
    assert await sealer(new, previous=old).open(sealed, "e1") == CLEAR
    with pytest.raises(SealBroken):
        await sealer(new).open(sealed, "e1")  # rotated twice: the old key is gone


async def test_a_seal_moved_to_another_record_does_not_open() -> None:
    key = new_key()
    sealed = await sealer(key).seal(CLEAR, "e1")
    with pytest.raises(SealBroken):
        await sealer(key).open(sealed, "e2")


@pytest.mark.parametrize("damage", ["flip", "truncate", "version", "not_base64"])
async def test_an_altered_seal_is_refused(damage: str) -> None:
    key = new_key()
    sealed = await sealer(key).seal(CLEAR, "e1")
    data = bytearray(base64.urlsafe_b64decode(sealed[3:]))
    data[-1] ^= 1
    altered = {
        "flip": "v1." + base64.urlsafe_b64encode(bytes(data)).decode(),
        "truncate": sealed[:10],
        "version": "v2." + sealed[3:],
        "not_base64": "v1.%%%%",
    }[damage]
    with pytest.raises(SealBroken):
        await sealer(key).open(altered, "e1")


async def test_a_seal_made_after_a_rotation_opens_on_an_instance_holding_the_old_key() -> None:
    old, new = new_key(), new_key()
    values = {NAME: old, f"{NAME}_PREVIOUS": ""}
    now = [0.0]
    stale = Sealer(KeyRing(EnvSecretSource(values), cache_ttl_s=3600, clock=lambda: now[0]))
    await stale.seal(CLEAR, "e1")  # the stale instance has read (and caches) the old key
    values.update({NAME: new, f"{NAME}_PREVIOUS": old})
    now[0] += RECHECK_INTERVAL_S  # past the re-read's rate limit, long before the cache's TTL
    sealed_by_fresh_instance = await sealer(new, previous=old).seal(CLEAR, "e1")
    assert await stale.open(sealed_by_fresh_instance, "e1") == CLEAR
