"""A dry run whose platform cannot be reached is answered as a sync run would be (502
upstream_unavailable, 504 upstream_timeout) and recorded as failed, never a 500."""

from __future__ import annotations

import asyncio

import pytest

from core.providers.base import TransientFailure
from core.wiring import build_services
from tests.api.conftest import api_settings
from tests.conftest import AWS_TEST_ENV, free_port

LAMBDA = {"provider": "aws_lambda", "function": "x"}
TARGETS = {
    "local": {"provider": "local", "function": "echo"},
    "http": {"provider": "http", "url": "http://203.0.113.7/fn"},
}


@pytest.fixture
async def unreachable_aws(tmp_path, monkeypatch):
    """Services whose AWS endpoint is a closed port of 127.0.0.1 (dummy credentials)."""
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    settings = api_settings(tmp_path, AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
    built = build_services(settings)
    built.queue.start(built.worker.handle)
    yield built
    await built.close()


@pytest.fixture
async def aws_client(unreachable_aws):
    import httpx

    from core.api.app import create_app
    from tests.api.conftest import token_for

    transport = httpx.ASGITransport(app=create_app(unreachable_aws))
    async with httpx.AsyncClient(transport=transport, base_url="http://fnproxy.test") as http:
        http.headers["Authorization"] = f"Bearer {await token_for(http)}"
        yield http


async def test_dry_run_of_an_unreachable_lambda_is_a_502_and_recorded(aws_client):
    request = {"target": LAMBDA, "payload": {}, "mode": "dry_run"}
    response = await aws_client.post("/v1/invoke", json=request)
    assert response.status_code == 502, response.text
    problem = response.json()
    assert problem["code"] == "upstream_unavailable" and "unreachable" in problem["detail"]
    record = (await aws_client.get(f"/v1/invocations/{problem['execution_id']}")).json()
    assert record["status"] == "failed" and record["mode"] == "dry_run"
    assert record["error"]["type"] == "UpstreamUnavailable"


async def test_lambda_compat_dry_run_of_an_unreachable_lambda_is_a_502(aws_client):
    request = {"function_name": "x", "payload": "{}", "invocation_type": "DryRun"}
    single = await aws_client.post("/lambda/api/v1/invoke", json=request)
    assert single.status_code == 502, single.text
    batch = await aws_client.post("/lambda/api/v1/batch", json={"invocations": [request]})
    assert batch.status_code == 200, batch.text
    [item] = batch.json()["results"]
    assert item["success"] is False and item["status_code"] == 502


async def test_native_batch_dry_run_of_an_unreachable_lambda_is_a_failed_item(aws_client):
    invocations = [{"target": LAMBDA, "payload": {}, "mode": "dry_run"}]
    response = await aws_client.post("/v1/invoke/batch", json={"invocations": invocations})
    assert response.status_code == 200, response.text
    [item] = response.json()["responses"]
    assert item["success"] is False and item["error"]["type"] == "UpstreamUnavailable"


@pytest.mark.parametrize("provider", sorted(TARGETS))
async def test_any_providers_transient_dry_run_failure_is_a_502(services, client, admin, provider):
    async def unreachable(target, payload, context):
        raise TransientFailure(f"{provider} unreachable: refused")

    services.providers.get(provider).dry_run = unreachable
    request = {"target": TARGETS[provider], "payload": {}, "mode": "dry_run"}
    response = await client.post("/v1/invoke", json=request, headers=admin)
    assert response.status_code == 502, response.text
    assert response.json()["code"] == "upstream_unavailable"


@pytest.mark.parametrize("provider", sorted(TARGETS))
async def test_any_providers_throttled_dry_run_is_a_429(services, client, admin, provider):
    async def throttled(target, payload, context):
        raise TransientFailure("slow down", status_code=429, retry_after_s=3)

    services.providers.get(provider).dry_run = throttled
    request = {"target": TARGETS[provider], "payload": {}, "mode": "dry_run"}
    response = await client.post("/v1/invoke", json=request, headers=admin)
    assert response.status_code == 429, response.text
    assert response.headers.get("retry-after") == "3"


@pytest.mark.parametrize("provider", sorted(TARGETS))
async def test_a_dry_run_past_its_deadline_is_a_504(services, client, admin, provider):
    async def hangs(target, payload, context):
        await asyncio.sleep(30)

    services.providers.get(provider).dry_run = hangs
    request = {"target": TARGETS[provider], "payload": {}, "mode": "dry_run", "timeout_s": 0.2}
    response = await client.post("/v1/invoke", json=request, headers=admin)
    assert response.status_code == 504, response.text
    problem = response.json()
    assert problem["code"] == "upstream_timeout"
    record = (await client.get(f"/v1/invocations/{problem['execution_id']}", headers=admin)).json()
    assert record["status"] == "timed_out"
