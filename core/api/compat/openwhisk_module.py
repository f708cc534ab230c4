"""The OpenWhisk action module's REST surface (seeds/openwhisk-action-module.md) under
`/openwhisk`, with its request and response fields (seeds/rest-shapes.md), served by the native
services. Each handler only translates: the seed's request into a native call, the native
answer into the seed's shape.

Where it differs from the seed, on purpose:
- a failure answers with its own status (400, 401, 403, 404, 502, 504, ...) as problem+json
  that also carries the seed's `success: false`, `error` and `status_code`; an action that ran
  and failed (OpenWhisk's 502 "application error") is a 502 that keeps the activation's fields;
- a blocking invocation that outlived OpenWhisk's wait answers 202 with `status: "running"`,
  `success: null` and its activation id to poll, never a success with an empty result;
- `blocking: false` and `invoke-async` queue a native async invocation (202, `success: true`
  meaning "accepted"). Its OpenWhisk activation exists only once the queue has run it, so the
  answer's `activation_id` is the execution id until then: `GET /activations/{id}` answers for
  an execution id from the execution record (settled on read), for any other from OpenWhisk.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from starlette.responses import Response

from core import __version__
from core.api.compat._seed import Caller, SeedHealth, read_body
from core.api.endpoints import OPTIONAL_TOKEN, PUBLIC, Call, Endpoint, Handler, QueryParam, Reply
from core.api.responses import JSONResponse
from core.api.routes.auth import THROTTLED
from core.api.routes.health import health_answer, sees_checks, unhealthy_reply
from core.api.routes.invoke import unreached
from core.api.schemas import MAX_TIMEOUT_S
from core.api.views import StatsFigures
from core.auth.scopes import READ, require
from core.deferred_model import DeferredModel
from core.errors import FunctionFailed, NotFound
from core.invoke.service import Invocation, InvocationRequest
from core.json_types import whole_number
from core.models import Execution, Mode, Status
from core.targets import (
    OPENWHISK_ACTION_PATTERN,
    OPENWHISK_ENTITY_PATTERN,
    OPENWHISK_NAMESPACE_PATTERN,
    OPENWHISK_NAMESPACED_PATTERN,
    OPENWHISK_TRIGGER_PATTERN,
    Headers,
    OpenWhiskTarget,
    WebMethod,
    excluded_by_name,
    unless_named,
)

PREFIX = "/openwhisk"
API = f"{PREFIX}/api/v1"
TAG = "openwhisk (seed)"
PROVIDER = "openwhisk"
MODULE_NAME = "openwhisk_action_module"
"""The seed's MODULE_NAME, which its clients may check."""
NO_STORE = {"Cache-Control": "no-store"}
DEFAULT_LIST_LIMIT = 30
MAX_LIST_LIMIT = 200
MAX_LIST_SKIP = 1_000_000

# OpenWhisk's name rules (core.targets), which the provider checks with the same patterns.
_NAME = Field(min_length=1, max_length=256, pattern=OPENWHISK_ACTION_PATTERN)
"""`name`, `package/name` or `/namespace/[package/]name`."""
_ENTITY = Field(min_length=1, max_length=256, pattern=OPENWHISK_ENTITY_PATTERN)
_NAMESPACE = Field(default=None, min_length=1, max_length=256, pattern=OPENWHISK_ENTITY_PATTERN)


def _namespace_once(name: str) -> tuple[ConfigDict, Any]:
    """The document's rule and the `namespace` validator of a body whose `name` may be
    `/namespace/...`: such a name carries its namespace, so `namespace` is then absent or null
    (also when the two agree: a rule the document can state)."""

    def check(cls: type, value: str | None, info: ValidationInfo) -> object:
        return unless_named(value, info, name, OPENWHISK_NAMESPACED_PATTERN)

    rule = excluded_by_name(name, OPENWHISK_NAMESPACED_PATTERN, "namespace")
    return ConfigDict(json_schema_extra={"allOf": [rule]}), field_validator("namespace")(check)


class _SeedBody(DeferredModel):
    """A seed client's body: fields the seed did not read are ignored, as it ignored them; no
    value is coerced (strict: `0` is no boolean, `"1"` no number)."""

    model_config = ConfigDict(extra="ignore", strict=True)


