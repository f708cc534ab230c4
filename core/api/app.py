"""The ASGI application: the route table, problem+json for unknown routes, the OpenAPI
document and the docs page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.api import dashboard, docs, invoke_platform, lambda_api, openwhisk_api
from core.api.compat import compat_endpoints
from core.api.endpoints import Endpoint, route_for
from core.api.fixed_paths import FixedPathRoutes
from core.api.fronts import mount
from core.api.middleware import RequestContext
from core.api.openapi import build_openapi
from core.api.problems import problem_response
from core.api.responses import JSONResponse
from core.api.route_index import RouteIndex
from core.api.routes import (
    aliases,
    api_keys,
    auth,
    blobs,
    functions,
    health,
    history,
    invoke,
    metrics,
    providers,
    sessions,
)
from core.errors import FnproxyError, NotFound

Lifecycle = Callable[[], Awaitable[None]]


def native_endpoints() -> list[Endpoint]:
    return [
        *health.ENDPOINTS,
        *metrics.ENDPOINTS,
        *auth.ENDPOINTS,
        *invoke.ENDPOINTS,
        *history.ENDPOINTS,
        *functions.ENDPOINTS,
        *aliases.ENDPOINTS,
        *api_keys.ENDPOINTS,
        *sessions.ENDPOINTS,
        *providers.ENDPOINTS,
        *blobs.ENDPOINTS,
    ]


def all_endpoints() -> list[Endpoint]:
    return native_endpoints() + compat_endpoints()


class MethodNotAllowed(FnproxyError):
    status, code, title = 405, "method_not_allowed", "Method not allowed"


def allowed_methods(request: Request) -> str:
    """Every method some route of the request's path answers (the Allow of a 405)."""
    index: RouteIndex = request.app.state.routes
    return ", ".join(sorted(index.allowed_methods(request.scope)))


async def _http_exception(request: Request, error: Exception) -> Response:
    status = getattr(error, "status_code", 500)
    if status == 405:
        allow = allowed_methods(request)
        problem: FnproxyError = MethodNotAllowed(
            f"{request.method} is not allowed on {request.url.path} (allowed: {allow})"
        )
        return problem_response(problem, request.url.path, {"Allow": allow})
    if status == 404:
        problem = NotFound(f"no route for {request.method} {request.url.path}")
    else:
        problem = FnproxyError("an internal error occurred")
    return problem_response(problem, request.url.path)


async def _internal_error(request: Request, error: Exception) -> Response:
    return problem_response(FnproxyError("an internal error occurred"), request.url.path)


def create_app(
    services, on_startup: Lifecycle | None = None, on_shutdown: Lifecycle | None = None
) -> Starlette:
    """The app over built services. `on_startup`/`on_shutdown` run in its lifespan (the local
    server starts its in-process worker there)."""
    endpoints = all_endpoints()
    openapi_document: dict = {}

    async def openapi(request: Request) -> Response:
        if not openapi_document:
            settings = services.settings
            document = build_openapi(
                endpoints,
                settings.max_batch_size,
                https_callbacks=settings.platform != "local",
                stats_bucket_s=settings.stats_bucket_s,
            )
            openapi_document.update(document)
        return JSONResponse(openapi_document)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if on_startup is not None:
            await on_startup()
        yield
        if on_shutdown is not None:
            await on_shutdown()

    endpoint_routes = [route_for(endpoint, services) for endpoint in endpoints]
    routes = [*endpoint_routes]
    routes += mount(lambda_api.FRONT, services)
    routes += mount(openwhisk_api.FRONT, services)
    routes += mount(invoke_platform.FRONT, services)
    routes += [
        Route("/openapi.json", openapi, methods=["GET"]),
        *docs.ROUTES,
        *dashboard.ROUTES,
    ]
    index = RouteIndex(routes)
    app = Starlette(
        routes=[index],
        exception_handlers={HTTPException: _http_exception, 500: _internal_error},
        lifespan=lifespan,
    )
    app.state.routes = index
    app.add_middleware(FixedPathRoutes, routes=endpoint_routes)  # inside RequestContext
    app.add_middleware(RequestContext, audit=services.audit)
    return app
