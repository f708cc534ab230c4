"""Settling executions a provider left running: the platform took the call, but its outcome
came later (an OpenWhisk activation that outlived the blocking wait). The provider is asked
for the outcome on read of the execution and by the async worker; whoever gets it first
records it, once, as the runner would have: history, stats rollup and event."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from core.errors import FnproxyError
from core.invoke.archive import Archive
from core.invoke.recorder import Recorder
from core.models import Execution, Status
from core.providers.base import InvocationOutcome, SettlingProvider
from core.providers.registry import ProviderRegistry
from core.store.base import ExecutionRepository

if TYPE_CHECKING:
    from core.otel import OtelSpans

logger = logging.getLogger("fnproxy.settle")

ASK_TIMEOUT_S = 10.0
"""How long one question to the provider may take (a read waits for it)."""
FIRST_POLL_DELAY_S = 0.05
MAX_POLL_DELAY_S = 2.0


def awaiting_outcome(execution: Execution) -> bool:
    """Whether the run is over but the platform has not told its outcome yet: the runner
    recorded it running with a duration (while it runs, a record has none)."""
    return execution.status == Status.RUNNING and execution.duration_ms is not None


class Settler:
    def __init__(
        self,
        executions: ExecutionRepository,
        providers: ProviderRegistry,
        recorder: Recorder,
        archive: Archive,
        clock: Callable[[], float] = time.time,
        ask_timeout_s: float = ASK_TIMEOUT_S,
        spans: OtelSpans | None = None,
    ) -> None:
        """`spans`: where a settled invocation's span goes (None: OpenTelemetry off)."""
        self._executions = executions
        self._providers = providers
        self._recorder = recorder
        self._archive = archive
        self._clock = clock
        self._ask_timeout_s = ask_timeout_s
        self._spans = spans

    async def settle(self, execution: Execution) -> Execution:
        """`execution` settled and recorded if its provider knows the outcome now; else as
        it was (still running, or the provider cannot be asked now)."""
        if not awaiting_outcome(execution):
            return execution
        outcome = await self._ask(execution)
        if outcome is None:
            return execution
        return await self._record(execution, outcome)

    async def settle_within(self, execution: Execution, seconds: float) -> Execution:
        """`settle`, asked again with growing delays for at most `seconds` (at least once)."""
        deadline = time.monotonic() + seconds
        delay = FIRST_POLL_DELAY_S
        while True:
            execution = await self.settle(execution)
            if not awaiting_outcome(execution) or time.monotonic() + delay > deadline:
                return execution
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_POLL_DELAY_S)

    async def _ask(self, execution: Execution) -> InvocationOutcome | None:
        try:
            provider = self._providers.get(execution.provider)
            if not isinstance(provider, SettlingProvider):
                return None
            async with asyncio.timeout(self._ask_timeout_s):
                return await provider.settle(execution)
        except (FnproxyError, TimeoutError) as error:
            logger.warning("cannot settle %s now: %s", execution.execution_id, error)
            return None

    async def _record(self, execution: Execution, outcome: InvocationOutcome) -> Execution:
        """Write the settled record only if it is still running (two readers may settle at
        once: one wins, the other reloads), then its rollup and event."""
        settled = await self._applied(execution, outcome)
        if not await self._executions.save(settled, only_if_status=[Status.RUNNING]):
            return await self._executions.get(execution.execution_id) or execution
        await self._recorder.announce(settled)
        if self._spans is not None:
            self._spans.invocation(settled)
        return settled

    async def _applied(self, execution: Execution, outcome: InvocationOutcome) -> Execution:
        settled = dataclasses.replace(execution)
        settled.status = Status.SUCCEEDED if outcome.success else Status.FAILED
        settled.success = bool(outcome.success)
        settled.status_code = outcome.status_code
        await self._archive.keep(settled, "result", outcome.result)
        await self._archive.keep(settled, "logs", outcome.logs)
        settled.error = outcome.error
        settled.provider_info = {**execution.provider_info, **outcome.info}
        duration_ms = outcome.info.get("duration_ms")
        if isinstance(duration_ms, int | float):
            settled.duration_ms = float(duration_ms)
        settled.finished_at = settled.updated_at = self._clock()
        settled.announcement_pending = True
        return settled
