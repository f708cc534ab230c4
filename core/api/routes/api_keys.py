"""A registered function's API keys: what callers of `/invoke/{name}` send as X-API-Key when
the function's policy says `public_invoke: "api_key"` (core.auth.api_keys,
core.api.invoke_platform). Admins alone create, list and revoke them, as they alone change
the registry."""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import Response

from core.api.endpoints import Call, Endpoint
from core.api.responses import JSONResponse
from core.api.views import ApiKeyCreated, ApiKeyList
from core.auth.api_keys import KEY_ID_PATTERN, MAX_KEYS_PER_FUNCTION
from core.errors import NotFound
from core.models import ApiKey, iso

KEYS_PATH = "/v1/functions/{name}/api-keys"
NOT_REGISTERED = {404: "Not registered (function_not_found)"}


def api_key_view(key: ApiKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "function": key.function,
        "created_at": iso(key.created_at),
        "created_by": key.created_by,
        "revoked": not key.active,
        "revoked_at": iso(key.revoked_at),
        "uses": key.uses,
        "last_used_at": iso(key.last_used_at),
    }


async def create_api_key(call: Call) -> Response:
    function = await call.services.registry.get(call.path("name"))
    key, clear = await call.services.api_keys.create(function, call.principal.subject)
    headers = {"Cache-Control": "no-store"}
    return JSONResponse(api_key_view(key) | {"api_key": clear}, 201, headers=headers)


async def list_api_keys(call: Call) -> Response:
    function = await call.services.registry.get(call.path("name"))
    keys = await call.services.api_keys.list(function)
    return JSONResponse({"api_keys": [api_key_view(key) for key in keys]})


async def revoke_api_key(call: Call) -> Response:
    function = await call.services.registry.get(call.path("name"))
    key_id = call.path("key_id")
    if not re.fullmatch(KEY_ID_PATTERN, key_id):
        raise NotFound(f"function {function.name!r} has no API key {key_id[:64]!r}")
    await call.services.api_keys.revoke(function, key_id)
    return Response(status_code=204)


ENDPOINTS = [
    Endpoint(
        "POST",
        KEYS_PATH,
        create_api_key,
        "Create an API key of the function for /invoke/{name} (the key is shown once)",
        "registry",
        scope="admin",
        response=ApiKeyCreated,
        status=201,
        extra_responses={
            **NOT_REGISTERED,
            409: f"The function has {MAX_KEYS_PER_FUNCTION} API keys already (conflict)",
        },
    ),
    Endpoint(
        "GET",
        KEYS_PATH,
        list_api_keys,
        "The function's API keys, revoked ones included, oldest first (no secrets)",
        "registry",
        scope="admin",
        response=ApiKeyList,
        extra_responses=NOT_REGISTERED,
    ),
    Endpoint(
        "DELETE",
        f"{KEYS_PATH}/{{key_id}}",
        revoke_api_key,
        "Revoke an API key of the function; it stops working at once",
        "registry",
        scope="admin",
        status=204,
        extra_responses={404: "No such function, or no such API key of it"},
    ),
]
