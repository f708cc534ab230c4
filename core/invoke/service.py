"""The invocation service: one entry for sync, async and dry-run invocations, with scope
checks, idempotency keys and history records.

A record holds its target and callback URL redacted (`core.redaction`); an async invocation
whose redaction masked anything keeps the clear forms sealed in the record for its run."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter

from core.auth.principal import Principal
from core.auth.scopes import invoke_scopes, require_invoke
from core.errors import (
    CircuitOpen,
    Conflict,
    FnproxyError,
    IdempotencyKeyReused,
    InvalidRequest,
    ServiceUnavailable,
    UpstreamUnreachable,
)
from core.events.base import InvocationMessage, WorkQueue
from core.invoke.archive import Archive
from core.invoke.callbacks import check_callback_url
from core.invoke.limits import InFlightLimit
from core.invoke.payloads import fingerprint
from core.invoke.recorder import Recorder
from core.invoke.retry import retry_write
from core.invoke.runner import Runner, record_exhausted, record_failure, record_unanswered
from core.models import Execution, IdempotencyRecord, Mode, Status, new_id
from core.providers.base import CallContext, Provider, TransientFailure
from core.providers.registry import ProviderRegistry
from core.redaction import redact_target, redact_url
from core.sealing import SealBroken, Sealer
from core.store.base import Store
from core.targets import STORED, Target
from core.tracing import for_invocation

logger = logging.getLogger("fnproxy.invoke")


@dataclass(frozen=True)
class InvocationRequest:
    target: Any
    """A model of `core.targets`."""
    payload: Any = None
    mode: str = Mode.SYNC
    timeout_s: float | None = None
    session_id: str | None = None
    callback_url: str | None = None
    idempotency_key: str | None = None
    function_name: str | None = None
    """A registered function's name: recorded, and checked against `invoke:<glob>` scopes,
    instead of the target's provider key."""
    function_version: int | None = None
    pinned_version: int | None = None
    """The version the caller asked for by number (None: the active one, or the canary)."""
    retry_policy: dict[str, Any] | None = None
    """Replaces the service's retry settings (see `Execution.retry_policy`)."""
    client_context: dict[str, Any] | None = None
    """The caller's client context, which the function gets (`Execution.client_context`)."""


@dataclass(frozen=True)
class Invocation:
    execution: Execution
    result: Any = None
    """The function's full result (the record may keep it archived or cut)."""
    logs: str | None = None
    """The function's full logs, likewise (read back when the record archived them)."""
    replayed: bool = False
    """True when an Idempotency-Key matched an earlier request: nothing ran again."""


@dataclass(frozen=True)
class ClearParts:
    """What an execution calls, unredacted: for the call alone, never stored or shown."""

    target: dict[str, Any]
    callback_url: str | None


@dataclass(frozen=True)
class ServiceLimits:
    default_timeout_s: float
    idempotency_ttl_s: int
    retention_s: int
    max_concurrent_requests: int
    """MAX_CONCURRENT_REQUESTS: invocations in flight on this instance at most."""
    claim_margin_s: float = 30.0
    """How long past its deadline an Idempotency-Key claim outlives an execution that was
    never recorded (EXECUTION_LEASE_S): then the same request may run."""


