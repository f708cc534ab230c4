"""Execution leases and idempotency leases: every backend of the store port passes these
unchanged (the `store` fixture of conftest.py supplies each in turn).

A runner claims an execution under a lease (owner, end), renews it while the function runs and
saves the outcome only while it still holds it; only an expired lease lets another runner take
the execution over. An idempotency claim is short-lived until `extend` makes it last.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest

from core.errors import CursorNotFound, InvalidRequest
from core.models import Execution, Status, new_id
from core.store.base import Store
from tests.contract.paging import every_id
from tests.contract.test_store_contract import HOUR, make_claim, make_execution

LEASE_S = 30.0
DAY_S = 86400.0


async def queued(store: Store, **changes: Any) -> Execution:
    execution = make_execution(mode="async", **changes)
    await store.executions.add(execution)
    return execution


async def leased(store: Store, owner: str, lease_until: float, **changes: Any) -> Execution:
    """A running execution under (owner, lease_until), as a claim made it."""
    execution = await queued(store, **changes)
    now = min(time.time(), lease_until - 1)
    taken = await store.executions.claim(execution.execution_id, owner, lease_until, now)
    assert taken is not None
    return taken


def id_at(epoch: float) -> str:
    """An execution id whose clock says `epoch` (the form of core.models.new_id)."""
    return f"{int(epoch * 1000):012x}{random.getrandbits(80):020x}"


async def runnable_ids(store: Store, now: float, limit: int = 2) -> list[str]:
    """Every id list_runnable yields at `now`, following cursors to the end (bounded)."""
    return await every_id(
        lambda size, cursor: store.executions.list_runnable(now, size, cursor), limit
    )


# --- claim --------------------------------------------------------------------------------


async def test_claim_of_a_queued_execution_makes_it_running_under_the_lease(
    store: Store,
) -> None:
    execution = await queued(store)
    now = time.time()

    taken = await store.executions.claim(execution.execution_id, "runner-a", now + LEASE_S, now)

    assert taken is not None
    assert (taken.status, taken.lease_owner, taken.lease_until) == (
        Status.RUNNING,
        "runner-a",
        now + LEASE_S,
    )
    assert (taken.lease_takeovers, taken.updated_at, taken.payload) == (0, now, execution.payload)
    assert await store.executions.get(execution.execution_id) == taken


async def test_concurrent_claims_of_a_queued_execution_let_exactly_one_win(store: Store) -> None:
    execution = await queued(store)
    now = time.time()
    owners = [f"runner-{n}" for n in range(10)]

    taken = await asyncio.gather(
        *(
            store.executions.claim(execution.execution_id, owner, now + LEASE_S, now)
            for owner in owners
        )
    )

    winners = [record for record in taken if record is not None]
    assert len(winners) == 1
    assert winners[0].lease_owner == owners[taken.index(winners[0])]
    assert await store.executions.get(execution.execution_id) == winners[0]


async def test_claim_of_a_live_lease_fails_and_changes_nothing(store: Store) -> None:
    now = time.time()
    held = await leased(store, "runner-a", now + LEASE_S)

    assert await store.executions.claim(held.execution_id, "runner-b", now + 60, now) is None
    assert await store.executions.claim(held.execution_id, "runner-a", now + 60, now) is None
    assert await store.executions.get(held.execution_id) == held


async def test_claim_of_an_expired_lease_takes_it_over_and_counts_the_takeover(
    store: Store,
) -> None:
    start = time.time()
    held = await leased(store, "runner-a", start + LEASE_S)
    later = start + LEASE_S + 1

    taken = await store.executions.claim(held.execution_id, "runner-b", later + LEASE_S, later)

    assert taken is not None
    assert (taken.lease_owner, taken.lease_until, taken.lease_takeovers) == (
        "runner-b",
        later + LEASE_S,
        1,
    )
    assert await store.executions.get(held.execution_id) == taken
    again = later + 2 * LEASE_S
    retaken = await store.executions.claim(held.execution_id, "runner-c", again + LEASE_S, again)
    assert retaken is not None and retaken.lease_takeovers == 2


async def test_a_lease_ending_exactly_now_is_still_live(store: Store) -> None:
    now = time.time()
    held = await leased(store, "runner-a", now)

    assert await store.executions.claim(held.execution_id, "runner-b", now + 60, now) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"status": Status.SUCCEEDED},
        {"status": Status.FAILED},
        {"status": Status.TIMED_OUT},
        {"status": Status.RUNNING, "mode": "sync"},  # a sync run: no lease, never taken
        {"status": Status.QUEUED, "expires_at": 1.0},  # past its retention
    ],
    ids=["succeeded", "failed", "timed_out", "unleased-running", "expired"],
)
async def test_claim_takes_nothing_ended_unleased_or_expired(
    store: Store, changes: dict[str, Any]
) -> None:
    execution = make_execution(**changes)
    await store.executions.add(execution)
    now = time.time()

    assert await store.executions.claim(execution.execution_id, "r", now + LEASE_S, now) is None
    assert await store.executions.claim(new_id(), "r", now + LEASE_S, now) is None
    if execution.expires_at > now:
        assert await store.executions.get(execution.execution_id) == execution


# --- renew --------------------------------------------------------------------------------


async def test_renew_extends_the_lease_of_its_owner_only(store: Store) -> None:
    now = time.time()
    held = await leased(store, "runner-a", now + LEASE_S)

    assert await store.executions.renew(held.execution_id, "runner-b", now + 99) is False
    assert await store.executions.get(held.execution_id) == held
    assert await store.executions.renew(held.execution_id, "runner-a", now + 2 * LEASE_S) is True

    renewed = await store.executions.get(held.execution_id)
    assert renewed is not None and renewed.lease_until == now + 2 * LEASE_S
    assert (renewed.lease_owner, renewed.status) == ("runner-a", Status.RUNNING)
    later = now + LEASE_S + 1  # past the first end, before the renewed one
    assert await store.executions.claim(held.execution_id, "runner-b", later + 60, later) is None


async def test_renew_of_a_queued_ended_or_missing_execution_fails(store: Store) -> None:
    now = time.time()
    waiting = await queued(store)
    held = await leased(store, "runner-a", now + LEASE_S)
    held.status = Status.SUCCEEDED
    assert await store.executions.save(held, only_if_owner="runner-a") is True

    assert await store.executions.renew(waiting.execution_id, "runner-a", now + 60) is False
    assert await store.executions.renew(held.execution_id, "runner-a", now + 60) is False
    assert await store.executions.renew(new_id(), "runner-a", now + 60) is False
    assert await store.executions.get(waiting.execution_id) == waiting


# --- saves under a lease ------------------------------------------------------------------


async def test_save_under_a_lease_writes_for_its_owner_and_keeps_the_stored_lease(
    store: Store,
) -> None:
    now = time.time()
    held = await leased(store, "runner-a", now + LEASE_S)
    assert await store.executions.renew(held.execution_id, "runner-a", now + 2 * LEASE_S)
    held.status, held.result, held.attempts = Status.SUCCEEDED, {"ok": True}, 1
    held.lease_until = now + 1  # the runner's copy is older than the renewal

    assert await store.executions.save(held, only_if_owner="runner-a") is True

    stored = await store.executions.get(held.execution_id)
    assert stored is not None
    assert (stored.status, stored.result, stored.attempts) == (Status.SUCCEEDED, {"ok": True}, 1)
    assert (stored.lease_owner, stored.lease_until) == ("runner-a", now + 2 * LEASE_S)


async def test_save_under_a_lease_fails_for_a_former_owner_after_a_takeover(
    store: Store,
) -> None:
    start = time.time()
    first = await leased(store, "runner-a", start + LEASE_S)
    later = start + LEASE_S + 1
    second = await store.executions.claim(first.execution_id, "runner-b", later + LEASE_S, later)
    assert second is not None
    first.status, first.result = Status.SUCCEEDED, {"from": "a"}

    assert await store.executions.save(first, only_if_owner="runner-a") is False
    assert await store.executions.renew(first.execution_id, "runner-a", later + 99) is False
    assert await store.executions.get(first.execution_id) == second

    second.status, second.result = Status.FAILED, {"from": "b"}
    assert await store.executions.save(second, only_if_owner="runner-b") is True
    second.status, second.result = Status.SUCCEEDED, {"from": "b, again"}
    assert await store.executions.save(second, only_if_owner="runner-b") is False  # ended
    stored = await store.executions.get(first.execution_id)
    assert stored is not None and stored.result == {"from": "b"}


async def test_an_expired_lease_nobody_took_over_still_lets_its_owner_finish(
    store: Store,
) -> None:
    start = time.time()
    held = await leased(store, "runner-a", start + 1)
    held.status = Status.SUCCEEDED

    assert await store.executions.save(held, only_if_owner="runner-a") is True
    later = start + LEASE_S
    assert await store.executions.claim(held.execution_id, "runner-b", later + 60, later) is None


async def test_save_under_a_lease_of_a_queued_or_missing_execution_writes_nothing(
    store: Store,
) -> None:
    waiting = await queued(store)
    claimed_elsewhere = make_execution(
        execution_id=waiting.execution_id, status=Status.SUCCEEDED, lease_owner="runner-a"
    )

    assert await store.executions.save(claimed_elsewhere, only_if_owner="runner-a") is False
    assert await store.executions.get(waiting.execution_id) == waiting
    missing = make_execution(status=Status.SUCCEEDED)
    assert await store.executions.save(missing, only_if_owner="runner-a") is False
    assert await store.executions.get(missing.execution_id) is None


# --- list_runnable ------------------------------------------------------------------------


async def test_list_runnable_pages_oldest_first_through_queued_and_expired_leases(
    store: Store,
) -> None:
    now = time.time()
    runnable: list[str] = []
    for n in range(7):
        if n % 3 == 2:
            expired = await leased(store, "runner-dead", now - 5)
            runnable.append(expired.execution_id)
        else:
            runnable.append((await queued(store)).execution_id)
        await leased(store, "runner-alive", now + LEASE_S)  # live: left out
        ended = make_execution(status=(Status.SUCCEEDED, Status.FAILED)[n % 2])
        await store.executions.add(ended)
    await store.executions.add(make_execution(status=Status.RUNNING))  # sync: left out
    await store.executions.add(make_execution(expires_at=now - 1))  # past retention: left out

    assert await runnable_ids(store, now, limit=2) == sorted(runnable)
    assert await runnable_ids(store, now, limit=50) == sorted(runnable)


async def test_list_runnable_reaches_back_through_the_retention_window(store: Store) -> None:
    """Executions created days ago (a worker down over a weekend) are found, oldest first."""
    now = time.time()
    ids = [id_at(now - days * DAY_S) for days in (20, 9, 9, 3, 1, 0)]
    for execution_id in ids:
        await queued(store, execution_id=execution_id)

    assert await runnable_ids(store, now, limit=2) == sorted(ids)
    assert await runnable_ids(store, now, limit=4) == sorted(ids)


async def test_list_runnable_gives_full_records_and_follows_claims(store: Store) -> None:
    now = time.time()
    first, second = sorted(
        [await queued(store, payload={"n": n}) for n in range(2)],
        key=lambda execution: execution.execution_id,  # ids of one millisecond: any order
    )

    page = await store.executions.list_runnable(now, 10, None)
    assert page.items == [first, second] and page.next_cursor is None

    assert await store.executions.claim(first.execution_id, "r", now + LEASE_S, now)
    assert await runnable_ids(store, now) == [second.execution_id]
    later = now + LEASE_S + 1
    assert await runnable_ids(store, later) == [first.execution_id, second.execution_id]


async def test_list_runnable_of_nothing_and_its_bad_arguments(store: Store) -> None:
    assert await runnable_ids(store, time.time()) == []
    with pytest.raises(CursorNotFound):
        await store.executions.list_runnable(time.time(), 2, "not a cursor!")
    with pytest.raises(InvalidRequest):
        await store.executions.list_runnable(time.time(), 0, None)


# --- idempotency leases -------------------------------------------------------------------


async def test_extend_makes_the_claim_of_its_execution_last(store: Store) -> None:
    now = time.time()
    claim = make_claim(expires_at=now + 10)
    assert await store.idempotency.claim(claim, now) is None

    assert await store.idempotency.extend(claim.caller, claim.key, claim.execution_id, now + HOUR)

    later = now + 20  # past the short claim, within the extended one
    existing = await store.idempotency.claim(make_claim(fingerprint="fp-2"), later)
    assert existing is not None
    assert (existing.execution_id, existing.expires_at) == (claim.execution_id, now + HOUR)


async def test_extend_leaves_other_claims_alone(store: Store) -> None:
    now = time.time()
    claim = make_claim(expires_at=now + 10)
    assert await store.idempotency.claim(claim, now) is None

    extend = store.idempotency.extend
    assert await extend(claim.caller, claim.key, new_id(), now + HOUR) is False
    assert await extend("other", claim.key, claim.execution_id, now + HOUR) is False
    assert await extend(claim.caller, "k2", claim.execution_id, now + HOUR) is False

    later = now + 20  # the short claim expired unextended: the key is free again
    assert await store.idempotency.claim(make_claim(fingerprint="fp-2"), later) is None


async def test_a_claim_taken_over_after_expiry_is_not_extended_for_the_old_execution(
    store: Store,
) -> None:
    now = time.time()
    first = make_claim(expires_at=now + 10)
    assert await store.idempotency.claim(first, now) is None
    later = now + 20
    second = make_claim(expires_at=later + 10)
    assert await store.idempotency.claim(second, later) is None

    extend = store.idempotency.extend
    assert await extend(first.caller, first.key, first.execution_id, later + HOUR) is False
    assert await store.idempotency.claim(make_claim(), later + 1) == second


def test_callers_see_the_takeovers_but_not_the_lease() -> None:
    execution = make_execution(lease_owner="runner-a", lease_until=time.time(), lease_takeovers=2)

    public = execution.to_public_dict()

    assert public["lease_takeovers"] == 2
    assert "lease_owner" not in public and "lease_until" not in public
