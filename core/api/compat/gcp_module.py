"""The GCP Functions action module's REST surface (seeds/gcp-functions-action-module.md) under
`/gcp`, with the seed's request and response fields, served by the native services.

How the seed's fields map:
- `invoke` is a native sync invocation of a `gcp_functions` target by name (`function_name`,
  `project`, `region`: the function's own URL from the Cloud Functions v2 API, never a gen1 URL),
  signed with an ID token as any call to a function's own URL is.
- `invoke-http` (and a batch item with a `url`) "invokes an HTTP-triggered Cloud Function or any
  HTTP endpoint" and, as in the seed, sends no token: it is a plain `http` target, keyed
  `http:host/path` (an `invoke:http:...` scope allows it) and counted by the native stats, not
  by `stats` here. No Google credentials are looked up for it.
- `response` is the function's body as text (a JSON body re-serialised compactly),
  `execution_time_ms` the whole milliseconds of the recorded duration, `execution_id` fnproxy's
  own (readable at `/v1/invocations/{id}`). A function that answered is a 200 whatever it
  answered, `success`/`status_code`/`error` telling how it went, as in the seed; one that was not
  reached or timed out is a 502/504 problem (the seed said 200 with `status_code` 500/504).
- every error is problem+json that also carries the seed's `success: false`, `error` (text) and
  `status_code` (the HTTP status); batch items refused alone carry the same members.
- a batch runs concurrently; an item with neither `function_name` nor `url` (or an invalid one)
  is answered by a failed item in its place and counted (the seed dropped it but counted it).
- `stats` counts the `gcp_functions` invocations of all time, as the seed's table did, from
  the all-time rollups (one read; rollups never expire with the history's retention).
- request fields the seed did not know are ignored, as the seed's `data.get(...)` did.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from starlette.responses import Response

from core import __version__
from core.api.compat._seed import Caller, SeedHealth, read_body, seed_problem
from core.api.endpoints import OPTIONAL_TOKEN, PUBLIC, Call, Endpoint, QueryParam
from core.api.problems import from_validation_error
from core.api.responses import JSONResponse
from core.api.routes.auth import THROTTLED
from core.api.routes.health import health_answer, sees_checks, unhealthy_reply
from core.api.routes.invoke import unreached
from core.api.schemas import MAX_TIMEOUT_S
from core.config import Settings
from core.deferred_model import DeferredModel
from core.errors import FnproxyError, InvalidRequest
from core.invoke.batch import BatchItemResult
from core.invoke.service import Invocation, InvocationRequest
from core.models import Execution, iso
from core.providers.base import FunctionInfo, Provider
from core.targets import (
    GCP_FUNCTION_PATTERN,
    GCP_PROJECT_PATTERN,
    GCP_REGION_PATTERN,
    GCP_RESOURCE_NAME_PATTERN,
    GcpFunctionsTarget,
    Headers,
    HttpTarget,
    HttpUrlText,
    excluded_by_name,
    unless_named,
)

MODULE = "gcp_functions_action_module"
PROVIDER = "gcp_functions"
TAG = "gcp functions module"
API = "/gcp/api/v1"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
"""invoke-http sends the payload with these methods only, as the seed did."""
LIST_PAGE_SIZE = 1000
"""The Cloud Functions v2 API's largest page."""

Body = TypeVar("Body", bound=BaseModel)
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
HTTP_METHOD_PATTERN = (
    "^(?:" + "|".join("".join(f"[{c}{c.lower()}]" for c in m) for m in HTTP_METHODS) + ")$"
)
"""The http target's methods, in any (ASCII) case."""


class _SeedBody(DeferredModel):
    """Unknown fields ignored, as the seed ignored them; no value coerced (strict)."""

    model_config = ConfigDict(extra="ignore", strict=True)


class GcpTokenRequest(_SeedBody):
    """`service` and `permissions` are accepted; the module key buys fnproxy's admin token."""

    api_key: str = Field(max_length=1024)
    service: str | None = Field(default=None, max_length=256)
    permissions: list[str] | None = None


class GcpTokenResponse(DeferredModel):
    token: str
    expires_in: int


