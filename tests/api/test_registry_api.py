"""The function registry through HTTP: registering, versions, rollback, canaries, policy, rate
limits, invoking by name, execution logs, history and the activation events."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime

import httpx
import pytest

from tests.api.conftest import new_client, token_for
from tests.conftest import free_port
from tests.security.support import Listener

PROBLEM = "application/problem+json"
ACTIVATED = "dev.fnproxy.function.activated"
ECHO = {"provider": "local", "function": "echo"}
HELLO = {"provider": "local", "function": "hello"}
SLOW = {"provider": "local", "function": "slow"}
FAIL = {"provider": "local", "function": "fail"}
NOISY = {"provider": "local", "function": "noisy"}
TERMINAL = ("succeeded", "failed", "timed_out")


# --- helpers ---------------------------------------------------------------------------------


async def register(client, admin, name, target=ECHO, **extra) -> dict:
    response = await client.post(
        "/v1/functions", json={"name": name, "target": target, **extra}, headers=admin
    )
    assert response.status_code == 201, response.text
    return response.json()


async def add_version(client, admin, name, target, activate=None) -> dict:
    body: dict = {"target": target}
    if activate is not None:
        body["activate"] = activate
    response = await client.post(f"/v1/functions/{name}/versions", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


async def activate(client, admin, name, version) -> httpx.Response:
    return await client.post(
        f"/v1/functions/{name}/active-version", json={"version": version}, headers=admin
    )


async def invoke(client, headers, name, payload=None, *, params=None, **body) -> httpx.Response:
    return await client.post(
        f"/v1/functions/{name}/invoke",
        json={"payload": payload, **body},
        params=params,
        headers=headers,
    )


async def get_function(client, headers, name) -> dict:
    response = await client.get(f"/v1/functions/{name}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def history(client, headers, name) -> list[dict]:
    response = await client.get(f"/v1/functions/{name}/history", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["changes"]


async def api_client(client, admin, *scopes) -> tuple[dict[str, str], str]:
    """A new API client with `scopes`: its Authorization headers and its subject."""
    created = await client.post(
        "/v1/clients", json={"name": "t", "scopes": list(scopes)}, headers=admin
    )
    assert created.status_code == 201, created.text
    body = created.json()
    token = await token_for(
        client, client_id=body["client_id"], client_secret=body["client_secret"]
    )
    return {"Authorization": f"Bearer {token}"}, f"client:{body['client_id']}"


async def wait_until_settled(client, headers, execution_id) -> dict:
    for _ in range(200):
        record = (await client.get(f"/v1/invocations/{execution_id}", headers=headers)).json()
        if record["status"] in TERMINAL:
            return record
        await asyncio.sleep(0.02)
    raise AssertionError(f"execution {execution_id} stayed {record['status']}")


def activations(events) -> list[tuple[str, str, int | None, int]]:
    """(function, action, from, to) of every activation event published so far."""
    return [
        (e.subject, e.data["action"], e.data["from_version"], e.data["to_version"])
        for e in events
        if e.type == ACTIVATED
    ]


def sequence(*values: float):
    """A stand-in for `random.random` that answers `values` in turn, over and over."""
    state = {"n": 0}

    def chance() -> float:
        value = values[state["n"] % len(values)]
        state["n"] += 1
        return value

    return chance


def epoch(iso_time: str) -> float:
    return datetime.fromisoformat(iso_time).timestamp()


# --- registering -----------------------------------------------------------------------------


async def test_create_makes_version_1_active_and_get_shows_versions_and_policy(client, admin):
    policy = {"timeout_s": 5, "rate_limit": {"requests": 10, "per_s": 60}}
    created = await client.post(
        "/v1/functions",
        json={"name": "greeter", "description": "says hi", "target": HELLO, "policy": policy},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/v1/functions/greeter"
    body = created.json()
    assert body["name"] == "greeter" and body["description"] == "says hi"
    assert body["active_version"] == 1 and body["latest_version"] == 1
    assert body["canary"] is None and body["revision"] == 1 and body["created_by"] == "module"
    assert body["policy"] == policy
    assert [v["version"] for v in body["versions"]] == [1]
    assert body["versions"][0]["target"] == HELLO
    assert body["versions"][0]["created_by"] == "module" and body["versions"][0]["created_at"]

    shown = await get_function(client, admin, "greeter")
    assert shown == body


async def test_a_taken_name_is_409_and_keeps_the_original(client, admin):
    await register(client, admin, "dup", ECHO)
    again = await client.post("/v1/functions", json={"name": "dup", "target": HELLO}, headers=admin)
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM
    assert again.json()["code"] == "conflict"
    shown = await get_function(client, admin, "dup")
    assert shown["versions"][0]["target"] == ECHO and shown["revision"] == 1


@pytest.mark.parametrize(
    ("name", "status"),
    [  # the document's pattern: each a field error of the body
        ("has space", 422),
        ("local:echo", 422),
        ("-leading-dash", 422),
        (".hidden", 422),
        ("slash/name", 422),
        ("", 422),
        ("x" * 129, 422),
    ],
)
async def test_bad_names_are_refused(client, admin, name, status):
    response = await client.post(
        "/v1/functions", json={"name": name, "target": ECHO}, headers=admin
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    listed = (await client.get("/v1/functions", headers=admin)).json()
    assert listed["functions"] == []


async def test_longest_and_dotted_names_are_accepted(client, admin):
    for name in ("a" * 128, "billing.report_v2-final"):
        await register(client, admin, name)
        assert (await get_function(client, admin, name))["name"] == name


async def test_unknown_provider_in_a_target_is_422(client, admin):
    target = {"provider": "azure", "function": "f"}
    created = await client.post(
        "/v1/functions", json={"name": "f", "target": target}, headers=admin
    )
    assert created.status_code == 422 and created.json()["code"] == "unknown_provider"
    await register(client, admin, "g")
    added = await client.post("/v1/functions/g/versions", json={"target": target}, headers=admin)
    assert added.status_code == 422 and added.json()["code"] == "unknown_provider"
    assert (await get_function(client, admin, "g"))["latest_version"] == 1


@pytest.mark.parametrize(
    "policy",
    [
        {"timeout_s": 0},
        {"timeout_s": 901},
        {"rate_limit": {"requests": 0, "per_s": 60}},
        {"rate_limit": {"requests": 3}},
        {"retry": {"max_retries": 11}},
        {"allowed_client": ["module"]},
    ],
)
async def test_invalid_policy_is_422(client, admin, policy):
    response = await client.post(
        "/v1/functions", json={"name": "p", "target": ECHO, "policy": policy}, headers=admin
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"


async def test_only_admins_change_the_registry_and_read_scope_lists_and_gets(client, admin):
    await register(client, admin, "shared")
    reader = await new_client(client, admin, "read")
    invoker = await new_client(client, admin, "invoke")
    for headers in (reader, invoker):
        refused = [
            await client.post(
                "/v1/functions", json={"name": "mine", "target": ECHO}, headers=headers
            ),
            await client.post(
                "/v1/functions/shared/versions", json={"target": HELLO}, headers=headers
            ),
            await activate(client, headers, "shared", 1),
            await client.patch("/v1/functions/shared", json={"description": "x"}, headers=headers),
            await client.put(
                "/v1/functions/shared/canary", json={"version": 1, "weight": 5}, headers=headers
            ),
            await client.delete("/v1/functions/shared/versions/1", headers=headers),
            await client.post("/v1/functions/shared/disable", headers=headers),
            await client.post("/v1/functions/shared/enable", headers=headers),
            await client.delete("/v1/functions/shared", headers=headers),
        ]
        assert [r.status_code for r in refused] == [403] * len(refused)

    listed = await client.get("/v1/functions", headers=reader)
    assert listed.status_code == 200
    assert [f["name"] for f in listed.json()["functions"]] == ["shared"]
    assert (await get_function(client, reader, "shared"))["active_version"] == 1
    assert (await client.get("/v1/functions/shared/versions", headers=reader)).status_code == 200
    assert (await client.get("/v1/functions/shared/history", headers=reader)).status_code == 200
    # An invoker without `read` cannot browse the registry, and a reader cannot invoke.
    assert (await client.get("/v1/functions", headers=invoker)).status_code == 403
    assert (await invoke(client, reader, "shared", {})).status_code == 403
    assert (await client.get("/v1/functions", headers={})).status_code == 401


async def test_functions_list_by_name_in_pages(client, admin):
    for name in ("charlie", "alpha", "delta", "bravo", "echo"):
        await register(client, admin, name)
    names, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/functions", params=params, headers=admin)).json()
        assert len(page["functions"]) <= 2
        names += [f["name"] for f in page["functions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names == ["alpha", "bravo", "charlie", "delta", "echo"]


async def test_unknown_function_is_404_everywhere(client, admin):
    calls = [
        client.get("/v1/functions/ghost", headers=admin),
        client.patch("/v1/functions/ghost", json={"description": "x"}, headers=admin),
        client.delete("/v1/functions/ghost", headers=admin),
        client.post("/v1/functions/ghost/versions", json={"target": ECHO}, headers=admin),
        client.get("/v1/functions/ghost/versions", headers=admin),
        client.get("/v1/functions/ghost/versions/1", headers=admin),
        activate(client, admin, "ghost", 1),
        client.put("/v1/functions/ghost/canary", json={"version": 2, "weight": 5}, headers=admin),
        client.delete("/v1/functions/ghost/canary", headers=admin),
        client.get("/v1/functions/ghost/history", headers=admin),
        client.post("/v1/functions/ghost/disable", headers=admin),
        client.post("/v1/functions/ghost/enable", headers=admin),
        invoke(client, admin, "ghost", {}),
        client.get("/v1/functions/ghost/executions", headers=admin),
    ]
    for response in [await call for call in calls]:
        assert response.status_code == 404, (response.request.url, response.text)
        assert response.headers["content-type"] == PROBLEM


# --- versions, switching and rollback --------------------------------------------------------


async def test_added_version_is_inactive_unless_asked_and_activate_true_activates(client, admin):
    await register(client, admin, "fn", ECHO)
    added = await client.post("/v1/functions/fn/versions", json={"target": HELLO}, headers=admin)
    assert added.status_code == 201
    assert added.headers["location"] == "/v1/functions/fn/versions/2"
    assert added.json()["version"] == 2 and added.json()["active"] is False
    assert added.json()["target"] == HELLO
    shown = await get_function(client, admin, "fn")
    assert shown["active_version"] == 1 and shown["latest_version"] == 2
    assert [v["version"] for v in shown["versions"]] == [2, 1]
    assert (await invoke(client, admin, "fn", {"name": "x"})).json()["result"] == {"name": "x"}

    third = await add_version(client, admin, "fn", HELLO, activate=True)
    assert third["version"] == 3 and third["active"] is True
    shown = await get_function(client, admin, "fn")
    assert shown["active_version"] == 3 and shown["latest_version"] == 3
    answer = (await invoke(client, admin, "fn", {"name": "x"})).json()
    assert answer["result"] == {"message": "Hello, x!"} and answer["function_version"] == 3


async def test_invoking_by_name_runs_the_active_version_through_switch_and_rollback(client, admin):
    await register(client, admin, "fn", ECHO)
    await add_version(client, admin, "fn", HELLO)

    first = (await invoke(client, admin, "fn", {"name": "ada"})).json()
    assert first["result"] == {"name": "ada"} and first["function_version"] == 1

    switched = await activate(client, admin, "fn", 2)
    assert switched.status_code == 200 and switched.json()["active_version"] == 2
    second = (await invoke(client, admin, "fn", {"name": "ada"})).json()
    assert second["result"] == {"message": "Hello, ada!"} and second["function_version"] == 2

    rolled_back = await activate(client, admin, "fn", 1)
    assert rolled_back.status_code == 200 and rolled_back.json()["active_version"] == 1
    third = (await invoke(client, admin, "fn", {"name": "ada"})).json()
    assert third["result"] == {"name": "ada"} and third["function_version"] == 1

    for answer, version in ((first, 1), (second, 2), (third, 1)):
        record = (
            await client.get(f"/v1/invocations/{answer['execution_id']}", headers=admin)
        ).json()
        assert record["function_version"] == version and record["function"] == "fn"
        assert record["target"] == (ECHO if version == 1 else HELLO)
    changes = await history(client, admin, "fn")
    assert [c["action"] for c in changes[:2]] == ["rolled_back", "activated"]


async def test_activating_the_active_version_changes_nothing(client, admin, events):
    await register(client, admin, "fn")
    again = await activate(client, admin, "fn", 1)
    assert again.status_code == 200 and again.json()["revision"] == 1
    assert len(await history(client, admin, "fn")) == 1
    assert len(activations(events)) == 1


# --- enabling and disabling -------------------------------------------------------------------


async def test_a_disabled_function_refuses_every_invocation_and_records_none(client, admin):
    await register(client, admin, "fn", ECHO)
    assert (await get_function(client, admin, "fn"))["enabled"] is True
    assert (await invoke(client, admin, "fn", {"n": 1})).status_code == 200

    disabled = await client.post("/v1/functions/fn/disable", headers=admin)
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert (await get_function(client, admin, "fn"))["enabled"] is False
    listed = (await client.get("/v1/functions", headers=admin)).json()["functions"]
    assert [f["enabled"] for f in listed] == [False]
    for refused in (
        await invoke(client, admin, "fn", {"n": 2}),
        await invoke(client, admin, "fn", {"n": 3}, mode="async"),
        await invoke(client, admin, "fn", {"n": 4}, params={"version": 1}),
    ):
        assert refused.status_code == 409 and refused.headers["content-type"] == PROBLEM
        assert refused.json()["code"] == "function_disabled"
        assert refused.json()["function"] == "fn"
    logged = (await client.get("/v1/functions/fn/executions", headers=admin)).json()
    assert len(logged["executions"]) == 1

    enabled = await client.post("/v1/functions/fn/enable", headers=admin)
    assert enabled.status_code == 200 and enabled.json()["enabled"] is True
    assert (await invoke(client, admin, "fn", {"n": 5})).json()["result"] == {"n": 5}


async def test_disabling_and_enabling_are_in_the_history_and_a_repeat_changes_nothing(
    client, admin
):
    await register(client, admin, "fn")
    for _ in range(2):
        assert (await client.post("/v1/functions/fn/disable", headers=admin)).status_code == 200
    again = await client.post("/v1/functions/fn/enable", headers=admin)
    assert (await client.post("/v1/functions/fn/enable", headers=admin)).json()["revision"] == 3
    assert again.json()["revision"] == 3
    changes = await history(client, admin, "fn")
    assert [c["action"] for c in changes] == ["enabled", "disabled", "created"]
    assert changes[1]["by"] == changes[2]["by"]
    assert changes[1]["from_version"] is None and changes[1]["to_version"] is None


async def test_a_caller_the_policy_refuses_learns_nothing_of_the_disabled_state(client, admin):
    await register(client, admin, "fn", policy={"allowed_clients": ["client:nobody"]})
    invoker = await new_client(client, admin, "invoke")
    await client.post("/v1/functions/fn/disable", headers=admin)
    refused = await invoke(client, invoker, "fn", {})
    assert refused.status_code == 403


async def test_version_query_pins_a_version_and_unknown_versions_are_404(client, admin):
    await register(client, admin, "fn", ECHO)
    await add_version(client, admin, "fn", HELLO, activate=True)
    pinned = await invoke(client, admin, "fn", {"name": "z"}, params={"version": 1})
    assert pinned.status_code == 200
    assert pinned.json()["result"] == {"name": "z"} and pinned.json()["function_version"] == 1
    active = (await invoke(client, admin, "fn", {"name": "z"})).json()
    assert active["function_version"] == 2

    missing = await invoke(client, admin, "fn", {}, params={"version": 9})
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    for bad in ("0", "-1", "two", "1.5"):
        response = await invoke(client, admin, "fn", {}, params={"version": bad})
        assert response.status_code == 400, bad
    assert (await activate(client, admin, "fn", 9)).status_code == 409  # named in a body
    assert (await activate(client, admin, "fn", 0)).status_code == 422
    assert (await client.get("/v1/functions/fn/versions/9", headers=admin)).status_code == 404
    assert (await client.get("/v1/functions/fn/versions/x", headers=admin)).status_code == 400
    assert (await get_function(client, admin, "fn"))["active_version"] == 2


async def test_a_non_ascii_digit_version_is_400_not_500(client, admin):
    """'²' passes str.isdigit() but int() refuses it: it must be a 400 like any bad version."""
    await register(client, admin, "fn")
    for response in (
        await client.get("/v1/functions/fn/versions/\u00b2", headers=admin),
        await client.delete("/v1/functions/fn/versions/\u00b2", headers=admin),
        await invoke(client, admin, "fn", {}, params={"version": "\u00b2"}),
    ):
        assert response.status_code == 400, (response.request.url, response.text)


async def test_versions_list_newest_first_in_pages_and_one_version_is_readable(client, admin):
    await register(client, admin, "fn", ECHO)
    for _ in range(4):
        await add_version(client, admin, "fn", HELLO)
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/functions/fn/versions", params=params, headers=admin)).json()
        seen += [v["version"] for v in page["versions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [5, 4, 3, 2, 1]
    one = (await client.get("/v1/functions/fn/versions/1", headers=admin)).json()
    assert one["version"] == 1 and one["target"] == ECHO and one["created_by"] == "module"


async def test_deleting_versions(client, admin):
    await register(client, admin, "fn", ECHO)
    await add_version(client, admin, "fn", HELLO)
    await add_version(client, admin, "fn", ECHO)

    active = await client.delete("/v1/functions/fn/versions/1", headers=admin)
    assert active.status_code == 409 and active.headers["content-type"] == PROBLEM

    canary = await client.put(
        "/v1/functions/fn/canary", json={"version": 3, "weight": 10}, headers=admin
    )
    assert canary.status_code == 200
    refused = await client.delete("/v1/functions/fn/versions/3", headers=admin)
    assert refused.status_code == 409

    deleted = await client.delete("/v1/functions/fn/versions/2", headers=admin)
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await client.get("/v1/functions/fn/versions/2", headers=admin)).status_code == 404
    assert (await client.delete("/v1/functions/fn/versions/2", headers=admin)).status_code == 404
    assert (await activate(client, admin, "fn", 2)).status_code == 409
    assert (await invoke(client, admin, "fn", {}, params={"version": 2})).status_code == 404
    shown = await get_function(client, admin, "fn")
    assert [v["version"] for v in shown["versions"]] == [3, 1] and shown["active_version"] == 1
    # Numbers are never reused: the next version is 4, not 2.
    assert (await add_version(client, admin, "fn", HELLO))["version"] == 4
    last = (await history(client, admin, "fn"))[1]
    assert last["action"] == "version_deleted" and last["from_version"] == 2
    assert last["to_version"] is None


async def test_history_records_every_change_newest_first_without_gaps(client, admin):
    other, subject = await api_client(client, admin, "admin")
    before = time.time()
    await register(client, admin, "fn", ECHO)
    await add_version(client, admin, "fn", HELLO)
    await activate(client, other, "fn", 2)
    await activate(client, admin, "fn", 1)
    await add_version(client, other, "fn", ECHO, activate=True)
    await client.put("/v1/functions/fn/canary", json={"version": 2, "weight": 25}, headers=admin)
    await client.delete("/v1/functions/fn/canary", headers=admin)
    await client.patch("/v1/functions/fn", json={"description": "new"}, headers=admin)
    await client.delete("/v1/functions/fn/versions/2", headers=other)
    after = time.time()

    changes = await history(client, admin, "fn")
    got = [(c["action"], c["by"], c["from_version"], c["to_version"]) for c in changes]
    assert got == [
        ("version_deleted", subject, 2, None),
        ("policy_updated", "module", None, None),
        ("canary_cleared", "module", 2, 3),
        ("canary_set", "module", 3, 2),
        ("activated", subject, 1, 3),
        ("rolled_back", "module", 2, 1),
        ("activated", subject, 1, 2),
        ("version_added", "module", None, 2),
        ("created", "module", None, 1),
    ]
    assert [c["revision"] for c in changes] == list(range(9, 0, -1))
    assert changes[3]["detail"] == {"weight": 25}
    assert changes[4]["detail"] == {"version_added": 3}
    assert changes[1]["detail"] == {"changed": ["description"]}
    times = [epoch(c["at"]) for c in changes]
    assert times == sorted(times, reverse=True)
    assert before - 0.001 <= times[-1] and times[0] <= after + 0.001
    assert (await get_function(client, admin, "fn"))["revision"] == 9

    page = (await client.get("/v1/functions/fn/history?limit=4", headers=admin)).json()
    assert [c["revision"] for c in page["changes"]] == [9, 8, 7, 6]
    rest = (
        await client.get(
            "/v1/functions/fn/history", params={"cursor": page["next_cursor"]}, headers=admin
        )
    ).json()
    assert [c["revision"] for c in rest["changes"]] == [5, 4, 3, 2, 1]
    assert rest["next_cursor"] is None


async def test_concurrent_switches_keep_one_active_version_and_a_gapless_history(
    client, admin, events
):
    await register(client, admin, "fn", ECHO)
    for _ in range(3):
        await add_version(client, admin, "fn", HELLO)
    wanted = [1, 2, 3, 4] * 5
    answers = await asyncio.gather(*(activate(client, admin, "fn", v) for v in wanted))
    assert [a.status_code for a in answers] == [200] * len(wanted)

    changes = await history(client, admin, "fn")
    assert [c["revision"] for c in changes] == list(range(len(changes), 0, -1))
    switches = [c for c in changes if c["action"] in ("activated", "rolled_back")]
    shown = await get_function(client, admin, "fn")
    assert shown["revision"] == len(changes)
    assert shown["active_version"] == switches[0]["to_version"]
    # Each switch starts where the one before it ended.
    chain = list(reversed(switches))
    for earlier, later in zip(chain, chain[1:], strict=False):
        assert later["from_version"] == earlier["to_version"] != later["to_version"]
    assert len(activations(events)) == 1 + len(switches)


async def test_concurrent_version_adds_get_distinct_numbers(client, admin):
    await register(client, admin, "fn", ECHO)
    added = await asyncio.gather(*(add_version(client, admin, "fn", HELLO) for _ in range(6)))
    assert sorted(a["version"] for a in added) == [2, 3, 4, 5, 6, 7]
    shown = await get_function(client, admin, "fn")
    assert shown["latest_version"] == 7 and shown["active_version"] == 1


# --- canary ----------------------------------------------------------------------------------


async def test_canary_splits_invocations_by_weight(client, admin, services, monkeypatch):
    await register(client, admin, "fn", ECHO)
    await add_version(client, admin, "fn", HELLO)
    put = await client.put(
        "/v1/functions/fn/canary", json={"version": 2, "weight": 25}, headers=admin
    )
    assert put.status_code == 200 and put.json()["canary"] == {"version": 2, "weight": 25}
    assert put.json()["active_version"] == 1
    # chance * 100 < weight runs the canary: 0.0 and 0.2499 do, 0.25 and 0.99 do not.
    monkeypatch.setattr(services.registry, "_chance", sequence(0.0, 0.25, 0.2499, 0.99))
    answers = [(await invoke(client, admin, "fn", {"name": "c"})).json() for _ in range(8)]
    assert [answer["function_version"] for answer in answers] == [2, 1, 2, 1, 2, 1, 2, 1]
    # The log records each execution with the version it ran. Its order is the ids' order
    # (newest first), which is the invocations' order only to the millisecond.
    logged = (await client.get("/v1/functions/fn/executions", headers=admin)).json()["executions"]
    ran = {answer["execution_id"]: answer["function_version"] for answer in answers}
    assert {entry["execution_id"]: entry["version"] for entry in logged} == ran
    ids = [entry["execution_id"] for entry in logged]
    assert len(ids) == len(ran) and ids == sorted(ids, reverse=True)
    # A pinned version ignores the split.
    monkeypatch.setattr(services.registry, "_chance", sequence(0.0))
    pinned = await invoke(client, admin, "fn", {}, params={"version": 1})
    assert pinned.json()["function_version"] == 1


async def test_canary_with_weight_50_runs_both_versions(client, admin):
    """Real randomness: all 60 on one side has probability 2 * 2**-60 (about 1.7e-18)."""
    await register(client, admin, "fn", ECHO)
    await add_version(client, admin, "fn", HELLO)
    await client.put("/v1/functions/fn/canary", json={"version": 2, "weight": 50}, headers=admin)
    answers = [await invoke(client, admin, "fn", {"name": "n"}) for _ in range(60)]
    counts = {1: 0, 2: 0}
    for answer in answers:
        body = answer.json()
        counts[body["function_version"]] += 1
        expected = {"name": "n"} if body["function_version"] == 1 else {"message": "Hello, n!"}
        assert body["result"] == expected
    assert counts[1] > 0 and counts[2] > 0 and sum(counts.values()) == 60


async def test_activating_the_canary_version_ends_the_split(client, admin, services, monkeypatch):
    await register(client, admin, "fn", ECHO)
    await add_version(client, admin, "fn", HELLO)
    await client.put("/v1/functions/fn/canary", json={"version": 2, "weight": 10}, headers=admin)
    promoted = await activate(client, admin, "fn", 2)
    assert promoted.json()["active_version"] == 2 and promoted.json()["canary"] is None
    assert (await get_function(client, admin, "fn"))["canary"] is None
    monkeypatch.setattr(services.registry, "_chance", sequence(0.0))
    assert (await invoke(client, admin, "fn", {})).json()["function_version"] == 2
    # The former active version can be deleted now that nothing points at it...
    assert (await client.delete("/v1/functions/fn/versions/1", headers=admin)).status_code == 204
    # ...and version 2 is now active: it cannot.
    assert (await client.delete("/v1/functions/fn/versions/2", headers=admin)).status_code == 409


async def test_adding_an_active_version_that_is_not_the_canary_keeps_the_split(client, admin):
    await register(client, admin, "fn", ECHO)
    await add_version(client, admin, "fn", HELLO)
    await client.put("/v1/functions/fn/canary", json={"version": 2, "weight": 10}, headers=admin)
    await add_version(client, admin, "fn", ECHO, activate=True)
    shown = await get_function(client, admin, "fn")
    assert shown["active_version"] == 3 and shown["canary"] == {"version": 2, "weight": 10}


async def test_deleting_the_canary_sends_everything_to_the_active_version(
    client, admin, services, monkeypatch
):
    await register(client, admin, "fn", ECHO)
    await add_version(client, admin, "fn", HELLO)
    await client.put("/v1/functions/fn/canary", json={"version": 2, "weight": 99}, headers=admin)
    cleared = await client.delete("/v1/functions/fn/canary", headers=admin)
    assert cleared.status_code == 200 and cleared.json()["canary"] is None
    monkeypatch.setattr(services.registry, "_chance", sequence(0.0))
    ran = {(await invoke(client, admin, "fn", {})).json()["function_version"] for _ in range(3)}
    assert ran == {1}
    # Clearing again changes nothing (no new history entry).
    revision = (await get_function(client, admin, "fn"))["revision"]
    again = await client.delete("/v1/functions/fn/canary", headers=admin)
    assert again.status_code == 200 and again.json()["revision"] == revision


async def test_bad_canaries_are_refused(client, admin):
    await register(client, admin, "fn", ECHO)
    await add_version(client, admin, "fn", HELLO)
    put = "/v1/functions/fn/canary"
    assert (
        await client.put(put, json={"version": 1, "weight": 10}, headers=admin)
    ).status_code == 409
    assert (
        await client.put(put, json={"version": 7, "weight": 10}, headers=admin)
    ).status_code == 409
    for weight in (0, 100, -5, 12.5):
        response = await client.put(put, json={"version": 2, "weight": weight}, headers=admin)
        assert response.status_code == 422, weight
    assert (await client.put(put, json={"version": 2}, headers=admin)).status_code == 422
    assert (await get_function(client, admin, "fn"))["canary"] is None


# --- policy ----------------------------------------------------------------------------------


async def test_allowed_clients_let_only_those_clients_and_admins_invoke(client, admin):
    allowed, subject = await api_client(client, admin, "invoke")
    other, _ = await api_client(client, admin, "invoke")
    await register(client, admin, "fn", ECHO, policy={"allowed_clients": [subject]})

    assert (await invoke(client, allowed, "fn", {"a": 1})).json()["result"] == {"a": 1}
    refused = await invoke(client, other, "fn", {"a": 1})
    assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM
    assert refused.json()["code"] == "forbidden"
    assert (await invoke(client, admin, "fn", {"a": 1})).status_code == 200
    # A refused call is not recorded.
    logged = (await client.get("/v1/functions/fn/executions", headers=admin)).json()
    assert {e["caller"] for e in logged["executions"]} == {subject, "module"}
    assert len(logged["executions"]) == 2


async def test_allowed_scopes_need_one_of_the_scopes(client, admin):
    with_read, _ = await api_client(client, admin, "invoke", "read")
    without, _ = await api_client(client, admin, "invoke")
    await register(client, admin, "fn", ECHO, policy={"allowed_scopes": ["read"]})
    assert (await invoke(client, with_read, "fn", {})).status_code == 200
    assert (await invoke(client, without, "fn", {})).status_code == 403
    assert (await invoke(client, admin, "fn", {})).status_code == 200


async def test_an_invoke_glob_scope_matching_the_name_invokes_by_name(client, admin):
    billing = await new_client(client, admin, "invoke:billing-*")
    await register(client, admin, "billing-report", ECHO)
    await register(client, admin, "payroll", ECHO)
    ok = await invoke(client, billing, "billing-report", {"n": 1})
    assert ok.status_code == 200 and ok.json()["result"] == {"n": 1}
    assert (await invoke(client, billing, "payroll", {})).status_code == 403
    # The scope names the registered function, not its target.
    direct = await client.post("/v1/invoke", json={"target": ECHO}, headers=billing)
    assert direct.status_code == 403
    # The invoker reads its own execution in full without the read scope.
    mine = await client.get(
        f"/v1/functions/billing-report/executions/{ok.json()['execution_id']}", headers=billing
    )
    assert mine.status_code == 200 and mine.json()["payload"] == {"n": 1}


async def test_policy_timeout_applies_and_a_caller_can_only_shorten_it(client, admin):
    await register(client, admin, "sleepy", SLOW, policy={"timeout_s": 0.3})
    started = time.monotonic()
    response = await invoke(client, admin, "sleepy", {"seconds": 3}, timeout_s=10)
    assert time.monotonic() - started < 2.5
    assert response.status_code == 504 and response.headers["content-type"] == PROBLEM
    body = response.json()
    record = (await client.get(f"/v1/invocations/{body['execution_id']}", headers=admin)).json()
    assert record["status"] == "timed_out" and record["timeout_s"] == 0.3
    assert record["function_version"] == 1

    await register(client, admin, "patient", SLOW, policy={"timeout_s": 30})
    shortened = await invoke(client, admin, "patient", {"seconds": 3}, timeout_s=0.3)
    assert shortened.status_code == 504
    fast = await invoke(client, admin, "patient", {"seconds": 0.01})
    assert fast.status_code == 200 and fast.json()["result"] == {"seconds": 0.01}


async def test_retry_override_replaces_the_service_retries(client, admin):
    target = {"provider": "http", "url": f"http://127.0.0.1:{free_port()}/fn"}
    await register(client, admin, "once", target, policy={"retry": {"max_retries": 0}})
    await register(client, admin, "default", target)
    once = await invoke(client, admin, "once", {})
    assert once.status_code == 502 and once.json()["attempts"] == 1
    record = (
        await client.get(f"/v1/invocations/{once.json()['execution_id']}", headers=admin)
    ).json()
    assert record["attempts"] == 1 and record["status"] == "failed"
    default = await invoke(client, admin, "default", {})
    assert default.status_code == 502 and default.json()["attempts"] == 3  # MAX_RETRIES=2


async def test_rate_limit_per_caller_answers_429_with_retry_after(
    client, admin, services, monkeypatch
):
    now = [1_800_000_000.0 + 10.6]  # 10.6 s into a 60 s window
    monkeypatch.setattr(services.registry._rate_limiter, "_clock", lambda: now[0])
    policy = {"rate_limit": {"requests": 3, "per_s": 60}}
    await register(client, admin, "limited", ECHO, policy=policy)
    first, _ = await api_client(client, admin, "invoke")
    second, _ = await api_client(client, admin, "invoke")

    for _ in range(3):
        assert (await invoke(client, first, "limited", {})).status_code == 200
    refused = await invoke(client, first, "limited", {})
    assert refused.status_code == 429 and refused.headers["content-type"] == PROBLEM
    assert refused.json()["code"] == "rate_limited" and refused.json()["status"] == 429
    assert refused.headers["retry-after"] == "50"  # ceil(60 - 10.6), not round()
    # Another caller has its own count; the admin too.
    assert (await invoke(client, second, "limited", {})).status_code == 200
    assert (await invoke(client, admin, "limited", {})).status_code == 200
    # The refused call ran nothing and recorded nothing.
    logged = (await client.get("/v1/functions/limited/executions", headers=admin)).json()
    assert len(logged["executions"]) == 5

    now[0] = 1_800_000_000.0 + 59.99  # the last moment of the window: Retry-After is at least 1
    assert (await invoke(client, first, "limited", {})).headers["retry-after"] == "1"
    now[0] = 1_800_000_000.0 + 60.0  # the next window
    assert (await invoke(client, first, "limited", {})).status_code == 200


async def test_rate_limit_with_the_real_clock_sends_an_integer_retry_after(client, admin):
    await register(
        client, admin, "limited", ECHO, policy={"rate_limit": {"requests": 1, "per_s": 86400}}
    )
    assert (await invoke(client, admin, "limited", {})).status_code == 200
    refused = await invoke(client, admin, "limited", {})
    if refused.status_code == 200:  # crossed midnight UTC between the two calls
        refused = await invoke(client, admin, "limited", {})
    assert refused.status_code == 429
    retry_after = refused.headers["retry-after"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 86400


async def test_patch_changes_description_and_policy_and_the_policy_applies_at_once(client, admin):
    invoker, subject = await api_client(client, admin, "invoke")
    await register(client, admin, "fn", ECHO, description="old")
    assert (await invoke(client, invoker, "fn", {})).status_code == 200

    patched = await client.patch(
        "/v1/functions/fn", json={"policy": {"allowed_clients": ["module"]}}, headers=admin
    )
    assert patched.status_code == 200
    assert patched.json()["policy"] == {"allowed_clients": ["module"]}
    assert patched.json()["description"] == "old"
    assert (await invoke(client, invoker, "fn", {})).status_code == 403

    described = await client.patch("/v1/functions/fn", json={"description": "new"}, headers=admin)
    assert described.json()["description"] == "new"
    assert described.json()["policy"] == {"allowed_clients": ["module"]}
    shown = await get_function(client, admin, "fn")
    assert shown["description"] == "new" and shown["revision"] == 3

    await client.patch(
        "/v1/functions/fn", json={"policy": {"allowed_clients": [subject]}}, headers=admin
    )
    assert (await invoke(client, invoker, "fn", {})).status_code == 200

    bad = await client.patch("/v1/functions/fn", json={"policy": {"timeout_s": -1}}, headers=admin)
    assert bad.status_code == 422
    assert (await get_function(client, admin, "fn"))["policy"] == {"allowed_clients": [subject]}


# --- other invocation modes ------------------------------------------------------------------


async def test_async_invoke_by_name_completes_with_its_version(client, admin):
    await register(client, admin, "fn", ECHO)
    await add_version(client, admin, "fn", HELLO, activate=True)
    response = await invoke(client, admin, "fn", {"name": "later"}, mode="async")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert response.headers["location"] == f"/v1/invocations/{body['execution_id']}"
    record = await wait_until_settled(client, admin, body["execution_id"])
    assert record["status"] == "succeeded" and record["mode"] == "async"
    assert record["result"] == {"message": "Hello, later!"}
    assert record["function_version"] == 2 and record["function"] == "fn"


async def test_async_invoke_keeps_the_retry_override(client, admin):
    target = {"provider": "http", "url": f"http://127.0.0.1:{free_port()}/fn"}
    await register(client, admin, "once", target, policy={"retry": {"max_retries": 0}})
    response = await invoke(client, admin, "once", {}, mode="async")
    assert response.status_code == 202
    record = await wait_until_settled(client, admin, response.json()["execution_id"])
    assert record["status"] == "failed" and record["attempts"] == 1


async def test_dry_run_by_name_checks_the_version_without_running_it(client, admin):
    await register(client, admin, "fn", ECHO)
    await add_version(client, admin, "fn", {"provider": "local", "function": "nope"})
    dry = await invoke(client, admin, "fn", {"x": 1}, mode="dry_run")
    body = dry.json()
    assert dry.status_code == 200 and body["status_code"] == 204 and body["result"] is None
    assert body["function_version"] == 1
    missing = await invoke(client, admin, "fn", {}, mode="dry_run", params={"version": 2})
    assert missing.status_code == 404 and missing.json()["code"] == "function_not_found"


async def test_idempotency_key_on_invoke_by_name_replays_the_first_execution(client, admin):
    await register(client, admin, "fn", HELLO)
    headers = admin | {"Idempotency-Key": "order-7"}
    first = await invoke(client, headers, "fn", {"name": "once"})
    second = await invoke(client, headers, "fn", {"name": "once"})
    assert first.status_code == second.status_code == 200
    assert first.json()["execution_id"] == second.json()["execution_id"]
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json()["function_version"] == 1
    logged = (await client.get("/v1/functions/fn/executions", headers=admin)).json()
    assert [e["execution_id"] for e in logged["executions"]] == [first.json()["execution_id"]]
    changed = await invoke(client, headers, "fn", {"name": "other"})
    assert changed.status_code == 422 and changed.json()["code"] == "idempotency_key_reused"


async def test_idempotency_key_replays_across_a_canary_split(client, admin, services, monkeypatch):
    await register(client, admin, "fn", ECHO)
    await add_version(client, admin, "fn", HELLO)
    await client.put("/v1/functions/fn/canary", json={"version": 2, "weight": 50}, headers=admin)
    monkeypatch.setattr(services.registry, "_chance", sequence(0.9, 0.1))
    headers = admin | {"Idempotency-Key": "split-1"}
    first = await invoke(client, headers, "fn", {"name": "s"})
    second = await invoke(client, headers, "fn", {"name": "s"})
    assert first.json()["execution_id"] == second.json()["execution_id"]
    assert second.json()["function_version"] == first.json()["function_version"] == 1


async def test_idempotency_key_reused_for_another_pinned_version_is_422(client, admin):
    """A pinned `?version=N` is part of what the caller asked for: the same key with another
    pinned version is another request, not a replay of a different version's result."""
    await register(client, admin, "fn", ECHO)
    await add_version(client, admin, "fn", HELLO)
    headers = admin | {"Idempotency-Key": "pinned"}
    first = await invoke(client, headers, "fn", {"name": "p"}, params={"version": 1})
    assert first.json()["function_version"] == 1
    other = await invoke(client, headers, "fn", {"name": "p"}, params={"version": 2})
    assert other.status_code == 422, other.json()


