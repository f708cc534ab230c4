"""The outbox sweep: what an ended execution still owes, redone from its record.

The save that stores an outcome sets the record's `announcement_pending`; the event and the
stats count follow, and the count clears the flag (`core.invoke.recorder`). A callback is owed
while `callback_result` is None. A crash, a failing bus or a graceful stop that ran out of time
leaves either in the record, and this sweep finds them (`ExecutionRepository.list_outbox`, an
indexed query of those records alone) and delivers them: the event again with its same id,
the stats count once, the callback.

Only records last updated more than `grace_s` ago are taken, so a sweep does not race the
runner that is about to announce what it just saved. Locally the queue's sweep runs it at start
and every EXECUTION_LEASE_S; on AWS and GCP the worker runs a bounded one after a delivery, at
most once per `every_s` on an instance (deliveries come often, the outbox is rarely full, and a
sweep is a query: on DynamoDB one per day of the retention window).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from core.invoke.recorder import Recorder
from core.models import Execution
from core.store.base import ExecutionRepository

logger = logging.getLogger("fnproxy.outbox")

GRACE_S = 5.0
"""How long after its last save a record is left to its runner before the sweep takes it."""
PAGE = 100

CallBack = Callable[[Execution], Awaitable[None]]
"""Sends an ended execution's callback and records its result."""


class OutboxSweep:
    def __init__(
        self,
        executions: ExecutionRepository,
        recorder: Recorder,
        call_back: CallBack,
        clock: Callable[[], float] = time.time,
        grace_s: float = GRACE_S,
    ) -> None:
        self._executions = executions
        self._recorder = recorder
        self._call_back = call_back
        self._clock = clock
        self._grace_s = grace_s
        self._sweeping = False
        self._last_started = float("-inf")

    async def sweep(self, max_records: int, max_s: float, *, every_s: float = 0.0) -> None:
        """Deliver what the outbox holds, oldest first, up to `max_records` records and for at
        most `max_s` seconds (what is left waits for the next sweep). One sweep at a time: a
        call while one runs (concurrent deliveries), or within `every_s` of the previous
        sweep's start, returns at once."""
        now = self._clock()
        if self._sweeping or now < self._last_started + every_s:
            return
        self._sweeping = True
        self._last_started = now
        try:
            async with asyncio.timeout(max_s):
                await self._sweep_pages(max_records)
        except TimeoutError:
            logger.info("outbox sweep stopped after %g s; the rest waits", max_s)
        except Exception:  # the store may be down a moment: the next sweep tries again
            logger.exception("could not read the outbox")
        finally:
            self._sweeping = False

    async def _sweep_pages(self, max_records: int) -> None:
        taken = 0
        cursor = None
        while taken < max_records:
            limit = min(PAGE, max_records - taken)
            updated_before = self._clock() - self._grace_s
            page = await self._executions.list_outbox(updated_before, limit, cursor)
            for execution in page.items:
                await self._deliver(execution)
            taken += len(page.items)
            cursor = page.next_cursor
            if cursor is None:
                return

    async def _deliver(self, execution: Execution) -> None:
        """Announce the execution if it still owes that, then send its callback if owed."""
        try:
            if execution.announcement_pending:
                logger.info("announcing execution %s again", execution.execution_id)
                await self._recorder.announce(execution)
            if execution.callback_pending:
                await self._call_back(execution)
        except Exception:  # left in the outbox for the next sweep
            logger.exception("outbox: could not deliver execution %s", execution.execution_id)
