"""The app over real services (SQLite in a temporary folder, the sample functions), called
in-process through httpx's ASGI transport."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest

from core.config import load_settings
from core.wiring import build_services

REPO = Path(__file__).resolve().parents[2]
MODULE_KEY = secrets.token_urlsafe(48)


def api_settings(data_dir: Path, **overrides: str):
    environ = {
        "FNPROXY_DATA_DIR": str(data_dir),
        "MODULE_SECRET_KEY": MODULE_KEY,
        "LOCAL_FUNCTIONS_DIR": str(REPO / "functions"),
        "LOCAL_WORKERS": "2",
        "LOCAL_MEMORY_MB": "256",
        "MAX_RETRIES": "2",
        "RETRY_DELAY": "0.01",
        "MAX_REQUEST_BYTES": str(64 * 1024),
        "MAX_STORED_BYTES": "2048",
        "FUNCTION_TIMEOUT": "10",
        **overrides,
    }
    return load_settings(environ, dotenv=None)


@pytest.fixture
def setting_overrides() -> dict[str, str]:
    """Settings a test module changes for its `services` (override this fixture)."""
    return {}


@pytest.fixture
async def services(tmp_path, setting_overrides):
    built = build_services(api_settings(tmp_path, **setting_overrides))
    built.queue.start(built.worker.handle)
    yield built
    await built.close()


@pytest.fixture
async def client(services):
    from core.api.app import create_app

    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://fnproxy.test") as http:
        yield http


async def token_for(client: httpx.AsyncClient, **credentials: str) -> str:
    response = await client.post("/v1/auth/token", json=credentials or {"api_key": MODULE_KEY})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
async def admin(client) -> dict[str, str]:
    """Authorization headers of the module key's holder (scope admin)."""
    return {"Authorization": f"Bearer {await token_for(client)}"}


async def new_client(
    client: httpx.AsyncClient, admin: dict[str, str], *scopes: str
) -> dict[str, str]:
    """Create an API client with `scopes`; its Authorization headers."""
    created = await client.post(
        "/v1/clients", json={"name": "t", "scopes": list(scopes)}, headers=admin
    )
    assert created.status_code == 201, created.text
    body = created.json()
    token = await token_for(
        client, client_id=body["client_id"], client_secret=body["client_secret"]
    )
    return {"Authorization": f"Bearer {token}"}
