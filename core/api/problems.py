"""RFC 9457 problem+json answers: one shape for every error, never a stack trace."""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError

from core.api.responses import JSONResponse
from core.errors import FnproxyError, UnknownProvider, ValidationFailed

PROBLEM_BASE = "https://fnproxy.dev/problems/"
MEDIA_TYPE = "application/problem+json"
UNAVAILABLE_RETRY_AFTER_S = 2
"""The Retry-After of a 503 that names no wait of its own (a store stall or outage, a backend
that failed): about the store's lock wait, so a retry meets a released lock."""


def problem_response(
    error: FnproxyError, instance: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + error.code,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "code": error.code,
    }
    if instance:
        body["instance"] = instance
    body.update(error.extra)
    headers = {**(headers or {}), **retry_after_header(error)}
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="fnproxy"'
    return JSONResponse(body, status_code=error.status, headers=headers, media_type=MEDIA_TYPE)


def retry_after(error: FnproxyError) -> str | None:
    """The Retry-After of an error: the wait it names (1 s at least), or for a 503 that names
    none, UNAVAILABLE_RETRY_AFTER_S; None when there is nothing to wait for."""
    wait = error.extra.get("retry_after_s")
    if wait is None and error.status == 503:
        wait = UNAVAILABLE_RETRY_AFTER_S
    return None if wait is None else str(max(1, math.ceil(wait)))


def retry_after_header(error: FnproxyError) -> dict[str, str]:
    """`Retry-After` for an error that names a wait (`retry_after`), else no header."""
    wait = retry_after(error)
    return {"Retry-After": wait} if wait is not None else {}


def from_validation_error(error: ValidationError) -> FnproxyError:
    """400 for an unknown provider, 422 for every other field problem, listing each one."""
    problems = [
        {
            "loc": ".".join(str(part) for part in item["loc"]),
            "msg": item["msg"],
            "type": item["type"],
        }
        for item in error.errors(include_url=False, include_input=False)
    ]
    unknown_tags = [p for p in problems if p["type"] == "union_tag_invalid"]
    if unknown_tags:
        return UnknownProvider(
            f"unknown provider at {unknown_tags[0]['loc'] or 'target'}: " + unknown_tags[0]["msg"],
            errors=problems,
        )
    summary = "; ".join(f"{p['loc'] or 'body'}: {p['msg']}" for p in problems[:5])
    return ValidationFailed(summary, errors=problems)
