"""Health checks: one round of pings per cache window however many callers ask, shared by
callers that come while it runs; a failing or hanging port is reported, never raised."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from core import health
from core.health import HealthChecks, check
from core.store.sqlite import SqliteStore


class Port:
    def __init__(self, delay_s: float = 0.0, error: Exception | None = None) -> None:
        self.pings = 0
        self.delay_s = delay_s
        self.error = error

    async def ping(self) -> None:
        self.pings += 1
        await asyncio.sleep(self.delay_s)
        if self.error is not None:
            raise self.error


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_concurrent_callers_share_one_round_of_pings() -> None:
    store, queue = Port(delay_s=0.05), Port()
    checks = HealthChecks({"store": store.ping, "queue": queue.ping}, cache_s=5, clock=Clock())
    results = await asyncio.gather(*(checks.results() for _ in range(50)))
    assert all(result == {"store": "ok", "queue": "ok"} for result in results)
    assert (store.pings, queue.pings) == (1, 1)


async def test_the_results_are_reused_until_the_window_ends() -> None:
    store, clock = Port(), Clock()
    checks = HealthChecks({"store": store.ping}, cache_s=5, clock=clock)
    await checks.results()
    clock.now += 4.9
    await checks.results()
    assert store.pings == 1
    clock.now += 0.1
    await checks.results()
    assert store.pings == 2


async def test_without_a_window_every_caller_pings() -> None:
    store = Port()
    checks = HealthChecks({"store": store.ping}, cache_s=0, clock=Clock())
    for _ in range(3):
        await checks.results()
    assert store.pings == 3


async def test_a_failing_or_hanging_port_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "CHECK_TIMEOUT_S", 0.05)
    assert await check(Port(error=ConnectionError("down")).ping) == "error: ConnectionError"
    assert await check(Port(delay_s=1).ping) == "timeout"


async def test_the_store_check_writes_and_forgets_a_failure_once_it_passes(tmp_path: Path) -> None:
    """A store that reads but cannot write (here: another process's connection holds the write
    lock) is reported; the first round after the lock is released is ok again."""
    path, clock = tmp_path / "store.db", Clock()
    store = SqliteStore(path, busy_timeout_s=0.2)
    checks = HealthChecks({"store": store.ping}, cache_s=5, clock=clock)
    try:
        with closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN EXCLUSIVE")
            assert await checks.results() == {"store": "error: StoreUnavailable"}
            other.execute("COMMIT")
        assert await checks.results() == {"store": "error: StoreUnavailable"}  # cached
        clock.now += 5
        assert await checks.results() == {"store": "ok"}
    finally:
        await store.close()
