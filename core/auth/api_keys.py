"""Per-function API keys: the Invoke platform's "per-function optional authentication". A
function whose policy says `public_invoke: "api_key"` answers `/invoke/{name}` only to callers
sending one of its keys in `X-API-Key` (core.api.invoke_platform).

A key is `fk_<key_id>_<secret>`: shown once, when created; the store keeps only the secret's
hash (as a client secret's: 256 random bits need no slow hash) and the id, which names the key
in listings, revocations, usage counts and the executions it started. A key belongs to the
function as registered when it was made: deleting the function and registering the name again
leaves the former keys behind, unusable. Wrong keys are throttled per source address with the
token grant's failure throttle (core.auth.throttle), so keys cannot be guessed fast; not per
key id, which would let anyone lock a key's holder out."""

from __future__ import annotations

import hmac
import re
import secrets
import time
from collections.abc import Callable

from core.auth.clients import hash_secret
from core.auth.throttle import TokenThrottle, address_identity
from core.auth.usage import UsageCounter
from core.errors import Conflict, NotFound, Unauthorized
from core.models import ApiKey, RegisteredFunction
from core.store.base import ApiKeyRepository

KEY_PREFIX = "fk_"
KEY_PATTERN = re.compile(r"fk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
"""`fk_`, the key id (16 hex digits) and the secret (`secrets.token_urlsafe(32)`)."""
KEY_ID_PATTERN = r"^[0-9a-f]{16}$"
MAX_KEYS_PER_FUNCTION = 100
"""Revoked keys included: a function's keys are listed whole, in one bounded read."""
STORE_READ_LIMIT = 4 * MAX_KEYS_PER_FUNCTION
"""How many keys of a name one listing reads: those of its current function, and some left by
former functions of the name."""
INVALID_KEY = "a valid X-API-Key is required"
"""The one answer to a missing, malformed, unknown, wrong or revoked key."""

# Compared against when no key matches, so that every refusal does the same work.
_NO_KEY_HASH = hash_secret(secrets.token_urlsafe(32))


class ApiKeyService:
    def __init__(
        self,
        repo: ApiKeyRepository,
        throttle: TokenThrottle,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repo = repo
        self._throttle = throttle
        self._clock = clock
        self._usage: UsageCounter[tuple[str, str]] = UsageCounter(self._record_use, clock)

    async def create(self, function: RegisteredFunction, created_by: str) -> tuple[ApiKey, str]:
        """A new key of `function` and the key itself, returned this once."""
        if len(await self.list(function)) >= MAX_KEYS_PER_FUNCTION:
            raise Conflict(
                f"function {function.name!r} has {MAX_KEYS_PER_FUNCTION} API keys already "
                "(revoked ones included)",
                function=function.name,
            )
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        key = ApiKey(
            function=function.name,
            key_id=key_id,
            secret_hash=hash_secret(secret),
            created_at=self._clock(),
            created_by=created_by,
            function_created_at=function.created_at,
        )
        await self._repo.add(key)
        return key, f"{KEY_PREFIX}{key_id}_{secret}"

    async def list(self, function: RegisteredFunction) -> list[ApiKey]:
        """The function's keys, revoked ones included, oldest first."""
        stored = await self._repo.list(function.name, STORE_READ_LIMIT)
        return [key for key in stored if is_key_of(key, function)]

    async def revoke(self, function: RegisteredFunction, key_id: str) -> None:
        """Revoke the key at once (on every instance: each call reads it)."""
        key = await self._repo.get(function.name, key_id)
        revoked = key is not None and is_key_of(key, function)
        if not revoked or not await self._repo.revoke(function.name, key_id, self._clock()):
            raise NotFound(f"function {function.name!r} has no API key {key_id!r}")

    async def authenticate(
        self, function: RegisteredFunction, presented: str | None, *, source: str
    ) -> ApiKey:
        """The active key of `function` that `presented` is, counted as used; one
        `Unauthorized` (INVALID_KEY) for every failure, throttled per `source` address
        (`RateLimited` once it has too many)."""
        async with self._throttle.attempt(address_identity(source)):
            key = await self._matching(function, presented or "")
        await self._usage.used((function.name, key.key_id))
        return key

    async def _matching(self, function: RegisteredFunction, presented: str) -> ApiKey:
        parts = KEY_PATTERN.fullmatch(presented)
        key = await self._repo.get(function.name, parts[1]) if parts else None
        expected = key.secret_hash if key is not None else _NO_KEY_HASH
        matches = hmac.compare_digest(hash_secret(parts[2] if parts else presented), expected)
        if key is None or not matches or not key.active or not is_key_of(key, function):
            raise Unauthorized(INVALID_KEY)
        return key

    async def _record_use(self, credential: tuple[str, str], uses: int, at: float) -> bool:
        function, key_id = credential
        return await self._repo.record_use(function, key_id, uses, at)


def is_key_of(key: ApiKey, function: RegisteredFunction) -> bool:
    """Whether `key` was made for `function` as registered now (not a former one of its name)."""
    return key.function == function.name and key.function_created_at == function.created_at
