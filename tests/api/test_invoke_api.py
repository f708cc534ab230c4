"""Invoking through the native API: modes, retries, timeouts, idempotency, batches, bad input."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from tests.conftest import free_port

PROBLEM = "application/problem+json"
ECHO = {"provider": "local", "function": "echo"}


async def wait_for_status(
    client, headers, execution_id, wanted=("succeeded", "failed", "timed_out")
):
    for _ in range(200):
        record = (await client.get(f"/v1/invocations/{execution_id}", headers=headers)).json()
        if record["status"] in wanted:
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"execution {execution_id} stayed {record['status']}")


async def test_sync_local_invocation_returns_the_envelope_and_records_it(client, admin):
    response = await client.post(
        "/v1/invoke", json={"target": ECHO, "payload": {"a": 1}}, headers=admin
    )
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "succeeded" and body["success"] is True and body["status_code"] == 200
    assert body["result"] == {"a": 1} and body["attempts"] == 1 and body["duration_ms"] > 0
    assert body["provider"]["name"] == "local" and body["provider"]["function"] == "local:echo"
    record = (await client.get(f"/v1/invocations/{body['execution_id']}", headers=admin)).json()
    assert record["payload"] == {"a": 1} and record["result"] == {"a": 1}
    assert record["caller"] == "module" and record["mode"] == "sync" and record["finished_at"]


async def test_http_function_served_by_functions_framework(client, admin, ff_url):
    target = {"provider": "http", "url": f"{ff_url}/echo"}
    body = (
        await client.post(
            "/v1/invoke", json={"target": target, "payload": {"x": "y"}}, headers=admin
        )
    ).json()
    assert body["success"] is True and body["result"] == {"x": "y"}


async def test_function_error_is_a_failed_envelope_not_retried(client, admin, ff_url):
    target = {"provider": "http", "url": f"{ff_url}/status/404"}
    response = await client.post("/v1/invoke", json={"target": target}, headers=admin)
    body = response.json()
    assert response.status_code == 200
    assert body["success"] is False and body["status"] == "failed" and body["status_code"] == 404
    assert body["attempts"] == 1


async def test_local_function_exception_is_reported_with_logs(client, admin):
    target = {"provider": "local", "function": "fail"}
    body = (
        await client.post(
            "/v1/invoke", json={"target": target, "payload": {"message": "boom"}}, headers=admin
        )
    ).json()
    assert body["success"] is False and body["error"]["type"] == "ValueError"
    assert "boom" in body["error"]["message"]
    record = (await client.get(f"/v1/invocations/{body['execution_id']}", headers=admin)).json()
    assert "Traceback" in record["logs"]


async def test_transient_failures_are_retried_then_answered_502(client, admin, ff_url):
    target = {"provider": "http", "url": f"{ff_url}/status/503"}
    response = await client.post("/v1/invoke", json={"target": target}, headers=admin)
    body = response.json()
    assert response.status_code == 502 and response.headers["content-type"] == PROBLEM
    assert body["attempts"] == 3  # MAX_RETRIES=2 in these tests
    record = (await client.get(f"/v1/invocations/{body['execution_id']}", headers=admin)).json()
    assert record["status"] == "failed" and record["attempts"] == 3 and record["status_code"] == 503


async def test_unreachable_target_is_502(client, admin):
    target = {"provider": "http", "url": f"http://127.0.0.1:{free_port()}/fn"}
    response = await client.post("/v1/invoke", json={"target": target}, headers=admin)
    assert response.status_code == 502 and response.json()["execution_id"]


async def test_timeout_is_504_and_recorded(client, admin):
    request = {
        "target": {"provider": "local", "function": "slow"},
        "payload": {"seconds": 5},
        "timeout_s": 0.5,
    }
    response = await client.post("/v1/invoke", json=request, headers=admin)
    body = response.json()
    assert response.status_code == 504 and "execution_id" in body
    record = (await client.get(f"/v1/invocations/{body['execution_id']}", headers=admin)).json()
    assert record["status"] == "timed_out" and record["error"]["type"] == "Timeout"


async def test_async_invocation_runs_on_the_worker(client, admin):
    response = await client.post(
        "/v1/invoke", json={"target": ECHO, "payload": [1, 2], "mode": "async"}, headers=admin
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert response.headers["location"] == f"/v1/invocations/{body['execution_id']}"
    record = await wait_for_status(client, admin, body["execution_id"])
    assert (
        record["status"] == "succeeded" and record["result"] == [1, 2] and record["mode"] == "async"
    )


@pytest.fixture
async def callback_sink():
    received: list[tuple[dict, dict[str, str]]] = []  # (body, headers)

    async def collect(request: web.Request) -> web.Response:
        received.append((await request.json(), dict(request.headers)))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", collect)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/hook", received
    await runner.cleanup()


async def test_async_callback_receives_the_record_in_the_invocations_trace(
    client, admin, callback_sink
):
    url, received = callback_sink
    request = {"target": ECHO, "payload": {"cb": True}, "mode": "async", "callback_url": url}
    caller_trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    traced = {**admin, "traceparent": caller_trace}
    execution_id = (await client.post("/v1/invoke", json=request, headers=traced)).json()[
        "execution_id"
    ]
    await wait_for_status(client, admin, execution_id)
    for _ in range(100):
        if received:
            break
        await asyncio.sleep(0.05)
    assert received, "no callback"
    body, headers = received[0]
    assert body["execution_id"] == execution_id
    assert body["status"] == "succeeded" and body["result"] == {"cb": True}
    trace_id, callback_span = headers["traceparent"].split("-")[1:3]
    assert trace_id == caller_trace.split("-")[1]
    assert callback_span not in (caller_trace.split("-")[2], body["traceparent"].split("-")[2])
    # The sink answers before the worker stores the callback's outcome: wait for that write.
    for _ in range(100):
        record = (await client.get(f"/v1/invocations/{execution_id}", headers=admin)).json()
        if record["callback_result"] is not None:
            break
        await asyncio.sleep(0.05)
    assert record["callback_result"]["delivered"] is True


async def test_callback_url_needs_async_mode(client, admin):
    for mode in ("sync", "dry_run", None):
        request = {"target": ECHO, "callback_url": "http://127.0.0.1:9/x", "mode": mode}
        if mode is None:
            del request["mode"]
        response = await client.post("/v1/invoke", json=request, headers=admin)
        assert response.status_code == 422  # the body breaks the schema's if/then
        assert [error["loc"] for error in response.json()["errors"]] == ["callback_url"]


async def test_dry_run_validates_without_running(client, admin):
    response = await client.post(
        "/v1/invoke", json={"target": ECHO, "payload": {}, "mode": "dry_run"}, headers=admin
    )
    body = response.json()
    assert response.status_code == 200 and body["status_code"] == 204 and body["result"] is None
    missing = {"target": {"provider": "local", "function": "nope"}, "mode": "dry_run"}
    assert (await client.post("/v1/invoke", json=missing, headers=admin)).status_code == 404


async def test_idempotency_key_replays_the_first_execution(client, admin):
    headers = admin | {"Idempotency-Key": "order-42"}
    request = {"target": {"provider": "local", "function": "hello"}, "payload": {"name": "idem"}}
    first = await client.post("/v1/invoke", json=request, headers=headers)
    second = await client.post("/v1/invoke", json=request, headers=headers)
    assert first.json()["execution_id"] == second.json()["execution_id"]
    assert second.headers["idempotent-replayed"] == "true"
    listed = (await client.get("/v1/invocations?function=local:hello", headers=admin)).json()
    assert [i["execution_id"] for i in listed["invocations"]] == [first.json()["execution_id"]]
    changed = await client.post(
        "/v1/invoke", json=request | {"payload": {"name": "other"}}, headers=headers
    )
    assert changed.status_code == 422


async def test_batch_answers_in_request_order_with_counts(client, admin):
    invocations = [
        {
            "target": {"provider": "local", "function": "slow"},
            "payload": {"seconds": 0.3, "tag": 0},
        },
        {"target": ECHO, "payload": {"tag": 1}},
        {"target": {"provider": "local", "function": "missing"}, "payload": {}},
        {"target": {"provider": "local", "function": "fail"}, "payload": {"message": "x"}},
    ]
    response = await client.post(
        "/v1/invoke/batch", json={"invocations": invocations, "concurrency": 4}, headers=admin
    )
    body = response.json()
    assert response.status_code == 200
    assert body["total_count"] == 4 and body["success_count"] == 2 and body["failure_count"] == 2
    first, second, third, fourth = body["responses"]
    assert first["result"]["tag"] == 0 and second["result"] == {"tag": 1}
    assert third["error"]["status"] == 404 and fourth["success"] is False


async def test_batch_over_max_batch_size_is_422_as_the_document_says(client, admin):
    invocations = [{"target": ECHO}] * 101
    response = await client.post(
        "/v1/invoke/batch", json={"invocations": invocations}, headers=admin
    )
    assert response.status_code == 422 and "MAX_BATCH_SIZE" in response.json()["detail"]
    document = (await client.get("/openapi.json")).json()
    declared = document["components"]["schemas"]["BatchRequest"]["properties"]["invocations"]
    assert declared["maxItems"] == 100


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_request"),
        (b"[1, 2]", 400, "invalid_request"),
        (b"", 400, "invalid_request"),
        (
            b'{"target": {"provider": "local", "function": "echo"}, "mode": "later"}',
            422,
            "validation_failed",
        ),
        (
            b'{"target": {"provider": "local", "function": "echo"}, "timeout_s": "soon"}',
            422,
            "validation_failed",
        ),
        (b'{"target": "local:echo"}', 422, "validation_failed"),
        (
            b'{"target": {"provider": "local", "function": "echo"}, "extra": 1}',
            422,
            "validation_failed",
        ),
        (b'{"target": {"provider": "azure", "function": "f"}}', 422, "unknown_provider"),
        (b'{"target": {"provider": "local", "function": "nope"}}', 404, "function_not_found"),
    ],
)
async def test_bad_input_gets_a_clear_problem(client, admin, body, status, code):
    response = await client.post(
        "/v1/invoke", content=body, headers=admin | {"Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == code and problem["status"] == status and problem["detail"]
    assert "Traceback" not in response.text


async def test_body_over_the_limit_is_413_and_the_next_request_works(client, admin):
    huge = {"target": ECHO, "payload": "x" * (65 * 1024)}
    response = await client.post("/v1/invoke", json=huge, headers=admin)
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    ok = await client.post("/v1/invoke", json={"target": ECHO, "payload": "small"}, headers=admin)
    assert ok.status_code == 200 and ok.json()["result"] == "small"


async def test_unknown_route_and_method_are_problems(client, admin):
    missing = await client.get("/v1/nothing", headers=admin)
    wrong_method = await client.put("/v1/invoke", headers=admin)
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    assert wrong_method.status_code == 405 and wrong_method.headers["content-type"] == PROBLEM


async def test_a_failing_queue_is_reported_and_recorded(client, admin, services, monkeypatch):
    async def broken_enqueue(message):
        raise ConnectionError("queue down")

    monkeypatch.setattr(services.queue, "enqueue", broken_enqueue)
    request = {"target": ECHO, "payload": {}, "mode": "async"}
    response = await client.post("/v1/invoke", json=request, headers=admin)
    body = response.json()
    assert response.status_code == 503 and body["execution_id"]
    record = (await client.get(f"/v1/invocations/{body['execution_id']}", headers=admin)).json()
    assert record["status"] == "failed" and record["error"]["type"] == "QueueUnavailable"


async def test_retry_after_beyond_the_deadline_stops_retrying(client, admin, ff_url):
    target = {"provider": "http", "url": f"{ff_url}/status/429?retry_after=5"}
    response = await client.post(
        "/v1/invoke", json={"target": target, "timeout_s": 1}, headers=admin
    )
    body = response.json()
    assert response.status_code == 429 and body["attempts"] == 1
    assert body["code"] == "upstream_throttled" and body["last_status_code"] == 429
    assert response.headers["retry-after"] == "5"


async def test_retry_after_is_waited_for(client, admin, ff_url):
    target = {"provider": "http", "url": f"{ff_url}/status/503?retry_after=1"}
    started = asyncio.get_running_loop().time()
    response = await client.post(
        "/v1/invoke", json={"target": target, "timeout_s": 5}, headers=admin
    )
    elapsed = asyncio.get_running_loop().time() - started
    assert response.status_code == 502 and response.json()["attempts"] == 3
    assert elapsed >= 2.0  # two waits of at least Retry-After: 1


async def test_a_body_nested_past_128_levels_is_400_and_one_within_runs(client, admin):
    def nested(levels: int) -> str:
        return "[" * levels + "]" * levels

    target = '{"provider": "local", "function": "echo"}'
    deep = f'{{"target": {target}, "payload": {nested(400)}}}'
    refused = await client.post("/v1/invoke", content=deep, headers=admin)
    assert refused.status_code == 400 and "128 levels" in refused.json()["detail"]
    within = f'{{"target": {target}, "payload": {nested(120)}}}'
    ran = await client.post("/v1/invoke", content=within, headers=admin)
    assert ran.status_code == 200 and ran.json()["success"] is True


async def test_a_callback_url_without_a_host_or_with_a_bad_port_is_a_field_error(client, admin):
    for url in ("http://", "https://h:99999/cb", "https://h:x/cb"):
        body = {"target": ECHO, "mode": "async", "callback_url": url}
        response = await client.post("/v1/invoke", json=body, headers=admin)
        assert response.status_code == 422, url
        assert response.json()["errors"][0]["loc"] == "callback_url"