class GcpInvokeRequest(_SeedBody):
    function_name: str = Field(min_length=1, max_length=256, pattern=GCP_FUNCTION_PATTERN)
    """A function id, or its resource name (projects/P/locations/R/functions/F)."""
    project: str | None = Field(default=None, max_length=128, pattern=GCP_PROJECT_PATTERN)
    region: str | None = Field(default=None, max_length=64, pattern=GCP_REGION_PATTERN)
    """Absent or null with a resource name, which names its own project and region."""
    payload: Any = Field(default_factory=dict)
    headers: Headers | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                excluded_by_name("function_name", GCP_RESOURCE_NAME_PATTERN, "project", "region")
            ]
        }
    )

    @field_validator("project", "region")
    @classmethod
    def _location_once(cls, value: str | None, info: ValidationInfo) -> object:
        return unless_named(value, info, "function_name", GCP_RESOURCE_NAME_PATTERN)

    def to_request(self) -> InvocationRequest:
        target = GcpFunctionsTarget(
            provider=PROVIDER,
            function=self.function_name,
            project=self.project,
            region=self.region,
            headers=self.headers or {},
        )
        return InvocationRequest(target=target, payload=self.payload)


class GcpHttpInvokeRequest(_SeedBody):
    url: HttpUrlText
    """http(s), with a host (the http target's rule)."""
    method: str = Field(default="POST", max_length=16, pattern=HTTP_METHOD_PATTERN)
    """Any case; one of the http target's methods."""
    payload: Any = None
    headers: Headers | None = None
    timeout: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S)
    """Seconds (default FUNCTION_TIMEOUT)."""

    def to_request(self) -> InvocationRequest:
        method = self.method.upper()
        target = HttpTarget(
            provider="http", url=self.url, method=method, headers=self.headers or {}
        )
        payload = self.payload if method in BODY_METHODS else None
        return InvocationRequest(target=target, payload=payload, timeout_s=self.timeout)


class GcpBatchRequest(_SeedBody):
    invocations: list[dict[str, Any]] = Field(min_length=1)
    """Each a `GcpInvokeRequest` or a `GcpHttpInvokeRequest`, parsed on its own."""


class GcpInvocationResponse(DeferredModel):
    success: bool
    status_code: int | None
    response: str
    execution_time_ms: int | None
    execution_id: str
    error: str | None = None
    """Only when `success` is false."""
    response_headers: dict[str, str] | None = None
    """invoke-http only."""


class GcpBatchRefusal(DeferredModel):
    """A batch item refused, or whose function was not reached: the problem's members."""

    model_config = ConfigDict(extra="allow")
    success: Literal[False]
    error: str
    code: str


class GcpBatchResponse(DeferredModel):
    responses: list[GcpInvocationResponse | GcpBatchRefusal]
    """One per invocation, in request order."""
    total_count: int
    success_count: int
    failure_count: int


class GcpFunction(DeferredModel):
    name: str
    full_name: str | None
    state: str | None
    runtime: str | None
    entry_point: str | None
    url: str | None
    description: str | None
    service_account: str | None


class GcpFunctionDetail(GcpFunction):
    timeout: float | None
    """Seconds."""
    memory_mb: str | int | None
    """Cloud Functions' availableMemory, e.g. "256M"."""
    environment_variables: list[str] | None
    """Names only, never values."""


class GcpFunctionList(DeferredModel):
    project: str | None
    region: str
    functions: list[GcpFunction]
    count: int


class GcpFunctionDetails(DeferredModel):
    success: bool
    function: GcpFunctionDetail


class GcpStatsCounters(DeferredModel):
    total_invocations: int
    successful_invocations: int
    failed_invocations: int
    average_execution_time_ms: int
    gcp_project: str | None
    gcp_region: str
    rest_port: int


class GcpStatsResponse(DeferredModel):
    module: str
    version: str
    stats: GcpStatsCounters
    timestamp: str


class GcpHealth(SeedHealth):
    database: Literal["connected", "disconnected"] | None = None
    gcp_project: str | None = None
    gcp_region: str | None = None
    rest_port: int | None = None
    grpc_port: int | None = None
    """The gRPC port `fnproxy serve` listens on (GRPC_PORT); null when it serves none."""
    checks: dict[str, str] | None = None


