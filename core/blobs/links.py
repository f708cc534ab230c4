"""Signed, expiring links to blobs served by fnproxy itself (`GET /v1/blobs/{token}`), the
local backend's signed URLs.

A token is `v1.<kid>.<expires>.<key>.<signature>`: the key base64url-encoded, `expires` in Unix
seconds, and the signature an HMAC-SHA256 of everything before it under a key derived (HKDF,
its own `info`) from MODULE_SECRET_KEY, the stage named by `kid` (core/auth/keys.py). The current
stage signs; the current and the previous both verify, so links survive one rotation. A token
reveals the blob's key and expiry, never a secret; it cannot be altered or made to last longer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable

from core.auth.keys import KeyRing
from core.blobs.base import InvalidBlobKey, checked_key
from core.errors import Forbidden
from core.sealing import derived_key

VERSION = "v1"
KEY_INFO = b"fnproxy blob link v1"
LINK_PATH = "/v1/blobs/"
MAX_TOKEN_LENGTH = 1024


class LinkRefused(Forbidden):
    """A blob link that is malformed, altered, signed with a key no longer held, or expired."""

    code, title = "link_refused", "Link invalid or expired"


class BlobLinks:
    """Makes and checks the tokens of fnproxy's own blob links."""

    def __init__(self, keys: KeyRing, clock: Callable[[], float] = time.time) -> None:
        self._keys = keys
        self._clock = clock

    async def link(self, key: str, expires_in_s: int) -> str:
        """`/v1/blobs/<token>`: reads the blob under `key` for `expires_in_s` seconds."""
        signing = await self._keys.signing_key()
        expires = int(self._clock()) + expires_in_s
        encoded = base64.urlsafe_b64encode(checked_key(key).encode()).decode().rstrip("=")
        unsigned = f"{VERSION}.{signing.kid}.{expires}.{encoded}"
        return f"{LINK_PATH}{unsigned}.{_signature(signing.secret, unsigned)}"

    async def key_of(self, token: str) -> str:
        """The blob key `token` grants, or `LinkRefused` saying why not."""
        parts = token.split(".") if len(token) <= MAX_TOKEN_LENGTH else []
        if len(parts) != 5 or parts[0] != VERSION or not parts[2].isdigit():
            raise LinkRefused("the link is malformed")
        kid, expires, encoded, signature = parts[1:]
        held = await self._keys.verification_key(kid)
        unsigned = token.rpartition(".")[0]
        if held is None or not hmac.compare_digest(signature, _signature(held.secret, unsigned)):
            raise LinkRefused("the link's signature does not match")
        if int(expires) <= self._clock():
            raise LinkRefused("the link has expired")
        return _decoded_key(encoded)


def _signature(secret: str, unsigned: str) -> str:
    mac = hmac.new(derived_key(secret, KEY_INFO), unsigned.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def _decoded_key(encoded: str) -> str:
    try:
        key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        return checked_key(key)
    except (binascii.Error, UnicodeDecodeError, InvalidBlobKey):
        raise LinkRefused("the link is malformed") from None
