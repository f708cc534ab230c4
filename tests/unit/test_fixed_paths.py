"""The lean path for endpoint routes of a fixed path: what it serves itself, and what it leaves
to the app below it (Starlette's router, with its 404 and 405)."""

from __future__ import annotations

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from core.api.fixed_paths import FixedPathRoutes, fixed_path_index


async def answer(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"served {request.method} {request.url.path}")


ROUTES = [
    Route("/v1/things", answer, methods=["POST"]),
    Route("/v1/things/{thing}", answer, methods=["GET"]),
]


async def below(scope, receive, send) -> None:
    await PlainTextResponse("below", status_code=418)(scope, receive, send)


def client(root_path: str = "") -> httpx.AsyncClient:
    app = FixedPathRoutes(below, ROUTES)
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def test_only_paths_without_parameters_are_indexed() -> None:
    assert set(fixed_path_index(ROUTES)) == {("/v1/things", "POST")}


async def test_a_fixed_path_and_method_is_served_without_the_app_below() -> None:
    async with client() as http:
        response = await http.post("/v1/things")
    assert (response.status_code, response.text) == (200, "served POST /v1/things")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/things"), ("GET", "/v1/things/7"), ("POST", "/v1/thing"), ("POST", "/")],
)
async def test_other_methods_parameterised_and_unknown_paths_go_below(method, path) -> None:
    async with client() as http:
        response = await http.request(method, path)
    assert (response.status_code, response.text) == (418, "below")


async def test_a_path_under_a_root_path_is_matched_without_it() -> None:
    async with client(root_path="/prod") as http:
        response = await http.post("/prod/v1/things")
    assert (response.status_code, response.text) == (200, "served POST /prod/v1/things")
