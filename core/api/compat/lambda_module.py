"""The Lambda action module's REST surface (seeds/lambda-action-module.md) under `/lambda`,
mapped onto the native services.

A client of the old module switches by changing its base URL only: same routes, field names
and token flow. Its faults are not kept: client credentials are checked, batches run
concurrently, and a failure answers with its own status (400, 401, 403, 404, 502, 504, ...)
as problem+json that also carries the seed's `success: false`, `error` and `status_code`.
`status_code` is Lambda's own where Lambda answered, else the HTTP status.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, ConfigDict, Field, ValidationError
from starlette.responses import Response

from core import __version__
from core.api.compat._seed import Caller, SeedHealth, event_from_text, read_body, seed_problem
from core.api.endpoints import (
    MAX_JSON_DEPTH,
    OPTIONAL_TOKEN,
    PUBLIC,
    Call,
    Endpoint,
    Handler,
    QueryParam,
)
from core.api.responses import JSONResponse
from core.api.routes.auth import THROTTLED
from core.api.routes.health import health_answer, sees_checks, unhealthy_reply
from core.api.routes.invoke import unreached
from core.config import Settings
from core.deferred_model import DeferredModel
from core.errors import FnproxyError, FunctionFailed, InvalidRequest
from core.invoke.batch import BatchItemResult
from core.invoke.service import Invocation, InvocationRequest
from core.models import Execution, Mode
from core.providers.base import Provider
from core.targets import (
    AWS_FUNCTION_PATTERN,
    AWS_NAMED_QUALIFIER_PATTERN,
    AWS_QUALIFIER_PATTERN,
    AwsLambdaTarget,
    excluded_by_name,
)

PREFIX = "/lambda"
API = f"{PREFIX}/api/v1"
MODULE_NAME = "lambda_action_module"
TAG = "lambda (seed)"
NO_STORE = {"Cache-Control": "no-store"}
KEY_PREFIX = "aws_lambda:"
"""Every Lambda function key starts with it."""
DEFAULT_LIST_ITEMS = 50
MAX_LIST_ITEMS = 10000
"""A function listing's page size: the default and the most (ListFunctions' MaxItems)."""
NO_PAYLOAD_STATUSES = frozenset({202, 204})
"""Lambda answers an Event (202) or a DryRun (204) with no payload."""


class _SeedBody(DeferredModel):
    """A seed client's body: unknown fields are ignored, as the old module ignored them; no
    value is coerced (strict: `0` is no boolean, `"1"` no number)."""

    model_config = ConfigDict(extra="ignore", strict=True)


class LambdaTokenRequest(_SeedBody):
    client_id: str = Field(min_length=1, max_length=128)
    client_secret: str = Field(min_length=1, max_length=256)


class LambdaTokenResponse(DeferredModel):
    token: str
    expires_in: int


EventText = Annotated[
    str,
    AfterValidator(event_from_text),
    Field(
        description='The event as JSON text, e.g. "{\\"key\\": \\"value\\"}" for the object '
        '{"key": "value"}. Text that is not JSON ("" too) is the event as that JSON string: '
        '"hello" and "\\"hello\\"" both send the event "hello". JSON nesting more than '
        f"{MAX_JSON_DEPTH} levels deep is refused, as such a request body is."
    ),
]
"""A seed's `payload`: any string (see `event_from_text`)."""


FunctionName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=256,
        pattern=AWS_FUNCTION_PATTERN,
        description="A Lambda function name, name:qualifier, partial ARN or ARN (the "
        "aws_lambda target's function). LAMBDA_FUNCTION_PREFIX, when set, is put before a bare "
        "name and counts toward its 64 characters.",
    ),
]
"""A seed's `function_name`: the target's Lambda name pattern (core.targets), so a name the
document admits is one the target takes (but for the prefix's length)."""