class OpenWhiskTokenRequest(_SeedBody):
    api_key: str = Field(min_length=1, max_length=1024)
    service: str | None = Field(default=None, max_length=256)
    """Accepted as the seed did; the token is the module key holder's (scope admin)."""


class OpenWhiskTokenResponse(DeferredModel):
    token: str
    expires_in: int


class OpenWhiskActionInvokeRequest(_SeedBody):
    action_name: str = _NAME
    namespace: str | None = _NAMESPACE
    model_config, _namespace_checked = _namespace_once("action_name")
    payload: dict[str, Any] = Field(default_factory=dict)
    blocking: bool = True
    """False queues the invocation (as `invoke-async` does)."""
    timeout: whole_number(gt=0, le=int(MAX_TIMEOUT_S * 1000)) | None = None
    """Milliseconds: fnproxy's deadline, and OpenWhisk's blocking wait (a little shorter)."""


class OpenWhiskActionInvokeResponse(DeferredModel):
    execution_id: str
    success: bool | None
    """True or false once the activation ended; null while running; true when queued."""
    activation_id: str | None
    result: Any = None
    duration: float | None
    """Milliseconds fnproxy's call took."""
    start_time: int | None
    """The activation's start and end, epoch milliseconds."""
    end_time: int | None
    status: str
    """The activation's status ("success", "application error", ...) once it ended, else
    fnproxy's ("queued", "running")."""


class OpenWhiskQueued(DeferredModel):
    execution_id: str
    success: bool | None
    """True: accepted (the seed's meaning)."""
    activation_id: str | None
    """The execution's own id while queued: GET .../activations/{id} reads it."""
    status: str


class OpenWhiskWebActionResponse(DeferredModel):
    execution_id: str
    success: bool | None
    status_code: int | None
    """The web action's own HTTP status."""
    response: Any = None
    response_headers: dict[str, Any]


class OpenWhiskTriggerResponse(DeferredModel):
    execution_id: str
    success: bool | None
    activation_id: str | None


class OpenWhiskActivation(DeferredModel):
    success: bool
    activation_id: str | None
    result: Any = None
    duration: float | None
    status: str | None
    logs: list[str]
    execution_id: str | None = None
    """When the id was an execution's."""


class OpenWhiskActionSummary(DeferredModel):
    name: str
    namespace: str | None
    version: str | None
    published: bool


class OpenWhiskActionList(DeferredModel):
    success: bool
    actions: list[OpenWhiskActionSummary]


class OpenWhiskStats(DeferredModel):
    total_executions: int
    successful_executions: int
    failed_executions: int
    average_execution_time_ms: float | None
    by_function: dict[str, StatsFigures]


class OpenWhiskStatsResponse(DeferredModel):
    module: str
    version: str
    stats: OpenWhiskStats
    timestamp: str


class OpenWhiskHealth(SeedHealth):
    database: str | None = None
    rest_port: int | None = None
    grpc_port: int | None = None
    """The gRPC port `fnproxy serve` listens on (GRPC_PORT); null when it serves none."""
    openwhisk_api_host: str | None = None
    namespace: str | None = None
    error: str | None = None


class OpenWhiskActionAsyncRequest(_SeedBody):
    action_name: str = _NAME
    namespace: str | None = _NAMESPACE
    model_config, _namespace_checked = _namespace_once("action_name")
    payload: dict[str, Any] = Field(default_factory=dict)


class OpenWhiskSequenceInvokeRequest(_SeedBody):
    sequence_name: str = _NAME
    namespace: str | None = _NAMESPACE
    model_config, _namespace_checked = _namespace_once("sequence_name")
    payload: dict[str, Any] = Field(default_factory=dict)


def _upper(value: Any) -> Any:
    """ASCII only: 'poſt'.upper() is 'POST', and the document's pattern says ASCII letters."""
    return value.upper() if isinstance(value, str) and value.isascii() else value


WEB_METHOD_SCHEMA = {
    "type": "string",
    "pattern": "^(?:"
    + "|".join("".join(f"[{c}{c.lower()}]" for c in m) for m in get_args(WebMethod))
    + ")$",
}