def _whole_ms(duration_ms: float | None) -> int | None:
    return None if duration_ms is None else round(duration_ms)


def response_text(result: Any) -> str:
    """The function's body as the seed's text: text as it came, JSON re-serialised."""
    if result is None:
        return ""
    if isinstance(result, str):
        return result
    return orjson.dumps(result).decode()


def _unreached(execution: Execution) -> FnproxyError | None:
    """The 502/504 problem of a function not reached in time, with `execution_time_ms`."""
    problem = unreached(execution)
    if problem is not None:
        problem.extra["execution_time_ms"] = _whole_ms(execution.duration_ms)
    return problem


def invocation_view(invocation: Invocation) -> dict[str, Any]:
    execution = invocation.execution
    view = {
        "success": bool(execution.success),
        "status_code": execution.status_code,
        "response": response_text(invocation.result),
        "execution_time_ms": _whole_ms(execution.duration_ms),
        "execution_id": execution.execution_id,
    }
    if not execution.success:
        view["error"] = (execution.error or {}).get("message", "the function failed")
    return view


def refusal_view(error: FnproxyError) -> dict[str, Any]:
    """A batch item that was refused, or whose function was not reached."""
    return {**seed_problem(error).extra, "code": error.code}


async def reached(caller: Caller, request: InvocationRequest) -> Invocation:
    """The sync invocation of `request`; a 502/504 problem if the function was not reached."""
    invocation = await caller.invoke(request)
    problem = _unreached(invocation.execution)
    if problem is not None:
        raise problem
    return invocation


async def gcp_token(call: Call) -> Response:
    body = await read_body(call, GcpTokenRequest)
    grant = await call.services.auth.token_for_api_key(body.api_key, source=call.source)
    return JSONResponse(
        {"token": grant.access_token, "expires_in": grant.expires_in},
        headers={"Cache-Control": "no-store"},
    )


async def gcp_invoke(call: Call) -> Response:
    body = await read_body(call, GcpInvokeRequest)
    return JSONResponse(invocation_view(await reached(call, body.to_request())))


async def gcp_invoke_http(call: Call) -> Response:
    body = await read_body(call, GcpHttpInvokeRequest)
    return JSONResponse(http_invocation_view(await reached(call, body.to_request())))


def http_invocation_view(invocation: Invocation) -> dict[str, Any]:
    """`invocation_view` and `response_headers`: what the provider records of the answer's
    headers."""
    headers = invocation.execution.provider_info.get("response_headers", {})
    return invocation_view(invocation) | {"response_headers": headers}


def _batch_request(item: dict[str, Any]) -> InvocationRequest | FnproxyError:
    """The item's invocation by name or by URL, or the refusal answered in its place."""
    try:
        if item.get("function_name") is not None:
            return GcpInvokeRequest.model_validate(item).to_request()
        if item.get("url") is not None:
            return GcpHttpInvokeRequest.model_validate(item).to_request()
    except ValidationError as invalid:
        return seed_problem(from_validation_error(invalid))
    return InvalidRequest("an invocation needs a function_name or a url")


def _item_view(result: BatchItemResult) -> dict[str, Any]:
    if result.error is not None:
        return refusal_view(result.error)
    problem = _unreached(result.invocation.execution)
    if problem is not None:
        return refusal_view(problem)
    return invocation_view(result.invocation)


async def batch_answer(caller: Caller, invocations: list[dict[str, Any]]) -> dict[str, Any]:
    """The seed's batch: each invocation (by name or URL, `_batch_request`) run concurrently,
    a refused one answered in its place; responses in request order, and their counts."""
    limit = caller.services.settings.max_batch_size
    if len(invocations) > limit:
        raise InvalidRequest(
            f"a batch holds at most {limit} invocations (MAX_BATCH_SIZE), got {len(invocations)}"
        )
    items = [_batch_request(item) for item in invocations]
    requests = [item for item in items if isinstance(item, InvocationRequest)]
    results = iter(await caller.invoke_all(requests) if requests else [])
    responses = [
        _item_view(next(results)) if isinstance(item, InvocationRequest) else refusal_view(item)
        for item in items
    ]
    successes = sum(1 for response in responses if response["success"])
    return {
        "responses": responses,
        "total_count": len(responses),
        "success_count": successes,
        "failure_count": len(responses) - successes,
    }


