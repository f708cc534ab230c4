"""The route index finds, for every path and method, the route Starlette's router would find by
trying each route in turn: the same route, matched fully or partially the same way."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Match

from core.api.app import create_app
from core.api.route_index import RouteIndex, route_key

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
UNKNOWN_PATHS = ("/", "/nope", "/v1", "/v1/", "//v1", "/v1/nope", "/lambda-api", "/invoke")


def scope(method: str, path: str) -> dict:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def linear_choice(index: RouteIndex, method: str, path: str) -> tuple[Match, object]:
    """What Starlette's router picks: the first full match, else the first partial one."""
    partial = None
    for route in index.routes:
        match, _ = route.matches(scope(method, path))
        if match is Match.FULL:
            return Match.FULL, route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return (Match.PARTIAL, partial) if partial is not None else (Match.NONE, None)


def indexed_choice(index: RouteIndex, method: str, path: str) -> tuple[Match, object]:
    match, child_scope = index.matches(scope(method, path))
    return match, child_scope.get("fnproxy.matched_route")


def paths_near(route_path: str) -> list[str]:
    """A path the route takes, and paths beside it: a trailing slash, another last segment,
    one segment more."""
    path = re.sub(r"\{[^}]*:path\}", "a/b", route_path)
    path = re.sub(r"\{[^}]*\}", "x1", path)
    parent = path.rsplit("/", 1)[0]
    return [path, path + "/", f"{parent}/zzz", f"{path}/zzz"]


@pytest.fixture
def index(services) -> RouteIndex:
    return create_app(services).state.routes


def test_every_path_is_routed_as_the_router_would(index: RouteIndex) -> None:
    paths = {near for route in index.routes for near in paths_near(route.path)}
    paths |= set(UNKNOWN_PATHS)
    differences = [
        (method, path, indexed_choice(index, method, path), linear_choice(index, method, path))
        for path in sorted(paths)
        for method in METHODS
        if indexed_choice(index, method, path) != linear_choice(index, method, path)
    ]
    assert differences == []
    assert len(paths) > 250


def test_a_route_with_a_parameter_first_cannot_be_indexed() -> None:
    assert route_key("/v1/functions/{name}") == ("v1", "functions")
    assert route_key("/invoke/{name}") == ("invoke", None)
    with pytest.raises(ValueError, match="first segment"):
        route_key("/{tenant}/v1/invoke")


async def test_paths_reach_their_routes_through_the_app(client, admin) -> None:
    missing = await client.get("/v1/invocations/0123456789abcdef0123456789", headers=admin)
    wrong_method = await client.put("/v1/functions/hello/versions", headers=admin)
    unknown = await client.get("/v1/nope", headers=admin)
    slashed = await client.post("/v1/invoke/", headers=admin)

    assert missing.status_code == 404 and "execution" in missing.json()["detail"]
    assert wrong_method.status_code == 405 and "POST" in wrong_method.headers["allow"]
    assert unknown.status_code == 404 and "no route" in unknown.json()["detail"]
    assert slashed.status_code == 307 and slashed.headers["location"].endswith("/v1/invoke")
