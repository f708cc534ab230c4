"""The stats series: steps of invocations, failures and percentiles read from the rollups a
real SQLite store keeps, the outcomes counted into chosen buckets as the recorder counts them
(`settle_announcement`)."""

from __future__ import annotations

import math

import pytest

from core import histogram
from core.auth.principal import Principal
from core.errors import Forbidden, InvalidRequest
from core.history.service import MAX_BUCKETS, HistoryService
from core.models import Status
from core.store.base import StatsCount
from core.store.sqlite import SqliteStore
from tests.contract.test_store_contract import make_execution

BUCKET = 3600
NOW = 1_800_000_000.0 + 30
"""Half a minute into a bucket (1_800_000_000 is a whole hour)."""
READER = Principal(subject="client:r", scopes=frozenset({"read"}), token_id="t")


@pytest.fixture
async def store(tmp_path):
    backend = SqliteStore(tmp_path / "store.db")
    yield backend
    await backend.close()


@pytest.fixture
def history(store) -> HistoryService:
    return HistoryService(store.executions, store.stats, BUCKET, clock=lambda: NOW)


async def count(store, function: str, bucket: int, success: bool, duration_ms: float) -> None:
    execution = make_execution(
        function=function,
        status=Status.SUCCEEDED if success else Status.FAILED,
        success=success,
        duration_ms=duration_ms,
        announcement_pending=True,
    )
    await store.executions.save(execution)
    slot = histogram.slot_for(duration_ms)
    tally = StatsCount(function, bucket, success, duration_ms, slot)
    assert await store.executions.settle_announcement(execution.execution_id, tally)


def hour(n: int) -> int:
    """The start of the bucket `n` hours before the current one."""
    return int(NOW // BUCKET * BUCKET) - n * BUCKET


async def test_each_step_counts_its_buckets_and_empty_steps_are_listed(store, history):
    await count(store, "a", hour(3), True, 10.0)
    await count(store, "a", hour(3), False, 1000.0)
    await count(store, "b", hour(3), True, 10.0)
    await count(store, "a", hour(0), True, 100.0)

    series = await history.series(READER, function="a", since=hour(4) + 1, until=None, step=BUCKET)
    assert series["since"] == hour(4) and series["until"] == NOW and series["step_s"] == BUCKET
    points = series["buckets"]
    assert [p["start"] for p in points] == [hour(n) for n in (4, 3, 2, 1, 0)]
    assert [p["invocations"] for p in points] == [0, 2, 0, 0, 1]
    assert [p["failures"] for p in points] == [0, 1, 0, 0, 0]
    assert points[0]["p50_ms"] is None
    assert points[1]["p50_ms"] < points[1]["p99_ms"] and points[1]["p99_ms"] > 800
    assert 80 < points[4]["p50_ms"] < 120

    every = await history.series(READER, function=None, since=hour(4), until=None, step=BUCKET)
    assert [p["invocations"] for p in every["buckets"]] == [0, 3, 0, 0, 1]


async def test_a_step_of_several_buckets_sums_them_from_a_whole_step(store, history):
    await count(store, "a", hour(5), True, 10.0)
    await count(store, "a", hour(4), True, 10.0)
    await count(store, "a", hour(1), False, 10.0)
    step = 2 * BUCKET
    series = await history.series(READER, function="a", since=hour(5), until=None, step=step)
    starts = [p["start"] for p in series["buckets"]]
    assert all(start % step == 0 for start in starts) and starts[0] <= hour(5)
    assert sum(p["invocations"] for p in series["buckets"]) == 3
    assert sum(p["failures"] for p in series["buckets"]) == 1


async def test_until_ends_the_series_and_a_future_until_is_now(store, history):
    await count(store, "a", hour(0), True, 10.0)
    past = await history.series(READER, function="a", since=hour(3), until=hour(1), step=BUCKET)
    assert [p["start"] for p in past["buckets"]] == [hour(3), hour(2)]
    future = await history.series(
        READER, function="a", since=hour(1), until=NOW + 9 * BUCKET, step=BUCKET
    )
    assert future["until"] == NOW and future["buckets"][-1]["invocations"] == 1


async def test_a_span_longer_than_one_read_is_shortened_from_its_start(history):
    series = await history.series(
        READER, function=None, since=hour(MAX_BUCKETS + 5), until=None, step=2 * BUCKET
    )
    assert NOW - series["since"] <= MAX_BUCKETS * BUCKET
    assert len(series["buckets"]) == math.ceil((NOW - series["since"]) / (2 * BUCKET))


async def test_a_since_after_until_counts_from_until(history):
    series = await history.series(READER, function=None, since=hour(1), until=hour(2), step=BUCKET)
    assert series["since"] <= hour(2) and len(series["buckets"]) <= 1


@pytest.mark.parametrize(
    ("since", "until", "step"),
    [
        (hour(2), None, BUCKET + 1),  # not a whole number of buckets
        (hour(2), None, BUCKET * (MAX_BUCKETS + 1)),  # one step more than a read may take
    ],
)
async def test_unanswerable_series_are_refused(history, since, until, step):
    with pytest.raises(InvalidRequest):
        await history.series(READER, function=None, since=since, until=until, step=step)


async def test_a_series_needs_the_read_scope(history):
    invoker = Principal(subject="client:i", scopes=frozenset({"invoke"}), token_id="t")
    with pytest.raises(Forbidden):
        await history.series(invoker, function=None, since=None, until=None, step=BUCKET)
