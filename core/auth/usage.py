"""Usage: how often and how lately each client's tokens (or each function's API key) were
used, recorded cheaply.

Each instance counts uses in memory and writes a credential's count (the store's atomic add,
with the time of its latest use) at most once a minute per credential: the first use at once,
later ones with the next use after the minute. Uses an instance counted since its last write are
lost when it stops, so `uses` and `last_used_at` may lag behind by up to a minute of one
instance's use."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from core.errors import ServiceUnavailable

logger = logging.getLogger("fnproxy.auth")

FLUSH_EVERY_S = 60.0

K = TypeVar("K", bound=Hashable)


@dataclass
class _Pending:
    uses: int = 0
    last_used_at: float = 0.0
    flushed_at: float = -math.inf


class UsageCounter(Generic[K]):
    def __init__(
        self,
        record: Callable[[K, int, float], Awaitable[bool]],
        clock: Callable[[], float],
        every_s: float = FLUSH_EVERY_S,
    ) -> None:
        """`record(credential, uses, last_used_at)` adds the uses in the store (the
        repository's `record_use`); False when the credential is gone."""
        self._record = record
        self._clock = clock
        self._every_s = every_s
        self._pending: dict[K, _Pending] = {}

    async def used(self, credential: K) -> None:
        """Count one use; write the credential's count when its last write is a minute old. A
        failed write keeps the count for the next one."""
        now = self._clock()
        pending = self._pending.setdefault(credential, _Pending())
        pending.uses += 1
        pending.last_used_at = now
        if now - pending.flushed_at < self._every_s:
            return
        uses, pending.uses, pending.flushed_at = pending.uses, 0, now  # before the await
        try:
            if not await self._record(credential, uses, pending.last_used_at):
                del self._pending[credential]  # the credential is gone
        except ServiceUnavailable as error:
            pending.uses += uses
            logger.warning("usage of %s not recorded (kept for later): %s", credential, error)
