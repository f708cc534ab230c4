"""Signing keys for tokens, read from the secrets port and cached.

The current stage of the secret signs; the current and the previous stage both verify, so a key
can rotate without logging anybody out. A key is named by its `kid`: the first 16 hex digits of
its SHA-256, which identifies it without revealing it. Secret values never reach a log, an
exception or a repr.

The keys are cached for `cache_ttl_s`, but a token naming an unknown kid, or an api_key that is
not the current key, may come from after a rotation that this instance has not seen yet: then
the keys are read again past every cache before the caller is refused. Such a re-read happens
at most once per `recheck_interval_s` (counted from the last read of any kind), so callers
sending made-up kids cannot turn their requests into calls to the secret manager.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from core.config import MIN_SECRET_KEY_LENGTH
from core.errors import ServiceUnavailable
from core.secrets.base import SecretSource, Stage

logger = logging.getLogger(__name__)

DEFAULT_KEY_NAME = "MODULE_SECRET_KEY"
RECHECK_INTERVAL_S = 10.0
"""The least time between two reads of the keys; the longest a stale instance refuses the new
key after a rotation (only when it had read the keys within this time before the rotation)."""


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
    """The signing key and the verification keys, read once per `cache_ttl_s`, and again
    for an unknown key at most once per `recheck_interval_s`."""

    def __init__(
        self,
        source: SecretSource,
        name: str = DEFAULT_KEY_NAME,
        cache_ttl_s: float = 300,
        clock: Callable[[], float] = time.monotonic,
        recheck_interval_s: float = RECHECK_INTERVAL_S,
    ) -> None:
        self._source = source
        self._name = name
        self._cache_ttl_s = cache_ttl_s
        self._clock = clock
        self._recheck_interval_s = recheck_interval_s
        self._keys: _KeySet | None = None
        self._read_at = float("-inf")
        self._attempted_at = float("-inf")
        self._refresh_lock = asyncio.Lock()

    async def signing_key(self) -> SigningKey:
        """The current key; `ServiceUnavailable` when it is missing or too short."""
        return (await self._key_set()).current

    async def verification_keys(self) -> Mapping[str, SigningKey]:
        """The current and (when present) previous key, by kid."""
        return (await self._key_set()).by_kid

    async def verification_key(self, kid: str) -> SigningKey | None:
        """The key named `kid`, None when neither the current nor the previous key is; an
        unknown kid has the keys read again first (see the module docstring)."""
        key = (await self._key_set()).by_kid.get(kid)
        return key if key is not None else (await self._recheck()).by_kid.get(kid)

    async def reread_verification_keys(self) -> Mapping[str, SigningKey]:
        """The verification keys read again, for a caller whose key is not among those held
        (a seal made after a rotation); rate-limited like an unknown kid."""
        return (await self._recheck()).by_kid

    async def is_current_secret(self, value: str) -> bool:
        """Whether `value` is the current key's secret (compared in constant time); a value
        that is not has the keys read again first (see the module docstring)."""
        if _same_secret(value, (await self._key_set()).current):
            return True
        return _same_secret(value, (await self._recheck()).current)

    async def _key_set(self) -> _KeySet:
        keys = self._fresh_keys()
        if keys is None:
            async with self._refresh_lock:  # one fetch, however many callers wait for it
                keys = self._fresh_keys() or await self._refresh(past_caches=False)
        return keys

    async def _recheck(self) -> _KeySet:
        """The keys read again past the source's cache, unless a read began less than
        `recheck_interval_s` ago; the keys held then, or when the read fails."""
        async with self._refresh_lock:
            held = self._keys
            if held is not None and self._clock() < self._attempted_at + self._recheck_interval_s:
                return held
            logger.info("%s: unknown key, reading the signing keys again", self._name)
            try:
                return await self._refresh(past_caches=True)
            except ServiceUnavailable:  # logged by _read; the held keys answer meanwhile
                if held is None:
                    raise
                return held

    def _fresh_keys(self) -> _KeySet | None:
        return self._keys if self._clock() < self._read_at + self._cache_ttl_s else None

    async def _refresh(self, *, past_caches: bool) -> _KeySet:
        self._attempted_at = self._clock()
        self._keys = await self._fetch(past_caches)
        self._read_at = self._clock()
        return self._keys

    async def _fetch(self, past_caches: bool) -> _KeySet:
        current = await self._read("current", past_caches)
        if current is None:
            raise ServiceUnavailable("signing key unavailable")
        previous = await self._read("previous", past_caches)
        by_kid = {key.kid: key for key in (current, previous) if key is not None}
        return _KeySet(current=current, by_kid=by_kid)

    async def _read(self, stage: Stage, past_caches: bool) -> SigningKey | None:
        try:
            value = await self._source.get(self._name, stage, fresh=past_caches)
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


def _same_secret(value: str, key: SigningKey) -> bool:
    return hmac.compare_digest(value.encode(), key.secret.encode())
