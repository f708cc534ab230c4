"""The router's routes, found by the first two segments of the request's path.

Starlette's router tries each of its routes in turn, matching each one's regular expression
against the path: about 95 of them here, so a path with parameters (`/v1/invocations/{id}`,
`/invoke/{name}`, the compat fronts' `/lambda-api/2015-03-31/functions/{FunctionName}/...`)
or an unknown one cost up to ~130 us of matching before any work, on the path of every such
request. `RouteIndex` is one route holding them all: it tries only the routes that can match
the path's first two segments (a route's literal segment must be equal, a parameter takes
any), in their order, and hands the request to the first that matches fully, else to the
first that matches partially (a method it does not take: 405), exactly as the router would.
Every path a route of the index matches is matched the same way, by the same routes in the
same order: the routes themselves decide, the index only leaves out the ones that cannot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, NoMatchFound, Route
from starlette.types import Receive, Scope, Send

ANY_SEGMENT = None
"""A route's second segment when it is a parameter (or absent): it takes any."""
MATCHED = "fnproxy.matched_route"
"""The scope key by which `matches` tells `handle` which route matched."""

Key = tuple[str, str | None]


def route_key(path: str) -> Key:
    """A route path's first segment and its literal second one (ANY_SEGMENT otherwise)."""
    first, _, rest = path[1:].partition("/")
    if "{" in first:
        raise ValueError(f"route {path!r}: a parameter in the first segment cannot be indexed")
    second = rest.split("/", 1)[0]
    return first, (second if rest and "{" not in second else ANY_SEGMENT)


def path_key(path: str) -> Key:
    """A request path's first two segments (the second is None when there is none)."""
    parts = path[1:].split("/", 2)
    return parts[0], (parts[1] if len(parts) > 1 else None)


class RouteIndex(BaseRoute):
    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = list(routes)
        keyed = [(route_key(route.path), route) for route in self.routes]

        def routes_of(*keys: Key) -> list[Route]:
            return [route for key, route in keyed if key in keys]

        self._any_second = {first: routes_of((first, ANY_SEGMENT)) for (first, _), _ in keyed}
        """By first segment: the routes that take any second one."""
        self._by_key = {
            key: routes_of(key, (key[0], ANY_SEGMENT))
            for key, _ in keyed
            if key[1] is not ANY_SEGMENT
        }
        """By literal first and second segments: their routes and those taking any second."""

    def candidates(self, scope: Scope) -> list[Route]:
        """The routes that can match the scope's path, in their order."""
        key = path_key(get_route_path(scope))
        found = self._by_key.get(key)
        return found if found is not None else self._any_second.get(key[0], [])

    def allowed_methods(self, scope: Scope) -> set[str]:
        """Every method some route of the scope's path answers (the Allow of a 405: routes of
        one path but different methods are separate routes, each knowing only its own)."""
        methods: set[str] = set()
        for route in self.candidates(scope):
            match, _ = route.matches(scope)
            if match is not Match.NONE and route.methods:
                methods |= route.methods
        return methods

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        partial: tuple[Route, Scope] | None = None
        for route in self.candidates(scope):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return Match.FULL, {**child_scope, MATCHED: route}
            if match is Match.PARTIAL and partial is None:
                partial = route, child_scope
        if partial is None:
            return Match.NONE, {}
        route, child_scope = partial
        return Match.PARTIAL, {**child_scope, MATCHED: route}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = scope.pop(MATCHED)
        scope["route"] = route
        await route.handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                pass
        raise NoMatchFound(name, path_params)
