"""The store port's contract for functions' API keys (`ApiKeyRepository`): every backend
passes these tests unchanged."""

from __future__ import annotations

import asyncio

import pytest

from core.errors import Conflict
from core.models import ApiKey
from core.store.base import Store


def api_key(key_id: str, function: str = "greet", created_at: float = 100.0) -> ApiKey:
    return ApiKey(
        function=function,
        key_id=key_id,
        secret_hash="ab" * 32,
        created_at=created_at,
        created_by="module",
        function_created_at=50.0,
    )


async def test_a_key_reads_back_as_added(store: Store) -> None:
    key = api_key("0a1b2c3d4e5f6071")
    await store.api_keys.add(key)

    assert await store.api_keys.get("greet", key.key_id) == key
    assert await store.api_keys.get("other", key.key_id) is None
    assert await store.api_keys.get("greet", "ffffffffffffffff") is None


async def test_a_key_id_is_added_once_per_function(store: Store) -> None:
    await store.api_keys.add(api_key("0a1b2c3d4e5f6071"))
    with pytest.raises(Conflict):
        await store.api_keys.add(api_key("0a1b2c3d4e5f6071", created_at=200.0))
    await store.api_keys.add(api_key("0a1b2c3d4e5f6071", function="other"))


async def test_a_function_lists_its_own_keys_oldest_first_within_the_limit(store: Store) -> None:
    for key_id, at in (("bb", 300.0), ("aa", 100.0), ("cc", 200.0)):
        await store.api_keys.add(api_key(key_id, created_at=at))
    await store.api_keys.add(api_key("dd", function="greet2"))

    listed = await store.api_keys.list("greet", 10)
    assert [k.key_id for k in listed] == ["aa", "cc", "bb"]
    assert len(await store.api_keys.list("greet", 2)) == 2
    assert await store.api_keys.list("nobody", 10) == []


async def test_revoking_keeps_the_first_revocation(store: Store) -> None:
    await store.api_keys.add(api_key("aa"))

    assert await store.api_keys.revoke("greet", "aa", 500.0)
    assert await store.api_keys.revoke("greet", "aa", 600.0)
    assert (await store.api_keys.get("greet", "aa")).revoked_at == 500.0
    assert not await store.api_keys.revoke("greet", "zz", 500.0)
    assert not await store.api_keys.revoke("other", "aa", 500.0)


async def test_concurrent_uses_all_count_and_the_latest_time_stays(store: Store) -> None:
    await store.api_keys.add(api_key("aa"))

    await asyncio.gather(
        store.api_keys.record_use("greet", "aa", 3, 400.0),
        store.api_keys.record_use("greet", "aa", 2, 300.0),
    )
    stored = await store.api_keys.get("greet", "aa")
    assert (stored.uses, stored.last_used_at) == (5, 400.0)
    assert not await store.api_keys.record_use("greet", "zz", 1, 400.0)
