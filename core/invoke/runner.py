"""Runs one execution to its end: session in, attempts with retries under one deadline,
session out, and the outcome recorded. Shared by sync invocations and the async worker.

Each attempt first takes one of its target's slots (`TargetLimits`: a hanging target holds only
its own), then passes the target's circuit breaker (`CircuitBreakers`: an open circuit fails the
call fast), then goes. Only a `TransientFailure` (which never reached the function) is retried;
each retry is told to the metrics port (`retries`). What kept the function from answering is
recorded as the execution's error, and the API answers it as a problem (see
`core.api.routes.invoke.unreached`): `UpstreamUnavailable` (502, retries exhausted),
`UpstreamThrottled` (429 still after retries, with Retry-After), `UpstreamUnreachable` (502,
lost after the request was sent: not retried), `CircuitOpen` (503, with Retry-After and the
circuit's state)."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.config import Settings
from core.errors import (
    CircuitOpen,
    FnproxyError,
    InvalidRequest,
    PreconditionFailed,
    UpstreamUnreachable,
)
from core.invoke.archive import Archive
from core.invoke.breaker import CircuitBreakers
from core.invoke.limits import TargetLimits
from core.invoke.recorder import Recorder
from core.invoke.retry import RetryPolicy
from core.metrics.base import NO_METRICS, Metrics
from core.models import Execution, Session, Status
from core.providers.base import CallContext, InvocationOutcome, Provider, TransientFailure
from core.sessions.service import SessionService
from core.tracing import TraceContext, recorded_trace

if TYPE_CHECKING:
    from core.otel import OtelSpans

logger = logging.getLogger("fnproxy.invoke")

_DEFAULTS = Settings()
THROTTLED_RETRY_AFTER_S = 1.0
"""Retry-After passed on for an upstream 429 that named none."""


class RetriesExhausted(Exception):
    def __init__(self, failure: TransientFailure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


@dataclass(frozen=True)
class RunLimits:
    retry: RetryPolicy


class Runner:
    def __init__(
        self,
        recorder: Recorder,
        sessions: SessionService,
        limits: RunLimits,
        archive: Archive,
        clock: Callable[[], float] = time.time,
        *,
        breakers: CircuitBreakers | None = None,
        targets: TargetLimits | None = None,
        metrics: Metrics = NO_METRICS,
        spans: OtelSpans | None = None,
    ) -> None:
        """`spans`: where the invocation and attempt spans go (None: OpenTelemetry off)."""
        self._recorder = recorder
        self._sessions = sessions
        self._limits = limits
        self._archive = archive
        self._clock = clock
        self.breakers = breakers or CircuitBreakers(
            _DEFAULTS.circuit_failure_threshold, _DEFAULTS.circuit_cooldown_s
        )
        self.targets = targets or TargetLimits(_DEFAULTS.target_max_concurrency)
        self._metrics = metrics
        self.spans = spans

    async def run(self, execution: Execution, provider: Provider, target: Any, payload: Any) -> Any:
        """Run and record `execution`; return the function's full result (the record may
        keep it archived or cut: `core.invoke.archive`). Raises a `FnproxyError` carrying
        `execution_id` when the caller's request was at fault (unknown function, payload too
        large, ...); the record says so."""
        outcome: InvocationOutcome | None = None
        started = time.monotonic()
        execution.started_at = self._clock()
        try:
            session = await self._load_session(execution)
            event = with_session(payload, session)
            outcome = await self._attempts(execution, provider, target, event)
        except RetriesExhausted as exhausted:
            record_exhausted(execution, exhausted.failure)
        except (UpstreamUnreachable, CircuitOpen, TimeoutError) as unanswered:
            record_unanswered(execution, unanswered)
        except FnproxyError as refused:
            record_failure(execution, Status.FAILED, refused.code, refused.detail)
            refused.extra.setdefault("execution_id", execution.execution_id)
            await self._settle(execution, started)
            mark_recorded(refused)
            raise
        except Exception as error:  # a provider bug: record it, answer 500 without details
            logger.exception("provider %s failed on %s", execution.provider, execution.execution_id)
            record_failure(execution, Status.FAILED, "InternalError", type(error).__name__)
            await self._settle(execution, started)
            mark_recorded(error)
            raise
        else:
            await self._apply(execution, outcome)
            if session is not None and outcome.success:
                await self._store_session(execution, session, outcome.result)
        await self._settle(execution, started)
        return outcome.result if outcome is not None else None

    async def _attempts(
        self, execution: Execution, provider: Provider, target: Any, event: Any
    ) -> InvocationOutcome:
        trace = recorded_trace(execution)
        policy = self._limits.retry.overridden_by(execution.retry_policy)
        key = provider.function_key(target)
        deadline = time.monotonic() + execution.timeout_s
        retries = 0
        async with asyncio.timeout(execution.timeout_s):
            while True:
                try:
                    return await self._attempt(
                        execution, provider, target, event, key, deadline, trace.child()
                    )
                except TransientFailure as failure:
                    retries += 1
                    delay = policy.delay_before(retries, failure.retry_after_s)
                    if retries > policy.max_retries or time.monotonic() + delay >= deadline:
                        raise RetriesExhausted(failure) from failure
                    logger.info(
                        "retrying %s in %.3f s after: %s", execution.execution_id, delay, failure
                    )
                    self._metrics.retry(execution.function, execution.provider)
                    await asyncio.sleep(delay)

    async def _attempt(
        self,
        execution: Execution,
        provider: Provider,
        target: Any,
        event: Any,
        key: str,
        deadline: float,
        trace: TraceContext,
    ) -> InvocationOutcome:
        """One attempt within one of the target's slots, past its circuit breaker (which
        learns how it went); `CircuitOpen` when the breaker lets nothing through. `trace` is
        the attempt's own span, a child of the execution's, which the target gets."""
        async with self.targets.slot(key):
            self.breakers.admit(key)
            execution.attempts += 1
            context = CallContext(
                execution_id=execution.execution_id,
                caller=execution.caller,
                timeout_s=max(deadline - time.monotonic(), 0.001),
                attempt=execution.attempts,
                mode=execution.mode,
                invoke_scopes=execution.invoke_scopes,
                traceparent=trace.traceparent,
                tracestate=trace.state,
                client_context=execution.client_context,
            )
            try:
                outcome = await self._invoke(execution, provider, target, event, context, trace)
            except (TransientFailure, UpstreamUnreachable):
                self.breakers.failed(key)
                raise
            except BaseException:
                self.breakers.abandoned(key)
                raise
            self.breakers.succeeded(key)
            return outcome

    async def _invoke(
        self,
        execution: Execution,
        provider: Provider,
        target: Any,
        event: Any,
        context: CallContext,
        trace: TraceContext,
    ) -> InvocationOutcome:
        """The provider's answer to one attempt, which ends as a span when spans are on."""
        if self.spans is None:
            return await provider.invoke(target, event, context)
        started_ns = time.time_ns()
        outcome = None
        try:
            outcome = await provider.invoke(target, event, context)
            return outcome
        finally:
            self.spans.attempt(execution, trace, started_ns, outcome, sys.exc_info()[1])

    async def _load_session(self, execution: Execution) -> Session | None:
        if execution.session_id is None:
            return None
        return await self._sessions.get(execution.caller, execution.session_id)

    async def _store_session(self, execution: Execution, session: Session, result: Any) -> None:
        new_state = result.get("session") if isinstance(result, dict) else None
        if not isinstance(new_state, dict):
            return
        try:
            updated = await self._sessions.update(
                execution.caller, execution.session_id, session.version, new_state
            )
        except PreconditionFailed as conflict:
            execution.error = {"type": "SessionConflict", "message": conflict.detail}
            return
        execution.session_version = updated.version

    async def _apply(self, execution: Execution, outcome: InvocationOutcome) -> None:
        if outcome.settled:
            execution.status = Status.SUCCEEDED if outcome.success else Status.FAILED
        execution.success = outcome.success
        execution.status_code = outcome.status_code
        await self._archive.keep(execution, "result", outcome.result)
        await self._archive.keep(execution, "logs", outcome.logs)
        execution.error = outcome.error
        execution.provider_info = outcome.info

    async def _settle(self, execution: Execution, started: float) -> None:
        now = self._clock()
        execution.duration_ms = round((time.monotonic() - started) * 1000, 3)
        execution.updated_at = now
        if execution.status in Status.TERMINAL:
            execution.finished_at = now
            await self._recorder.finish(execution)
            if self.spans is not None:
                self.spans.invocation(execution)
        else:
            await self._recorder.save(execution)


