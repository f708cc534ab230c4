"""Client usage: how often and how lately each client's tokens were used, recorded cheaply.

Each instance counts uses in memory and writes a client's count (the store's atomic add, with
the time of its latest use) at most once a minute per client: the first use at once, later ones
with the next use after the minute. Uses an instance counted since its last write are lost when
it stops, so `uses` and `last_used_at` may lag behind by up to a minute of one instance's use."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import ServiceUnavailable
from core.store.base import ClientRepository

logger = logging.getLogger("fnproxy.auth")

FLUSH_EVERY_S = 60.0


@dataclass
class _Pending:
    uses: int = 0
    last_used_at: float = 0.0
    flushed_at: float = -math.inf


class UsageCounter:
    def __init__(
        self, repo: ClientRepository, clock: Callable[[], float], every_s: float = FLUSH_EVERY_S
    ) -> None:
        self._repo = repo
        self._clock = clock
        self._every_s = every_s
        self._pending: dict[str, _Pending] = {}

    async def used(self, client_id: str) -> None:
        """Count one use; write the client's count when its last write is a minute old. A
        failed write keeps the count for the next one."""
        now = self._clock()
        pending = self._pending.setdefault(client_id, _Pending())
        pending.uses += 1
        pending.last_used_at = now
        if now - pending.flushed_at < self._every_s:
            return
        uses, pending.uses, pending.flushed_at = pending.uses, 0, now  # before the await
        try:
            if not await self._repo.record_use(client_id, uses, pending.last_used_at):
                del self._pending[client_id]  # the client is gone
        except ServiceUnavailable as error:
            pending.uses += uses
            logger.warning("usage of client %s not recorded (kept for later): %s", client_id, error)
