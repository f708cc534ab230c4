"""fnproxy's own blob links: an HMAC-signed, expiring token under a key derived from
MODULE_SECRET_KEY; refused when expired, altered, or signed with a key no longer held."""

from __future__ import annotations

import base64
import secrets

import pytest

from core.auth.keys import KeyRing
from core.blobs.base import InvalidBlobKey
from core.blobs.links import LINK_PATH, BlobLinks, LinkRefused
from core.secrets.env import EnvSecretSource

NAME = "MODULE_SECRET_KEY"
KEY = "executions/e1/result"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def new_key() -> str:
    return secrets.token_urlsafe(48)


def links(current: str, previous: str = "", clock: Clock | None = None) -> BlobLinks:
    values = {NAME: current, f"{NAME}_PREVIOUS": previous}
    return BlobLinks(KeyRing(EnvSecretSource(values), cache_ttl_s=0), clock or Clock())


async def token(of: BlobLinks, key: str = KEY, expires_in_s: int = 60) -> str:
    link = await of.link(key, expires_in_s)
    assert link.startswith(LINK_PATH)
    return link.removeprefix(LINK_PATH)


async def test_a_link_grants_its_key_until_it_expires() -> None:
    clock = Clock()
    signer = links(new_key(), clock=clock)
    granted = await token(signer, expires_in_s=60)

    assert await signer.key_of(granted) == KEY
    clock.now += 59.5
    assert await signer.key_of(granted) == KEY
    clock.now += 0.5
    with pytest.raises(LinkRefused, match="expired"):
        await signer.key_of(granted)


async def test_a_link_holds_no_secret() -> None:
    secret = new_key()
    granted = await token(links(secret))

    version, kid, expires, encoded, signature = granted.split(".")
    assert secret not in granted
    assert base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)) == KEY.encode()
    assert len(base64.urlsafe_b64decode(signature + "=")) == 32  # an HMAC-SHA256, nothing more


def altered(granted: str, index: int, value: str) -> str:
    parts = granted.split(".")
    parts[index] = value
    return ".".join(parts)


async def test_an_altered_link_is_refused() -> None:
    signer = links(new_key())
    granted = await token(signer)
    version, kid, expires, encoded, signature = granted.split(".")
    other_key = base64.urlsafe_b64encode(b"executions/e2/result").decode().rstrip("=")
    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")

    for tampered in (
        altered(granted, 2, str(int(expires) + 3600)),  # lasting longer
        altered(granted, 3, other_key),  # another object
        altered(granted, 4, flipped),
    ):
        with pytest.raises(LinkRefused, match="signature"):
            await signer.key_of(tampered)


async def test_a_link_signed_with_another_key_is_refused() -> None:
    granted = await token(links(new_key()))

    with pytest.raises(LinkRefused, match="signature"):
        await links(new_key()).key_of(granted)


async def test_a_link_outlives_one_rotation_but_not_two() -> None:
    first, second, third = new_key(), new_key(), new_key()
    granted = await token(links(first))

    assert await links(second, previous=first).key_of(granted) == KEY
    with pytest.raises(LinkRefused):
        await links(third, previous=second).key_of(granted)


@pytest.mark.parametrize(
    "malformed",
    ["", "v1", "v2.k.1.a.b", "v1.k.soon.a.b", "v1.k.1.a", "v1.k.1.a.b.c", "x" * 2000],
)
async def test_a_malformed_link_is_refused(malformed: str) -> None:
    with pytest.raises(LinkRefused, match="malformed"):
        await links(new_key()).key_of(malformed)


async def test_a_link_is_only_made_for_a_valid_key() -> None:
    with pytest.raises(InvalidBlobKey):
        await links(new_key()).link("../etc/passwd", 60)