# --- execution logs and activity -------------------------------------------------------------


async def test_execution_log_lists_only_this_function_newest_first_without_bodies(client, admin):
    await register(client, admin, "mine", ECHO)
    await register(client, admin, "theirs", ECHO)
    mine = [(await invoke(client, admin, "mine", {"i": i})).json()["execution_id"] for i in (1, 2)]
    await invoke(client, admin, "theirs", {"i": 0})
    await client.post("/v1/invoke", json={"target": ECHO, "payload": {}}, headers=admin)
    mine.append((await invoke(client, admin, "mine", {"i": 3})).json()["execution_id"])

    logged = (await client.get("/v1/functions/mine/executions", headers=admin)).json()
    entries = logged["executions"]
    assert [e["execution_id"] for e in entries] == list(reversed(mine))
    assert logged["next_cursor"] is None
    for entry in entries:
        assert not {"payload", "result", "logs"} & set(entry)
        assert entry["function"] == "mine" and entry["version"] == 1
        assert entry["status"] == "succeeded" and entry["success"] is True
        assert entry["caller"] == "module" and entry["mode"] == "sync"
        assert entry["created_at"] and entry["finished_at"] and entry["duration_ms"] > 0


async def test_execution_log_filters_by_status_and_time_and_pages(client, admin):
    await register(client, admin, "fn", ECHO)
    await add_version(client, admin, "fn", FAIL)
    ids = []
    for n in range(5):
        params = {"version": 2} if n == 2 else None
        ids.append((await invoke(client, admin, "fn", {"n": n}, params=params)).json())
        await asyncio.sleep(0.002)  # distinct milliseconds: the time filters work by ms
    ids = [answer["execution_id"] for answer in ids]
    base = "/v1/functions/fn/executions"

    failed = (await client.get(base, params={"status": "failed"}, headers=admin)).json()
    assert [e["execution_id"] for e in failed["executions"]] == [ids[2]]
    assert failed["executions"][0]["version"] == 2
    assert failed["executions"][0]["error"]["type"] == "ValueError"
    succeeded = (await client.get(base, params={"status": "succeeded"}, headers=admin)).json()
    assert [e["execution_id"] for e in succeeded["executions"]] == [ids[4], ids[3], ids[1], ids[0]]

    third = (await client.get(f"{base}/{ids[2]}", headers=admin)).json()
    fourth = (await client.get(f"{base}/{ids[3]}", headers=admin)).json()
    for since, until in (
        (third["created_at"], fourth["created_at"]),
        (str(epoch(third["created_at"])), str(epoch(fourth["created_at"]))),
        (third["created_at"].replace("+00:00", "Z"), fourth["created_at"].replace("+00:00", "")),
    ):
        window = (
            await client.get(base, params={"since": since, "until": until}, headers=admin)
        ).json()
        assert [e["execution_id"] for e in window["executions"]] == [ids[2]], (since, until)
    later = (await client.get(base, params={"since": fourth["created_at"]}, headers=admin)).json()
    assert [e["execution_id"] for e in later["executions"]] == [ids[4], ids[3]]
    earlier = (await client.get(base, params={"until": third["created_at"]}, headers=admin)).json()
    assert [e["execution_id"] for e in earlier["executions"]] == [ids[1], ids[0]]

    backwards = {"since": fourth["created_at"], "until": third["created_at"]}
    empty = (await client.get(base, params=backwards, headers=admin)).json()
    assert empty == {"executions": [], "next_cursor": None}  # an empty range, not an error

    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(base, params=params, headers=admin)).json()
        assert len(page["executions"]) <= 2
        seen += [e["execution_id"] for e in page["executions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))

    backwards = {"since": fourth["created_at"], "until": third["created_at"]}
    empty = (await client.get(base, params=backwards, headers=admin)).json()
    assert empty == {"executions": [], "next_cursor": None}  # an empty range, not an error

    for params in (
        {"status": "weird"},
        {"since": "yesterday"},
        {"until": "soon"},
        {"limit": 0},
        {"cursor": "%%%"},
    ):
        assert (await client.get(base, params=params, headers=admin)).status_code == 400, params


async def test_one_execution_in_full_and_not_through_another_function(client, admin):
    await register(client, admin, "breaks", FAIL)
    await register(client, admin, "talks", NOISY)
    failed = (await invoke(client, admin, "breaks", {"message": "boom"})).json()
    talked = (await invoke(client, admin, "talks", {"tag": "hi"})).json()

    full = await client.get(
        f"/v1/functions/breaks/executions/{failed['execution_id']}", headers=admin
    )
    assert full.status_code == 200
    record = full.json()
    assert record["payload"] == {"message": "boom"} and record["function_version"] == 1
    assert record["error"]["type"] == "ValueError" and "boom" in record["error"]["message"]
    assert "Traceback" in record["logs"] and record["status"] == "failed"
    spoke = (
        await client.get(f"/v1/functions/talks/executions/{talked['execution_id']}", headers=admin)
    ).json()
    assert spoke["result"] == "ok" and "hi: to stdout" in spoke["logs"]
    assert "hi: to stderr" in spoke["logs"]

    crossed = await client.get(
        f"/v1/functions/talks/executions/{failed['execution_id']}", headers=admin
    )
    assert crossed.status_code == 404 and crossed.headers["content-type"] == PROBLEM
    unknown = await client.get(f"/v1/functions/talks/executions/{'0' * 32}", headers=admin)
    assert unknown.status_code == 404
    # Another caller without read sees neither.
    stranger = await new_client(client, admin, "invoke")
    hidden = await client.get(
        f"/v1/functions/breaks/executions/{failed['execution_id']}", headers=stranger
    )
    assert hidden.status_code == 404


async def test_activity_lists_recent_executions_across_functions(client, admin):
    await register(client, admin, "one", ECHO)
    await register(client, admin, "two", HELLO)
    await add_version(client, admin, "two", FAIL)
    expected = []
    for name, params in (("one", None), ("two", None), ("two", {"version": 2}), ("one", None)):
        answer = (await invoke(client, admin, name, {"message": "m"}, params=params)).json()
        expected.append((answer["execution_id"], name, answer["function_version"]))
    feed = (await client.get("/v1/activity", headers=admin)).json()
    got = [(e["execution_id"], e["function"], e["version"]) for e in feed["activity"]]
    assert got == list(reversed(expected))
    assert all(not {"payload", "result", "logs"} & set(e) for e in feed["activity"])

    failed = (await client.get("/v1/activity", params={"status": "failed"}, headers=admin)).json()
    assert [(e["function"], e["version"]) for e in failed["activity"]] == [("two", 2)]
    page = (await client.get("/v1/activity", params={"limit": 3}, headers=admin)).json()
    assert len(page["activity"]) == 3 and page["next_cursor"]
    rest = (
        await client.get("/v1/activity", params={"cursor": page["next_cursor"]}, headers=admin)
    ).json()
    assert [e["execution_id"] for e in rest["activity"]] == [expected[0][0]]
    reader = await new_client(client, admin, "read")
    assert (await client.get("/v1/activity", headers=reader)).status_code == 200
    invoker = await new_client(client, admin, "invoke")
    assert (await client.get("/v1/activity", headers=invoker)).status_code == 403


# --- activation events -----------------------------------------------------------------------


async def test_one_activation_event_per_activation(client, admin, events, caplog):
    caplog.set_level(logging.INFO, logger="fnproxy.events")
    await register(client, admin, "fn", ECHO)
    await add_version(client, admin, "fn", HELLO)  # not activated: no event
    await add_version(client, admin, "fn", ECHO, activate=True)
    await activate(client, admin, "fn", 2)
    await activate(client, admin, "fn", 2)  # already active: no event
    await activate(client, admin, "fn", 1)
    await client.put("/v1/functions/fn/canary", json={"version": 3, "weight": 5}, headers=admin)
    await client.delete("/v1/functions/fn/canary", headers=admin)
    await client.patch("/v1/functions/fn", json={"description": "d"}, headers=admin)
    await client.delete("/v1/functions/fn/versions/2", headers=admin)

    assert activations(events) == [
        ("fn", "created", None, 1),
        ("fn", "activated", 1, 3),
        ("fn", "rolled_back", 3, 2),
        ("fn", "rolled_back", 2, 1),
    ]
    published = [e for e in events if e.type == ACTIVATED]
    changes = {c["revision"]: c for c in await history(client, admin, "fn")}
    for event in published:
        change = changes[event.data["revision"]]
        assert event.data["function"] == "fn" and event.data["by"] == "module"
        assert (change["from_version"], change["to_version"]) == (
            event.data["from_version"],
            event.data["to_version"],
        )
        assert event.attributes == {"type": ACTIVATED, "function": "fn"}

    logged = [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.name == "fnproxy.events" and ACTIVATED in r.getMessage()
    ]
    assert [(e["data"]["from_version"], e["data"]["to_version"]) for e in logged] == [
        (None, 1),
        (1, 3),
        (3, 2),
        (2, 1),
    ]
    assert all(e["specversion"] == "1.0" and e["subject"] == "fn" for e in logged)


async def test_promoting_a_canary_publishes_an_activation(client, admin, events):
    await register(client, admin, "fn", ECHO)
    await add_version(client, admin, "fn", HELLO)
    await client.put("/v1/functions/fn/canary", json={"version": 2, "weight": 40}, headers=admin)
    await activate(client, admin, "fn", 2)
    assert activations(events)[-1] == ("fn", "activated", 1, 2)


# --- secrets in a registered target ----------------------------------------------------------

SECRET = "planted-registry-secret-0123456789"


@pytest.fixture
def listener():
    """A loopback HTTP function that answers {"ok": true} at /hook and records each request."""
    started = Listener().start()
    started.routes["/hook"] = lambda handler: handler.answer(200, {"ok": True})
    yield started
    started.stop()


def secret_target(listener) -> dict:
    return {
        "provider": "http",
        "url": f"{listener.url}/hook?token={SECRET}&mode=x",
        "method": "POST",
        "headers": {"X-Api-Key": SECRET},
    }


REDACTED_URL_TAIL = "/hook?token=***&mode=***"


async def test_a_registered_target_is_clear_to_admins_alone(client, admin, listener, events):
    target = secret_target(listener)
    created = await register(client, admin, "keyed", target)
    assert created["versions"][0]["target"] == target  # the admin who registered it
    await add_version(client, admin, "keyed", target, activate=True)
    assert (await get_function(client, admin, "keyed"))["versions"][0]["target"] == target

    reader = await new_client(client, admin, "read")
    answers = [
        await client.get("/v1/functions/keyed", headers=reader),
        await client.get("/v1/functions/keyed/versions", headers=reader),
        await client.get("/v1/functions/keyed/versions/1", headers=reader),
        await client.get("/v1/functions/keyed/history", headers=reader),
        await client.get("/v1/functions", headers=reader),
    ]
    assert [a.status_code for a in answers] == [200] * 5
    assert not [a.request.url.path for a in answers if SECRET in a.text]
    shown = answers[2].json()["target"]
    assert shown["url"].endswith(REDACTED_URL_TAIL) and shown["headers"] == {"X-Api-Key": "***"}
    assert activations(events) and SECRET not in str([e.data for e in events])


async def test_invoking_a_secret_target_by_name_sends_it_and_records_it_redacted(
    client, admin, listener, events
):
    await register(client, admin, "keyed", secret_target(listener))
    invoker = await new_client(client, admin, "invoke:keyed")
    assert (await client.get("/v1/functions/keyed", headers=invoker)).status_code == 403

    answer = await invoke(client, invoker, "keyed", {"n": 1})
    assert answer.status_code == 200 and answer.json()["success"] is True, answer.text
    [call] = listener.hits("/hook")
    assert call.headers["x-api-key"] == SECRET and f"token={SECRET}" in call.path

    execution_id = answer.json()["execution_id"]
    own = await client.get(f"/v1/invocations/{execution_id}", headers=invoker)
    logged = await client.get(f"/v1/functions/keyed/executions/{execution_id}", headers=invoker)
    activity = await client.get("/v1/activity", headers=admin)
    for shown in (answer, own, logged, activity):
        assert shown.status_code == 200 and SECRET not in shown.text, shown.request.url
    assert own.json()["target"]["headers"] == {"X-Api-Key": "***"}
    assert own.json()["target"]["url"].endswith(REDACTED_URL_TAIL)
    assert SECRET not in str([e.data for e in events])


# --- deleting a function ---------------------------------------------------------------------


async def test_delete_function_then_404_and_the_name_is_reusable(client, admin):
    await register(client, admin, "fn", ECHO)
    await add_version(client, admin, "fn", HELLO, activate=True)
    deleted = await client.delete("/v1/functions/fn", headers=admin)
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await client.get("/v1/functions/fn", headers=admin)).status_code == 404
    assert (await client.get("/v1/functions/fn/history", headers=admin)).status_code == 404
    assert (await invoke(client, admin, "fn", {})).status_code == 404
    assert (await client.delete("/v1/functions/fn", headers=admin)).status_code == 404

    again = await register(client, admin, "fn", FAIL)
    assert again["active_version"] == 1 and again["latest_version"] == 1
    assert [v["target"] for v in again["versions"]] == [FAIL]
    assert [c["action"] for c in await history(client, admin, "fn")] == ["created"]
    answer = (await invoke(client, admin, "fn", {"message": "new"})).json()
    assert answer["success"] is False and answer["function_version"] == 1
