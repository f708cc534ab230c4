"""Invoking functions: one at a time (sync, async, dry run) or in batches."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from core.api.endpoints import Call, Endpoint, HeaderParam, Reply
from core.api.problems import problem_response
from core.api.responses import JSONResponse
from core.api.schemas import BatchRequest, InvokeRequest
from core.api.views import Accepted, BatchAnswer, InvocationEnvelope
from core.errors import (
    CircuitOpen,
    FnproxyError,
    InvalidRequest,
    UpstreamThrottled,
    UpstreamTimeout,
    UpstreamUnavailable,
    UpstreamUnreachable,
)
from core.invoke.batch import BatchItemResult
from core.invoke.service import Invocation, InvocationRequest
from core.models import Execution, Mode, Status

MAX_IDEMPOTENCY_KEY_LENGTH = 255
IDEMPOTENCY_KEY_PATTERN = rf"^[ -~]{{1,{MAX_IDEMPOTENCY_KEY_LENGTH}}}$"
IDEMPOTENCY_KEY_TEXT = re.compile(IDEMPOTENCY_KEY_PATTERN.removesuffix("$"))
UNREACHED_PROBLEMS: dict[str, type[FnproxyError]] = {
    "UpstreamUnavailable": UpstreamUnavailable,
    "UpstreamUnreachable": UpstreamUnreachable,
    "UpstreamThrottled": UpstreamThrottled,
    "CircuitOpen": CircuitOpen,
}
"""The problem answered for each recorded error type of a function that gave no answer (the
error's other members, e.g. `retry_after_s` and `circuit`, go with it)."""


def envelope(execution: Execution, result: Any) -> dict[str, Any]:
    return {
        "execution_id": execution.execution_id,
        "status": execution.status,
        "success": execution.success,
        "status_code": execution.status_code,
        "result": result,
        "error": execution.error,
        "duration_ms": execution.duration_ms,
        "attempts": execution.attempts,
        "function_version": execution.function_version,
        "provider": {
            "name": execution.provider,
            "function": execution.function,
            **execution.provider_info,
        },
    }


def accepted(execution: Execution) -> dict[str, Any]:
    return {"execution_id": execution.execution_id, "status": execution.status}


def to_request(body: InvokeRequest, idempotency_key: str | None = None) -> InvocationRequest:
    return InvocationRequest(
        target=body.target,
        payload=body.payload,
        mode=body.mode,
        timeout_s=body.timeout_s,
        session_id=body.session_id,
        callback_url=body.callback_url,
        idempotency_key=idempotency_key,
    )


def unreached(execution: Execution) -> FnproxyError | None:
    """The problem to answer when the function could not be reached or timed out."""
    recorded = execution.error or {}
    if execution.status == Status.TIMED_OUT:
        error: FnproxyError = UpstreamTimeout(recorded["message"])
    elif recorded.get("type") in UNREACHED_PROBLEMS:
        details = {k: v for k, v in recorded.items() if k not in ("type", "message")}
        error = UNREACHED_PROBLEMS[recorded["type"]](
            recorded["message"], last_status_code=execution.status_code, **details
        )
    else:
        return None
    error.extra.update(execution_id=execution.execution_id, attempts=execution.attempts)
    return error


def idempotency_key(call: Call) -> str | None:
    return checked_idempotency_key(call.request.headers.get("idempotency-key"))


def checked_idempotency_key(key: str | None) -> str | None:
    """An Idempotency-Key as given (an HTTP header, gRPC metadata), or None when absent."""
    if key is None:
        return None
    if not IDEMPOTENCY_KEY_TEXT.fullmatch(key):
        raise InvalidRequest(
            f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters"
        )
    return key


def invocation_response(invocation: Invocation, request: Request) -> Response:
    """The answer to `request`, whose path (costly to build: Starlette makes a whole URL for
    it) only a problem's `instance` needs."""
    execution = invocation.execution
    headers = {"Idempotent-Replayed": "true"} if invocation.replayed else {}
    if execution.mode == Mode.ASYNC:
        headers["Location"] = f"/v1/invocations/{execution.execution_id}"
        return JSONResponse(accepted(execution), status_code=202, headers=headers)
    problem = unreached(execution)
    if problem is not None:
        return problem_response(problem, request.url.path)
    return JSONResponse(envelope(execution, invocation.result), headers=headers)


async def invoke(call: Call) -> Response:
    request = to_request(call.body, idempotency_key(call))
    invocation = await call.services.invocations.invoke(request, call.principal)
    return invocation_response(invocation, call.request)


def batch_item(item: BatchItemResult) -> dict[str, Any]:
    if item.error is not None:
        return {
            "kind": "rejected",
            "success": False,
            "status": "rejected",
            "error": {
                "code": item.error.code,
                "status": item.error.status,
                "detail": item.error.detail,
                **item.error.extra,
            },
        }
    execution = item.invocation.execution
    if execution.mode == Mode.ASYNC:
        return {"kind": "accepted", **accepted(execution)}
    return {"kind": "invocation", **envelope(execution, item.invocation.result)}


async def invoke_batch(call: Call) -> Response:
    body: BatchRequest = call.body
    requests = [to_request(item) for item in body.invocations]
    items = await call.services.batches.invoke_all(requests, call.principal, body.concurrency)
    successes = sum(1 for item in items if item.success)
    return JSONResponse(
        {
            "responses": [batch_item(item) for item in items],
            "total_count": len(items),
            "success_count": successes,
            "failure_count": len(items) - successes,
        }
    )


IDEMPOTENCY_KEY = HeaderParam(
    "Idempotency-Key",
    "Run once per key: a repeat with the same key and body answers the first outcome "
    "(Idempotent-Replayed: true); with another body, 422 idempotency_key_reused",
    max_length=MAX_IDEMPOTENCY_KEY_LENGTH,
    pattern=IDEMPOTENCY_KEY_PATTERN,
)
ACCEPTED = Reply(
    "Accepted (mode async): poll Location", Accepted, ("Location", "Idempotent-Replayed")
)
INVOKED = ("Idempotent-Replayed",)
TOO_MANY = (
    "MAX_CONCURRENT_REQUESTS invocations are in flight on this instance (too_many_requests), "
    "or the function still answered 429 after retries (upstream_throttled), with its "
    "Retry-After"
)
UNREACHABLE = (
    "Unreachable after retries (upstream_unavailable), the connection lost after the request "
    "was sent, not retried (upstream_unreachable), or an answer over MAX_RESPONSE_BYTES "
    "(response_too_large)"
)
CIRCUIT_OR_BACKEND = (
    "The function's circuit is open (circuit_open), or a backend is unavailable "
    "(store_unavailable, service_unavailable): retry after Retry-After"
)
ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/invoke",
        invoke,
        "Invoke a function (sync, async or dry run)",
        "invoke",
        body=InvokeRequest,
        response=InvocationEnvelope,
        response_headers=INVOKED,
        replies={202: ACCEPTED},
        headers=(IDEMPOTENCY_KEY,),
        extra_responses={
            403: "Not allowed to invoke the target (required_scope), or the egress policy "
            "refuses the destination or the callback_url (egress_denied)",
            404: "Unknown function",
            429: TOO_MANY,
            502: UNREACHABLE,
            503: CIRCUIT_OR_BACKEND,
            504: "Timed out (upstream_timeout)",
        },
    ),
    Endpoint(
        "POST",
        "/v1/invoke/batch",
        invoke_batch,
        "Invoke many functions concurrently; each item answers on its own (kind)",
        "invoke",
        body=BatchRequest,
        response=BatchAnswer,
    ),
]
