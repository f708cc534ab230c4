"""History listing, stats from rollups, provider listings, health and the API description."""

from __future__ import annotations

from tests.api.conftest import new_client

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
    future = (await client.get("/v1/stats?since=2999-01-01T00:00:00Z", headers=admin)).json()
    assert future["count"] == 0


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


async def test_health_is_public_and_checks_every_port(client):
    body = (await client.get("/health")).json()
    assert body["status"] == "ok" and body["version"] and body["module"] == "fnproxy"
    assert body["timestamp"].endswith("+00:00")
    assert body["checks"] == {"store": "ok", "secrets": "ok", "events": "ok", "queue": "ok"}


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
