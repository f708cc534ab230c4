"""Client usage counted in memory and written at most once a minute per client, over a real
SQLite store."""

from __future__ import annotations

import asyncio

import pytest

from core.auth.usage import FLUSH_EVERY_S, UsageCounter
from core.store.sqlite import SqliteStore
from tests.contract.test_store_contract import make_client

START = 1_800_000_000.0


@pytest.fixture
async def store(tmp_path):
    backend = SqliteStore(tmp_path / "store.db")
    yield backend
    await backend.close()


async def stored_use(store, client_id: str) -> tuple[int, float | None]:
    client = await store.clients.get(client_id)
    return client.uses, client.last_used_at


async def test_the_first_use_is_written_and_later_ones_a_minute_after(store):
    client = make_client()
    await store.clients.add(client)
    now = [START]
    usage = UsageCounter(store.clients.record_use, lambda: now[0])

    await usage.used(client.client_id)
    assert await stored_use(store, client.client_id) == (1, START)
    for second in range(1, 5):
        now[0] = START + second
        await usage.used(client.client_id)
    assert await stored_use(store, client.client_id) == (1, START)  # within the minute: no write

    now[0] = START + FLUSH_EVERY_S
    await usage.used(client.client_id)
    assert await stored_use(store, client.client_id) == (6, START + FLUSH_EVERY_S)


async def test_concurrent_uses_write_once_and_each_client_has_its_own_minute(store):
    first, second = make_client(), make_client()
    await store.clients.add(first)
    await store.clients.add(second)
    usage = UsageCounter(store.clients.record_use, lambda: START)

    await asyncio.gather(*(usage.used(first.client_id) for _ in range(5)))
    await usage.used(second.client_id)
    assert (await stored_use(store, first.client_id))[0] == 1
    assert await stored_use(store, second.client_id) == (1, START)


async def test_an_unknown_client_is_not_created(store):
    usage = UsageCounter(store.clients.record_use, lambda: START)
    await usage.used("cl_gone")
    assert await store.clients.get("cl_gone") is None
