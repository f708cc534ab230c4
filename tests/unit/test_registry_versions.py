"""Version numbers the registry is asked about: any whole number from 1 is a fair question
(the routes take up to 20 digits), and one no store can hold is simply not there."""

from __future__ import annotations

import secrets

import pytest

from core.auth.principal import Principal
from core.config import load_settings
from core.errors import Conflict, FunctionNotFound, NotFound
from core.registry.policy import FunctionPolicy
from core.registry.service import MAX_VERSION
from core.targets import LocalTarget
from core.wiring import build_services

ADMIN = Principal("module", frozenset({"admin"}), "t")
TOO_LARGE = [MAX_VERSION + 1, 2**64, 10**20 - 1]
"""Past SQLite's INTEGER (and DynamoDB's and Firestore's 64-bit integers)."""


@pytest.fixture
async def registry(tmp_path):
    environ = {"FNPROXY_DATA_DIR": str(tmp_path), "MODULE_SECRET_KEY": secrets.token_urlsafe(48)}
    services = build_services(load_settings(environ, dotenv=None))
    await services.registry.create(
        "f", "", LocalTarget(provider="local", function="echo"), FunctionPolicy(), ADMIN
    )
    yield services.registry
    await services.close()


@pytest.mark.parametrize("number", TOO_LARGE)
async def test_a_version_past_the_stores_integers_is_not_found(registry, number):
    with pytest.raises(NotFound, match=f"has no version {number}"):
        await registry.version("f", number)
    with pytest.raises(FunctionNotFound):
        await registry.version("nobody", number)


@pytest.mark.parametrize("number", TOO_LARGE)
async def test_changes_naming_such_a_version_find_none(registry, number):
    with pytest.raises(Conflict):  # named in a body: the function has no such version
        await registry.activate("f", number, ADMIN)
    with pytest.raises(Conflict):
        await registry.set_canary("f", number, 10, ADMIN)
    with pytest.raises(NotFound):  # named in the path: no such resource
        await registry.delete_version("f", number, ADMIN)
    assert (await registry.get("f")).revision == 1  # nothing changed


async def test_the_largest_storable_version_is_looked_up(registry):
    with pytest.raises(NotFound, match=f"has no version {MAX_VERSION}"):
        await registry.version("f", MAX_VERSION)
    assert (await registry.version("f", 1)).version == 1
