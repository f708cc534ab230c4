"""Execution history and stats."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.responses import Response

from core.api.endpoints import Call, Endpoint, QueryParam
from core.api.responses import JSONResponse
from core.errors import InvalidRequest


async def get_invocation(call: Call) -> Response:
    execution = await call.services.history.get(call.principal, call.path("execution_id"))
    return JSONResponse(execution.to_public_dict())


async def list_invocations(call: Call) -> Response:
    page = await call.services.history.list(
        call.principal,
        function=call.query("function"),
        status=call.query("status"),
        limit=call.int_query("limit", 50, 1, 500),
        cursor=call.query("cursor"),
        since=parse_time(call.query("since"), "since"),
        until=parse_time(call.query("until"), "until"),
    )
    return JSONResponse(
        {
            "invocations": [execution.to_public_dict() for execution in page.items],
            "next_cursor": page.next_cursor,
        }
    )


def parse_time(raw: str | None, name: str = "since") -> float | None:
    """Epoch seconds or ISO 8601 (a time without a zone is UTC)."""
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{name} must be epoch seconds or an ISO 8601 time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


async def stats(call: Call) -> Response:
    summary = await call.services.history.stats(
        call.principal, function=call.query("function"), since=parse_time(call.query("since"))
    )
    return JSONResponse(summary)


LISTING_QUERY = (
    QueryParam("status", "queued, running, succeeded, failed or timed_out"),
    QueryParam("since", "created at or after: epoch seconds or ISO 8601"),
    QueryParam("until", "created before: epoch seconds or ISO 8601"),
    QueryParam("limit", "page size (1-500, default 50)", "integer"),
    QueryParam("cursor", "next_cursor of the previous page"),
)

ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/invocations/{execution_id}",
        get_invocation,
        "One execution in full (payload, result, logs, error)",
        "history",
        extra_responses={404: "Unknown execution"},
    ),
    Endpoint(
        "GET",
        "/v1/invocations",
        list_invocations,
        "Executions, newest first",
        "history",
        scope="read",
        query=(
            QueryParam("function", "function key, e.g. local:echo"),
            *LISTING_QUERY,
        ),
    ),
    Endpoint(
        "GET",
        "/v1/stats",
        stats,
        "Counts, success rate and latency percentiles",
        "history",
        scope="read",
        query=(
            QueryParam("function", "only this function key"),
            QueryParam("since", "epoch seconds or ISO 8601 (default: 24 h ago)"),
        ),
    ),
]
