"""The async worker: runs what the work queue delivers, at most once per execution, then POSTs
the record to the execution's callback URL if it has one.

It takes both kinds of queue message (`core.events.messages`): references to executions
fnproxy queued itself, and invocation requests other systems published, which run here with
the message's source as the caller. Queue backends decide what a failure means for the message
(redelivery, dead-letter queue); the worker records what became of it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from core.auth.principal import Principal
from core.auth.scopes import INVOKE
from core.config import Settings
from core.errors import Conflict, FnproxyError, IdempotencyKeyReused, NotFound
from core.events.base import InvocationMessage
from core.events.messages import (
    FnproxyEventMessage,
    MalformedMessage,
    ReceivedMessage,
    RequestedInvocation,
)
from core.invoke.callbacks import CallbackSender
from core.invoke.payloads import cap
from core.invoke.recorder import Recorder
from core.invoke.service import InvocationRequest, InvocationService
from core.invoke.settle import Settler, awaiting_outcome
from core.models import Execution, Mode, Status, new_id
from core.store.base import ExecutionRepository

logger = logging.getLogger("fnproxy.worker")

_DEFAULTS = Settings()
MESSAGE_PROVIDER = "queue"
MESSAGE_FUNCTION = "queue:message"
"""The function key of records for messages that never became an execution."""


class AsyncWorker:
    def __init__(
        self,
        executions: ExecutionRepository,
        invocations: InvocationService,
        recorder: Recorder,
        callbacks: CallbackSender,
        clock: Callable[[], float] = time.time,
        *,
        retention_s: int = _DEFAULTS.history_retention_days * 86400,
        max_stored_bytes: int = _DEFAULTS.max_stored_bytes,
        settler: Settler | None = None,
    ) -> None:
        self._executions = executions
        self._invocations = invocations
        self._recorder = recorder
        self._callbacks = callbacks
        self._clock = clock
        self._retention_s = retention_s
        self._max_stored_bytes = max_stored_bytes
        self._settler = settler

    async def run(self, received: ReceivedMessage) -> Execution | None:
        """Handle a decoded queue message of either kind (see `handle`, `handle_request`)."""
        if isinstance(received.message, InvocationMessage):
            return await self.handle(received.message)
        return await self.handle_request(received.message, received.source, received.message_id)

    async def handle(self, message: InvocationMessage) -> Execution | None:
        """Run the message's queued execution; None when it already ran (a redelivery).

        Raises (so the queue delivers the message again) while the execution is missing from
        the store or running elsewhere, and when its outcome could not be recorded."""
        execution = await self._executions.get(message.execution_id)
        if execution is None:
            raise NotFound(f"queued execution {message.execution_id} is not in the store")
        if has_run(execution):
            logger.info("execution %s already ran; redelivery ignored", execution.execution_id)
            return None
        if not await self._start(execution):
            raise _running_elsewhere(execution.execution_id)
        try:
            await self._invocations.run_queued(execution, message.payload)
        except FnproxyError as refused:
            if refused.status >= 500:  # it ran but could not be recorded: deliver again
                raise
            # else the runner recorded why the request could not run
        execution = await self._settled(execution)
        await self._call_back(execution)
        return execution

    async def handle_request(
        self, request: RequestedInvocation, source: str, message_id: str
    ) -> Execution:
        """Run an invocation request now, as `source` with scope "invoke" (IAM decided who may
        publish). Its idempotency key (the request's, else one from `message_id`) makes a
        redelivery answer with the execution that already ran instead of running again."""
        principal = Principal(subject=source, scopes=frozenset({INVOKE}), token_id=message_id)
        invocation_request = InvocationRequest(
            target=request.target,
            payload=request.payload,
            mode=Mode.ASYNC,
            timeout_s=request.timeout_s,
            callback_url=request.callback_url,
            idempotency_key=request.idempotency_key or f"message:{message_id}",
        )
        try:
            invocation = await self._invocations.invoke(
                invocation_request, principal, enqueue=False
            )
        except FnproxyError as refused:
            return await self._refused(refused)
        execution = invocation.execution
        if has_run(execution):  # a redelivery of a request that already ran
            await self._call_back(execution)
            return execution
        return (
            await self.handle(InvocationMessage(execution.execution_id, request.payload))
            or execution
        )

    async def _refused(self, refused: FnproxyError) -> Execution:
        """The runner recorded a refusal it raised (unknown function, payload too large):
        that execution failed for good. A refusal before any execution existed makes the
        message one that can never run; a server-side failure is raised to retry it."""
        if refused.status >= 500 or isinstance(refused, Conflict):
            raise refused
        execution_id = refused.extra.get("execution_id")
        if execution_id and not isinstance(refused, IdempotencyKeyReused):
            recorded = await self._executions.get(execution_id)
            if recorded is not None:
                return recorded
        raise MalformedMessage(f"{refused.code}: {refused.detail}") from refused

    async def _settled(self, execution: Execution) -> Execution:
        """An execution its provider left running, settled if it ends within its timeout
        (else it stays running, to be settled when it is read)."""
        if self._settler is None:
            return execution
        elapsed_s = self._clock() - (execution.started_at or execution.created_at)
        return await self._settler.settle_within(execution, execution.timeout_s - elapsed_s)

    async def _start(self, execution: Execution) -> bool:
        """Claim a queued execution (queued -> running, atomically)."""
        execution.status = Status.RUNNING
        execution.updated_at = self._clock()
        return await self._executions.save(execution, only_if_status=[Status.QUEUED])

    async def _call_back(self, execution: Execution) -> None:
        if execution.callback_url and execution.is_terminal and execution.callback_result is None:
            execution.callback_result = await self._callbacks.send(
                await self._invocations.with_clear_callback(execution)
            )
            await self._recorder.save(execution)

    async def reject(self, body: str, source: str, malformed: MalformedMessage) -> Execution | None:
        """Record a message that can never run as a failed execution (MalformedMessage, the
        body size-capped as its payload). fnproxy's own outcome events are only logged:
        recording them would publish another event that comes back."""
        if isinstance(malformed, FnproxyEventMessage):
            logger.error(
                "%s from %s: is the worker subscribed to the events topic?", malformed, source
            )
            return None
        error = {"type": "MalformedMessage", "message": malformed.reason}
        return await self._record_message(body, source, error)

    async def run_delivery(self, received: ReceivedMessage, body: str, final: bool) -> None:
        """Run a message a queue delivered. A failure is raised so the queue delivers it again;
        on its last allowed delivery (`final`) it is first recorded as DeadLettered.
        `MalformedMessage` is raised as it is: the transport dead-letters those at once."""
        try:
            await self.run(received)
        except MalformedMessage:
            raise
        except Exception as error:
            if final:
                await self._record_last_failure(received, body, error)
            raise

    async def _record_last_failure(
        self, received: ReceivedMessage, body: str, error: Exception
    ) -> None:
        reason = f"gave up after the last allowed delivery: {type(error).__name__}: {error}"
        execution_id = error.extra.get("execution_id") if isinstance(error, FnproxyError) else None
        try:
            await self.record_dead_lettered(received, body, reason, execution_id)
        except Exception:  # logged; the caller re-raises the original failure
            logger.exception("could not record message %s as dead-lettered", received.message_id)

    async def record_dead_lettered(
        self, received: ReceivedMessage, body: str, reason: str, execution_id: str | None = None
    ) -> Execution | None:
        """Mark failed (DeadLettered) what a message that the queue gives up on left open: its
        execution when there is one and it is still open (None when it had ended), else a new
        record of the message."""
        error = {"type": "DeadLettered", "message": reason}
        if isinstance(received.message, InvocationMessage):
            execution_id = received.message.execution_id
        execution = await self._executions.get(execution_id) if execution_id else None
        if execution is None:
            return await self._record_message(body, received.source, error, execution_id)
        if has_run(execution) or not await self._fail_open(execution, error):
            return None
        await self._recorder.announce(execution)
        return execution

    async def _fail_open(self, execution: Execution, error: dict[str, Any]) -> bool:
        was = execution.status
        execution.status = Status.FAILED
        execution.success = False
        execution.error = error
        execution.finished_at = execution.updated_at = self._clock()
        return await self._executions.save(execution, only_if_status=[was])

    async def _record_message(
        self, body: str, source: str, error: dict[str, Any], execution_id: str | None = None
    ) -> Execution:
        now = self._clock()
        payload, truncated = cap(body, self._max_stored_bytes)
        execution = Execution(
            execution_id=execution_id or new_id(),
            target={},
            provider=MESSAGE_PROVIDER,
            function=MESSAGE_FUNCTION,
            mode=Mode.ASYNC,
            status=Status.FAILED,
            caller=source,
            created_at=now,
            updated_at=now,
            expires_at=now + self._retention_s,
            payload=payload,
            payload_truncated=truncated,
            success=False,
            error=error,
            finished_at=now,
        )
        await self._recorder.finish(execution)
        return execution

    async def abandon_open(self, reason: str, limit: int = 1000) -> int:
        """Mark queued/running executions failed (a local restart lost their messages); not
        those their platform still runs, which are settled when read."""
        count = 0
        for status in Status.OPEN:
            page = await self._executions.list(status=status, limit=limit)
            for execution in page.items:
                if awaiting_outcome(execution):
                    continue
                execution.status = Status.FAILED
                execution.success = False
                execution.error = {"type": "Abandoned", "message": reason}
                execution.finished_at = execution.updated_at = self._clock()
                if await self._executions.save(execution, only_if_status=[status]):
                    count += 1
        return count


def has_run(execution: Execution) -> bool:
    """Whether the execution's run is over: it ended, or the platform took it to settle later
    (a Lambda Event invocation; the runner then recorded a duration but no end)."""
    return execution.is_terminal or execution.duration_ms is not None


def _running_elsewhere(execution_id: str) -> Conflict:
    return Conflict(
        f"execution {execution_id} is running elsewhere; deliver the message again later",
        execution_id=execution_id,
    )
