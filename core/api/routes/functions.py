"""The function registry: named functions, their versions, canary split and policy, invoking
them by name, and their execution logs."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from core.api.endpoints import MAX_NUMBER_LENGTH, Call, Endpoint, Handler, QueryParam
from core.api.responses import JSONResponse
from core.api.routes.history import (
    CURSOR,
    INLINE,
    LISTING_QUERY,
    STATUS,
    limit_param,
    parse_time,
    shown_record,
)
from core.api.routes.invoke import (
    ACCEPTED,
    CIRCUIT_OR_BACKEND,
    IDEMPOTENCY_KEY,
    INVOKED,
    TOO_MANY,
    UNREACHABLE,
    idempotency_key,
    invocation_response,
)
from core.api.schemas import (
    ActiveVersion,
    CanarySplit,
    FunctionCreate,
    FunctionUpdate,
    NamedInvokeRequest,
    VersionCreate,
)
from core.api.views import (
    ActivityPage,
    ChangePage,
    ExecutionRecord,
    FunctionDetail,
    FunctionPage,
    FunctionView,
    InvocationEnvelope,
    LogPage,
    VersionCreated,
    VersionPage,
    VersionView,
)
from core.auth.principal import Principal
from core.errors import InvalidRequest, NotFound
from core.models import Execution, FunctionVersion, RegisteredFunction, VersionChange, iso
from core.registry.aliases import ALIAS_PATTERN
from core.registry.service import NamedInvocation, visible_to

VERSIONS_SHOWN = 100
"""Versions listed in a function's own view; `GET .../versions` pages through all of them."""


def version_view(version: FunctionVersion, principal: Principal) -> dict[str, Any]:
    """The version as `principal` may see it: the clear target for admins alone."""
    version = visible_to(principal, version)
    return {
        "version": version.version,
        "target": version.target,
        "created_at": iso(version.created_at),
        "created_by": version.created_by,
    }