class LambdaInvokeRequest(_SeedBody):
    function_name: FunctionName
    payload: EventText
    """The event as JSON text, e.g. "{\\"key\\": \\"value\\"}"; text that is not JSON is the
    event as a JSON string (`event_from_text`)."""
    invocation_type: Literal["RequestResponse", "Event", "DryRun"] = "RequestResponse"
    alias: str | None = Field(default=None, max_length=128, pattern=AWS_QUALIFIER_PATTERN)
    version: str | None = Field(default=None, max_length=128, pattern=AWS_QUALIFIER_PATTERN)
    """Used when no alias is given."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": "A function_name that carries its own qualifier (name:qualifier, "
            "an ARN ending in one) takes no alias or version (a seed client repeating the "
            "same qualifier is still accepted, as Lambda took it)",
            "allOf": [
                excluded_by_name("function_name", AWS_NAMED_QUALIFIER_PATTERN, "alias", "version")
            ],
        }
    )


class LambdaInvokeAsyncRequest(_SeedBody):
    function_name: FunctionName
    payload: EventText


class LambdaBatchRequest(_SeedBody):
    invocations: list[LambdaInvokeRequest] = Field(min_length=1)


class LambdaInvokeResponse(DeferredModel):
    """The answer to an invocation (also each item of a batch's `results`)."""

    success: bool
    status_code: int
    payload: str | None
    """The function's answer as JSON text; "" for Event and DryRun, null for a failure."""
    error: str | None
    executed_version: str
    log_result: str
    """The log tail as text (the old module decoded Lambda's base64)."""


class LambdaStatsFigures(DeferredModel):
    total_invocations: int
    successful_invocations: int
    failed_invocations: int
    success_rate: float | None
    """Successful over total, 4 decimals; null before the first invocation."""
    average_execution_time_ms: float | None


class LambdaStats(LambdaStatsFigures):
    by_function: dict[str, LambdaStatsFigures]
    """By function key: `aws_lambda:name[:qualifier]`, `aws_lambda:/REGION/ACCOUNT/name`."""


class LambdaStatsResponse(DeferredModel):
    module: str
    version: str
    stats: LambdaStats
    timestamp: str


class LambdaAsyncResponse(DeferredModel):
    success: bool
    status_code: int | None
    """202: Lambda accepted the event."""
    request_id: str


class LambdaBatchResponse(DeferredModel):
    results: list[LambdaInvokeResponse]
    """One per invocation, in request order; a refused one carries its status and error."""


class LambdaFunctionList(DeferredModel):
    success: bool
    functions: list[dict[str, Any]]
    """Each function's configuration as Lambda's ListFunctions gives it."""
    next_marker: str
    """Empty on the last page."""


class LambdaFunctionConfig(DeferredModel):
    success: bool
    config: dict[str, Any]
    """The configuration as Lambda's GetFunctionConfiguration gives it."""


class LambdaHealthConfig(DeferredModel):
    module_name: str
    module_version: str
    rest_port: int
    grpc_port: int | None
    """The gRPC port `fnproxy serve` listens on (GRPC_PORT), null when it serves none."""
    database_configured: bool
    store_backend: str
    aws_region: str | None
    request_timeout: float
    function_prefix: str
    max_batch_size: int
    log_level: str


class LambdaHealth(SeedHealth):
    config: LambdaHealthConfig | None = None
    error: str | None = None


def lambda_provider(caller: Caller) -> Provider:
    return caller.services.providers.get("aws_lambda")


def prefixed(function_name: str, prefix: str) -> str:
    """`function_name` with LAMBDA_FUNCTION_PREFIX before it, unless it is an ARN (full or
    partial) or already starts with the prefix."""
    if function_name.startswith((prefix, "arn:")) or ":function:" in function_name:
        return function_name
    return prefix + function_name


def to_request(
    settings: Settings,
    function_name: str,
    payload: Any,
    invocation_type: str,
    qualifier: str | None = None,
) -> InvocationRequest:
    """Lambda's invocation types as fnproxy's: Event is the target's own, DryRun a mode. The
    module's settings apply: the function prefix and LAMBDA_TIMEOUT."""
    function = prefixed(function_name, settings.lambda_function_prefix)
    if function != function_name and not re.match(AWS_FUNCTION_PATTERN, function):
        raise InvalidRequest(
            f"function_name {function_name!r} with LAMBDA_FUNCTION_PREFIX "
            f"{settings.lambda_function_prefix!r} is no Lambda function name (the prefix counts "
            "toward its 64 characters)"
        )
    target = AwsLambdaTarget(
        provider="aws_lambda",
        function=function,
        qualifier=qualifier,
        invocation_type="Event" if invocation_type == "Event" else "RequestResponse",
    )
    mode = Mode.DRY_RUN if invocation_type == "DryRun" else Mode.SYNC
    return InvocationRequest(
        target=target, payload=payload, mode=mode, timeout_s=settings.lambda_timeout
    )


def names_qualifier(function_name: str, qualifier: str) -> bool:
    """Whether `function_name` (`name:qualifier`, an ARN ending in one) names `qualifier`: the
    seed's clients may give it again as `alias` or `version`, which Lambda accepts when the two
    agree (a different one stays refused: the target's qualifier is then a field error)."""
    return bool(re.match(AWS_NAMED_QUALIFIER_PATTERN, function_name)) and (
        function_name.rpartition(":")[2] == qualifier
    )


def invoke_request(settings: Settings, body: LambdaInvokeRequest) -> InvocationRequest:
    qualifier = body.alias or body.version or None
    if qualifier and names_qualifier(body.function_name, qualifier):
        qualifier = None  # the target takes it once; the seed (through Lambda) took it twice
    return to_request(settings, body.function_name, body.payload, body.invocation_type, qualifier)


def failure(execution: Execution) -> FnproxyError | None:
    """Why the invocation did not succeed (unreachable, timed out, the function's own error),
    or None when it did."""
    if execution.success:
        return None
    problem = unreached(execution)
    if problem is None:
        message = (execution.error or {}).get("message") or "the function failed"
        problem = FunctionFailed(message, execution_id=execution.execution_id)
    if execution.status_code is not None:
        problem.extra["status_code"] = execution.status_code
    return seed_problem(problem)


def payload_text(invocation: Invocation) -> str:
    if invocation.execution.status_code in NO_PAYLOAD_STATUSES:
        return ""
    return orjson.dumps(invocation.result).decode()


def invoke_answer(invocation: Invocation, problem: FnproxyError | None) -> dict[str, Any]:
    execution = invocation.execution
    return {
        "success": problem is None,
        "status_code": problem.extra["status_code"] if problem else execution.status_code,
        "payload": None if problem else payload_text(invocation),
        "error": problem.detail if problem else None,
        "executed_version": execution.provider_info.get("executed_version", ""),
        "log_result": invocation.logs or "",
    }


def rejected_answer(error: FnproxyError) -> dict[str, Any]:
    """A batch item refused before it ran (unknown function, bad name, too large, ...)."""
    return {
        "success": False,
        "status_code": error.status,
        "payload": None,
        "error": error.detail,
        "executed_version": "",
        "log_result": "",
    }


def batch_answer(item: BatchItemResult) -> dict[str, Any]:
    if item.error is not None:
        return rejected_answer(item.error)
    return invoke_answer(item.invocation, failure(item.invocation.execution))


async def lambda_token(call: Call) -> Response:
    body: LambdaTokenRequest = await read_body(call, LambdaTokenRequest)
    grant = await call.services.auth.token_for_client(
        body.client_id, body.client_secret, source=call.source
    )
    return JSONResponse(
        {"token": grant.access_token, "expires_in": grant.expires_in}, headers=NO_STORE
    )


async def lambda_invoke(call: Call) -> Response:
    body: LambdaInvokeRequest = await read_body(call, LambdaInvokeRequest)
    invocation = await call.invoke(invoke_request(call.services.settings, body))
    problem = failure(invocation.execution)
    if problem is not None:
        raise problem
    return JSONResponse(invoke_answer(invocation, None))


async def accepted_event(caller: Caller, body: LambdaInvokeAsyncRequest) -> dict[str, Any]:
    """The seed's invoke-async: the function invoked with the Event type; raises the problem
    of an event Lambda did not accept."""
    request = to_request(caller.services.settings, body.function_name, body.payload, "Event")
    execution = (await caller.invoke(request)).execution
    problem = failure(execution)
    if problem is not None:
        raise problem
    return {
        "success": True,
        "status_code": execution.status_code,
        "request_id": execution.provider_info.get("request_id") or "",
    }


async def lambda_invoke_async(call: Call) -> Response:
    body: LambdaInvokeAsyncRequest = await read_body(call, LambdaInvokeAsyncRequest)
    return JSONResponse(await accepted_event(call, body))


async def batch_items(caller: Caller, bodies: list[LambdaInvokeRequest]) -> list[BatchItemResult]:
    """Each invocation's result, in request order: a refused one (`batch_request`) in place."""
    built = [batch_request(caller.services.settings, item) for item in bodies]
    requests = [item for item in built if isinstance(item, InvocationRequest)]
    results = iter(await caller.invoke_all(requests) if requests else [])
    return [
        next(results) if isinstance(item, InvocationRequest) else BatchItemResult(error=item)
        for item in built
    ]


async def lambda_batch(call: Call) -> Response:
    body: LambdaBatchRequest = await read_body(call, LambdaBatchRequest)
    items = await batch_items(call, body.invocations)
    return JSONResponse({"results": [batch_answer(item) for item in items]})


def batch_request(
    settings: Settings, item: LambdaInvokeRequest
) -> InvocationRequest | InvalidRequest:
    """The item's invocation, or the 400 answered in its place (as the seed answered a name no
    function can have: the target's rules, core.targets, refuse it)."""
    try:
        return invoke_request(settings, item)
    except InvalidRequest as invalid:  # the prefix made the name too long
        return invalid
    except ValidationError as invalid:
        reasons = "; ".join(error["msg"] for error in invalid.errors())
        return InvalidRequest(f"cannot invoke {item.function_name!r}: {reasons}")


async def function_list(caller: Caller, max_items: int, next_marker: str | None) -> dict:
    page = await lambda_provider(caller).list_functions(max_items, next_marker)
    return {
        "success": True,
        "functions": [info.details for info in page.items],
        "next_marker": page.next_cursor or "",
    }


async def lambda_list_functions(call: Call) -> Response:
    max_items = call.int_query("max_items", DEFAULT_LIST_ITEMS, 1, MAX_LIST_ITEMS)
    return JSONResponse(await function_list(call, max_items, call.query("next_marker")))


async def function_config(caller: Caller, name: str) -> dict[str, Any]:
    """The function's configuration (the prefix put before a bare `name`)."""
    prefix = caller.services.settings.lambda_function_prefix
    return (await lambda_provider(caller).get_function(prefixed(name, prefix))).details


async def lambda_function_config(call: Call) -> Response:
    return JSONResponse({"success": True, "config": await function_config(call, call.path("name"))})


async def lambda_health(call: Call) -> Response:
    """The old module's health: its store (the seed's database); for a `read` token, a summary
    of settings too (core.api.routes.health says who sees what)."""
    database = (await call.services.health.results())["store"]
    healthy = database == "ok"
    body: dict[str, Any] = {"status": "healthy" if healthy else "unhealthy", "version": __version__}
    if sees_checks(call):
        body |= _health_details(call.services.settings, database)
    return health_answer(body, healthy)


def stats_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The seed's counters over rows of the native stats summary."""
    count = sum(row["count"] for row in rows)
    successes = sum(row["successes"] for row in rows)
    total_ms = sum((row["avg_ms"] or 0.0) * row["count"] for row in rows)
    return {
        "total_invocations": count,
        "successful_invocations": successes,
        "failed_invocations": sum(row["failures"] for row in rows),
        "success_rate": round(successes / count, 4) if count else None,
        "average_execution_time_ms": round(total_ms / count, 3) if count else None,
    }


async def lambda_stats(call: Call) -> Response:
    """The seed's "invocation counts and success rates", of all time, from the rollups."""
    summary = await call.services.history.all_time_stats(call.principal)
    rows = {key: row for key, row in summary["by_function"].items() if key.startswith(KEY_PREFIX)}
    by_function = {key: stats_figures([row]) for key, row in rows.items()}
    return JSONResponse(
        {
            "module": MODULE_NAME,
            "version": __version__,
            "stats": stats_figures(list(rows.values())) | {"by_function": by_function},
            "timestamp": datetime.now(UTC).isoformat(),
        }
    )


def _health_details(settings: Settings, database: str) -> dict[str, Any]:
    details: dict[str, Any] = {
        "module": MODULE_NAME,
        "timestamp": datetime.now(UTC).isoformat(),
        "config": {
            "module_name": MODULE_NAME,
            "module_version": __version__,
            "rest_port": settings.rest_port,
            "grpc_port": settings.grpc_port or None,
            "database_configured": True,
            "store_backend": settings.backend_for("store"),
            "aws_region": settings.aws_region,
            "request_timeout": settings.lambda_timeout,
            "function_prefix": settings.lambda_function_prefix,
            "max_batch_size": settings.max_batch_size,
            "log_level": settings.log_level,
        },
    }
    if database != "ok":
        details["error"] = f"store {database}"
    return details


def _endpoint(method: str, path: str, handler: Handler, summary: str, **more: Any) -> Endpoint:
    return Endpoint(method, path, handler, summary, TAG, **more)


INVOKE_ERRORS = {
    403: "Not allowed to invoke the function (required_scope)",
    404: "Unknown function",
    429: "Too many invocations in flight, or Lambda still throttled after retries",
    502: "The function failed, or was unreachable after retries",
    504: "Timed out",
}
LAMBDA_API_ERRORS = {
    502: "Lambda's API failed (upstream_unavailable)",
    504: "Lambda's API timed out (upstream_timeout)",
}

ENDPOINTS = [
    _endpoint(
        "GET",
        f"{PREFIX}/health",
        lambda_health,
        "Health in the Lambda module's shape (status and version without a `read` token)",
        scope=OPTIONAL_TOKEN,
        response=LambdaHealth,
        replies=unhealthy_reply(LambdaHealth, "The store is failing"),
    ),
    _endpoint(
        "POST",
        f"{API}/token",
        lambda_token,
        "A bearer token for client credentials",
        scope=PUBLIC,
        body=LambdaTokenRequest,
        custom_body=True,
        response=LambdaTokenResponse,
        extra_responses={401: "Bad credentials", **THROTTLED},
    ),
    _endpoint(
        "POST",
        f"{API}/invoke",
        lambda_invoke,
        "Invoke a Lambda function (RequestResponse, Event or DryRun)",
        body=LambdaInvokeRequest,
        custom_body=True,
        response=LambdaInvokeResponse,
        extra_responses=INVOKE_ERRORS,
    ),
    _endpoint(
        "POST",
        f"{API}/invoke-async",
        lambda_invoke_async,
        "Invoke a Lambda function with the Event type",
        body=LambdaInvokeAsyncRequest,
        custom_body=True,
        response=LambdaAsyncResponse,
        extra_responses=INVOKE_ERRORS,
    ),
    _endpoint(
        "POST",
        f"{API}/batch",
        lambda_batch,
        "Invoke many Lambda functions concurrently; results in request order",
        body=LambdaBatchRequest,
        custom_body=True,
        response=LambdaBatchResponse,
    ),
    _endpoint(
        "GET",
        f"{API}/functions",
        lambda_list_functions,
        "The Lambda functions of the default region",
        scope="read",
        response=LambdaFunctionList,
        query=(
            QueryParam(
                "max_items",
                f"page size (1-{MAX_LIST_ITEMS}, default {DEFAULT_LIST_ITEMS})",
                "integer",
                minimum=1,
                maximum=MAX_LIST_ITEMS,
            ),
            QueryParam("next_marker", "next_marker of the previous page", max_length=1024),
        ),
        extra_responses=LAMBDA_API_ERRORS,
    ),
    _endpoint(
        "GET",
        f"{API}/functions/{{name}}",
        lambda_function_config,
        "One Lambda function's configuration",
        scope="read",
        response=LambdaFunctionConfig,
        extra_responses={404: "Unknown function", **LAMBDA_API_ERRORS},
    ),
    _endpoint(
        "GET",
        f"{API}/stats",
        lambda_stats,
        "Invocation counts and success rates of the Lambda functions, all time (rollups never "
        "expire)",
        scope="read",
        response=LambdaStatsResponse,
    ),
]
