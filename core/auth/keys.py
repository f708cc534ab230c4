"""Signing keys for tokens, read from the secrets port and cached.

The current stage of the secret signs; the current and the previous stage both verify, so a key
can rotate without logging anybody out. A key is named by its `kid`: the first 16 hex digits of
its SHA-256, which identifies it without revealing it. Secret values never reach a log, an
exception or a repr.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from core.config import MIN_SECRET_KEY_LENGTH
from core.errors import ServiceUnavailable
from core.secrets.base import SecretSource, Stage

logger = logging.getLogger(__name__)

DEFAULT_KEY_NAME = "MODULE_SECRET_KEY"


def key_id(secret: str) -> str:
    """The public name of a key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    secret: str = field(repr=False)

    @classmethod
    def from_secret(cls, secret: str) -> SigningKey:
        return cls(kid=key_id(secret), secret=secret)


@dataclass(frozen=True, slots=True)
class _KeySet:
    current: SigningKey
    by_kid: Mapping[str, SigningKey]


class KeyRing:
    """The signing key and the verification keys, fetched at most once per `cache_ttl_s`."""

    def __init__(
        self,
        source: SecretSource,
        name: str = DEFAULT_KEY_NAME,
        cache_ttl_s: float = 300,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._name = name
        self._cache_ttl_s = cache_ttl_s
        self._clock = clock
        self._keys: _KeySet | None = None
        self._fresh_until = float("-inf")
        self._refresh_lock = asyncio.Lock()

    async def signing_key(self) -> SigningKey:
        """The current key; `ServiceUnavailable` when it is missing or too short."""
        return (await self._key_set()).current

    async def verification_keys(self) -> Mapping[str, SigningKey]:
        """The current and (when present) previous key, by kid."""
        return (await self._key_set()).by_kid

    async def _key_set(self) -> _KeySet:
        keys = self._fresh_keys()
        if keys is None:
            async with self._refresh_lock:  # one fetch, however many callers wait for it
                keys = self._fresh_keys() or await self._refresh()
        return keys

    def _fresh_keys(self) -> _KeySet | None:
        return self._keys if self._clock() < self._fresh_until else None

    async def _refresh(self) -> _KeySet:
        self._keys = await self._fetch()
        self._fresh_until = self._clock() + self._cache_ttl_s
        return self._keys

    async def _fetch(self) -> _KeySet:
        current = await self._read("current")
        if current is None:
            raise ServiceUnavailable("signing key unavailable")
        previous = await self._read("previous")
        by_kid = {key.kid: key for key in (current, previous) if key is not None}
        return _KeySet(current=current, by_kid=by_kid)

    async def _read(self, stage: Stage) -> SigningKey | None:
        try:
            value = await self._source.get(self._name, stage)
        except Exception as error:
            logger.warning("reading %s (%s) failed: %s", self._name, stage, type(error).__name__)
            raise ServiceUnavailable("signing key unavailable") from error
        if not value:
            return None
        if len(value) < MIN_SECRET_KEY_LENGTH:
            raise ServiceUnavailable(
                f"{self._name} ({stage}) is shorter than {MIN_SECRET_KEY_LENGTH} characters"
            )
        return SigningKey.from_secret(value)
