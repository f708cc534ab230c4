"""The rules of execution leases every store backend applies inside its own atomic step (a
transaction, a conditional write or a compare-and-set): when a record may be claimed, what a
claim makes of it, and what a save under a lease keeps; and which records the outbox sweep
takes. Plain functions on records.
"""

from __future__ import annotations

from dataclasses import replace

from core.models import Execution, Page, Status
from core.store.cursors import page_of


def runnable(execution: Execution, now: float) -> bool:
    """Whether `claim` takes the record at `now`: live (not expired), and `queued`, or
    `running` under a lease that ended before `now`. A `running` record without a lease runs
    inside the request that recorded it (sync): never runnable."""
    if execution.expires_at <= now:
        return False
    if execution.status == Status.QUEUED:
        return True
    return execution.status == Status.RUNNING and lease_expired(execution, now)


def lease_expired(execution: Execution, now: float) -> bool:
    return execution.lease_until is not None and execution.lease_until < now


def claimed(execution: Execution, owner: str, lease_until: float, now: float) -> Execution:
    """The record as a claim at `now` leaves it: `running` under the new lease, a takeover
    counted when it was `running` already."""
    takeover = execution.status == Status.RUNNING
    return replace(
        execution,
        status=Status.RUNNING,
        lease_owner=owner,
        lease_until=lease_until,
        lease_takeovers=execution.lease_takeovers + takeover,
        updated_at=now,
    )


def held_by(execution: Execution, owner: str) -> bool:
    """Whether the record is `running` under `owner`'s lease (expired or not)."""
    return execution.status == Status.RUNNING and execution.lease_owner == owner


def with_lease_of(execution: Execution, stored: Execution) -> Execution:
    """`execution` with the lease the store holds: a save under a lease never moves it."""
    return replace(execution, lease_owner=stored.lease_owner, lease_until=stored.lease_until)


def runnable_page(scanned: list[Execution], limit: int, now: float) -> Page[Execution]:
    """A page of `list_runnable` from up to `limit + 1` open records, oldest first: the
    runnable ones of the first `limit`, and a cursor after the last of those when there was
    one more (so live leases never stop the paging)."""
    page = page_of(scanned, limit, lambda execution: execution.execution_id)
    return Page([e for e in page.items if runnable(e, now)], page.next_cursor)


def outbox_page(scanned: list[Execution], limit: int, updated_before: float) -> Page[Execution]:
    """A page of `list_outbox` from up to `limit + 1` records of the outbox index, oldest
    first: those of the first `limit` still in the outbox and last updated before
    `updated_before` (younger ones are left to the runner about to announce them), with a
    cursor after the last of the first `limit` when there was one more."""
    page = page_of(scanned, limit, lambda execution: execution.execution_id)
    due = [e for e in page.items if e.in_outbox and e.updated_at < updated_before]
    return Page(due, page.next_cursor)
