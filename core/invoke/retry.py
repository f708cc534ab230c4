"""Exponential backoff with full jitter, honouring a target's Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int
    base_delay_s: float
    max_delay_s: float

    def delay_before(self, retry: int, retry_after_s: float | None = None) -> float:
        """Seconds to wait before retry number `retry` (1-based): a random delay up to
        base * 2^(retry-1), capped, and never shorter than the target's Retry-After."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (retry - 1))
        jittered = random.uniform(0, ceiling)
        return max(jittered, retry_after_s or 0.0)
