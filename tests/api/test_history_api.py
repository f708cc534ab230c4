"""History listing, stats from rollups, provider listings, health and the API description."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest

from core import __version__
from core.auth.keys import KeyRing
from core.events.base import InvocationMessage
from core.sealing import Sealer
from core.secrets.env import EnvSecretSource
from tests.api.conftest import new_client
from tests.security.support import Listener

HELLO = {"provider": "local", "function": "hello"}
FAIL = {"provider": "local", "function": "fail"}


async def invoke(client, headers, target, payload=None):
    response = await client.post(
        "/v1/invoke", json={"target": target, "payload": payload or {}}, headers=headers
    )
    return response.json()["execution_id"]


async def test_list_is_newest_first_filtered_and_paginated(client, admin):
    ids = [await invoke(client, admin, HELLO) for _ in range(5)]
    failed = await invoke(client, admin, FAIL, {"message": "x"})
    page = (await client.get("/v1/invocations?function=local:hello&limit=2", headers=admin)).json()
    seen = [i["execution_id"] for i in page["invocations"]]
    while page["next_cursor"]:
        page = (
            await client.get(
                f"/v1/invocations?function=local:hello&limit=2&cursor={page['next_cursor']}",
                headers=admin,
            )
        ).json()
        seen += [i["execution_id"] for i in page["invocations"]]
    assert seen == list(reversed(ids))
    failures = (await client.get("/v1/invocations?status=failed", headers=admin)).json()[
        "invocations"
    ]
    assert [i["execution_id"] for i in failures] == [failed]


async def test_bad_listing_parameters_are_400(client, admin):
    for query in ("limit=0", "limit=abc", "status=weird", "cursor=%%%"):
        response = await client.get(f"/v1/invocations?{query}", headers=admin)
        assert response.status_code == 400, query


async def test_an_invoker_sees_its_own_execution_but_not_others(client, admin):
    invoker = await new_client(client, admin, "invoke")
    mine = await invoke(client, invoker, HELLO)
    theirs = await invoke(client, admin, HELLO)
    assert (await client.get(f"/v1/invocations/{mine}", headers=invoker)).status_code == 200
    assert (await client.get(f"/v1/invocations/{theirs}", headers=invoker)).status_code == 404


SECRET = "planted-history-secret-0123456789"
PASSWORD = "planted-url-password-0123456789"
TERMINAL = ("succeeded", "failed", "timed_out")


@pytest.fixture
def listener():
    """A loopback HTTP function answering {"ok": true} at /hook (and its callbacks at /cb)."""
    started = Listener().start()
    for path in ("/hook", "/cb"):
        started.routes[path] = lambda handler: handler.answer(200, {"ok": True})
    yield started
    started.stop()


def secret_target(listener) -> dict:
    """An http target carrying a URL password, a query secret and an Authorization header."""
    host = listener.url.removeprefix("http://")
    return {
        "provider": "http",
        "url": f"http://user:{PASSWORD}@{host}/hook?token={SECRET}",
        "headers": {"Authorization": f"Bearer {SECRET}"},
    }


async def settled(client, headers, execution_id) -> dict:
    for _ in range(250):
        record = (await client.get(f"/v1/invocations/{execution_id}", headers=headers)).json()
        if record["status"] in TERMINAL and record.get("callback_result"):
            return record
        await asyncio.sleep(0.02)
    raise AssertionError(f"execution {execution_id} did not settle: {record}")


async def test_a_read_client_sees_target_secrets_nowhere_in_the_history(client, admin, listener):
    target = secret_target(listener)
    sync = await client.post("/v1/invoke", json={"target": target}, headers=admin)
    assert sync.status_code == 200 and sync.json()["success"] is True, sync.text
    reader = await new_client(client, admin, "read")
    listing = await client.get("/v1/invocations", headers=reader)
    one = await client.get(f"/v1/invocations/{sync.json()['execution_id']}", headers=reader)
    for answer in (listing, one):
        assert answer.status_code == 200
        assert SECRET not in answer.text and PASSWORD not in answer.text
    shown = one.json()["target"]
    assert shown["url"] == f"http://***:***@{listener.url[7:]}/hook?token=***"
    assert shown["headers"] == {"Authorization": "***"}


async def test_an_async_run_sends_the_clear_target_and_callback_while_records_stay_redacted(
    client, admin, listener, services
):
    callback_url = f"{listener.url}/cb?sig={SECRET}"
    accepted = await client.post(
        "/v1/invoke",
        json={"target": secret_target(listener), "mode": "async", "callback_url": callback_url},
        headers=admin,
    )
    assert accepted.status_code == 202, accepted.text
    record = await settled(client, admin, accepted.json()["execution_id"])
    assert record["status"] == "succeeded" and record["callback_result"]["delivered"] is True

    [call] = listener.hits("/hook")
    assert call.headers["authorization"] == f"Bearer {SECRET}"
    assert call.path == f"/hook?token={SECRET}"
    [callback] = listener.hits("/cb")
    assert callback.path == f"/cb?sig={SECRET}"  # the clear callback URL was called
    assert SECRET not in callback.body.decode() and PASSWORD not in callback.body.decode()
    assert record["callback_url"] == f"{listener.url}/cb?sig=***"
    assert SECRET not in str(record) and PASSWORD not in str(record)
    stored = await services.store.executions.get(record["execution_id"])
    assert stored.sealed_target and SECRET not in str(stored.to_dict())


async def test_a_seal_no_configured_key_opens_fails_the_run_and_calls_no_one(
    client, admin, listener, services
):
    accepted = await client.post(
        "/v1/invoke",
        json={
            "target": secret_target(listener),
            "mode": "async",
            "callback_url": f"{listener.url}/cb?sig={SECRET}",
        },
        headers=admin,
    )
    record = await settled(client, admin, accepted.json()["execution_id"])
    stored = await services.store.executions.get(record["execution_id"])
    other = Sealer(KeyRing(EnvSecretSource({"MODULE_SECRET_KEY": secrets.token_urlsafe(48)})))
    stored.sealed_target = await other.seal({"target": {}, "callback_url": None}, "x")
    stored.status, stored.duration_ms, stored.callback_result = "queued", None, None
    await services.store.executions.save(stored)
    listener.clear()

    await services.worker.handle(InvocationMessage(stored.execution_id, None))
    failed = (await client.get(f"/v1/invocations/{stored.execution_id}", headers=admin)).json()
    assert failed["status"] == "failed" and failed["error"]["type"] == "SealBroken"
    assert failed["callback_result"]["delivered"] is False
    assert listener.requests == []


async def test_stats_count_successes_failures_and_percentiles(client, admin):
    for _ in range(3):
        await invoke(client, admin, HELLO)
    await invoke(client, admin, FAIL, {"message": "x"})
    stats = (await client.get("/v1/stats", headers=admin)).json()
    assert stats["count"] == 4 and stats["successes"] == 3 and stats["failures"] == 1
    assert stats["success_rate"] == 0.75
    assert 0 < stats["p50_ms"] <= stats["p95_ms"] <= stats["p99_ms"]
    assert stats["by_function"]["local:hello"]["count"] == 3
    assert stats["by_function"]["local:fail"]["failures"] == 1
    only_fail = (await client.get("/v1/stats?function=local:fail", headers=admin)).json()
    assert only_fail["count"] == 1 and list(only_fail["by_function"]) == ["local:fail"]
    future = await client.get("/v1/stats?since=2999-01-01T00:00:00Z", headers=admin)
    assert future.status_code == 200 and future.json()["since"] <= time.time()
    ancient = (await client.get("/v1/stats?since=1900-01-01", headers=admin)).json()
    assert ancient["count"] == 4  # brought within the retention window, not refused
    unreadable = await client.get("/v1/stats?since=yesterday", headers=admin)
    assert unreadable.status_code == 400 and unreadable.json()["code"] == "invalid_request"


async def test_stats_series_counts_the_current_bucket_and_checks_its_query(client, admin):
    for _ in range(2):
        await invoke(client, admin, HELLO)
    await invoke(client, admin, FAIL, {"message": "x"})
    answer = await client.get("/v1/stats/series?function=local:fail", headers=admin)
    assert answer.status_code == 200, answer.text
    series = answer.json()
    assert series["function"] == "local:fail" and series["step_s"] == 3600
    assert len(series["buckets"]) in (24, 25)  # 24 h back, from a whole hour
    last = series["buckets"][-1]
    assert last["invocations"] == 1 and last["failures"] == 1 and last["p50_ms"] > 0
    every = (await client.get("/v1/stats/series?step=86400", headers=admin)).json()
    assert sum(p["invocations"] for p in every["buckets"]) == 3
    for query in ("step=3601", "step=0", "since=yesterday", f"step={3600 * 745}"):
        refused = await client.get(f"/v1/stats/series?{query}", headers=admin)
        assert refused.status_code == 400, query
    invoker = await new_client(client, admin, "invoke")
    assert (await client.get("/v1/stats/series", headers=invoker)).status_code == 403


async def test_provider_function_listing(client, admin):
    listed = (await client.get("/v1/providers/local/functions?limit=3", headers=admin)).json()
    assert len(listed["functions"]) == 3 and listed["next_cursor"]
    rest = (
        await client.get(
            f"/v1/providers/local/functions?cursor={listed['next_cursor']}", headers=admin
        )
    ).json()
    names = [f["name"] for f in listed["functions"] + rest["functions"]]
    assert {"echo", "hello", "counter"} <= set(names) and names == sorted(names)
    echo = (await client.get("/v1/providers/local/functions/echo", headers=admin)).json()
    assert echo["name"] == "echo" and echo["description"]
    assert (
        await client.get("/v1/providers/local/functions/nope", headers=admin)
    ).status_code == 404
    assert (await client.get("/v1/providers/http/functions", headers=admin)).status_code == 400
    assert (await client.get("/v1/providers/azure/functions", headers=admin)).status_code == 400


async def test_health_tells_anonymous_callers_its_status_only(client):
    answer = await client.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "version": __version__}


async def test_health_checks_every_port_for_a_reader(client, admin):
    body = (await client.get("/health", headers=admin)).json()
    assert body["status"] == "ok" and body["version"] and body["module"] == "fnproxy"
    assert body["timestamp"].endswith("+00:00")
    assert body["checks"] == {
        "store": "ok",
        "secrets": "ok",
        "events": "ok",
        "queue": "ok",
        "blobs": "ok",
    }


async def test_openapi_documents_every_route_and_docs_page_renders(client):
    document = (await client.get("/openapi.json")).json()
    for path in (
        "/v1/auth/token",
        "/v1/clients",
        "/v1/invoke",
        "/v1/invoke/batch",
        "/v1/invocations",
        "/v1/invocations/{execution_id}",
        "/v1/stats",
        "/v1/sessions/{session_id}",
        "/v1/providers/{provider}/functions",
        "/health",
    ):
        assert path in document["paths"], path
    invoke_schema = document["paths"]["/v1/invoke"]["post"]["requestBody"]["content"][
        "application/json"
    ]
    assert invoke_schema["schema"]["$ref"].endswith("InvokeRequest")
    assert "InvokeRequest" in document["components"]["schemas"]
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "openapi.json" in docs.text


async def test_an_unknown_query_parameter_is_400_naming_it(client, admin):
    response = await client.get("/v1/invocations?page=2&limit=5", headers=admin)
    body = response.json()
    assert response.status_code == 400 and body["code"] == "invalid_request"
    assert "'page'" in body["detail"]
    known = await client.get("/v1/invocations?limit=5", headers=admin)
    assert known.status_code == 200


async def test_a_405_names_every_method_of_the_path_in_allow(client, admin):
    response = await client.put("/v1/functions", headers=admin)
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"
    assert set(response.headers["allow"].split(", ")) >= {"GET", "POST"}
    one = await client.post("/v1/functions/f/history", headers=admin)
    assert one.status_code == 405 and "GET" in one.headers["allow"]
