"""The async worker: runs what the work queue delivers, at most once per completed execution,
then POSTs the record to the execution's callback URL if it has one."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from core.errors import FnproxyError
from core.events.base import InvocationMessage
from core.invoke.callbacks import CallbackSender
from core.invoke.recorder import Recorder
from core.invoke.service import InvocationService
from core.models import Execution, Status
from core.store.base import ExecutionRepository

logger = logging.getLogger("fnproxy.worker")


class AsyncWorker:
    def __init__(
        self,
        executions: ExecutionRepository,
        invocations: InvocationService,
        recorder: Recorder,
        callbacks: CallbackSender,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._executions = executions
        self._invocations = invocations
        self._recorder = recorder
        self._callbacks = callbacks
        self._clock = clock

    async def handle(self, message: InvocationMessage) -> Execution | None:
        """Run the message's execution unless it already ran (a redelivery); the execution
        as it ended, or None when there was nothing to run."""
        execution = await self._executions.get(message.execution_id)
        if execution is None:
            logger.error("queued execution %s is not in the store", message.execution_id)
            return None
        if execution.is_terminal or not await self._start(execution):
            logger.info("execution %s already ran; redelivery ignored", execution.execution_id)
            return None
        try:
            await self._invocations.run_queued(execution, message.payload)
        except FnproxyError:
            pass  # the runner recorded why the request could not run
        if execution.callback_url and execution.is_terminal:
            execution.callback_result = await self._callbacks.send(execution)
            await self._recorder.save(execution)
        return execution

    async def _start(self, execution: Execution) -> bool:
        execution.status = Status.RUNNING
        execution.updated_at = self._clock()
        return await self._executions.save(execution, only_if_status=Status.OPEN)

    async def abandon_open(self, reason: str, limit: int = 1000) -> int:
        """Mark queued/running executions failed (a local restart lost their messages)."""
        count = 0
        for status in Status.OPEN:
            page = await self._executions.list(status=status, limit=limit)
            for execution in page.items:
                execution.status = Status.FAILED
                execution.success = False
                execution.error = {"type": "Abandoned", "message": reason}
                execution.finished_at = execution.updated_at = self._clock()
                if await self._executions.save(execution, only_if_status=[status]):
                    count += 1
        return count