class OpenWhiskWebActionRequest(_SeedBody):
    action_name: str = _ENTITY
    """The action's own name: `package_name` says its package."""
    package_name: str = Field(
        default="default", min_length=1, max_length=256, pattern=OPENWHISK_ENTITY_PATTERN
    )
    namespace: str | None = _NAMESPACE
    payload: dict[str, Any] = Field(default_factory=dict)
    method: Annotated[WebMethod, BeforeValidator(_upper), WithJsonSchema(WEB_METHOD_SCHEMA)] = (
        "POST"
    )
    """Any case; GET sends the payload as the query string, as OpenWhisk web actions take it."""
    headers: Headers = Field(default_factory=dict)
    """Sent to the web action; bounded, and a connection-steering or credential header (Host,
    X-Forwarded-*, Metadata-Flavor, ...) is refused with 400 header_not_allowed."""


class OpenWhiskTriggerFireRequest(_SeedBody):
    trigger_name: str = Field(min_length=1, max_length=256, pattern=OPENWHISK_TRIGGER_PATTERN)
    """`name` or `/namespace/name`."""
    namespace: str | None = _NAMESPACE
    model_config, _namespace_checked = _namespace_once("trigger_name")
    payload: dict[str, Any] = Field(default_factory=dict)


def openwhisk(caller: Caller) -> Any:
    """The openwhisk provider: the provider port, plus `get_activation(id, namespace)` and a
    `namespace` for `list_functions`."""
    return caller.services.providers.get(PROVIDER)


def to_target(name: str, namespace: str | None, kind: str = "action") -> OpenWhiskTarget:
    return OpenWhiskTarget(provider=PROVIDER, action=name, namespace=namespace, kind=kind)


async def invoke(
    caller: Caller,
    target: OpenWhiskTarget,
    payload: dict[str, Any],
    mode: str = Mode.SYNC,
    timeout_ms: int | None = None,
) -> Invocation:
    """The native invocation; OpenWhisk unreachable or too slow raises its 502/504 problem."""
    request = InvocationRequest(
        target=target,
        payload=payload,
        mode=mode,
        timeout_s=timeout_ms / 1000 if timeout_ms else None,
    )
    invocation = await caller.invoke(request)
    problem = unreached(invocation.execution)
    if problem is not None:
        raise problem
    return invocation


def activation_id(execution: Execution) -> str | None:
    """OpenWhisk's activation id; a queued execution's own id until it has one."""
    if execution.status == Status.QUEUED:
        return execution.execution_id
    return execution.provider_info.get("activation_id")


def activation_status(execution: Execution) -> str:
    return execution.provider_info.get("status") or execution.status


def outcome(execution: Execution) -> bool | None:
    """`success`: true for an accepted async invocation (the seed's meaning), else the
    function's outcome (null while it runs)."""
    return True if execution.mode == Mode.ASYNC else execution.success


def invocation_view(invocation: Invocation) -> dict[str, Any]:
    execution = invocation.execution
    info = execution.provider_info
    return {
        "execution_id": execution.execution_id,
        "success": outcome(execution),
        "activation_id": activation_id(execution),
        "result": invocation.result,
        "duration": execution.duration_ms,
        "start_time": info.get("start"),
        "end_time": info.get("end"),
        "status": activation_status(execution),
    }


def http_status(execution: Execution) -> int:
    """202 while the outcome is not known yet (queued, or running past OpenWhisk's wait)."""
    return 202 if execution.status in Status.OPEN else 200


def action_answer(invocation: Invocation) -> Response:
    """The seed's invoke answer; an action that ran and failed is a 502 problem carrying the
    same fields (`status`, the problem's own member, becomes `activation_status`), OpenWhisk's
    status code and the activation's error."""
    execution = invocation.execution
    view = invocation_view(invocation)
    if execution.success is False:
        message = (execution.error or {}).get("message") or "the action failed"
        view["activation_status"] = view.pop("status")
        raise FunctionFailed(message, **view, status_code=execution.status_code)
    return JSONResponse(view, status_code=http_status(execution))


async def openwhisk_token(call: Call) -> Response:
    body: OpenWhiskTokenRequest = await read_body(call, OpenWhiskTokenRequest)
    grant = await call.services.auth.token_for_api_key(body.api_key, source=call.source)
    return JSONResponse(
        {"token": grant.access_token, "expires_in": grant.expires_in}, headers=NO_STORE
    )


