"""Backoff, size caps and latency percentiles."""

from __future__ import annotations

import random

from core import histogram
from core.invoke.payloads import TRUNCATION_MARK, cap, fingerprint
from core.invoke.retry import RetryPolicy


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    policy = RetryPolicy(max_retries=10, base_delay_s=0.1, max_delay_s=1.0)
    random.seed(7)
    for retry, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        delays = [policy.delay_before(retry) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # jitter spreads over the whole range
        assert len(set(delays)) > 100


def test_retry_after_is_a_floor():
    policy = RetryPolicy(max_retries=3, base_delay_s=0.01, max_delay_s=0.05)
    assert all(policy.delay_before(1, retry_after_s=2.0) == 2.0 for _ in range(20))


def test_cap_keeps_small_values_and_cuts_large_ones_to_the_limit():
    assert cap({"a": 1}, 100) == ({"a": 1}, False)
    assert cap(None, 1) == (None, False)
    stored, truncated = cap({"blob": "x" * 500}, 100)
    assert truncated and stored.endswith(TRUNCATION_MARK) and len(stored.encode()) <= 100
    text, truncated = cap("é" * 100, 51)
    assert truncated and len(text.encode()) <= 51  # never splits a character


def test_fingerprint_is_stable_under_key_order_and_tells_requests_apart():
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_percentiles_come_back_within_the_slot_error():
    samples = [float(ms) for ms in range(1, 1001)]  # 1..1000 ms, p50=500, p99=990
    counts = histogram.empty()
    for duration in samples:
        counts[histogram.slot_for(duration)] += 1
    for fraction, exact in [(0.5, 500), (0.95, 950), (0.99, 990)]:
        estimate = histogram.percentile(counts, fraction)
        assert abs(estimate - exact) / exact < 0.125


def test_merged_histograms_add_up_and_an_empty_one_has_no_percentile():
    merged = histogram.merge([[1] * histogram.SLOT_COUNT, [2] * histogram.SLOT_COUNT])
    assert merged == [3] * histogram.SLOT_COUNT
    assert histogram.percentile(histogram.empty(), 0.5) is None
    assert histogram.slot_for(10**9) == histogram.SLOT_COUNT - 1
