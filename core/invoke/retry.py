"""Retrying: exponential backoff with full jitter for calls to functions, honouring a target's
Retry-After; a few quick attempts for the writes that record what happened (store, bus)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

logger = logging.getLogger("fnproxy.retry")

T = TypeVar("T")
WRITE_ATTEMPTS = 3
WRITE_RETRY_DELAY_S = 0.05


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int
    base_delay_s: float
    max_delay_s: float

    def overridden_by(self, override: dict[str, Any] | None) -> RetryPolicy:
        """This policy with a registered function's own `max_retries` / `base_delay_s`."""
        return replace(self, **override) if override else self

    def delay_before(self, retry: int, retry_after_s: float | None = None) -> float:
        """Seconds to wait before retry number `retry` (1-based): a random delay up to
        base * 2^(retry-1), capped, and never shorter than the target's Retry-After."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (retry - 1))
        jittered = random.uniform(0, ceiling)
        return max(jittered, retry_after_s or 0.0)


async def retry_write(
    operation: Callable[[], Awaitable[T]],
    what: str,
    failed: Callable[[str], None] | None = None,
) -> T:
    """Run a store or bus write, again after a short pause when it fails, WRITE_ATTEMPTS times
    in all; then raise, naming `what`. `failed(what)` is told of each failed attempt."""
    attempt = 1
    while True:
        try:
            return await operation()
        except Exception as error:
            if failed is not None:
                failed(what)
            if attempt >= WRITE_ATTEMPTS:
                raise RuntimeError(f"{what} failed {WRITE_ATTEMPTS} times: {error}") from error
            logger.warning("%s failed (attempt %d): %s", what, attempt, error)
            await asyncio.sleep(WRITE_RETRY_DELAY_S * attempt)
            attempt += 1
