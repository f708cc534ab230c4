"""Execution history and stats."""

from __future__ import annotations

import math
import time
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


MAX_TIME_LENGTH = 40
"""Longer than any epoch or ISO 8601 time fnproxy reads; longer text is refused unparsed."""
EARLIEST = 0.0
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
STATS_FUTURE_MARGIN_S = 300
"""How far ahead of this server's clock a stats `since` may be (another clock's skew)."""


def parse_time(raw: str | None, name: str = "since") -> float | None:
    """Epoch seconds or ISO 8601 (a time without a zone is UTC), finite and from 1970 to 9999:
    `InvalidRequest` for anything else, before any work is done with it."""
    if raw is None:
        return None
    if len(raw) > MAX_TIME_LENGTH:
        raise InvalidRequest(f"{name} must be epoch seconds or an ISO 8601 time")
    moment = _epoch_seconds(raw)
    if moment is None:
        moment = _iso_seconds(raw, name)
    if not (math.isfinite(moment) and EARLIEST <= moment <= LATEST):
        raise InvalidRequest(f"{name} must be a time from 1970 to 9999")
    return moment


def _epoch_seconds(raw: str) -> float | None:
    try:
        return float(raw)
    except ValueError:
        return None


def _iso_seconds(raw: str, name: str) -> float:
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{name} must be epoch seconds or an ISO 8601 time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def stats_since(raw: str | None, retention_days: int) -> float | None:
    """A stats `since`: a time (`parse_time`) within the retention window, so the buckets it
    reaches back over are bounded before any is listed."""
    since = parse_time(raw)
    if since is None:
        return None
    now = time.time()
    if not now - retention_days * 86400 <= since <= now + STATS_FUTURE_MARGIN_S:
        raise InvalidRequest(
            f"since must be within the last {retention_days} days (HISTORY_RETENTION_DAYS)"
        )
    return since


async def stats(call: Call) -> Response:
    since = stats_since(call.query("since"), call.services.settings.history_retention_days)
    summary = await call.services.history.stats(
        call.principal, function=call.query("function"), since=since
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
            QueryParam(
                "since",
                "epoch seconds or ISO 8601 within HISTORY_RETENTION_DAYS (default: 24 h ago)",
            ),
        ),
    ),
]
