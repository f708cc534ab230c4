"""A registered function's aliases through /v1: set, moved and deleted by an admin, listed with
the function, recorded in its history, honoured by invoke (?alias=), and holding on to the
version they name."""

from __future__ import annotations

import pytest

from core.registry import aliases
from tests.api.conftest import new_client
from tests.api.test_registry_api import ECHO, HELLO, add_version, invoke, register

PROBLEM = "application/problem+json"


async def put_alias(client, admin, name, alias, version):
    return await client.put(
        f"/v1/functions/{name}/aliases/{alias}", json={"version": version}, headers=admin
    )


async def test_an_alias_is_set_moved_listed_recorded_and_deleted(client, admin):
    await register(client, admin, "greet", ECHO)
    await add_version(client, admin, "greet", HELLO)

    first = await put_alias(client, admin, "greet", "live", 1)
    again = await put_alias(client, admin, "greet", "live", 1)
    moved = await put_alias(client, admin, "greet", "live", 2)
    listed = await client.get("/v1/functions", headers=admin)
    deleted = await client.delete("/v1/functions/greet/aliases/live", headers=admin)
    history = await client.get("/v1/functions/greet/history", headers=admin)

    assert first.status_code == 200 and first.json()["aliases"] == {"live": 1}
    assert again.json()["revision"] == first.json()["revision"]  # nothing changed
    assert moved.json()["aliases"] == {"live": 2}
    assert listed.json()["functions"][0]["aliases"] == {"live": 2}
    assert deleted.status_code == 200 and deleted.json()["aliases"] == {}
    changes = [
        (c["action"], c["from_version"], c["to_version"], c["detail"])
        for c in history.json()["changes"][:3]
    ]
    assert changes == [
        ("alias_deleted", 2, None, {"alias": "live"}),
        ("alias_set", 1, 2, {"alias": "live"}),
        ("alias_set", None, 1, {"alias": "live"}),
    ]


async def test_invoke_runs_the_version_the_alias_names(client, admin):
    await register(client, admin, "greet", ECHO)
    await add_version(client, admin, "greet", HELLO, activate=True)
    await put_alias(client, admin, "greet", "stable", 1)

    aliased = await invoke(client, admin, "greet", {"name": "Ada"}, params={"alias": "stable"})
    active = await invoke(client, admin, "greet", {"name": "Ada"})
    unknown = await invoke(client, admin, "greet", {}, params={"alias": "nightly"})
    both = await invoke(client, admin, "greet", {}, params={"alias": "stable", "version": "1"})

    assert aliased.json()["function_version"] == 1 and aliased.json()["result"] == {"name": "Ada"}
    assert active.json()["function_version"] == 2
    assert unknown.status_code == 404 and "no alias 'nightly'" in unknown.json()["detail"]
    assert both.status_code == 400


async def test_a_version_an_alias_names_is_not_deleted(client, admin):
    await register(client, admin, "greet", ECHO)
    await add_version(client, admin, "greet", HELLO)
    await put_alias(client, admin, "greet", "beta", 2)

    refused = await client.delete("/v1/functions/greet/versions/2", headers=admin)
    await client.delete("/v1/functions/greet/aliases/beta", headers=admin)
    allowed = await client.delete("/v1/functions/greet/versions/2", headers=admin)

    assert refused.status_code == 409
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["aliases"] == ["beta"]
    assert allowed.status_code == 204


async def test_bad_names_missing_versions_and_too_many_aliases_are_refused(
    client, admin, monkeypatch
):
    await register(client, admin, "greet", ECHO)
    monkeypatch.setattr(aliases, "MAX_ALIASES", 2)

    statuses = {
        "all digits": (await put_alias(client, admin, "greet", "123", 1)).status_code,
        "bad character": (await put_alias(client, admin, "greet", "a.b", 1)).status_code,
        "no such version": (await put_alias(client, admin, "greet", "x", 9)).status_code,
        "no such function": (await put_alias(client, admin, "nobody", "x", 1)).status_code,
        "no such alias": (
            await client.delete("/v1/functions/greet/aliases/x", headers=admin)
        ).status_code,
    }
    for alias in ("one", "two"):
        assert (await put_alias(client, admin, "greet", alias, 1)).status_code == 200
    third = await put_alias(client, admin, "greet", "three", 1)
    moved = await put_alias(client, admin, "greet", "two", 1)

    assert statuses == {
        "all digits": 400,
        "bad character": 400,
        "no such version": 409,
        "no such function": 404,
        "no such alias": 404,
    }
    assert third.status_code == 409 and "2 aliases" in third.json()["detail"]
    assert moved.status_code == 200


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_only_admins_change_aliases(client, admin, method):
    await register(client, admin, "greet", ECHO)
    await put_alias(client, admin, "greet", "live", 1)
    invoker = await new_client(client, admin, "invoke", "read")
    body = {"version": 1} if method == "PUT" else None

    response = await client.request(
        method, "/v1/functions/greet/aliases/live", json=body, headers=invoker
    )

    assert response.status_code == 403