async def gcp_batch(call: Call) -> Response:
    body = await read_body(call, GcpBatchRequest)
    return JSONResponse(await batch_answer(call, body.invocations))


def function_view(info: FunctionInfo) -> dict[str, Any]:
    """The seed's fields of a listed function."""
    details = info.details
    return {
        "name": info.name,
        "full_name": details.get("resource_name"),
        "state": details.get("state"),
        "runtime": details.get("runtime"),
        "entry_point": details.get("entry_point"),
        "url": details.get("url"),
        "description": details.get("description"),
        "service_account": details.get("service_account"),
    }


def details_view(info: FunctionInfo) -> dict[str, Any]:
    """The seed's fields of one function; environment variable names only, never values."""
    details = info.details
    return function_view(info) | {
        "timeout": details.get("timeout_s"),
        "memory_mb": details.get("memory"),
        "environment_variables": details.get("environment_variables"),
    }


def gcp_provider(caller: Caller) -> Provider:
    return caller.services.providers.get(PROVIDER)


def location(settings: Settings, project: str | None, region: str | None) -> tuple[str, str]:
    """`project` and `region`, else (absent or empty) the provider's own."""
    return project or settings.gcp_project_id, region or settings.gcp_region


async def all_functions(
    provider: Provider, project: str, region: str
) -> AsyncIterator[FunctionInfo]:
    cursor = None
    while True:
        page = await provider.list_functions(LIST_PAGE_SIZE, cursor, project, region)
        for info in page.items:
            yield info
        cursor = page.next_cursor
        if cursor is None:
            return


async def gcp_list_functions(call: Call) -> Response:
    project, region = location(call.services.settings, call.query("project"), call.query("region"))
    provider = gcp_provider(call)
    functions = [function_view(info) async for info in all_functions(provider, project, region)]
    return JSONResponse(
        {"project": project, "region": region, "functions": functions, "count": len(functions)}
    )


async def function_details(
    caller: Caller, name: str, project: str | None, region: str | None
) -> FunctionInfo:
    """The function `name` of `project` and `region` (else the provider's own)."""
    project, region = location(caller.services.settings, project, region)
    # Without a project the provider answers that none is set.
    resource = f"projects/{project}/locations/{region}/functions/{name}" if project else name
    return await gcp_provider(caller).get_function(resource)


async def gcp_function_details(call: Call) -> Response:
    info = await function_details(
        call, call.path("name"), call.query("project"), call.query("region")
    )
    return JSONResponse({"success": True, "function": details_view(info)})


def provider_totals(by_function: dict[str, dict[str, Any]]) -> dict[str, int]:
    """The seed's counters over the `gcp_functions` functions of a native stats summary."""
    rows = [row for key, row in by_function.items() if key.startswith(f"{PROVIDER}:")]
    count = sum(row["count"] for row in rows)
    total_ms = sum((row["avg_ms"] or 0) * row["count"] for row in rows)
    return {
        "total_invocations": count,
        "successful_invocations": sum(row["successes"] for row in rows),
        "failed_invocations": sum(row["failures"] for row in rows),
        "average_execution_time_ms": round(total_ms / count) if count else 0,
    }


def _location(call: Call) -> dict[str, Any]:
    settings = call.services.settings
    return {
        "gcp_project": settings.gcp_project_id,
        "gcp_region": settings.gcp_region,
        "rest_port": settings.rest_port,
    }


async def gcp_stats(call: Call) -> Response:
    summary = await call.services.history.all_time_stats(call.principal)
    counters = provider_totals(summary["by_function"])
    return JSONResponse(
        {
            "module": MODULE,
            "version": __version__,
            "stats": counters | _location(call),
            "timestamp": iso(time.time()),
        }
    )


