"""A live fnproxy for the fronts' tests: uvicorn on the test's event loop and a free port, over
real services, so a platform's own client (boto3, the npm openwhisk client) calls it as a
migrating caller would; plus the /v1 calls that set the scene."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from core import wiring
from core.api.app import create_app
from core.providers.openwhisk import OpenWhiskProvider
from tests.api.conftest import MODULE_KEY
from tests.conftest import free_port
from tests.fixtures.openwhisk_fixture import RunningOpenWhisk


@dataclass
class Fnproxy:
    url: str
    services: wiring.Services
    admin: dict[str, str]


@asynccontextmanager
async def serving(services: wiring.Services) -> AsyncIterator[Fnproxy]:
    """`services` answering on a port (its queue worker running), with an admin token."""
    services.queue.start(services.worker.handle)
    port = free_port()
    config = uvicorn.Config(
        create_app(services), host="127.0.0.1", port=port, lifespan="off", log_level="warning"
    )
    live = uvicorn.Server(config)
    running = asyncio.create_task(live.serve())
    while not live.started:
        await asyncio.sleep(0.01)
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url) as http:
        grant = await http.post("/v1/auth/token", json={"api_key": MODULE_KEY})
        admin = {"Authorization": f"Bearer {grant.json()['access_token']}"}
    try:
        yield Fnproxy(url, services, admin)
    finally:
        live.should_exit = True
        await running
        await services.close()


def calling_openwhisk(monkeypatch: pytest.MonkeyPatch, running: RunningOpenWhisk) -> dict:
    """Services built from now on call the OpenWhisk test server through their openwhisk
    provider; the settings that name it."""
    factories = wiring.provider_factories
    auth_key = running.server.auth_key
    openwhisk = {"openwhisk": lambda: OpenWhiskProvider(running.url, "guest", auth_key, 4)}
    monkeypatch.setattr(wiring, "provider_factories", lambda s: {**factories(s), **openwhisk})
    return {"OPENWHISK_API_HOST": running.url, "OPENWHISK_NAMESPACE": "guest"}


async def api(fnproxy: Fnproxy, method: str, path: str, **json_body: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=fnproxy.url, headers=fnproxy.admin) as http:
        answer = await http.request(method, path, json=json_body or None)
    assert answer.status_code in (200, 201, 204), answer.text
    return answer.json() if answer.content else {}


async def register(fnproxy: Fnproxy, name: str, target: dict, **policy: Any) -> None:
    await api(fnproxy, "POST", "/v1/functions", name=name, target=target, policy=policy)


async def new_client(fnproxy: Fnproxy, *scopes: str) -> dict[str, Any]:
    return await api(fnproxy, "POST", "/v1/clients", name="migrated", scopes=list(scopes))


async def executions(fnproxy: Fnproxy, name: str) -> list[dict[str, Any]]:
    history = await api(fnproxy, "GET", f"/v1/functions/{name}/executions")
    return history["executions"]