async def openwhisk_invoke_action(call: Call) -> Response:
    body: OpenWhiskActionInvokeRequest = await read_body(call, OpenWhiskActionInvokeRequest)
    mode = Mode.SYNC if body.blocking else Mode.ASYNC
    target = to_target(body.action_name, body.namespace)
    return action_answer(await invoke(call, target, body.payload, mode, body.timeout))


async def openwhisk_invoke_async(call: Call) -> Response:
    body: OpenWhiskActionAsyncRequest = await read_body(call, OpenWhiskActionAsyncRequest)
    target = to_target(body.action_name, body.namespace)
    execution = (await invoke(call, target, body.payload, Mode.ASYNC)).execution
    return JSONResponse(
        {
            "execution_id": execution.execution_id,
            "success": outcome(execution),
            "activation_id": activation_id(execution),
            "status": execution.status,
        },
        status_code=http_status(execution),
    )


async def openwhisk_invoke_sequence(call: Call) -> Response:
    body: OpenWhiskSequenceInvokeRequest = await read_body(call, OpenWhiskSequenceInvokeRequest)
    target = to_target(body.sequence_name, body.namespace, "sequence")
    return action_answer(await invoke(call, target, body.payload))


async def web_action(caller: Caller, body: OpenWhiskWebActionRequest) -> Invocation:
    target = OpenWhiskTarget(
        provider=PROVIDER,
        action=f"{body.package_name}/{body.action_name}",
        namespace=body.namespace,
        kind="web",
        method=body.method,
        headers=body.headers or None,
    )
    return await invoke(caller, target, body.payload)


def web_action_view(invocation: Invocation) -> dict[str, Any]:
    """The web action's own HTTP answer, whatever its status (the seed's shape carries it)."""
    execution = invocation.execution
    return {
        "execution_id": execution.execution_id,
        "success": execution.success,
        "status_code": execution.status_code,
        "response": invocation.result,
        "response_headers": execution.provider_info.get("response_headers") or {},
    }


async def openwhisk_invoke_web_action(call: Call) -> Response:
    body: OpenWhiskWebActionRequest = await read_body(call, OpenWhiskWebActionRequest)
    invocation = await web_action(call, body)
    return JSONResponse(web_action_view(invocation), status_code=http_status(invocation.execution))


async def openwhisk_fire_trigger(call: Call) -> Response:
    body: OpenWhiskTriggerFireRequest = await read_body(call, OpenWhiskTriggerFireRequest)
    target = to_target(body.trigger_name, body.namespace, "trigger")
    execution = (await invoke(call, target, body.payload)).execution
    return JSONResponse(
        {
            "execution_id": execution.execution_id,
            "success": execution.success,
            "activation_id": activation_id(execution),
        }
    )


def execution_activation(execution: Execution) -> dict[str, Any]:
    """An execution fnproxy queued or left running, as the seed's activation answer."""
    return {
        "success": True,
        "activation_id": activation_id(execution),
        "result": execution.result,
        "duration": execution.provider_info.get("duration_ms"),
        "status": activation_status(execution),
        "logs": execution.logs.splitlines() if execution.logs else [],
        "execution_id": execution.execution_id,
    }


def openwhisk_activation(activation: dict[str, Any]) -> dict[str, Any]:
    response = activation.get("response") or {}
    return {
        "success": True,
        "activation_id": activation.get("activationId"),
        "result": response.get("result"),
        "duration": activation.get("duration"),
        "status": response.get("status"),
        "logs": activation.get("logs") or [],
    }


async def visible_execution(caller: Caller, execution_id: str) -> Execution | None:
    try:
        return await caller.services.history.get(caller.principal, execution_id)
    except NotFound:
        return None


async def activation(caller: Caller, requested: str, namespace: str | None) -> dict[str, Any]:
    """By the id an invocation answered with: an execution's own, else OpenWhisk's (any
    activation of the namespace: the `read` scope)."""
    execution = await visible_execution(caller, requested)
    if execution is not None:
        return execution_activation(await caller.services.archive.restored(execution))
    require(caller.principal, READ)
    return openwhisk_activation(await openwhisk(caller).get_activation(requested, namespace))


