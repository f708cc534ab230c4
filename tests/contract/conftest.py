"""The `store` fixture: one fresh backend per test, for every backend of the store port.

A backend joins the contract suite by adding one entry to `BUILDERS`: its param name mapped to
an async builder `(tmp_path) -> Store` that returns a ready, empty store (or calls
`pytest.skip` when its emulator is not available). Builders import their backend lazily, so a
missing SDK only skips that backend's params. Every test in `test_store_contract.py` then runs
against it unchanged; the fixture closes the store after each test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from core.store.base import Store


async def _sqlite(tmp_path: Path) -> Store:
    from core.store.sqlite import SqliteStore

    return SqliteStore(tmp_path / "store.db")


BUILDERS: dict[str, Callable[[Path], Awaitable[Store]]] = {
    "sqlite": _sqlite,
}


@pytest.fixture(params=list(BUILDERS))  # ["sqlite"] today
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend = await BUILDERS[request.param](tmp_path)
    yield backend
    await backend.close()
