"""Outcomes counted into stats rollups the way production counts them: an ended execution is
saved with its announcement pending, and `settle_announcement` adds its count to the rollup of
(bucket, function) in the step that clears the flag. The store tests' one way to fill rollups."""

from __future__ import annotations

import time

from core import histogram
from core.models import Execution, Status, new_id
from core.store.base import StatsCount, Store

HOUR = 3600.0


def pending_outcome(function: str, success: bool, duration_ms: float) -> Execution:
    """An ended execution of `function` still owing its announcement (and so its count)."""
    now = time.time()
    return Execution(
        execution_id=new_id(),
        target={"provider": "local", "function": function},
        provider="local",
        function=function,
        mode="sync",
        status=Status.SUCCEEDED if success else Status.FAILED,
        caller="client-1",
        created_at=now,
        updated_at=now,
        expires_at=now + HOUR,
        success=success,
        duration_ms=duration_ms,
        announcement_pending=True,
    )


def outcome_count(
    function: str, bucket_start: int, success: bool, duration_ms: float, slot: int | None = None
) -> StatsCount:
    """The count of one outcome; `slot` defaults to the duration's histogram slot."""
    if slot is None:
        slot = histogram.slot_for(duration_ms)
    return StatsCount(function, bucket_start, success, duration_ms, slot)


async def count_outcome(
    store: Store,
    function: str,
    bucket_start: int,
    success: bool,
    duration_ms: float,
    slot: int | None = None,
) -> None:
    """Add one outcome to the rollup of (bucket_start, function), through its execution."""
    execution = pending_outcome(function, success, duration_ms)
    await store.executions.save(execution)
    count = outcome_count(function, bucket_start, success, duration_ms, slot)
    assert await store.executions.settle_announcement(execution.execution_id, count)
