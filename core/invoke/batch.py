"""Batches: every invocation in flight up to `concurrency` (capped by MAX_BATCH_SIZE), results
in request order. One item's failure is that item's answer, never the whole batch's."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from core.auth.principal import Principal
from core.errors import FnproxyError, InvalidRequest, ValidationFailed
from core.invoke.service import Invocation, InvocationRequest, InvocationService
from core.models import Mode


@dataclass(frozen=True)
class BatchItemResult:
    invocation: Invocation | None = None
    error: FnproxyError | None = None

    @property
    def success(self) -> bool:
        """Ran and succeeded, or (async) was accepted."""
        if self.invocation is None:
            return False
        execution = self.invocation.execution
        return bool(execution.success) or execution.mode == Mode.ASYNC


class BatchService:
    def __init__(self, invocations: InvocationService, max_batch_size: int) -> None:
        self._invocations = invocations
        self._max_batch_size = max_batch_size

    async def invoke_all(
        self, requests: list[InvocationRequest], principal: Principal, concurrency: int | None
    ) -> list[BatchItemResult]:
        if not requests:
            raise InvalidRequest("a batch needs at least one invocation")
        if len(requests) > self._max_batch_size:
            raise ValidationFailed(
                f"a batch holds at most {self._max_batch_size} invocations (MAX_BATCH_SIZE), "
                f"got {len(requests)}"
            )
        in_flight = asyncio.Semaphore(
            min(concurrency or self._max_batch_size, self._max_batch_size)
        )

        async def run(request: InvocationRequest) -> BatchItemResult:
            async with in_flight:
                try:
                    return BatchItemResult(
                        invocation=await self._invocations.invoke(request, principal)
                    )
                except FnproxyError as error:
                    return BatchItemResult(error=error)

        return list(await asyncio.gather(*(run(request) for request in requests)))
