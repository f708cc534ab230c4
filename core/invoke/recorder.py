"""Writes an execution's outcome everywhere it belongs: the history record first, then one
CloudEvent, then the stats count, so that nothing tells of an outcome the store does not hold.

The record is the outbox: the save that stores an outcome also sets `announcement_pending`;
once the event went out, one atomic store step adds the stats count and clears the flag
(`settle_announcement`, conditional on the flag). A crash or a failure in between leaves the
flag set, and the outbox sweep (`core.invoke.outbox`) announces it again: stats count once,
the event goes out at least once, always with the same CloudEvent id (`outcome_event`).
A runner holding an execution's lease writes only while it still holds it (`LeaseLost`
otherwise: another runner took the execution over, and its outcome is the one told). A failing
store or bus is retried; what still fails is logged whole (so it is never silently lost) and
reported to the caller. The metrics port hears of each outcome when its stats count is
written (so its counts are /v1/stats' counts), and of each failed attempt of a store write. A
URL an error message echoes is redacted before any of it
(`core.redaction`): the record's target already is."""

from __future__ import annotations

import logging

import orjson

from core import histogram
from core.errors import Conflict, ServiceUnavailable
from core.events.base import EVENT_TYPE_PREFIX, CloudEvent, EventBus
from core.invoke.retry import retry_write
from core.metrics.base import NO_METRICS, Metrics
from core.models import Execution
from core.redaction import redact_urls_in
from core.store.base import StatsCount, Store

logger = logging.getLogger("fnproxy.recorder")


class LeaseLost(Conflict):
    """The runner's lease on the execution ended and another runner took it over: this
    runner's outcome was not written, and nothing was told of it."""


class Recorder:
    def __init__(
        self,
        store: Store,
        events: EventBus,
        stats_bucket_s: int,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._store = store
        self._events = events
        self._bucket_s = stats_bucket_s
        self._metrics = metrics

    async def save(self, execution: Execution) -> None:
        """Write the record; only while its runner still holds the lease, when it has one."""
        redact_error(execution)
        owner = execution.lease_owner
        written = await retry_write(
            lambda: self._store.executions.save(execution, only_if_owner=owner),
            "save execution",
            self._metrics.store_error,
        )
        if owner is not None and not written:
            raise LeaseLost(
                f"execution {execution.execution_id} was taken over by another runner",
                execution_id=execution.execution_id,
            )

    async def save_callback_result(self, execution: Execution) -> None:
        """Write an ended record again with its callback's result (its one later change)."""
        await retry_write(
            lambda: self._store.executions.save(execution),
            "save callback result",
            self._metrics.store_error,
        )

    async def finish(self, execution: Execution) -> None:
        """Record a settled execution: history first, with its announcement pending (in the
        same write); once it is stored, its event and stats count."""
        execution.announcement_pending = True
        try:
            await self.save(execution)
        except RuntimeError as error:  # retry_write gave up
            self._unrecorded(execution, [error])
        await self.announce(execution)

    async def announce(self, execution: Execution) -> None:
        """The event, then the stats count, of an ended execution saved with its announcement
        pending; the flag is cleared with the count. Left pending (for the outbox sweep) when
        either fails."""
        redact_error(execution)
        try:
            await self._publish(execution)
            await self._count(execution)
        except RuntimeError as error:  # retry_write gave up
            self._unrecorded(execution, [error])
        execution.announcement_pending = False

    @staticmethod
    def _unrecorded(execution: Execution, failures: list[BaseException]) -> None:
        logger.error(
            "could not record execution %s: %s; record: %s",
            execution.execution_id,
            "; ".join(map(str, failures)),
            orjson.dumps(execution.to_dict(), default=str).decode(),
        )
        raise ServiceUnavailable(
            "the invocation ran but could not be fully recorded",
            execution_id=execution.execution_id,
        )

    async def _count(self, execution: Execution) -> None:
        """Add the stats count and clear the announcement, once (a redo counts nothing)."""
        bucket = int(execution.created_at // self._bucket_s) * self._bucket_s
        duration = execution.duration_ms or 0.0
        count = StatsCount(
            execution.function,
            bucket,
            bool(execution.success),
            duration,
            histogram.slot_for(duration),
        )
        counted = await retry_write(
            lambda: self._store.executions.settle_announcement(execution.execution_id, count),
            "count in stats",
            self._metrics.store_error,
        )
        if counted:
            self._metrics.invocation(
                execution.function,
                execution.provider,
                execution.status,
                bool(execution.success),
                duration,
            )

    async def _publish(self, execution: Execution) -> None:
        await retry_write(lambda: self._events.publish(outcome_event(execution)), "publish event")


def redact_error(execution: Execution) -> None:
    """Redact the URLs the execution's error message echoes, in place."""
    error = execution.error
    if error is not None and isinstance(error.get("message"), str):
        execution.error = {**error, "message": redact_urls_in(error["message"])}


def outcome_event(execution: Execution) -> CloudEvent:
    """The outcome's CloudEvent. Its `id` and `time` come from the record, so an announcement
    made again (the outbox sweep) is the same event: consumers drop duplicates by `id`."""
    return CloudEvent(
        type=EVENT_TYPE_PREFIX + execution.status,
        subject=execution.function,
        id=f"{execution.execution_id}.{execution.status}",
        time=execution.finished_at or execution.updated_at,
        data={
            "execution_id": execution.execution_id,
            "function": execution.function,
            "provider": execution.provider,
            "mode": execution.mode,
            "status": execution.status,
            "success": execution.success,
            "status_code": execution.status_code,
            "duration_ms": execution.duration_ms,
            "attempts": execution.attempts,
            "caller": execution.caller,
            "error": execution.error,
        },
        attributes={
            "type": EVENT_TYPE_PREFIX + execution.status,
            "function": execution.function,
            "provider": execution.provider,
            "success": "true" if execution.success else "false",
        },
        extensions={"traceparent": execution.traceparent} if execution.traceparent else {},
    )
