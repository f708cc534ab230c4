"""A fixed, log-spaced latency histogram: rollups add one count to a slot at write time, and
percentiles are read back from the summed slots without touching history."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

GROWTH = 1.25
FIRST_BOUND_MS = 0.5
SLOT_COUNT = 64
# Upper bounds (ms) of every slot but the last, which holds everything slower.
UPPER_BOUNDS_MS: tuple[float, ...] = tuple(
    FIRST_BOUND_MS * GROWTH**i for i in range(SLOT_COUNT - 1)
)


def slot_for(duration_ms: float) -> int:
    return bisect.bisect_left(UPPER_BOUNDS_MS, duration_ms)


def empty() -> list[int]:
    return [0] * SLOT_COUNT


def merge(histograms: Sequence[Sequence[int]]) -> list[int]:
    total = empty()
    for histogram in histograms:
        for slot, count in enumerate(histogram):
            total[slot] += count
    return total


def percentile(histogram: Sequence[int], fraction: float) -> float | None:
    """The estimated `fraction` quantile in ms: the geometric middle of the slot it falls in
    (within 12% of the true value for slots below the last)."""
    total = sum(histogram)
    if total == 0:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for slot, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            return _slot_middle(slot)
    return _slot_middle(len(histogram) - 1)


def _slot_middle(slot: int) -> float:
    if slot == 0:
        return FIRST_BOUND_MS / 2
    lower = UPPER_BOUNDS_MS[slot - 1]
    upper = UPPER_BOUNDS_MS[slot] if slot < len(UPPER_BOUNDS_MS) else lower * GROWTH
    return round(math.sqrt(lower * upper), 3)
