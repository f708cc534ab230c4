"""POSTs a finished execution's record to its callback URL, retrying transient failures.

The POST goes through the http provider, so the callback URL passes the egress policy (a refusal
is final: never retried). `check_callback_url` refuses at request time what the policy would
refuse by name or scheme. Each attempt carries the execution's trace (`traceparent`, a span of
its own), as a target's call does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from core.errors import FnproxyError
from core.invoke.archive import Archive
from core.invoke.retry import RetryPolicy
from core.models import Execution
from core.providers.base import CallContext, TransientFailure
from core.providers.registry import ProviderRegistry
from core.targets import HttpTarget
from core.tracing import recorded_trace

logger = logging.getLogger("fnproxy.callbacks")
CALLBACK_TIMEOUT_S = 10.0


class CallbackSender:
    """Reuses the http provider's pooled client; the record is the callback's JSON body, as
    its caller reads it (`Archive.shown`): an archived part inline up to
    BLOBS_READ_INLINE_BYTES, else a signed URL (the callback URL is the caller's choice)."""

    def __init__(self, providers: ProviderRegistry, retry: RetryPolicy, archive: Archive) -> None:
        self._providers = providers
        self._retry = retry
        self._archive = archive

    async def send(self, execution: Execution) -> dict[str, Any]:
        try:
            target = HttpTarget(provider="http", url=execution.callback_url or "", method="POST")
        except (ValueError, FnproxyError) as unusable:  # pydantic's ValidationError included
            logger.error("callback for %s unusable: %s", execution.execution_id, unusable)
            return {"delivered": False, "error": "invalid_callback_url", "attempts": 0}
        body = await self._archive.shown(execution)
        trace = recorded_trace(execution)
        attempt = 0
        while True:
            attempt += 1
            sent = trace.child()
            context = CallContext(
                execution.execution_id,
                execution.caller,
                CALLBACK_TIMEOUT_S,
                attempt,
                traceparent=sent.traceparent,
                tracestate=sent.state,
            )
            try:
                async with asyncio.timeout(CALLBACK_TIMEOUT_S):
                    outcome = await self._providers.get("http").invoke(target, body, context)
            except (TransientFailure, TimeoutError) as failure:
                if attempt > self._retry.max_retries:
                    logger.error("callback for %s failed: %s", execution.execution_id, failure)
                    return {
                        "delivered": False,
                        "error": str(failure) or "timeout",
                        "attempts": attempt,
                    }
                retry_after = getattr(failure, "retry_after_s", None)
                await asyncio.sleep(self._retry.delay_before(attempt, retry_after))
                continue
            except FnproxyError as refused:  # the egress policy, a too large answer, ...
                logger.error("callback for %s refused: %s", execution.execution_id, refused)
                return {"delivered": False, "error": refused.code, "attempts": attempt}
            return {
                "delivered": outcome.success,
                "status_code": outcome.status_code,
                "attempts": attempt,
            }


class CallbackTasks:
    """Callbacks sent in tasks of their own, so that a slow or failing callback URL (retried
    with backoff) holds no worker slot; one at a time per execution (the outbox sweep may find
    one still being sent). A graceful stop gives them a bounded time to finish; the rest stay
    owed in their records (`callback_result` None), for the outbox sweep after the next start."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def submit(
        self, key: str, send: Callable[[Execution], Awaitable[None]], execution: Execution
    ) -> None:
        """Start `send(execution)` in a task, unless the callback of `key` is being sent."""
        if key in self._tasks:
            return
        task = asyncio.create_task(self._logged(send(execution)))
        self._tasks[key] = task
        task.add_done_callback(lambda _: self._tasks.pop(key, None))

    async def finish(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for the callbacks being sent, then cancel the rest."""
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        for task in tasks:
            if not task.done():
                task.cancel()
                logger.warning("a callback was still being sent at the stop: left owed")
        await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    async def _logged(sending: Coroutine[Any, Any, None]) -> None:
        try:
            await sending
        except Exception:
            logger.exception("could not record a callback's result")


def check_callback_url(providers: ProviderRegistry, url: str) -> None:
    """At request time: refuse a callback URL the http provider's egress policy refuses by name
    or scheme (https on the cloud platforms)."""
    providers.get("http").check_callback_url(url)