async def gcp_health(call: Call) -> Response:
    """The seed's status; for a `read` token, its other fields and the native health's `checks`
    of every port too (core.api.routes.health says who sees what)."""
    checks = await call.services.health.results()
    healthy = all(result == "ok" for result in checks.values())
    body: dict[str, Any] = {"status": "healthy" if healthy else "unhealthy", "version": __version__}
    if sees_checks(call):
        body |= {
            "module": MODULE,
            "timestamp": iso(time.time()),
            "database": "connected" if checks["store"] == "ok" else "disconnected",
            **_location(call),
            "grpc_port": call.services.settings.grpc_port or None,
            "checks": checks,
        }
    return health_answer(body, healthy)


LOCATION_QUERY = (
    QueryParam(
        "project",
        "GCP project (default GCP_PROJECT_ID)",
        max_length=128,
        pattern=GCP_PROJECT_PATTERN,
    ),
    QueryParam(
        "region", "GCP region (default GCP_REGION)", max_length=64, pattern=GCP_REGION_PATTERN
    ),
)
INVOKE_ERRORS = {
    429: "Too many invocations in flight, or the function still throttled after retries",
    502: "Unreachable, or an answer over MAX_RESPONSE_BYTES (response_too_large)",
    504: "Timed out",
}
ADMIN_API_ERRORS = {
    502: "The Cloud Functions API failed (upstream_unavailable)",
    504: "The Cloud Functions API timed out (upstream_timeout)",
}

ENDPOINTS = [
    Endpoint(
        "POST",
        f"{API}/auth/token",
        gcp_token,
        "Get a bearer token for the module secret key",
        TAG,
        scope=PUBLIC,
        body=GcpTokenRequest,
        custom_body=True,
        response=GcpTokenResponse,
        extra_responses={401: "Invalid api key", **THROTTLED},
    ),
    Endpoint(
        "POST",
        f"{API}/functions/invoke",
        gcp_invoke,
        "Invoke a Cloud Function by name",
        TAG,
        body=GcpInvokeRequest,
        custom_body=True,
        response=GcpInvocationResponse,
        extra_responses={
            403: "Not allowed to invoke the function, or the egress policy refuses its URL "
            "(egress_denied)",
            404: "Unknown function",
            **INVOKE_ERRORS,
        },
    ),
    Endpoint(
        "POST",
        f"{API}/functions/invoke-http",
        gcp_invoke_http,
        "Invoke a function or any HTTP endpoint by URL (a plain http call: no ID token)",
        TAG,
        body=GcpHttpInvokeRequest,
        custom_body=True,
        response=GcpInvocationResponse,
        extra_responses={
            403: "Not allowed to invoke the URL (an invoke:http scope), or the egress policy "
            "refuses it (egress_denied)",
            **INVOKE_ERRORS,
        },
    ),
    Endpoint(
        "POST",
        f"{API}/functions/batch",
        gcp_batch,
        "Invoke many functions concurrently",
        TAG,
        body=GcpBatchRequest,
        custom_body=True,
        response=GcpBatchResponse,
        extra_responses={400: "More than MAX_BATCH_SIZE invocations (the seed's 400)"},
    ),
    Endpoint(
        "GET",
        f"{API}/functions/list",
        gcp_list_functions,
        "List the Cloud Functions of the default project and region",
        TAG,
        scope="read",
        response=GcpFunctionList,
        query=LOCATION_QUERY,
        extra_responses={400: "Another project or region", **ADMIN_API_ERRORS},
    ),
    Endpoint(
        "GET",
        f"{API}/functions/{{name}}/details",
        gcp_function_details,
        "One Cloud Function's configuration",
        TAG,
        scope="read",
        response=GcpFunctionDetails,
        query=LOCATION_QUERY,
        extra_responses={404: "Unknown function", **ADMIN_API_ERRORS},
    ),
    Endpoint(
        "GET",
        f"{API}/stats",
        gcp_stats,
        "Invocation counters of the gcp_functions functions, all time (rollups never expire)",
        TAG,
        scope="read",
        response=GcpStatsResponse,
    ),
    Endpoint(
        "GET",
        "/gcp/health",
        gcp_health,
        "The module's health in the seed's shape (status and version without a `read` token)",
        TAG,
        scope=OPTIONAL_TOKEN,
        response=GcpHealth,
        replies=unhealthy_reply(GcpHealth, "A port is failing"),
    ),
]
