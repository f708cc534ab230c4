"""Listing and inspecting the functions a provider knows."""

from __future__ import annotations

from starlette.responses import Response

from core.api.endpoints import Call, Endpoint, QueryParam
from core.api.responses import JSONResponse
from core.providers.base import FunctionInfo


def function_view(info: FunctionInfo) -> dict:
    return {"name": info.name, "provider": info.provider, **info.details}


async def list_provider_functions(call: Call) -> Response:
    provider = call.services.providers.get(call.path("provider"))
    page = await provider.list_functions(call.int_query("limit", 50, 1, 1000), call.query("cursor"))
    return JSONResponse(
        {
            "functions": [function_view(info) for info in page.items],
            "next_cursor": page.next_cursor,
        }
    )


async def get_provider_function(call: Call) -> Response:
    provider = call.services.providers.get(call.path("provider"))
    return JSONResponse(function_view(await provider.get_function(call.path("name"))))


ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/providers/{provider}/functions",
        list_provider_functions,
        "Functions a provider can invoke",
        "providers",
        scope="read",
        query=(
            QueryParam("limit", "page size (1-1000, default 50)", "integer"),
            QueryParam("cursor", "next_cursor of the previous page"),
        ),
    ),
    Endpoint(
        "GET",
        "/v1/providers/{provider}/functions/{name}",
        get_provider_function,
        "One function's configuration",
        "providers",
        scope="read",
        extra_responses={404: "Unknown function"},
    ),
]
