"""Health: each port answers a ping within a short timeout. The pings run at most once per
window however many callers ask (a probe every second, or a crowd of anonymous callers, costs
the backends one ping each per window); callers that come while they run share them.

The embedded store's ping is its least write (core/store/sqlite.py), so a store that reads but
cannot write (a lock another process holds, a full disk, a read-only file) is reported, and
the first round after it can write again is ok: a failure is kept no longer than the window."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

CHECK_TIMEOUT_S = 2.0

Ping = Callable[[], Awaitable[None]]


async def check(ping: Ping) -> str:
    """ "ok", "timeout" or "error: <kind>" for one port's ping (never raises)."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await ping()
    except TimeoutError:
        return "timeout"
    except Exception as error:  # noqa: BLE001 - report, never raise: health must answer
        return f"error: {type(error).__name__}"
    return "ok"


class HealthChecks:
    def __init__(
        self,
        pings: Mapping[str, Ping],
        cache_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pings = dict(pings)
        self._cache_s = cache_s
        self._clock = clock
        self._latest: asyncio.Task[dict[str, str]] | None = None
        self._expires_at = 0.0

    async def results(self) -> dict[str, str]:
        """`check` of every port, by name: the latest results while they are younger than the
        cache window, else a new round of pings (one round, whoever else is waiting for it)."""
        latest = self._latest
        if (
            latest is None
            or self._clock() >= self._expires_at
            or latest.get_loop() is not asyncio.get_running_loop()
        ):
            latest = self._latest = asyncio.ensure_future(self._ping_all())
            self._expires_at = self._clock() + self._cache_s
        return dict(await asyncio.shield(latest))

    async def _ping_all(self) -> dict[str, str]:
        results = await asyncio.gather(*(check(ping) for ping in self._pings.values()))
        return dict(zip(self._pings, results, strict=True))
