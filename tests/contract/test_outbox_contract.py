"""The outbox in the execution record: every backend of the store port passes these unchanged
(the `store` fixture of conftest.py supplies each in turn).

An ended execution is saved with `announcement_pending`; `settle_announcement` adds its stats
count and clears the flag in one atomic step, once. `list_outbox` pages through the ended
executions that still owe their announcement or their callback, and no others.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from core import histogram
from core.models import Execution, Status
from core.store.base import ALL_TIME, StatsCount, Store
from tests.contract.paging import every_id
from tests.contract.test_store_contract import make_execution

BUCKET = 1_700_000_000


def ended(**changes: Any) -> Execution:
    """A succeeded execution saved with its announcement pending, last updated a minute ago."""
    fields: dict[str, Any] = {
        "status": Status.SUCCEEDED,
        "success": True,
        "duration_ms": 12.0,
        "announcement_pending": True,
        "updated_at": time.time() - 60,
    }
    return make_execution(**{**fields, **changes})


def count_of(execution: Execution) -> StatsCount:
    duration = execution.duration_ms or 0.0
    slot = histogram.slot_for(duration)
    return StatsCount(execution.function, BUCKET, bool(execution.success), duration, slot)


async def stored(store: Store, *executions: Execution) -> None:
    for execution in executions:
        await store.executions.save(execution)


async def outbox_ids(store: Store, updated_before: float, limit: int = 2) -> list[str]:
    """Every id list_outbox yields, following cursors to the end (bounded)."""
    return await every_id(
        lambda size, cursor: store.executions.list_outbox(updated_before, size, cursor), limit
    )


async def test_settle_counts_once_and_clears_the_flag(store: Store) -> None:
    execution = ended()
    await stored(store, execution)

    assert await store.executions.settle_announcement(execution.execution_id, count_of(execution))
    again = await store.executions.settle_announcement(execution.execution_id, count_of(execution))

    assert again is False
    [rollup] = await store.stats.read([BUCKET], function="echo")
    assert (rollup.count, rollup.successes, rollup.failures) == (1, 1, 0)
    assert rollup.histogram[histogram.slot_for(12.0)] == 1
    settled = await store.executions.get(execution.execution_id)
    assert settled is not None and not settled.announcement_pending
    assert settled.status == Status.SUCCEEDED and settled.result == execution.result


async def test_settle_counts_into_the_all_time_rollup_too(store: Store) -> None:
    first, later = ended(), ended(success=False, status=Status.FAILED)
    await stored(store, first, later)

    await store.executions.settle_announcement(first.execution_id, count_of(first))
    later_count = replace(count_of(later), bucket_start=BUCKET + 3600)
    await store.executions.settle_announcement(later.execution_id, later_count)

    [all_time] = await store.stats.read([ALL_TIME])  # every function's: only echo's
    assert (all_time.function, all_time.bucket_start) == ("echo", ALL_TIME)
    assert (all_time.count, all_time.successes, all_time.failures) == (2, 1, 1)
    assert all_time.histogram[histogram.slot_for(12.0)] == 2
    buckets = await store.stats.read([BUCKET, BUCKET + 3600], function="echo")
    assert [(rollup.bucket_start, rollup.count) for rollup in buckets] == [
        (BUCKET, 1),
        (BUCKET + 3600, 1),
    ]


async def test_concurrent_settles_count_once(store: Store) -> None:
    execution = ended(success=False, status=Status.FAILED)
    await stored(store, execution)

    settles = [
        store.executions.settle_announcement(execution.execution_id, count_of(execution))
        for _ in range(4)
    ]
    results = await asyncio.gather(*settles)

    assert sorted(results) == [False, False, False, True]
    [rollup] = await store.stats.read([BUCKET], function="echo")
    assert (rollup.count, rollup.successes, rollup.failures) == (1, 0, 1)
    [all_time] = await store.stats.read([ALL_TIME], function="echo")
    assert all_time.count == 1


async def test_settle_of_an_announced_or_missing_execution_counts_nothing(store: Store) -> None:
    announced = ended(announcement_pending=False)
    await stored(store, announced)

    assert not await store.executions.settle_announcement(
        announced.execution_id, count_of(announced)
    )
    assert not await store.executions.settle_announcement("0" * 32, count_of(announced))
    assert await store.stats.read([BUCKET], function="echo") == []


async def test_outbox_pages_through_every_pending_record_oldest_first(store: Store) -> None:
    pending = [ended() for _ in range(5)]
    owed_callback = ended(announcement_pending=False, callback_url="https://hooks.example/a")
    await stored(store, *pending, owed_callback)

    ids = await outbox_ids(store, time.time())

    expected = sorted(e.execution_id for e in [*pending, owed_callback])
    assert ids == expected


async def test_outbox_leaves_out_what_is_settled_young_or_not_ended(store: Store) -> None:
    settled = ended()
    called_back = ended(
        announcement_pending=False,
        callback_url="https://hooks.example/b",
        callback_result={"delivered": True, "status_code": 200, "attempts": 1},
    )
    young = ended(updated_at=time.time())
    running = make_execution(status=Status.RUNNING, announcement_pending=True)
    kept = ended()
    await stored(store, settled, called_back, young, running, kept)
    await store.executions.settle_announcement(settled.execution_id, count_of(settled))

    assert await outbox_ids(store, time.time() - 10) == [kept.execution_id]


async def test_a_settled_record_owing_its_callback_stays_until_the_callback_result(
    store: Store,
) -> None:
    execution = ended(callback_url="https://hooks.example/c")
    await stored(store, execution)
    await store.executions.settle_announcement(execution.execution_id, count_of(execution))

    [owed] = (await store.executions.list_outbox(time.time(), 10)).items
    assert owed.execution_id == execution.execution_id
    assert not owed.announcement_pending and owed.callback_pending

    owed.callback_result = {"delivered": True, "status_code": 200, "attempts": 1}
    await store.executions.save(owed)
    assert await outbox_ids(store, time.time()) == []
