"""Fronts: another platform's API (its paths, authentication and error shapes) over fnproxy's
services, so its clients keep working unchanged (core.api.lambda_api is one).

A front's routes stay out of the OpenAPI document: their contract is the platform's own (for
Lambda, botocore's service model), and their errors are that platform's, not problem+json. What
every front's route needs is done here once: the query checked against what the route reads,
the body read within MAX_REQUEST_BYTES (a signature may cover it, so it is read before the
caller is known), the caller authenticated, and every error answered in the front's shape."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from core.api.endpoints import (
    CLIENT_CLOSED_REQUEST,
    MAX_JSON_DEPTH,
    Call,
    Handler,
    QueryParam,
    check_query,
    too_deep,
)
from core.api.endpoints import read_body as read_limited_body
from core.api.unexpected import HTTP_REQUEST, http_request_context
from core.auth.principal import Principal
from core.errors import FnproxyError, NotFound

if TYPE_CHECKING:
    from core.wiring import Services

logger = logging.getLogger("fnproxy.api")

Authenticate = Callable[[Request, bytes, "Services"], Awaitable[Principal]]
"""The caller of a request whose raw body is given."""
ErrorResponse = Callable[[FnproxyError, Request], Response]


@dataclass(frozen=True)
class FrontRoute:
    method: str
    path: str
    handler: Handler
    """Gets a `Call` whose `body` is the raw request body (bytes)."""
    query: tuple[QueryParam, ...] = ()
    any_query: bool = False
    """Every query parameter is the route's to read (the Invoke platform hands them all to
    the function), so none is checked against `query`."""


@dataclass(frozen=True)
class Front:
    routes: tuple[FrontRoute, ...]
    authenticate: Authenticate
    error_response: ErrorResponse
    prefix: str = ""
    """The path the front answers under: any other path there (or method) is the front's own
    `UnknownOperation` error, not the app's problem+json 404."""


class UnknownOperation(NotFound):
    code = "unknown_operation"


METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def mount(front: Front, services: Services) -> list[Route]:
    routes = [_route(front, route, services) for route in front.routes]
    if front.prefix:
        routes += _unknown_operations(front)
    return routes


def _unknown_operations(front: Front) -> list[Route]:
    """Routes, after the front's own, that answer every other path under its prefix (and a
    method its paths do not take) in the front's shape, before any authentication: nothing
    is there to guard."""

    async def unknown(request: Request) -> Response:
        request.state.action = f"unknown {front.prefix}"
        operation = f"{request.method} {request.url.path[:200]}"
        return front.error_response(UnknownOperation(f"no such operation: {operation}"), request)

    return [
        Route(path, unknown, methods=METHODS, name=f"unknown {front.prefix}")
        for path in (front.prefix, f"{front.prefix}/{{rest:path}}")
    ]


def _route(front: Front, route: FrontRoute, services: Services) -> Route:
    limit = services.settings.max_request_bytes
    action = f"{route.method} {route.path}"
    declared = {param.name: param for param in route.query}

    async def serve(request: Request) -> Response:
        request.state.action = action
        try:
            if not route.any_query:
                check_query(request, declared)
            body = await read_limited_body(request, limit)
            principal = await front.authenticate(request, body, services)
            request.state.principal = principal
            return await route.handler(Call(request, services, principal, body))
        except FnproxyError as error:
            return front.error_response(error, request)
        except ClientDisconnect:
            return Response(status_code=CLIENT_CLOSED_REQUEST)
        except Exception:  # logged for Error Reporting (core.api.unexpected), answered bare
            context = {HTTP_REQUEST: http_request_context(request)}
            logger.exception("unhandled error on %s", action, extra=context)
            return front.error_response(FnproxyError("an internal error occurred"), request)

    return Route(route.path, serve, methods=[route.method], name=route.handler.__name__)


def json_answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A front's JSON answer (not problem+json: the platform's own shape)."""
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def json_body(body: bytes, malformed: Callable[[str], FnproxyError]) -> Any:
    """A front's request body as JSON (an empty body is `{}`, as Lambda and OpenWhisk take it);
    one that is no JSON, or nests too deep, is the front's `malformed` error."""
    if not body.strip():
        return {}
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise malformed("Could not parse request body into json") from None
    if too_deep(document):
        raise malformed(f"the payload nests more than {MAX_JSON_DEPTH} levels deep")
    return document