async def openwhisk_get_activation(call: Call) -> Response:
    requested = call.path("activation_id")
    return JSONResponse(await activation(call, requested, call.query("namespace")))


async def action_list(
    caller: Caller, limit: int, skip: int, namespace: str | None
) -> list[dict[str, Any]]:
    page = await openwhisk(caller).list_functions(limit, str(skip), namespace=namespace)
    return [
        {
            "name": info.name,
            "namespace": info.details.get("namespace"),
            "version": info.details.get("version"),
            "published": info.details.get("published", False),
        }
        for info in page.items
    ]


async def openwhisk_list_actions(call: Call) -> Response:
    limit = call.int_query("limit", DEFAULT_LIST_LIMIT, 1, MAX_LIST_LIMIT)
    skip = call.int_query("skip", 0, 0, MAX_LIST_SKIP)
    actions = await action_list(call, limit, skip, call.query("namespace"))
    return JSONResponse({"success": True, "actions": actions})


def module_stats(summary: dict[str, Any]) -> dict[str, Any]:
    """The seed's counters: the OpenWhisk functions' share of the all-time stats."""
    functions = {
        key: counts
        for key, counts in summary["by_function"].items()
        if key.startswith(f"{PROVIDER}:")
    }
    total = sum(counts["count"] for counts in functions.values())
    total_ms = sum((counts["avg_ms"] or 0.0) * counts["count"] for counts in functions.values())
    return {
        "total_executions": total,
        "successful_executions": sum(counts["successes"] for counts in functions.values()),
        "failed_executions": sum(counts["failures"] for counts in functions.values()),
        "average_execution_time_ms": round(total_ms / total, 3) if total else None,
        "by_function": functions,
    }


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


async def openwhisk_stats(call: Call) -> Response:
    summary = await call.services.history.all_time_stats(call.principal)
    return JSONResponse(
        {
            "module": MODULE_NAME,
            "version": __version__,
            "stats": module_stats(summary),
            "timestamp": now_iso(),
        }
    )


async def openwhisk_health(call: Call) -> Response:
    """The old module's health: its store (the seed's database); for a `read` token, its
    OpenWhisk settings too (core.api.routes.health says who sees what)."""
    database = (await call.services.health.results())["store"]
    healthy = database == "ok"
    body: dict[str, Any] = {"status": "healthy" if healthy else "unhealthy", "version": __version__}
    if sees_checks(call):
        settings = call.services.settings
        body |= {
            "module": MODULE_NAME,
            "timestamp": now_iso(),
            "database": "connected" if healthy else database,
            "rest_port": settings.rest_port,
            "grpc_port": settings.grpc_port or None,
            "openwhisk_api_host": settings.openwhisk_api_host,
            "namespace": settings.openwhisk_namespace,
        }
        if not healthy:
            body["error"] = f"store {database}"
    return health_answer(body, healthy)


def _endpoint(method: str, path: str, handler: Handler, summary: str, **more: Any) -> Endpoint:
    return Endpoint(method, path, handler, summary, TAG, **more)


def _post(path: str, handler: Handler, summary: str, body: type[BaseModel], **more: Any):
    return _endpoint("POST", f"{API}{path}", handler, summary, body=body, custom_body=True, **more)


INVOKE_ERRORS = {
    403: "Not allowed to invoke the action (required_scope)",
    404: "Unknown action",
    429: "Too many invocations in flight, or OpenWhisk still throttled after retries",
    502: "The action failed, or OpenWhisk was unreachable after retries",
    504: "Timed out",
}
OPENWHISK_API_ERRORS = {
    502: "OpenWhisk's API failed (upstream_unavailable)",
    504: "OpenWhisk's API timed out (upstream_timeout)",
}
STILL_RUNNING = Reply(
    "Queued, or still running past OpenWhisk's wait", OpenWhiskActionInvokeResponse
)