def function_view(
    function: RegisteredFunction, versions: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The function, with the views (`version_view`) of `versions` when given."""
    view: dict[str, Any] = {
        "name": function.name,
        "description": function.description,
        "active_version": function.active_version,
        "latest_version": function.latest_version,
        "canary": function.canary,
        "policy": function.policy,
        "created_at": iso(function.created_at),
        "created_by": function.created_by,
        "updated_at": iso(function.updated_at),
        "revision": function.revision,
        "enabled": function.enabled,
        "aliases": function.aliases,
    }
    if versions is not None:
        view["versions"] = versions
    return view


def change_view(change: VersionChange) -> dict[str, Any]:
    return {
        "revision": change.revision,
        "action": change.action,
        "at": iso(change.at),
        "by": change.by,
        "from_version": change.from_version,
        "to_version": change.to_version,
        "detail": change.detail,
    }


def log_entry(execution: Execution) -> dict[str, Any]:
    """An execution as a line of a log or feed: everything but payload, result and logs."""
    return {
        "execution_id": execution.execution_id,
        "function": execution.function,
        "version": execution.function_version,
        "status": execution.status,
        "success": execution.success,
        "status_code": execution.status_code,
        "mode": execution.mode,
        "caller": execution.caller,
        "duration_ms": execution.duration_ms,
        "error": execution.error,
        "created_at": iso(execution.created_at),
        "finished_at": iso(execution.finished_at),
    }


def version_number(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_NUMBER_LENGTH or int(raw) < 1:
        raise InvalidRequest("a version is a whole number from 1")
    return int(raw)


async def create_function(call: Call) -> Response:
    body: FunctionCreate = call.body
    function, first = await call.services.registry.create(
        body.name, body.description, body.target, body.policy, call.principal
    )
    headers = {"Location": f"/v1/functions/{function.name}"}
    view = function_view(function, [version_view(first, call.principal)])
    return JSONResponse(view, 201, headers=headers)


async def list_functions(call: Call) -> Response:
    page = await call.services.registry.list(
        call.int_query("limit", 50, 1, 500), call.query("cursor")
    )
    return JSONResponse(
        {
            "functions": [function_view(function) for function in page.items],
            "next_cursor": page.next_cursor,
        }
    )


async def get_function(call: Call) -> Response:
    registry = call.services.registry
    function = await registry.get(call.path("name"))
    versions = await registry.versions(function.name, VERSIONS_SHOWN)
    views = [version_view(version, call.principal) for version in versions.items]
    return JSONResponse(function_view(function, views))


async def update_function(call: Call) -> Response:
    body: FunctionUpdate = call.body
    function = await call.services.registry.update(
        call.path("name"), call.principal, description=body.description, policy=body.policy
    )
    return JSONResponse(function_view(function))


async def delete_function(call: Call) -> Response:
    await call.services.registry.delete(call.path("name"))
    return Response(status_code=204)


async def add_version(call: Call) -> Response:
    body: VersionCreate = call.body
    function, version = await call.services.registry.add_version(
        call.path("name"), body.target, body.activate, call.principal
    )
    active = function.active_version == version.version
    view = {**version_view(version, call.principal), "active": active}
    headers = {"Location": f"/v1/functions/{function.name}/versions/{version.version}"}
    return JSONResponse(view, 201, headers=headers)


async def list_versions(call: Call) -> Response:
    page = await call.services.registry.versions(
        call.path("name"), call.int_query("limit", 50, 1, 500), call.query("cursor")
    )
    return JSONResponse(
        {
            "versions": [version_view(v, call.principal) for v in page.items],
            "next_cursor": page.next_cursor,
        }
    )


async def get_version(call: Call) -> Response:
    number = version_number(call.path("version"))
    version = await call.services.registry.version(call.path("name"), number)
    return JSONResponse(version_view(version, call.principal))


async def delete_version(call: Call) -> Response:
    number = version_number(call.path("version"))
    await call.services.registry.delete_version(call.path("name"), number, call.principal)
    return Response(status_code=204)


async def activate(call: Call) -> Response:
    body: ActiveVersion = call.body
    function = await call.services.registry.activate(
        call.path("name"), body.version, call.principal
    )
    return JSONResponse(function_view(function))


async def set_canary(call: Call) -> Response:
    body: CanarySplit = call.body
    function = await call.services.registry.set_canary(
        call.path("name"), body.version, body.weight, call.principal
    )
    return JSONResponse(function_view(function))


async def clear_canary(call: Call) -> Response:
    function = await call.services.registry.clear_canary(call.path("name"), call.principal)
    return JSONResponse(function_view(function))


async def enable_function(call: Call) -> Response:
    return await set_enabled(call, True)


async def disable_function(call: Call) -> Response:
    return await set_enabled(call, False)


async def set_enabled(call: Call, enabled: bool) -> Response:
    function = await call.services.registry.set_enabled(call.path("name"), enabled, call.principal)
    return JSONResponse(function_view(function))


async def version_history(call: Call) -> Response:
    page = await call.services.registry.history(
        call.path("name"), call.int_query("limit", 50, 1, 500), call.query("cursor")
    )
    return JSONResponse(
        {"changes": [change_view(c) for c in page.items], "next_cursor": page.next_cursor}
    )


async def invoke_function(call: Call) -> Response:
    body: NamedInvokeRequest = call.body
    request = NamedInvocation(
        payload=body.payload,
        mode=body.mode,
        version=version_number(call.query("version")),
        alias=call.query("alias"),
        timeout_s=body.timeout_s,
        session_id=body.session_id,
        callback_url=body.callback_url,
        idempotency_key=idempotency_key(call),
    )
    invocation = await call.services.registry.invoke(call.path("name"), request, call.principal)
    return invocation_response(invocation, call.request)


async def execution_logs(call: Call) -> Response:
    function = await call.services.registry.get(call.path("name"))
    page = await call.services.history.list(
        call.principal,
        function=function.name,
        status=call.query("status"),
        since=parse_time(call.query("since"), "since"),
        until=parse_time(call.query("until"), "until"),
        limit=call.int_query("limit", 50, 1, 500),
        cursor=call.query("cursor"),
    )
    return JSONResponse(
        {"executions": [log_entry(e) for e in page.items], "next_cursor": page.next_cursor}
    )


async def execution_log(call: Call) -> Response:
    name = (await call.services.registry.get(call.path("name"))).name
    execution = await call.services.history.get(call.principal, call.path("execution_id"))
    if execution.function != name:
        raise NotFound(f"execution {execution.execution_id} is not one of {name!r}")
    return JSONResponse(await shown_record(call, execution))


async def recent_activity(call: Call) -> Response:
    page = await call.services.history.list(
        call.principal,
        function=None,
        status=call.query("status"),
        limit=call.int_query("limit", 20, 1, 200),
        cursor=call.query("cursor"),
    )
    return JSONResponse(
        {"activity": [log_entry(e) for e in page.items], "next_cursor": page.next_cursor}
    )


PAGE = (limit_param(500, 50), CURSOR)
NAME = "registry"
NOT_REGISTERED = {404: "Not registered (function_not_found)"}


def switch_endpoint(action: str, handler: Handler, summary: str) -> Endpoint:
    """POST /v1/functions/{name}/<action>: an admin's switch answered with the function."""
    return Endpoint(
        "POST",
        f"/v1/functions/{{name}}/{action}",
        handler,
        summary,
        NAME,
        scope="admin",
        response=FunctionView,
        extra_responses={**NOT_REGISTERED, 409: "Changed meanwhile by another request"},
    )


ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/functions",
        create_function,
        "Register a function; its target becomes version 1, active",
        NAME,
        scope="admin",
        body=FunctionCreate,
        response=FunctionDetail,
        status=201,
        response_headers=("Location",),
        extra_responses={409: "The name is taken (conflict)"},
    ),
    Endpoint(
        "GET",
        "/v1/functions",
        list_functions,
        "Registered functions, by name",
        NAME,
        scope="read",
        response=FunctionPage,
        query=PAGE,
    ),
    Endpoint(
        "GET",
        "/v1/functions/{name}",
        get_function,
        "A function with its newest versions and policy",
        NAME,
        scope="read",
        response=FunctionDetail,
        extra_responses=NOT_REGISTERED,
    ),
    Endpoint(
        "PATCH",
        "/v1/functions/{name}",
        update_function,
        "Change a function's description or policy",
        NAME,
        scope="admin",
        body=FunctionUpdate,
        response=FunctionView,
        extra_responses={**NOT_REGISTERED, 409: "Changed meanwhile by another request"},
    ),
    Endpoint(
        "DELETE",
        "/v1/functions/{name}",
        delete_function,
        "Delete a function, its versions, history and archived objects",
        NAME,
        scope="admin",
        status=204,
        extra_responses=NOT_REGISTERED,
    ),
    Endpoint(
        "POST",
        "/v1/functions/{name}/versions",
        add_version,
        "Add a version (active only with activate: true)",
        NAME,
        scope="admin",
        body=VersionCreate,
        response=VersionCreated,
        status=201,
        response_headers=("Location",),
        extra_responses={**NOT_REGISTERED, 409: "Changed meanwhile by another request"},
    ),
    Endpoint(
        "GET",
        "/v1/functions/{name}/versions",
        list_versions,
        "A function's versions, newest first",
        NAME,
        scope="read",
        response=VersionPage,
        query=PAGE,
        extra_responses=NOT_REGISTERED,
    ),
    Endpoint(
        "GET",
        "/v1/functions/{name}/versions/{version}",
        get_version,
        "One version",
        NAME,
        scope="read",
        response=VersionView,
        extra_responses={404: "No such function or version"},
    ),
    Endpoint(
        "DELETE",
        "/v1/functions/{name}/versions/{version}",
        delete_version,
        "Delete an inactive version",
        NAME,
        scope="admin",
        status=204,
        extra_responses={
            404: "No such function or version",
            409: "The version is active or the canary",
        },
    ),
    Endpoint(
        "POST",
        "/v1/functions/{name}/active-version",
        activate,
        "Switch the active version (or roll back)",
        NAME,
        scope="admin",
        body=ActiveVersion,
        response=FunctionView,
        extra_responses={
            **NOT_REGISTERED,
            409: "The function has no such version, or changed meanwhile",
        },
    ),
    Endpoint(
        "PUT",
        "/v1/functions/{name}/canary",
        set_canary,
        "Send a weighted share of invocations to another version",
        NAME,
        scope="admin",
        body=CanarySplit,
        response=FunctionView,
        extra_responses={
            **NOT_REGISTERED,
            409: "The function has no such version, or it is the active one, or the function "
            "changed meanwhile",
        },
    ),
    Endpoint(
        "DELETE",
        "/v1/functions/{name}/canary",
        clear_canary,
        "End the canary split",
        NAME,
        scope="admin",
        response=FunctionView,
        extra_responses={**NOT_REGISTERED, 409: "Changed meanwhile by another request"},
    ),
    switch_endpoint("enable", enable_function, "Let invocations of the function run again"),
    switch_endpoint(
        "disable",
        disable_function,
        "Refuse every invocation of the function (function_disabled) until it is enabled",
    ),
    Endpoint(
        "GET",
        "/v1/functions/{name}/history",
        version_history,
        "Every change: who, when, from which version to which, newest first",
        NAME,
        scope="read",
        response=ChangePage,
        query=PAGE,
        extra_responses=NOT_REGISTERED,
    ),
    Endpoint(
        "POST",
        "/v1/functions/{name}/invoke",
        invoke_function,
        "Invoke the active version (or ?version=N, or ?alias=A)",
        NAME,
        body=NamedInvokeRequest,
        response=InvocationEnvelope,
        response_headers=INVOKED,
        replies={202: ACCEPTED},
        query=(
            QueryParam("version", "run this version", "integer", minimum=1, maximum=2**53),
            QueryParam(
                "alias",
                "run the version this alias names (not with version)",
                pattern=ALIAS_PATTERN,
            ),
        ),
        headers=(IDEMPOTENCY_KEY,),
        extra_responses={
            403: "Not allowed by the policy, or the egress policy refuses the destination "
            "(egress_denied)",
            404: "No such function, version or alias",
            409: "The function is disabled (function_disabled)",
            429: "The function's rate limit is reached (rate_limited); or: " + TOO_MANY,
            502: UNREACHABLE,
            503: CIRCUIT_OR_BACKEND,
            504: "Timed out (upstream_timeout)",
        },
    ),
    Endpoint(
        "GET",
        "/v1/functions/{name}/executions",
        execution_logs,
        "The function's execution log, newest first",
        NAME,
        scope="read",
        response=LogPage,
        query=LISTING_QUERY,
        extra_responses=NOT_REGISTERED,
    ),
    Endpoint(
        "GET",
        "/v1/functions/{name}/executions/{execution_id}",
        execution_log,
        "One execution in full: payload, result, logs and error",
        NAME,
        response=ExecutionRecord,
        query=(INLINE,),
        extra_responses={404: "No such function, or no such execution of it"},
    ),
    Endpoint(
        "GET",
        "/v1/activity",
        recent_activity,
        "Recent executions across functions, newest first",
        NAME,
        scope="read",
        response=ActivityPage,
        query=(STATUS, limit_param(200, 20), CURSOR),
    ),
]
