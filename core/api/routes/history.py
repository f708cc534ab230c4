"""Execution history and stats."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from core.api.endpoints import Call, Endpoint, QueryParam
from core.api.responses import JSONResponse
from core.api.views import ExecutionRecord, InvocationPage, StatsSeries, StatsSummary
from core.errors import InvalidRequest
from core.history.service import MAX_BUCKETS
from core.invoke.archive import PARTS
from core.models import Execution


async def get_invocation(call: Call) -> Response:
    execution = await call.services.history.get(call.principal, call.path("execution_id"))
    return JSONResponse(await shown_record(call, execution))


async def shown_record(call: Call, execution: Execution) -> dict[str, Any]:
    """The whole record for a caller who may read it: archived parts inline or as signed
    URLs (`INLINE`), each a URL a client can fetch as it is (the local backend's links are
    fnproxy routes: made absolute on the request's own base URL)."""
    inline = call.query("inline") != "false"
    record = await call.services.archive.shown(execution, inline=inline)
    base = str(call.request.base_url).rstrip("/")
    for part in PARTS:
        blob = record.get(f"{part}_blob")
        if blob and blob.get("url", "").startswith("/"):
            blob["url"] = base + blob["url"]
    return record


INLINE = QueryParam(
    "inline",
    "false: a payload, result or log kept in blobs always as its signed URL (default true: "
    "inline up to BLOBS_READ_INLINE_BYTES)",
    enum=("true", "false"),
)


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


def parse_time(raw: str | None, name: str = "since") -> float | None:
    """Epoch seconds or ISO 8601 (a time without a zone is UTC), finite and from 1970 to 9999:
    `InvalidRequest` for anything else, before any work is done with it."""
    if raw is None:
        return None
    if len(raw) > MAX_TIME_LENGTH:
        raise InvalidRequest(f"{name} must be epoch seconds or an ISO 8601 time")
    moment = _epoch_seconds(raw)
    if moment is None:
        moment = max(_iso_seconds(raw, name), EARLIEST)
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
        moment = datetime.fromisoformat(raw.upper().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{name} must be epoch seconds or an ISO 8601 time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def stats_since(raw: str | None, retention_days: int) -> float | None:
    """A stats `since`: a time (`parse_time`) brought within the retention window (nothing
    older is kept; nothing newer than now exists), so the buckets it reaches back over are
    bounded before any is listed."""
    since = parse_time(raw)
    if since is None:
        return None
    now = time.time()
    return min(max(since, now - retention_days * 86400), now)


async def stats(call: Call) -> Response:
    since = stats_since(call.query("since"), call.services.settings.history_retention_days)
    summary = await call.services.history.stats(
        call.principal, function=call.query("function"), since=since
    )
    return JSONResponse(summary)


async def stats_series(call: Call) -> Response:
    retention_days = call.services.settings.history_retention_days
    bucket_s = call.services.settings.stats_bucket_s
    series = await call.services.history.series(
        call.principal,
        function=call.query("function"),
        since=stats_since(call.query("since"), retention_days),
        until=parse_time(call.query("until"), "until"),
        step=call.int_query("step", bucket_s, 1, MAX_BUCKETS * bucket_s),
    )
    return JSONResponse(series)


MAX_STEP_S = MAX_BUCKETS * 3600
"""A series' longest step with the default STATS_BUCKET_S; the served document states the
deployment's own (core.api.openapi)."""
TIME_TEXT = (
    "epoch seconds (0 to 253402300799), or an RFC 3339 / ISO 8601 time (a time without a zone "
    "is UTC; one before 1970 counts as 1970)"
)
TIME_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": EARLIEST, "maximum": LATEST},
        {"type": "string", "format": "date-time", "maxLength": MAX_TIME_LENGTH},
    ]
}


def time_param(name: str, description: str) -> QueryParam:
    return QueryParam(name, f"{description}: {TIME_TEXT}", json_schema=TIME_SCHEMA)


STATUS = QueryParam(
    "status",
    "only executions in this status",
    enum=("queued", "running", "succeeded", "failed", "timed_out"),
)
CURSOR = QueryParam(
    "cursor",
    "next_cursor of the previous page (one this listing did not give: 404 cursor_not_found)",
    max_length=1024,
    pattern=r"^[A-Za-z0-9_-]+$",
)


FUNCTION_KEY = QueryParam(
    "function",
    "only this function key, e.g. local:echo (printable ASCII: a key's URL is percent-encoded)",
    max_length=1024,
    pattern=r"^[!-~]+$",
)


def limit_param(most: int, default: int) -> QueryParam:
    return QueryParam(
        "limit", f"page size (1-{most}, default {default})", "integer", minimum=1, maximum=most
    )


LISTING_QUERY = (
    STATUS,
    time_param("since", "created at or after"),
    time_param("until", "created before"),
    limit_param(500, 50),
    CURSOR,
)

ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/invocations/{execution_id}",
        get_invocation,
        "One execution in full (payload, result, logs, error)",
        "history",
        response=ExecutionRecord,
        query=(INLINE,),
        extra_responses={404: "Unknown execution, or not the caller's"},
    ),
    Endpoint(
        "GET",
        "/v1/invocations",
        list_invocations,
        "Executions, newest first",
        "history",
        scope="read",
        response=InvocationPage,
        query=(
            FUNCTION_KEY,
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
        response=StatsSummary,
        query=(
            FUNCTION_KEY,
            time_param(
                "since",
                "counted from (default: 24 h ago; at most HISTORY_RETENTION_DAYS ago, an "
                "earlier or a future time is brought within that window)",
            ),
        ),
    ),
    Endpoint(
        "GET",
        "/v1/stats/series",
        stats_series,
        "Invocations, failures and latency percentiles per time step, from the stats rollups",
        "history",
        scope="read",
        response=StatsSeries,
        query=(
            FUNCTION_KEY,
            time_param(
                "since",
                "from (default: 24 h before until; at most HISTORY_RETENTION_DAYS ago and "
                f"{MAX_BUCKETS} stats buckets before until, an earlier time is brought within "
                "that window; a time after until counts from until)",
            ),
            time_param("until", "up to (default and at most: now)"),
            QueryParam(
                "step",
                "seconds per point: a multiple of STATS_BUCKET_S (the default), at most "
                f"{MAX_BUCKETS} of them",
                "integer",
                minimum=1,
                maximum=MAX_STEP_S,
            ),
        ),
    ),
]
