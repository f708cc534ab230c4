"""Percentiles where the rank falls on the last sample counted: a single sample, and the
slowest of a few. Every estimate must be the slot of that sample, never the open last slot."""

from __future__ import annotations

import pytest

from core import histogram

SLOT_ERROR = 0.125
"""How far a slot's middle may be from any duration in the slot (GROWTH 1.25: about 12%)."""


def counted(*durations_ms: float) -> list[int]:
    counts = histogram.empty()
    for duration in durations_ms:
        counts[histogram.slot_for(duration)] += 1
    return counts


def near(estimate: float | None, exact: float) -> bool:
    return estimate is not None and abs(estimate - exact) / exact < SLOT_ERROR


@pytest.mark.parametrize("duration_ms", [0.2, 10.0, 2500.0])
def test_one_sample_is_every_percentile(duration_ms: float) -> None:
    counts = counted(duration_ms)
    estimates = {histogram.percentile(counts, f) for f in (0.0, 0.01, 0.5, 0.95, 0.99, 1.0)}
    assert len(estimates) == 1
    estimate = estimates.pop()
    assert estimate is not None and estimate <= 2 * duration_ms  # the sample's slot
    if duration_ms >= histogram.FIRST_BOUND_MS:
        assert near(estimate, duration_ms)


def test_a_rank_on_the_last_sample_is_that_sample() -> None:
    counts = counted(1.0, 100.0)  # p50 is rank 1 (1 ms); p99 and p100 are rank 2, the last
    assert near(histogram.percentile(counts, 0.5), 1.0)
    assert near(histogram.percentile(counts, 0.99), 100.0)
    assert near(histogram.percentile(counts, 1.0), 100.0)


def test_the_slowest_of_many_is_p100_and_p99_stays_below_it() -> None:
    counts = counted(*([5.0] * 99), 400.0)  # p99 is rank 99 (5 ms), p100 rank 100 (400 ms)
    assert near(histogram.percentile(counts, 0.99), 5.0)
    assert near(histogram.percentile(counts, 1.0), 400.0)
