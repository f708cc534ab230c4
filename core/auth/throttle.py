"""Throttling of failed token requests (and of Basic and SigV4 authentication, which check the
same secrets), so that client secrets and the module key cannot be guessed at speed.

Each attempt names the identities it is counted under: the client id it claims (api-key
attempts have none) and its source address. Failures are counted per identity in fixed windows
of the store's rate-limit counters, so the limit holds across every instance serving fnproxy.
An identity with `max_failures` failures in the current window is refused with 429 (and the
seconds until the window ends as Retry-After) before its secret is even looked at: a correct
secret is refused too until the window ends, otherwise guessing would go on.

The source address is the ASGI client address and nothing else: the local server's peer, or on
AWS the caller's address that API Gateway reports and Mangum puts there. `X-Forwarded-For` and
its kin are never read, since any caller can write them. Concurrent attempts that pass the check
together are all checked, so a burst may try a few more secrets than the limit in one window.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from core.errors import FnproxyError, RateLimited, Unauthorized
from core.store.base import RateLimitRepository

KEY_PREFIX = "token:"
"""Counter keys of this module; a registered function's keys (`<name>|<caller>`) never hold a
colon before their first `|`, so the two never meet."""
COUNTER_GRACE_S = 60
"""How long a window's counter outlives its window before the store may delete it."""


class TooManyFailures(RateLimited):
    """An identity's failures used up for the window (the code stays `rate_limited`)."""


def client_identity(client_id: str) -> str:
    return f"client:{client_id}"


def address_identity(address: str) -> str:
    return f"address:{address}"


class TokenThrottle:
    def __init__(
        self,
        counters: RateLimitRepository,
        max_failures: int,
        window_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._counters = counters
        self._max_failures = max_failures
        self._window_s = window_s
        self._clock = clock

    @asynccontextmanager
    async def attempt(
        self, *identities: str, counted: tuple[type[FnproxyError], ...] = (Unauthorized,)
    ) -> AsyncIterator[None]:
        """Refuse the attempt (`TooManyFailures`) when any identity has used up its failures
        in this window; count an error of the `counted` types raised inside against every
        identity."""
        window_start, window_end = self._window()
        keys = [KEY_PREFIX + identity for identity in identities]
        failures = await asyncio.gather(*(self._counters.count(key, window_start) for key in keys))
        if max(failures, default=0) >= self._max_failures:
            wait_s = window_end - self._clock()
            raise TooManyFailures(
                f"too many failed authentication attempts; try again in {math.ceil(wait_s)} s",
                retry_after_s=wait_s,
            )
        try:
            yield
        except counted:
            expires_at = window_end + COUNTER_GRACE_S
            await asyncio.gather(
                *(self._counters.hit(k, window_start, self._max_failures, expires_at) for k in keys)
            )
            raise

    def _window(self) -> tuple[int, int]:
        start = int(self._clock() // self._window_s) * self._window_s
        return start, start + self._window_s
