"""The lean path for endpoint routes of a fixed path (`POST /v1/invoke`, `/v1/invoke/batch`,
`/v1/auth/token`, ...): found by one dict lookup and served at once, in front of Starlette's
exception middleware and router.

Below it, Starlette's router finds a route through `core.api.route_index`, and every route
runs inside two exception-handling wrappers; an endpoint route (`core.api.endpoints.route_for`)
answers every error itself as problem+json, so for it those layers only cost time (about a
tenth of the CPU of an instant invocation). The request is served by the same `serve`
function the router would call: the validation, authentication and policy are the same code
on both paths. Everything the index does not hold (a path with parameters, a method the path
does not answer, an unknown path) goes on to the router, whose answers (404, 405 with Allow)
stay as they are."""

from __future__ import annotations

from collections.abc import Iterable

from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send


def fixed_path_index(routes: Iterable[Route]) -> dict[tuple[str, str], Route]:
    """(path, method) to route, for the routes whose path has no parameter."""
    return {
        (route.path, method): route
        for route in routes
        if "{" not in route.path
        for method in route.methods or ()
    }


class FixedPathRoutes:
    """ASGI middleware serving the indexed routes' requests without the layers below it."""

    def __init__(self, app: ASGIApp, routes: Iterable[Route]) -> None:
        self.app = app
        self._index = fixed_path_index(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = None
        if scope["type"] == "http":
            route = self._index.get((get_route_path(scope), scope["method"]))
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {}
        response = await route.endpoint(Request(scope, receive, send))
        await response(scope, receive, send)
