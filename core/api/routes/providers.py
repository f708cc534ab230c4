"""Listing and inspecting the functions a provider knows."""

from __future__ import annotations

from starlette.responses import Response

from core.api.endpoints import Call, Endpoint, QueryParam
from core.api.responses import JSONResponse
from core.api.routes.history import limit_param
from core.api.views import ProviderFunction, ProviderFunctionPage
from core.errors import InvalidRequest, NotFound
from core.providers.base import FunctionInfo, Provider

LISTABLE = ("aws_lambda", "gcp_functions", "openwhisk", "local")
"""The providers whose functions can be listed (an HTTP endpoint has no catalogue)."""


def listable_provider(call: Call) -> Provider:
    """The path's provider: `InvalidRequest` unless it is one that lists (the spec's enum),
    `NotFound` when this deployment does not enable it."""
    name = call.path("provider")
    if name not in LISTABLE:
        raise InvalidRequest(f"provider must be one of {', '.join(LISTABLE)}")
    if name not in call.services.providers.enabled:
        raise NotFound(f"provider {name!r} is not enabled in this deployment")
    return call.services.providers.get(name)


def function_view(info: FunctionInfo) -> dict:
    return {"name": info.name, "provider": info.provider, **info.details}


async def list_provider_functions(call: Call) -> Response:
    provider = listable_provider(call)
    page = await provider.list_functions(call.int_query("limit", 50, 1, 1000), call.query("cursor"))
    return JSONResponse(
        {
            "functions": [function_view(info) for info in page.items],
            "next_cursor": page.next_cursor,
        }
    )


async def get_provider_function(call: Call) -> Response:
    provider = listable_provider(call)
    return JSONResponse(function_view(await provider.get_function(call.path("name"))))


PROVIDER_CURSOR = QueryParam(
    "cursor",
    "next_cursor of the previous page (the provider's own page token)",
    max_length=2048,
    pattern=r"^[!-~]+$",
)
PROVIDER_PROBLEMS = {
    404: "A provider this deployment does not enable",
    502: "The provider's API failed (upstream_unavailable)",
    504: "The provider's API timed out (upstream_timeout)",
}
ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/providers/{provider}/functions",
        list_provider_functions,
        "Functions a provider can invoke",
        "providers",
        scope="read",
        response=ProviderFunctionPage,
        query=(limit_param(1000, 50), PROVIDER_CURSOR),
        extra_responses=PROVIDER_PROBLEMS,
    ),
    Endpoint(
        "GET",
        "/v1/providers/{provider}/functions/{name}",
        get_provider_function,
        "One function's configuration",
        "providers",
        scope="read",
        response=ProviderFunction,
        extra_responses={**PROVIDER_PROBLEMS, 404: "Unknown provider or function"},
    ),
]