def record_exhausted(execution: Execution, failure: TransientFailure) -> None:
    """Record a `TransientFailure` no retry overcame: a 429 is passed on as throttling (with
    its Retry-After), anything else as `UpstreamUnavailable`."""
    execution.status_code = failure.status_code
    if failure.status_code == 429:
        retry_after_s = failure.retry_after_s
        if retry_after_s is None:
            retry_after_s = THROTTLED_RETRY_AFTER_S
        details = {"retry_after_s": retry_after_s}
        record_failure(execution, Status.FAILED, "UpstreamThrottled", failure.reason, **details)
    else:
        record_failure(execution, Status.FAILED, "UpstreamUnavailable", failure.reason)


def record_unanswered(
    execution: Execution, error: UpstreamUnreachable | CircuitOpen | TimeoutError
) -> None:
    """Record why the function gave no answer: the connection was lost after sending, its
    circuit is open, or the deadline passed (`timed_out`). The API answers each as its problem
    (`core.api.routes.invoke.unreached`)."""
    if isinstance(error, TimeoutError):
        message = f"no answer within {execution.timeout_s:g} s"
        record_failure(execution, Status.TIMED_OUT, "Timeout", message)
    else:
        kind = type(error).__name__
        record_failure(execution, Status.FAILED, kind, error.detail, **error.extra)


def record_failure(
    execution: Execution, status: str, kind: str, message: str, **details: Any
) -> None:
    execution.status = status
    execution.success = False
    execution.error = {"type": kind, "message": message, **details}


_RECORDED = "_fnproxy_recorded"


def mark_recorded(error: BaseException) -> None:
    """Mark `error` as the outcome its execution's record holds (see `recorded`)."""
    setattr(error, _RECORDED, True)


def recorded(error: BaseException) -> bool:
    """True when `Runner.run` recorded `error` as its execution's outcome before raising it:
    the record tells it, nothing is left to redo. An error raised while recording (the store or
    the event bus failing) is never marked, whatever it carries (an `execution_id` too)."""
    return getattr(error, _RECORDED, False) is True


def with_session(payload: Any, session: Session | None) -> Any:
    """The event a function sees: the payload, plus the session's data as its `session` field."""
    if session is None:
        return payload
    if not isinstance(payload, dict):
        raise InvalidRequest("session_id needs a JSON object payload")
    return {**payload, "session": session.data}
