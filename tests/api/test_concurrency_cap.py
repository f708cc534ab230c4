"""MAX_CONCURRENT_REQUESTS: invocations in flight on one instance at most. Past it every HTTP
entry (sync, async acceptance, batch items, registered functions, the compat routes) answers
429 `too_many_requests` with Retry-After at once, and nothing is recorded for the refused one;
a queue delivery is never refused. Real services: SQLite, the sample `slow` function in the
local provider's worker processes."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from core.auth.principal import Principal
from core.invoke.service import InvocationRequest
from core.targets import LocalTarget

CAP = 2
PROBLEM = "application/problem+json"
ECHO = {"provider": "local", "function": "echo"}
SLOW = {"provider": "local", "function": "slow"}


@pytest.fixture
def setting_overrides() -> dict[str, str]:
    return {"MAX_CONCURRENT_REQUESTS": str(CAP)}


def slow_call(client: httpx.AsyncClient, admin: dict[str, str], seconds: float):
    return client.post(
        "/v1/invoke", json={"target": SLOW, "payload": {"seconds": seconds}}, headers=admin
    )


def assert_too_many(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.headers["Retry-After"] == "1"
    assert response.json()["code"] == "too_many_requests"


async def hold_every_slot(client, admin) -> asyncio.Future:
    """CAP slow invocations in flight (a dry run, itself an invocation, is then refused)."""
    holders = asyncio.gather(*(slow_call(client, admin, 3) for _ in range(CAP)))
    await asyncio.sleep(0.5)  # each takes its slot within milliseconds of being sent
    assert_too_many(
        await client.post("/v1/invoke", json={"target": ECHO, "mode": "dry_run"}, headers=admin)
    )
    return holders


async def test_one_past_the_cap_is_refused_and_not_recorded(client, admin):
    answers = await asyncio.gather(*(slow_call(client, admin, 1) for _ in range(CAP + 1)))

    refused = [answer for answer in answers if answer.status_code == 429]
    assert len(refused) == 1
    assert_too_many(refused[0])
    assert "execution_id" not in refused[0].json()
    ran = [answer.json() for answer in answers if answer.status_code != 429]
    assert [(a["status"], a["result"]) for a in ran] == [("succeeded", {"seconds": 1})] * CAP

    after = await slow_call(client, admin, 0)
    assert after.status_code == 200 and after.json()["status"] == "succeeded"
    history = (
        await client.get("/v1/invocations", params={"function": "local:slow"}, headers=admin)
    ).json()
    assert sorted(item["status"] for item in history["invocations"]) == ["succeeded"] * (CAP + 1)


async def test_every_http_entry_is_refused_while_the_slots_are_held(client, admin, ff_url):
    registered = await client.post(
        "/v1/functions", json={"name": "greet", "target": ECHO}, headers=admin
    )
    assert registered.status_code == 201, registered.text
    holders = await hold_every_slot(client, admin)

    queued = await client.post(
        "/v1/invoke", json={"target": ECHO, "mode": "async", "payload": {}}, headers=admin
    )
    assert_too_many(queued)
    named = await client.post("/v1/functions/greet/invoke", json={"payload": {}}, headers=admin)
    assert_too_many(named)
    compat = await client.post(
        "/gcp/api/v1/functions/invoke-http",
        json={"url": f"{ff_url}/echo", "method": "POST", "payload": {}},
        headers=admin,
    )
    assert_too_many(compat)
    assert compat.json()["success"] is False  # the seed's members on the problem
    batch = await client.post(
        "/v1/invoke/batch", json={"invocations": [{"target": ECHO, "payload": {}}]}, headers=admin
    )
    assert batch.status_code == 200 and batch.json()["failure_count"] == 1
    item = batch.json()["responses"][0]
    assert item["error"]["code"] == "too_many_requests" and item["error"]["status"] == 429

    assert [answer.status_code for answer in await holders] == [200] * CAP
    accepted = await client.post(
        "/v1/invoke", json={"target": ECHO, "mode": "async", "payload": {}}, headers=admin
    )
    assert accepted.status_code == 202
    failed = await client.get("/v1/invocations", params={"status": "failed"}, headers=admin)
    assert failed.json()["invocations"] == []


async def test_a_queue_delivery_is_never_refused(client, admin, services):
    """The worker runs a queue's request with enqueue=False: a 429 there would make the
    message one that can never run (dead-lettered), so it takes no slot."""
    holders = await hold_every_slot(client, admin)
    delivered = await services.invocations.invoke(
        InvocationRequest(
            target=LocalTarget(provider="local", function="echo"), payload={"q": 1}, mode="async"
        ),
        Principal(subject="sqs:queue", scopes=frozenset({"invoke"}), token_id="m-1"),
        enqueue=False,
    )
    assert delivered.execution.status == "queued"
    await holders
