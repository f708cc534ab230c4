"""Shared by the AWS and GCP registry tests: two fnproxy instances over one cloud column (as two
Lambda containers or two Cloud Function instances would be), and the checks that must hold
across them whatever the column."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from core.wiring import build_services

REPO = Path(__file__).resolve().parents[1]
ECHO = {"provider": "local", "function": "echo"}
HELLO = {"provider": "local", "function": "hello"}
LOCAL_FUNCTIONS = {"LOCAL_FUNCTIONS_DIR": str(REPO / "functions"), "LOCAL_WORKERS": "1"}


@asynccontextmanager
async def two_instances(
    load: Any, environ: dict[str, str]
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Two apps, each with its own services built by `load(environ)` -> (settings, secrets)."""
    from core.api.app import create_app

    built = []
    for _ in range(2):
        settings, secrets = load(environ)
        built.append(build_services(settings, secrets=secrets))
    clients = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(services)), base_url="http://fnproxy"
        )
        for services in built
    ]
    try:
        yield clients
    finally:
        for client, services in zip(clients, built, strict=True):
            await client.aclose()
            await services.close()


async def bearer(client: httpx.AsyncClient, module_key: str) -> dict[str, str]:
    grant = await client.post("/v1/auth/token", json={"api_key": module_key})
    assert grant.status_code == 200, grant.text
    return {"Authorization": f"Bearer {grant.json()['access_token']}"}


async def register(client: httpx.AsyncClient, auth: dict, name: str, **policy: Any) -> None:
    body = {"name": name, "target": ECHO, "policy": policy}
    created = await client.post("/v1/functions", json=body, headers=auth)
    assert created.status_code == 201, created.text


async def switch_on_one_run_on_the_other(
    instances: list[httpx.AsyncClient], auth: dict, name: str
) -> None:
    """Activate version 2 through the first, run it through the second; roll back through the
    second, run version 1 through the first. Activations: (None, 1), (1, 2), (2, 1)."""
    first, second = instances
    await register(first, auth, name)
    added = await first.post(
        f"/v1/functions/{name}/versions", json={"target": HELLO, "activate": True}, headers=auth
    )
    assert added.status_code == 201, added.text
    ran = await second.post(
        f"/v1/functions/{name}/invoke", json={"payload": {"name": "there"}}, headers=auth
    )
    assert ran.status_code == 200, ran.text
    assert ran.json()["function_version"] == 2
    assert ran.json()["result"]["message"] == "Hello, there!"
    rolled = await second.post(
        f"/v1/functions/{name}/active-version", json={"version": 1}, headers=auth
    )
    assert rolled.json()["active_version"] == 1
    again = await first.post(
        f"/v1/functions/{name}/invoke", json={"payload": {"n": 1}}, headers=auth
    )
    assert again.json()["function_version"] == 1 and again.json()["result"] == {"n": 1}


async def rate_limit_holds_across(
    instances: list[httpx.AsyncClient], auth: dict, name: str
) -> None:
    """Ten concurrent calls, alternating instances, against a limit of four: four pass."""
    await register(instances[0], auth, name, rate_limit={"requests": 4, "per_s": 3600})

    async def call(n: int) -> httpx.Response:
        return await instances[n % 2].post(
            f"/v1/functions/{name}/invoke",
            json={"payload": {"n": n}, "mode": "dry_run"},
            headers=auth,
        )

    answers = await asyncio.gather(*(call(n) for n in range(10)))
    assert sorted(answer.status_code for answer in answers) == [200] * 4 + [429] * 6
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["content-type"] == "application/problem+json"


def activations(events: list[dict[str, Any]], name: str) -> list[tuple[int | None, int]]:
    """(from, to) of the function's activation CloudEvents, by revision (SNS-to-SQS and
    Pub/Sub do not keep the order of publishing)."""
    mine = [
        event
        for event in events
        if event["type"] == "dev.fnproxy.function.activated" and event["subject"] == name
    ]
    mine.sort(key=lambda event: event["data"]["revision"])
    return [(event["data"]["from_version"], event["data"]["to_version"]) for event in mine]
