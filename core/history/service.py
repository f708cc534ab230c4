"""Reading history and stats. Stats come from the rollups the invocation service adds to at
write time: one read per time bucket, never a scan of the history. An execution its provider
left running is settled when it is read (see `core.invoke.settle`)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from core import histogram
from core.auth.principal import Principal
from core.auth.scopes import require
from core.errors import InvalidRequest, NotFound
from core.invoke.settle import Settler
from core.models import Execution, Page, StatsRollup, Status
from core.store.base import ALL_TIME, ExecutionRepository, StatsRepository

DEFAULT_WINDOW_S = 24 * 3600
MAX_BUCKETS = 24 * 31


class HistoryService:
    def __init__(
        self,
        executions: ExecutionRepository,
        stats: StatsRepository,
        bucket_s: int,
        clock: Callable[[], float] = time.time,
        settler: Settler | None = None,
    ) -> None:
        self._executions = executions
        self._stats = stats
        self._bucket_s = bucket_s
        self._clock = clock
        self._settler = settler

    def bucket_of(self, epoch: float) -> int:
        return int(epoch // self._bucket_s) * self._bucket_s

    async def get(self, principal: Principal, execution_id: str) -> Execution:
        """The caller's own executions; every execution for `read` (or `admin`) holders.
        One left running by its provider is settled first if its outcome is known now."""
        execution = await self._executions.get(execution_id)
        visible = execution is not None and (
            execution.caller == principal.subject or _can_read(principal)
        )
        if not visible:
            raise NotFound(f"execution {execution_id} not found")
        if self._settler is not None:
            return await self._settler.settle(execution)
        return execution

    async def list(
        self,
        principal: Principal,
        *,
        function: str | None,
        status: str | None,
        limit: int,
        cursor: str | None,
        since: float | None = None,
        until: float | None = None,
    ) -> Page[Execution]:
        """Newest first; `since`/`until` (epoch seconds) bound the creation time (a `since`
        at or after `until` is an empty range: an empty page, not an error)."""
        require(principal, "read")
        if status is not None and status not in Status.ALL:
            raise InvalidRequest(f"status must be one of {', '.join(Status.ALL)}")
        if since is not None and until is not None and since >= until:
            return Page([])
        return await self._executions.list(
            function=function,
            status=status,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        )

    async def stats(
        self, principal: Principal, *, function: str | None, since: float | None
    ) -> dict[str, Any]:
        require(principal, "read")
        now = self._clock()
        start = self.bucket_of(now - DEFAULT_WINDOW_S if since is None else since)
        buckets = list(range(start, self.bucket_of(now) + 1, self._bucket_s))
        if len(buckets) > MAX_BUCKETS:
            raise InvalidRequest(f"since reaches back more than {MAX_BUCKETS} buckets")
        summary = _summary(await self._stats.read(buckets, function))
        summary["since"] = start
        summary["bucket_s"] = self._bucket_s
        return summary

    async def series(
        self,
        principal: Principal,
        *,
        function: str | None,
        since: float | None,
        until: float | None,
        step: int,
    ) -> dict[str, Any]:
        """Invocations, failures and latency percentiles per `step` seconds (a multiple of the
        rollup bucket, at most `MAX_BUCKETS` of them) from `since` (default 24 h before
        `until`, down to a whole step) up to `until` (default and at most now): one read of the
        rollups, at most `MAX_BUCKETS`, so a longer span is shortened from its start; a `since`
        after `until` counts from `until`."""
        require(principal, "read")
        if step < 1 or step % self._bucket_s or step > MAX_BUCKETS * self._bucket_s:
            raise InvalidRequest(
                f"step must be a multiple of the stats bucket, {self._bucket_s} s, "
                f"at most {MAX_BUCKETS} of them"
            )
        end = self._clock() if until is None else min(until, self._clock())
        begin = end - DEFAULT_WINDOW_S if since is None else min(since, end)
        stop = math.ceil(end)
        start = int(max(begin, stop - MAX_BUCKETS * self._bucket_s) // step) * step
        if stop - start > MAX_BUCKETS * self._bucket_s:
            start += step  # the step rounding down reached past the buckets one read may take
        buckets = list(range(start, stop, self._bucket_s))
        steps: dict[int, list[StatsRollup]] = {at: [] for at in range(start, stop, step)}
        for rollup in await self._stats.read(buckets, function):
            steps[start + (rollup.bucket_start - start) // step * step].append(rollup)
        return {
            "function": function,
            "since": start,
            "until": end,
            "step_s": step,
            "buckets": [_point(at, rollups) for at, rollups in steps.items()],
        }

    async def all_time_stats(self, principal: Principal) -> dict[str, Any]:
        """Every function's counts of all time: one read of the all-time rollups, whatever
        the store's age (they count from the version that keeps them; rollups never expire)."""
        require(principal, "read")
        return _summary(await self._stats.read([ALL_TIME]))


def _can_read(principal: Principal) -> bool:
    return principal.is_admin or "read" in principal.scopes


def _summary(rollups: list[StatsRollup]) -> dict[str, Any]:
    """The figures of all `rollups`, and of each function's as `by_function`."""
    by_function: dict[str, list[StatsRollup]] = {}
    for rollup in rollups:
        by_function.setdefault(rollup.function, []).append(rollup)
    summary = _summarise(rollups)
    summary["by_function"] = {name: _summarise(rows) for name, rows in sorted(by_function.items())}
    return summary


def _summarise(rollups: list[StatsRollup]) -> dict[str, Any]:
    count = sum(r.count for r in rollups)
    successes = sum(r.successes for r in rollups)
    merged = histogram.merge([r.histogram for r in rollups])
    return {
        "count": count,
        "successes": successes,
        "failures": sum(r.failures for r in rollups),
        "success_rate": round(successes / count, 4) if count else None,
        "avg_ms": round(sum(r.duration_sum_ms for r in rollups) / count, 3) if count else None,
        **_percentiles(merged),
    }


def _percentiles(merged: list[int]) -> dict[str, float | None]:
    return {
        "p50_ms": histogram.percentile(merged, 0.50),
        "p95_ms": histogram.percentile(merged, 0.95),
        "p99_ms": histogram.percentile(merged, 0.99),
    }


def _point(start: int, rollups: list[StatsRollup]) -> dict[str, Any]:
    """One step of a series: the figures of its rollups."""
    merged = histogram.merge([r.histogram for r in rollups])
    return {
        "start": start,
        "invocations": sum(r.count for r in rollups),
        "failures": sum(r.failures for r in rollups),
        **_percentiles(merged),
    }
