"""The store port's contract for reading a rate-limit window (`count`), which the token
throttle peeks at before every attempt: every backend passes these tests unchanged."""

from __future__ import annotations

import time

from core.store.base import Store


async def test_a_window_never_hit_counts_nothing(store: Store) -> None:
    assert await store.rate_limits.count("token:client:a", 1000) == 0


async def test_count_reads_the_hits_of_its_window_only(store: Store) -> None:
    expires = time.time() + 120
    for _ in range(2):
        await store.rate_limits.hit("token:client:a", 1000, 5, expires)
    await store.rate_limits.hit("token:client:b", 1000, 5, expires)

    assert await store.rate_limits.count("token:client:a", 1000) == 2
    assert await store.rate_limits.count("token:client:a", 1300) == 0
    assert await store.rate_limits.count("token:client:b", 1000) == 1


async def test_count_does_not_count(store: Store) -> None:
    expires = time.time() + 120
    await store.rate_limits.hit("token:client:a", 1000, 2, expires)
    for _ in range(3):
        await store.rate_limits.count("token:client:a", 1000)
    assert await store.rate_limits.hit("token:client:a", 1000, 2, expires)


async def test_a_full_window_counts_at_least_its_limit(store: Store) -> None:
    expires = time.time() + 120
    outcomes = [await store.rate_limits.hit("token:client:a", 1000, 3, expires) for _ in range(5)]
    assert outcomes == [True, True, True, False, False]
    assert await store.rate_limits.count("token:client:a", 1000) >= 3