class InvocationService:
    def __init__(
        self,
        *,
        store: Store,
        providers: ProviderRegistry,
        runner: Runner,
        recorder: Recorder,
        queue: WorkQueue,
        sealer: Sealer,
        limits: ServiceLimits,
        archive: Archive,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._providers = providers
        self._runner = runner
        self._recorder = recorder
        self._queue = queue
        self._sealer = sealer
        self._limits = limits
        self._archive = archive
        self._in_flight = InFlightLimit(limits.max_concurrent_requests)
        self._clock = clock

    async def invoke(
        self, request: InvocationRequest, principal: Principal, *, enqueue: bool = True
    ) -> Invocation:
        """Run, queue or dry-run `request` for `principal`. With `enqueue=False` an async
        invocation is only recorded as queued: the caller (the queue worker, which already
        holds the message) runs it.

        Past MAX_CONCURRENT_REQUESTS invocations in flight, `TooManyRequests` (429) once the
        request is found valid, before its Idempotency-Key is claimed or anything recorded:
        the same request may be sent again as it is."""
        provider = self._providers.get(request.target.provider)
        function = request.function_name or provider.function_key(request.target)
        require_invoke(principal, function)
        if request.callback_url and request.mode != Mode.ASYNC:
            raise InvalidRequest("callback_url is only for async invocations")
        if request.callback_url:
            check_callback_url(self._providers, request.callback_url)
        if request.session_id and not isinstance(request.payload, dict):
            raise InvalidRequest("session_id needs a JSON object payload")
        with self._slot(enqueue):
            return await self._admitted(request, principal, provider, function, enqueue)

    def _slot(self, enqueue: bool) -> AbstractContextManager[None]:
        """One of the instance's in-flight slots. A queue delivery (`enqueue=False`) takes
        none: its queue bounds it already, and a refusal would dead-letter the message."""
        return self._in_flight.slot() if enqueue else nullcontext()

    async def _admitted(
        self,
        request: InvocationRequest,
        principal: Principal,
        provider: Provider,
        function: str,
        enqueue: bool,
    ) -> Invocation:
        execution = self._new_execution(request, principal, provider, function)
        if request.idempotency_key:
            earlier = await self._claim(request, principal, execution)
            if earlier is not None:
                result = await self._archive.full(earlier, "result")
                logs = await self._archive.full(earlier, "logs")
                return Invocation(earlier, result=result, logs=logs, replayed=True)
        await self._archive.keep(execution, "payload", request.payload)
        try:
            result = await self._accept(execution, provider, request, enqueue)
        except FnproxyError as refused:
            if refused.status < 500:  # recorded: the key stands for that refusal
                await self._keep_claim(execution)
            raise
        await self._keep_claim(execution)
        logs = await self._archive.full(execution, "logs")
        return Invocation(execution, result=result, logs=logs)

    async def _accept(
        self, execution: Execution, provider: Provider, request: InvocationRequest, enqueue: bool
    ) -> Any:
        """Record and dry-run, queue or run the execution; a sync run's full result."""
        if request.mode == Mode.DRY_RUN:
            await self._dry_run(execution, provider, request)
        elif request.mode == Mode.ASYNC:
            await self._seal_clear_parts(execution, request)
            await self._store.executions.add(execution)
            if enqueue:
                await self._enqueue(execution, request.payload)
        else:
            # Recorded once, when it ends: one write per sync invocation instead of two.
            return await self._runner.run(execution, provider, request.target, request.payload)
        return None

    async def _enqueue(self, execution: Execution, payload: Any) -> None:
        """Queue the execution; if the queue refuses or fails, the record says so and the
        caller gets the error (413 for a message too large, else 503): nothing is dropped."""
        carried = None if execution.payload_blob else payload  # an archived one is read back
        try:
            await self._queue.enqueue(InvocationMessage(execution.execution_id, carried))
        except FnproxyError as refused:
            await self._record_unqueued(execution, refused.code, refused.detail)
            refused.extra.setdefault("execution_id", execution.execution_id)
            raise
        except Exception as error:
            await self._record_unqueued(execution, "QueueUnavailable", type(error).__name__)
            raise ServiceUnavailable(
                "the async queue is unavailable; retry later", execution_id=execution.execution_id
            ) from error

    async def _record_unqueued(self, execution: Execution, kind: str, message: str) -> None:
        execution.status = Status.FAILED
        execution.success = False
        execution.error = {"type": kind, "message": message}
        if execution.callback_url:  # the caller has the answer: no callback (nor event) owed
            execution.callback_result = {"delivered": False, "error": kind, "attempts": 0}
        execution.finished_at = execution.updated_at = self._clock()
        await self._recorder.save(execution)

    async def run_queued(self, execution: Execution, payload: Any) -> None:
        """Run an execution the async queue delivered (called by the worker) on its clear
        target. One whose seal no configured key opens is recorded as failed, with its
        callback given up (its clear URL is sealed too)."""
        try:
            clear = await self.clear_parts(execution)
        except SealBroken as broken:
            await self._record_unsealable(execution, str(broken))
            return
        target = parse_target(clear.target)
        provider = self._providers.get(target.provider)
        await self._runner.run(execution, provider, target, payload)

    async def clear_parts(self, execution: Execution) -> ClearParts:
        """The execution's clear target and callback URL (opened from its seal, if it has
        one); `SealBroken` when no configured key opens the seal."""
        if execution.sealed_target is None:
            return ClearParts(execution.target, execution.callback_url)
        opened = await self._sealer.open(execution.sealed_target, execution.execution_id)
        return ClearParts(opened["target"], opened["callback_url"])

    async def with_clear_callback(self, execution: Execution) -> Execution:
        """A copy of `execution` whose `callback_url` is the clear one, for the callback
        sender alone: it POSTs to that URL the record's public (redacted) form."""
        clear = await self.clear_parts(execution)
        return dataclasses.replace(execution, callback_url=clear.callback_url)

    async def _seal_clear_parts(self, execution: Execution, request: InvocationRequest) -> None:
        """Seal the clear target and callback URL into the record when it shows them masked."""
        clear = ClearParts(request.target.model_dump(exclude_none=True), request.callback_url)
        if clear.target == execution.target and clear.callback_url == execution.callback_url:
            return
        execution.sealed_target = await self._sealer.seal(
            dataclasses.asdict(clear), execution.execution_id
        )

    async def _record_unsealable(self, execution: Execution, reason: str) -> None:
        logger.error("execution %s cannot run: %s", execution.execution_id, reason)
        message = "no configured MODULE_SECRET_KEY opens the sealed target"
        execution.status = Status.FAILED
        execution.success = False
        execution.error = {"type": "SealBroken", "message": message}
        execution.callback_result = {"delivered": False, "error": message, "attempts": 0}
        execution.finished_at = execution.updated_at = self._clock()
        await self._recorder.finish(execution)

    def _new_execution(
        self, request: InvocationRequest, principal: Principal, provider: Provider, function: str
    ) -> Execution:
        now = self._clock()
        trace, parent_span_id = for_invocation()
        return Execution(
            execution_id=new_id(),
            target=redact_target(request.target.model_dump(exclude_none=True)),
            provider=provider.name,
            function=function,
            mode=request.mode,
            status=Status.QUEUED if request.mode == Mode.ASYNC else Status.RUNNING,
            caller=principal.subject,
            created_at=now,
            updated_at=now,
            expires_at=now + self._limits.retention_s,
            timeout_s=request.timeout_s or self._limits.default_timeout_s,
            session_id=request.session_id,
            callback_url=redact_url(request.callback_url) if request.callback_url else None,
            idempotency_key=request.idempotency_key,
            function_version=request.function_version,
            retry_policy=request.retry_policy,
            invoke_scopes=None if request.function_name else invoke_scopes(principal),
            traceparent=trace.traceparent,
            tracestate=trace.state,
            parent_span_id=parent_span_id,
            client_context=request.client_context,
        )

    async def _claim(
        self, request: InvocationRequest, principal: Principal, execution: Execution
    ) -> Execution | None:
        """None when this request is the first with its key; else the execution it started.
        A registered function is identified by its name and the version the caller pinned, not
        by the version a canary split picked: a retry sent to the other one is the same request.

        The claim is a lease: it lasts the invocation's deadline (a sync run) plus a margin,
        and `_keep_claim` extends it once the execution is recorded; a claim whose execution
        was never recorded (a crash, a store outage) expires, and the same request runs."""
        identity = (
            {"function": request.function_name, "version": request.pinned_version}
            if request.function_name
            else request.target.model_dump()
        )
        digest = fingerprint(identity, request.payload, request.mode, request.session_id)
        now = self._clock()
        deadline_s = execution.timeout_s if request.mode == Mode.SYNC else 0.0
        record = IdempotencyRecord(
            caller=principal.subject,
            key=request.idempotency_key or "",
            fingerprint=digest,
            execution_id=execution.execution_id,
            expires_at=now + deadline_s + self._limits.claim_margin_s,
        )
        earlier = await self._store.idempotency.claim(record, now)
        if earlier is None:
            return None
        if earlier.fingerprint != digest:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used for a different request",
                execution_id=earlier.execution_id,
            )
        found = await self._store.executions.get(earlier.execution_id)
        if found is None:
            raise Conflict(
                "a request with this Idempotency-Key is still being accepted; retry shortly",
                execution_id=earlier.execution_id,
            )
        return found

    async def _keep_claim(self, execution: Execution) -> None:
        """Extend the Idempotency-Key claim of a recorded execution to IDEMPOTENCY_TTL_S."""
        if not execution.idempotency_key:
            return
        expires_at = self._clock() + self._limits.idempotency_ttl_s
        try:
            await retry_write(
                lambda: self._store.idempotency.extend(
                    execution.caller,
                    execution.idempotency_key or "",
                    execution.execution_id,
                    expires_at,
                ),
                "extend the Idempotency-Key claim",
            )
        except RuntimeError:  # the claim expires early: a retry after it may run again
            logger.exception("Idempotency-Key of %s kept short", execution.execution_id)

    async def _dry_run(
        self, execution: Execution, provider: Provider, request: InvocationRequest
    ) -> None:
        """One dry run within the invocation's deadline, recorded. What kept the platform from
        answering is recorded as the runner records it, and answered alike
        (`core.api.routes.invoke.unreached`): a `TransientFailure` (not retried: a dry run
        changes nothing worth waiting for) as 502 upstream_unavailable (429 when throttled),
        the deadline passed as 504. A refusal is recorded and raised, as by the runner."""
        context = CallContext(
            execution_id=execution.execution_id,
            caller=execution.caller,
            timeout_s=execution.timeout_s,
            attempt=1,
            mode=Mode.DRY_RUN,
        )
        execution.attempts = 1
        try:
            async with asyncio.timeout(execution.timeout_s):
                outcome = await provider.dry_run(request.target, request.payload, context)
        except TransientFailure as failure:
            record_exhausted(execution, failure)
        except (UpstreamUnreachable, CircuitOpen, TimeoutError) as unanswered:
            record_unanswered(execution, unanswered)
        except FnproxyError as refused:
            record_failure(execution, Status.FAILED, refused.code, refused.detail)
            refused.extra.setdefault("execution_id", execution.execution_id)
            await self._save_dry_run(execution)
            raise
        else:
            execution.status = Status.SUCCEEDED if outcome.success else Status.FAILED
            execution.success = outcome.success
            execution.status_code = outcome.status_code
            execution.error = outcome.error
            execution.provider_info = outcome.info
        await self._save_dry_run(execution)

    async def _save_dry_run(self, execution: Execution) -> None:
        execution.duration_ms = 0.0
        execution.finished_at = execution.updated_at = self._clock()
        await self._recorder.save(execution)


@lru_cache(maxsize=1)
def _target_adapter() -> TypeAdapter:
    return TypeAdapter(Target)


def parse_target(data: dict[str, Any]) -> Any:
    """A target read back from the store (`core.targets.STORED`)."""
    return _target_adapter().validate_python(data, context=STORED)