NAMESPACE = QueryParam(
    "namespace",
    "OpenWhisk namespace (default OPENWHISK_NAMESPACE)",
    max_length=256,
    pattern=OPENWHISK_NAMESPACE_PATTERN,
)
ENDPOINTS = [
    _endpoint(
        "GET",
        f"{PREFIX}/health",
        openwhisk_health,
        "Health in the OpenWhisk module's shape (status and version without a `read` token)",
        scope=OPTIONAL_TOKEN,
        response=OpenWhiskHealth,
        replies=unhealthy_reply(OpenWhiskHealth, "The store is failing"),
    ),
    _post(
        "/auth/token",
        openwhisk_token,
        "A bearer token for the module's API key",
        OpenWhiskTokenRequest,
        scope=PUBLIC,
        response=OpenWhiskTokenResponse,
        extra_responses={401: "Bad API key", **THROTTLED},
    ),
    _post(
        "/actions/invoke",
        openwhisk_invoke_action,
        "Invoke an action; 202 when queued (blocking false) or still running",
        OpenWhiskActionInvokeRequest,
        response=OpenWhiskActionInvokeResponse,
        replies={202: STILL_RUNNING},
        extra_responses=INVOKE_ERRORS,
    ),
    _post(
        "/actions/invoke-async",
        openwhisk_invoke_async,
        "Queue an action invocation",
        OpenWhiskActionAsyncRequest,
        status=202,
        response=OpenWhiskQueued,
        replies={200: Reply("Already ended", OpenWhiskQueued)},
        extra_responses={
            403: INVOKE_ERRORS[403],
            404: "Unknown action",
            429: "Too many invocations in flight",
        },
    ),
    _post(
        "/sequences/invoke",
        openwhisk_invoke_sequence,
        "Invoke a sequence; 202 when still running past OpenWhisk's wait",
        OpenWhiskSequenceInvokeRequest,
        response=OpenWhiskActionInvokeResponse,
        replies={202: STILL_RUNNING},
        extra_responses=INVOKE_ERRORS,
    ),
    _post(
        "/web-actions/invoke",
        openwhisk_invoke_web_action,
        "Invoke a web action (GET, POST, PUT, PATCH or DELETE, with the caller's headers); "
        "its own status is the answer's status_code",
        OpenWhiskWebActionRequest,
        response=OpenWhiskWebActionResponse,
        replies={202: Reply("Still running past OpenWhisk's wait", OpenWhiskWebActionResponse)},
        extra_responses={
            400: "A refused header (header_not_allowed), or a malformed request",
            403: INVOKE_ERRORS[403],
            404: "Unknown web action",
            429: INVOKE_ERRORS[429],
            413: "Payload too large (for GET: over 8192 characters of query string)",
            502: "OpenWhisk unreachable",
            504: "Timed out",
        },
    ),
    _post(
        "/triggers/fire",
        openwhisk_fire_trigger,
        "Fire a trigger",
        OpenWhiskTriggerFireRequest,
        response=OpenWhiskTriggerResponse,
        extra_responses={
            403: INVOKE_ERRORS[403],
            404: "Unknown trigger",
            429: INVOKE_ERRORS[429],
            502: "OpenWhisk unreachable",
            504: "Timed out",
        },
    ),
    _endpoint(
        "GET",
        f"{API}/activations/{{activation_id}}",
        openwhisk_get_activation,
        "An activation's result, duration, status and logs (by its id or the execution id)",
        response=OpenWhiskActivation,
        query=(NAMESPACE,),
        extra_responses={
            403: "OpenWhisk's ids need the read scope",
            404: "Unknown, or running",
            **OPENWHISK_API_ERRORS,
        },
    ),
    _endpoint(
        "GET",
        f"{API}/actions",
        openwhisk_list_actions,
        "The actions of a namespace",
        scope=READ,
        response=OpenWhiskActionList,
        query=(
            QueryParam(
                "limit",
                f"page size (1-{MAX_LIST_LIMIT}, default 30)",
                "integer",
                minimum=1,
                maximum=MAX_LIST_LIMIT,
            ),
            QueryParam(
                "skip",
                "how many actions to skip (default 0)",
                "integer",
                minimum=0,
                maximum=MAX_LIST_SKIP,
            ),
            NAMESPACE,
        ),
        extra_responses=OPENWHISK_API_ERRORS,
    ),
    _endpoint(
        "GET",
        f"{API}/stats",
        openwhisk_stats,
        "Counts of OpenWhisk invocations, all time (rollups never expire)",
        scope=READ,
        response=OpenWhiskStatsResponse,
    ),
]
