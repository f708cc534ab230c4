"""Per-caller rate limits of registered functions, counted in the store in fixed windows so
that they hold across every instance serving fnproxy at once."""

from __future__ import annotations

import time
from collections.abc import Callable

from core.errors import RateLimited
from core.registry.policy import RateLimit
from core.store.base import RateLimitRepository

COUNTER_GRACE_S = 60
"""How long a window's counter outlives its window before the store may delete it."""


class RateLimiter:
    def __init__(
        self, counters: RateLimitRepository, clock: Callable[[], float] = time.time
    ) -> None:
        self._counters = counters
        self._clock = clock

    async def admit(self, function: str, caller: str, limit: RateLimit) -> None:
        """Count one invocation of `function` by `caller`; `RateLimited` (429, with the seconds
        until the window ends as Retry-After) when the window is full."""
        now = self._clock()
        window_start = int(now // limit.per_s) * limit.per_s
        window_end = window_start + limit.per_s
        counted = await self._counters.hit(
            f"{function}|{caller}", window_start, limit.requests, window_end + COUNTER_GRACE_S
        )
        if not counted:
            raise RateLimited(
                f"rate limit of {limit.requests} invocations per {limit.per_s} s reached "
                f"for {function!r}",
                function=function,
                retry_after_s=window_end - now,
            )
