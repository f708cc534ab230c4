"""Sealing what a record must carry but never show: authenticated encryption (AES-256-GCM)
under a key derived (HKDF-SHA256) from the module secret key.

The current stage of MODULE_SECRET_KEY seals; the current and the previous stage both open, so
the key can rotate while sealed records wait in the queue. A seal is bound to a context (the
execution's id): moved into another record, it does not open."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.auth.keys import KeyRing, SigningKey

VERSION = "v1"
NONCE_BYTES = 12
KEY_INFO = b"fnproxy sealed record v1"
"""HKDF's `info`: a sealing key is never the token signing key itself."""


class SealBroken(Exception):
    """A seal that no configured key opens (the key rotated twice since), or was altered."""


class Sealer:
    """Seals and opens JSON values with the keys of a `KeyRing`."""

    def __init__(self, keys: KeyRing) -> None:
        self._keys = keys

    async def seal(self, value: Any, context: str) -> str:
        """`value` as JSON, encrypted and authenticated with `context`: `v1.<base64url>`."""
        key = derived_key((await self._keys.signing_key()).secret)
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, orjson.dumps(value), context.encode())
        return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    async def open(self, sealed: str, context: str) -> Any:
        """The value `seal(value, context)` sealed; `SealBroken` when no key opens it."""
        version, _, encoded = sealed.partition(".")
        if version != VERSION:
            raise SealBroken(f"unknown seal version {version!r}")
        try:
            data = base64.urlsafe_b64decode(encoded)
        except ValueError:
            raise SealBroken("the seal is not base64") from None
        nonce, ciphertext = data[:NONCE_BYTES], data[NONCE_BYTES:]
        held = await self._keys.verification_keys()
        clear = _decrypt(held.values(), nonce, ciphertext, context)
        if clear is None:  # sealed with a key newer than this instance's cache: read them again
            reread = await self._keys.reread_verification_keys()
            newer = [key for kid, key in reread.items() if kid not in held]
            clear = _decrypt(newer, nonce, ciphertext, context)
        if clear is None:
            raise SealBroken("no configured MODULE_SECRET_KEY opens the seal")
        return orjson.loads(clear)


def _decrypt(
    keys: Iterable[SigningKey], nonce: bytes, ciphertext: bytes, context: str
) -> bytes | None:
    for key in keys:
        try:
            return AESGCM(derived_key(key.secret)).decrypt(nonce, ciphertext, context.encode())
        except (InvalidTag, ValueError):
            continue
    return None


@lru_cache(maxsize=16)
def derived_key(secret: str, info: bytes = KEY_INFO) -> bytes:
    """A 32-byte key for one use (`info`) of the module secret key: each use has its own."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode())
