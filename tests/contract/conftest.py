"""The `store` fixture: one fresh backend per test, for every backend of the store port.

A backend joins the contract suite by adding one entry to `BUILDERS`: its param name mapped to
an async builder `(request, tmp_path) -> Store` that returns a ready, empty store (or calls
`pytest.skip` when its emulator is not available). A builder reaches session fixtures (an
emulator's URL) through `request.getfixturevalue`, so only its own params start them, and
registers its own clean-up with `request.addfinalizer`. Builders import their backend lazily,
so a missing SDK only skips that backend's params. Every test in `test_store_contract.py` then
runs against it unchanged; the fixture closes the store after each test.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from core.store.base import Store

Builder = Callable[[pytest.FixtureRequest, Path], Awaitable[Store]]


async def _sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    from core.store.sqlite import SqliteStore

    return SqliteStore(tmp_path / "store.db")


async def _dynamodb(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A store on a new, uniquely named table in the session's moto server, dropped after."""
    boto3 = pytest.importorskip("boto3")
    from core.store.dynamodb import DynamoDBStore, create_table

    moto_url = request.getfixturevalue("moto_url")
    admin = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_url)
    table = f"fnproxy-contract-{uuid.uuid4().hex}"
    create_table(admin, table)
    request.addfinalizer(lambda: admin.delete_table(TableName=table))
    return DynamoDBStore(table, "us-east-1", endpoint_url=moto_url)


async def _firestore(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A store on collections of a unique prefix in the session's Firestore emulator (cheaper
    than wiping the emulator between tests)."""
    pytest.importorskip("google.cloud.firestore_v1")
    from core.store.firestore import FirestoreStore
    from tests.conftest import GCP_PROJECT

    request.getfixturevalue("firestore_host")
    return FirestoreStore(GCP_PROJECT, prefix=f"c{uuid.uuid4().hex}")


BUILDERS: dict[str, Builder] = {
    "sqlite": _sqlite,
    "dynamodb": _dynamodb,
    "firestore": _firestore,
}


@pytest.fixture(params=list(BUILDERS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend = await BUILDERS[request.param](request, tmp_path)
    yield backend
    await backend.close()
