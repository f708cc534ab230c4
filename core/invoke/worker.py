"""The async worker: runs what the work queue delivers, at most once per execution unless its
runner died, then POSTs the record to the execution's callback URL if it has one.

It takes both kinds of queue message (`core.events.messages`): references to executions
fnproxy queued itself, and invocation requests other systems published, which run here with
the message's source as the caller. Queue backends decide what a failure means for the message
(redelivery, dead-letter queue); the worker records what became of it.

One life cycle per execution: the worker claims it (queued, or running under an expired lease)
with a lease of `lease_s` that it renews every third of that while the function runs, telling
the delivery too (`KeepAlive`: SQS extends the message's visibility with it); every write of the
run is conditional on still holding the lease. A delivery that finds the execution leased to a
live runner changes nothing, on the last allowed delivery too.

What an ended execution still owes (its announcement, its callback) is redone by `outbox`
(`core.invoke.outbox`): the local queue runs it with its sweeps, and after a queue delivery
(AWS, GCP: no process outlives its deliveries) a bounded one runs, at most once per
DELIVERY_SWEEP_EVERY_S on an instance (`run_delivery`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
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
from core.invoke.archive import Archive
from core.invoke.callbacks import CallbackSender, CallbackTasks
from core.invoke.outbox import OutboxSweep
from core.invoke.recorder import LeaseLost, Recorder
from core.invoke.runner import recorded
from core.invoke.service import InvocationRequest, InvocationService
from core.invoke.settle import Settler
from core.models import Execution, Mode, Status, new_id
from core.store.base import ExecutionRepository

logger = logging.getLogger("fnproxy.worker")

_DEFAULTS = Settings()
MESSAGE_PROVIDER = "queue"
MESSAGE_FUNCTION = "queue:message"
"""The function key of records for messages that never became an execution."""

DELIVERY_SWEEP_RECORDS = 10
DELIVERY_SWEEP_S = 5.0
DELIVERY_SWEEP_EVERY_S = 30.0
"""The outbox sweep after a queue delivery: at most this many records, this long, and once per
this many seconds on an instance (not a query per delivery)."""

KeepAlive = Callable[[float], Awaitable[None]]
"""Told, when the worker claims an execution and each time it renews the lease, to keep the
delivery alive that many seconds more (SQS: the message's visibility)."""


class AsyncWorker:
    def __init__(
        self,
        executions: ExecutionRepository,
        invocations: InvocationService,
        recorder: Recorder,
        callbacks: CallbackSender,
        archive: Archive,
        clock: Callable[[], float] = time.time,
        *,
        retention_s: int = _DEFAULTS.history_retention_days * 86400,
        settler: Settler | None = None,
        lease_s: float = _DEFAULTS.execution_lease_s,
        callback_tasks: CallbackTasks | None = None,
    ) -> None:
        """`callback_tasks`: send callbacks in tasks of their own (a long-lived server), not
        before the delivery returns (a function instance, frozen once it answered)."""
        self._executions = executions
        self._invocations = invocations
        self._recorder = recorder
        self._callbacks = callbacks
        self._clock = clock
        self._retention_s = retention_s
        self._archive = archive
        self._settler = settler
        self._lease_s = lease_s
        self._callback_tasks = callback_tasks
        self.outbox = OutboxSweep(executions, recorder, self._call_back, clock)

    async def run(
        self, received: ReceivedMessage, keep_alive: KeepAlive | None = None
    ) -> Execution | None:
        """Handle a decoded queue message of either kind (see `handle`, `handle_request`)."""
        if isinstance(received.message, InvocationMessage):
            return await self.handle(received.message, keep_alive)
        return await self.handle_request(
            received.message, received.source, received.message_id, keep_alive
        )

    async def handle(
        self, message: InvocationMessage, keep_alive: KeepAlive | None = None
    ) -> Execution | None:
        """Claim and run the message's execution; None when it already ran (a redelivery).

        Raises (so the queue delivers the message again) while the execution is missing from
        the store or leased to a live runner, and when its outcome could not be recorded. A
        runner that lost its lease meanwhile returns None: the one that took over tells."""
        execution = await self._claim(message.execution_id)
        if execution is None:
            return None
        if has_run(execution):  # the platform settles it: ask, never run it again
            execution = await self._settled(execution)
        else:
            execution = await self._run_claimed(execution, message, keep_alive)
        if execution is not None:
            await self._call_back(execution)
        return execution

    async def _claim(self, execution_id: str) -> Execution | None:
        claimed = await self._claim_quietly(execution_id)
        if claimed is not None:
            return claimed
        execution = await self._executions.get(execution_id)
        if execution is None:
            raise NotFound(f"queued execution {execution_id} is not in the store")
        if execution.status == Status.RUNNING and not has_run(execution):
            raise _running_elsewhere(execution_id)
        logger.info("execution %s already ran; redelivery ignored", execution_id)
        return None

    async def _run_claimed(
        self, execution: Execution, message: InvocationMessage, keep_alive: KeepAlive | None
    ) -> Execution | None:
        claimed = dataclasses.replace(execution)
        try:
            async with self._lease(execution, keep_alive):
                payload = await self._payload(execution, message)
                await self._invocations.run_queued(execution, payload)
        except LeaseLost as lost:
            logger.warning("%s: its outcome is not recorded here", lost.detail)
            return None
        except asyncio.CancelledError:  # a graceful stop ran out of time: queued again
            await self._put_back(claimed)
            raise
        except Exception as error:
            # The runner recorded why the request could not run (a refusal, a provider bug,
            # fnproxy's own 5xx such as no cloud credentials): done, and logged once. Anything
            # else of 5xx, or no FnproxyError, means it ran but could not be recorded: deliver
            # it again.
            refused = isinstance(error, FnproxyError) and error.status < 500
            if not (recorded(error) or refused):
                raise
        return await self._settled(execution)

    @contextlib.asynccontextmanager
    async def _lease(
        self, execution: Execution, keep_alive: KeepAlive | None
    ) -> AsyncIterator[None]:
        """Renew the execution's lease, and keep the delivery alive, while the body runs."""
        await self._keep_alive(execution, keep_alive)
        renewing = asyncio.create_task(self._renew(execution, keep_alive))
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def _renew(self, execution: Execution, keep_alive: KeepAlive | None) -> None:
        owner = execution.lease_owner or ""
        while True:
            await asyncio.sleep(self._lease_s / 3)
            try:
                if not await self._executions.renew(
                    execution.execution_id, owner, self._clock() + self._lease_s
                ):
                    logger.warning("lost the lease on %s", execution.execution_id)
                    return
            except Exception as error:  # noqa: BLE001 - down a moment: renew at the next turn
                logger.warning("could not renew the lease on %s: %s", execution.execution_id, error)
            await self._keep_alive(execution, keep_alive)

    async def _keep_alive(self, execution: Execution, keep_alive: KeepAlive | None) -> None:
        """Tell the delivery to stay alive a lease longer; the lease alone guards the run when
        it cannot (a message deleted or moved meanwhile, the queue down a moment)."""
        if keep_alive is None:
            return
        try:
            await keep_alive(self._lease_s)
        except Exception as error:  # noqa: BLE001 - best effort, see above
            logger.warning("could not keep %s's delivery alive: %s", execution.execution_id, error)

    async def _put_back(self, claimed: Execution) -> None:
        """Queue a claimed execution again (its run was cut short, nothing recorded)."""
        claimed.status = Status.QUEUED
        claimed.updated_at = self._clock()
        try:
            await self._executions.save(
                claimed, only_if_status=[Status.RUNNING], only_if_owner=claimed.lease_owner
            )
        except Exception:  # its lease expires: the next start takes it over
            logger.exception("could not queue execution %s again", claimed.execution_id)

    async def handle_request(
        self,
        request: RequestedInvocation,
        source: str,
        message_id: str,
        keep_alive: KeepAlive | None = None,
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
        message = InvocationMessage(execution.execution_id, request.payload)
        return await self.handle(message, keep_alive) or execution

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

    async def _call_back(self, execution: Execution) -> None:
        """Send the callback of an ended execution that has not had it: in a task of its own
        when there are callback tasks, else now. Never before its announcement: the callback's
        save writes the whole record, and must not set a flag the outbox sweep cleared."""
        if execution.callback_pending and not execution.announcement_pending:
            if self._callback_tasks is not None:
                self._callback_tasks.submit(execution.execution_id, self._send_callback, execution)
            else:
                await self._send_callback(execution)

    async def _send_callback(self, execution: Execution) -> None:
        execution.callback_result = await self._callbacks.send(
            await self._invocations.with_clear_callback(execution)
        )
        await self._recorder.save_callback_result(execution)

    async def finish_callbacks(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for the callbacks being sent (a graceful stop)."""
        if self._callback_tasks is not None:
            await self._callback_tasks.finish(timeout_s)

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

    async def run_delivery(
        self,
        received: ReceivedMessage,
        body: str,
        final: bool,
        keep_alive: KeepAlive | None = None,
    ) -> None:
        """Run a message a queue delivered. A failure is raised so the queue delivers it again;
        on its last allowed delivery (`final`) what it left open is first recorded as
        DeadLettered (never an execution a live runner holds). `MalformedMessage` is raised as
        it is: the transport dead-letters those at once. Then a bounded outbox sweep, when due."""
        try:
            await self.run(received, keep_alive)
        except MalformedMessage:
            raise
        except Exception as error:
            if final:
                await self._record_last_failure(received, body, error)
            raise
        finally:
            await self.outbox.sweep(
                DELIVERY_SWEEP_RECORDS, DELIVERY_SWEEP_S, every_s=DELIVERY_SWEEP_EVERY_S
            )

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
        execution when nobody runs it (queued, or its runner's lease expired), else nothing
        (None); a new record of the message when it has no execution."""
        error = {"type": "DeadLettered", "message": reason}
        if isinstance(received.message, InvocationMessage):
            execution_id = received.message.execution_id
        execution = await self._executions.get(execution_id) if execution_id else None
        if execution is None:
            return await self._record_message(body, received.source, error, execution_id)
        failed = await self._fail_unclaimed(execution.execution_id, error)
        if failed is not None:
            await self._recorder.announce(failed)
        return failed

    async def _fail_unclaimed(self, execution_id: str, error: dict[str, Any]) -> Execution | None:
        """Claim the execution and record it failed under that claim: never one that ended,
        nor one a live runner holds."""
        claimed = await self._claim_quietly(execution_id)
        if claimed is None or has_run(claimed):
            return None
        claimed.status = Status.FAILED
        claimed.success = False
        claimed.error = error
        claimed.finished_at = claimed.updated_at = self._clock()
        claimed.announcement_pending = True
        if not await self._executions.save(claimed, only_if_owner=claimed.lease_owner):
            return None
        return claimed

    async def _payload(self, execution: Execution, message: InvocationMessage) -> Any:
        """The run's full payload: the message's when the record keeps only a cut copy, else
        the record's, read back from the archive when it went there."""
        if execution.payload_truncated:
            return message.payload
        return await self._archive.full(execution, "payload")

    async def _claim_quietly(self, execution_id: str) -> Execution | None:
        now = self._clock()
        return await self._executions.claim(execution_id, new_id(), now + self._lease_s, now)

    async def _record_message(
        self, body: str, source: str, error: dict[str, Any], execution_id: str | None = None
    ) -> Execution:
        now = self._clock()
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
            success=False,
            error=error,
            finished_at=now,
        )
        await self._archive.keep(execution, "payload", body)
        await self._recorder.finish(execution)
        return execution


def has_run(execution: Execution) -> bool:
    """Whether the execution's run is over: it ended, or the platform took it to settle later
    (a Lambda Event invocation; the runner then recorded a duration but no end)."""
    return execution.is_terminal or execution.duration_ms is not None


def _running_elsewhere(execution_id: str) -> Conflict:
    return Conflict(
        f"execution {execution_id} is running elsewhere; deliver the message again later",
        execution_id=execution_id,
    )
