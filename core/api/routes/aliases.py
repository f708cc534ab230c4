"""A registered function's aliases (core.registry.aliases): set or moved, and deleted, by an
admin; each answer is the function, its aliases listed with it."""

from __future__ import annotations

from starlette.responses import Response

from core.api.endpoints import Call, Endpoint
from core.api.responses import JSONResponse
from core.api.routes.functions import NAME, function_view
from core.api.schemas import AliasTarget
from core.api.views import FunctionView

ALIAS_PATH = "/v1/functions/{name}/aliases/{alias}"


async def set_alias(call: Call) -> Response:
    body: AliasTarget = call.body
    function = await call.services.registry.set_alias(
        call.path("name"), call.path("alias"), body.version, call.principal
    )
    return JSONResponse(function_view(function))


async def delete_alias(call: Call) -> Response:
    function = await call.services.registry.delete_alias(
        call.path("name"), call.path("alias"), call.principal
    )
    return JSONResponse(function_view(function))


ENDPOINTS = [
    Endpoint(
        "PUT",
        ALIAS_PATH,
        set_alias,
        "Point an alias at a version (new, or moved); invocations may name it",
        NAME,
        scope="admin",
        body=AliasTarget,
        response=FunctionView,
        extra_responses={
            404: "Not registered (function_not_found)",
            409: "The function has no such version, or has as many aliases as it may, or "
            "changed meanwhile",
        },
    ),
    Endpoint(
        "DELETE",
        ALIAS_PATH,
        delete_alias,
        "Delete an alias",
        NAME,
        scope="admin",
        response=FunctionView,
        extra_responses={
            404: "No such function or alias",
            409: "Changed meanwhile by another request",
        },
    ),
]
