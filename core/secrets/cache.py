"""The TTL cache of the cloud secret sources: one entry per (secret, stage), absent values
(None) cached too, so a never-rotated secret is not asked for its previous version on every
read. A TTL of 0 turns it off. Values never appear in a repr."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class CachedSecret:
    value: str | None = field(repr=False)
    fresh_until: float


class SecretCache:
    """Secret values by key, each fresh for `ttl_s` seconds of `clock`."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[Hashable, CachedSecret] = {}

    def fresh(self, key: Hashable) -> CachedSecret | None:
        """The entry of `key` while it is fresh, else None (a cached absent value is an entry
        whose value is None)."""
        cached = self._entries.get(key)
        return cached if cached is not None and self._clock() < cached.fresh_until else None

    def store(self, key: Hashable, value: str | None) -> CachedSecret:
        cached = CachedSecret(value, self._clock() + self._ttl_s)
        self._entries[key] = cached
        return cached
