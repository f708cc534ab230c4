"""The store port's contract for the function registry, rate-limit counters and listing
executions by time: every backend passes these tests unchanged (see conftest.py)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest

from core.errors import Conflict, CursorNotFound
from core.models import (
    ChangeAction,
    FunctionVersion,
    RegisteredFunction,
    VersionChange,
)
from core.store.base import Store
from tests.contract.test_store_contract import make_execution

TARGET = {"provider": "local", "function": "echo"}


def make_function(name: str = "orders", **changes: Any) -> RegisteredFunction:
    now = time.time()
    fields: dict[str, Any] = {
        "name": name,
        "description": "takes orders",
        "active_version": 1,
        "latest_version": 1,
        "policy": {"timeout_s": 5.0, "rate_limit": {"requests": 10, "per_s": 60}},
        "created_at": now,
        "created_by": "client:admin",
        "updated_at": now,
    }
    return RegisteredFunction(**{**fields, **changes})


def make_version(name: str = "orders", version: int = 1, **changes: Any) -> FunctionVersion:
    fields: dict[str, Any] = {
        "name": name,
        "version": version,
        "target": {**TARGET, "note": f"v{version}"},
        "created_at": time.time(),
        "created_by": "client:admin",
    }
    return FunctionVersion(**{**fields, **changes})


def make_change(
    name: str = "orders", action: str = ChangeAction.CREATED, revision: int = 1, **changes: Any
) -> VersionChange:
    fields: dict[str, Any] = {
        "name": name,
        "revision": revision,
        "action": action,
        "at": time.time(),
        "by": "client:admin",
        "to_version": 1,
    }
    return VersionChange(**{**fields, **changes})


async def create(store: Store, name: str = "orders") -> RegisteredFunction:
    function = make_function(name)
    await store.functions.create(function, make_version(name), make_change(name))
    return function


def next_revision(function: RegisteredFunction, **changes: Any) -> RegisteredFunction:
    return replace(function, revision=function.revision + 1, **changes)


async def add_version(store: Store, function: RegisteredFunction) -> RegisteredFunction:
    """Add the next version (not activated); return the function as stored after it."""
    number = function.latest_version + 1
    updated = next_revision(function, latest_version=number)
    change = make_change(
        function.name, ChangeAction.VERSION_ADDED, updated.revision, to_version=number
    )
    added = await store.functions.update(
        updated, function.revision, change, add_version=make_version(function.name, number)
    )
    assert added
    return updated


async def test_function_roundtrips_every_field(store: Store) -> None:
    function = make_function(
        canary={"version": 1, "weight": 10}, revision=3, enabled=False, aliases={"live": 1}
    )
    version = make_version(target={"provider": "http", "url": "http://x", "headers": {"a": "b"}})
    change = make_change(detail={"note": "first"})
    await store.functions.create(function, version, change)
    assert await store.functions.get("orders") == function
    assert await store.functions.get_version("orders", 1) == version
    assert (await store.functions.list_changes("orders")).items == [change]


async def test_unknown_function_and_version_are_none(store: Store) -> None:
    await create(store)
    assert await store.functions.get("missing") is None
    assert await store.functions.get_version("orders", 2) is None
    assert await store.functions.get_version("missing", 1) is None


async def test_create_of_a_taken_name_conflicts_and_keeps_the_original(store: Store) -> None:
    original = await create(store)
    with pytest.raises(Conflict):
        await store.functions.create(
            make_function(description="impostor"),
            make_version(target={"provider": "http", "url": "http://x"}),
            make_change(),
        )
    assert await store.functions.get("orders") == original
    assert (await store.functions.get_version("orders", 1)).target["provider"] == "local"
    assert len((await store.functions.list_changes("orders")).items) == 1


async def test_concurrent_creates_of_one_name_let_exactly_one_win(store: Store) -> None:
    outcomes = await asyncio.gather(
        *(
            store.functions.create(
                make_function(description=f"attempt {n}"), make_version(), make_change()
            )
            for n in range(6)
        ),
        return_exceptions=True,
    )
    assert sum(outcome is None for outcome in outcomes) == 1
    assert all(isinstance(o, Conflict) for o in outcomes if o is not None)


async def test_update_over_the_current_revision_writes_everything_together(store: Store) -> None:
    function = await create(store)
    updated = await add_version(store, function)
    assert await store.functions.get("orders") == updated
    assert (await store.functions.get_version("orders", 2)).target["note"] == "v2"
    actions = [change.action for change in (await store.functions.list_changes("orders")).items]
    assert actions == [ChangeAction.VERSION_ADDED, ChangeAction.CREATED]


async def test_disabling_and_enabling_roundtrip_through_updates(store: Store) -> None:
    function = await create(store)
    assert function.enabled
    for enabled, action in ((False, ChangeAction.DISABLED), (True, ChangeAction.ENABLED)):
        changed = next_revision(function, enabled=enabled)
        change = make_change(action=action, revision=changed.revision, to_version=None)
        assert await store.functions.update(changed, function.revision, change)
        assert await store.functions.get("orders") == changed
        assert [f.enabled for f in (await store.functions.list()).items] == [enabled]
        function = changed
    actions = [change.action for change in (await store.functions.list_changes("orders")).items]
    assert actions == [ChangeAction.ENABLED, ChangeAction.DISABLED, ChangeAction.CREATED]


async def test_aliases_roundtrip_through_updates(store: Store) -> None:
    function = await add_version(store, await create(store))
    for aliases, action in (
        ({"live": 1, "next": 2}, ChangeAction.ALIAS_SET),
        ({"next": 2}, ChangeAction.ALIAS_DELETED),
    ):
        changed = next_revision(function, aliases=aliases)
        change = make_change(action=action, revision=changed.revision, detail={"alias": "live"})
        assert await store.functions.update(changed, function.revision, change)
        assert await store.functions.get("orders") == changed
        assert (await store.functions.list()).items[0].aliases == aliases
        function = changed


async def test_update_over_a_stale_revision_writes_nothing(store: Store) -> None:
    function = await create(store)
    current = await add_version(store, function)
    stale = next_revision(function, latest_version=2, description="stale")
    written = await store.functions.update(
        stale,
        function.revision,
        make_change(action=ChangeAction.VERSION_ADDED, revision=2, to_version=2),
        add_version=make_version(version=2, target={"provider": "http", "url": "http://x"}),
    )
    assert not written
    assert await store.functions.get("orders") == current
    assert (await store.functions.get_version("orders", 2)).target["provider"] == "local"
    assert len((await store.functions.list_changes("orders")).items) == 2


async def test_update_of_a_missing_function_writes_nothing(store: Store) -> None:
    ghost = make_function("ghost")
    written = await store.functions.update(
        next_revision(ghost),
        ghost.revision,
        make_change("ghost", revision=2),
        add_version=make_version("ghost"),
    )
    assert not written
    assert await store.functions.get("ghost") is None
    assert await store.functions.get_version("ghost", 1) is None
    assert (await store.functions.list_changes("ghost")).items == []


async def test_update_deletes_a_version_with_the_change(store: Store) -> None:
    function = await add_version(store, await create(store))
    updated = next_revision(function)
    change = make_change(
        action=ChangeAction.VERSION_DELETED, revision=3, from_version=2, to_version=None
    )
    assert await store.functions.update(updated, function.revision, change, delete_version=2)
    assert await store.functions.get_version("orders", 2) is None
    assert await store.functions.get_version("orders", 1) is not None
    assert (await store.functions.list_changes("orders")).items[0] == change


async def test_concurrent_updates_over_one_revision_let_exactly_one_win(store: Store) -> None:
    function = await add_version(store, await create(store))
    attempts = [
        (next_revision(function, active_version=n % 2 + 1, description=f"writer {n}"), n)
        for n in range(8)
    ]
    written = await asyncio.gather(
        *(
            store.functions.update(
                candidate,
                function.revision,
                make_change(action=ChangeAction.ACTIVATED, revision=3, detail={"writer": n}),
            )
            for candidate, n in attempts
        )
    )
    assert sum(written) == 1
    winner = attempts[written.index(True)][0]
    assert await store.functions.get("orders") == winner
    changes = (await store.functions.list_changes("orders")).items
    assert [c.detail.get("writer") for c in changes[:1]] == [written.index(True)]
    assert len(changes) == 3


async def test_functions_list_by_name_in_pages(store: Store) -> None:
    names = ["beta", "alpha", "delta", "charlie", "echo"]
    for name in names:
        await create(store, name)
    seen: list[str] = []
    cursor = None
    while True:
        page = await store.functions.list(limit=2, cursor=cursor)
        assert len(page.items) <= 2
        seen.extend(function.name for function in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(names)


async def test_versions_and_changes_list_newest_first_in_pages(store: Store) -> None:
    function = await create(store)
    for _ in range(4):
        function = await add_version(store, function)
    first = await store.functions.list_versions("orders", limit=3)
    rest = await store.functions.list_versions("orders", limit=3, cursor=first.next_cursor)
    assert [v.version for v in first.items + rest.items] == [5, 4, 3, 2, 1]
    assert rest.next_cursor is None
    changes = await store.functions.list_changes("orders", limit=4)
    more = await store.functions.list_changes("orders", limit=4, cursor=changes.next_cursor)
    listed = changes.items + more.items
    assert [c.to_version for c in listed] == [5, 4, 3, 2, 1]
    assert [c.revision for c in listed] == [5, 4, 3, 2, 1]


async def test_listings_of_one_function_leave_out_other_functions(store: Store) -> None:
    await create(store, "orders")
    await add_version(store, await create(store, "orders-v2"))
    assert [v.version for v in (await store.functions.list_versions("orders")).items] == [1]
    assert len((await store.functions.list_changes("orders")).items) == 1


async def test_delete_removes_the_function_its_versions_and_history(store: Store) -> None:
    await add_version(store, await create(store))
    await create(store, "other")
    assert await store.functions.delete("orders")
    assert await store.functions.get("orders") is None
    assert await store.functions.get_version("orders", 1) is None
    assert (await store.functions.list_versions("orders")).items == []
    assert (await store.functions.list_changes("orders")).items == []
    assert [f.name for f in (await store.functions.list()).items] == ["other"]
    assert not await store.functions.delete("orders")
    recreated = await create(store)  # the name is free again, with a history of its own
    assert await store.functions.get("orders") == recreated
    assert len((await store.functions.list_changes("orders")).items) == 1


async def test_a_cursor_no_listing_gave_names_no_page(store: Store) -> None:
    await create(store)
    with pytest.raises(CursorNotFound):
        await store.functions.list(cursor="not a cursor")
    with pytest.raises(CursorNotFound):
        await store.functions.list_versions("orders", cursor="not a cursor")


async def test_rate_limit_counts_up_to_the_limit_per_window(store: Store) -> None:
    expires = time.time() + 120
    outcomes = [await store.rate_limits.hit("orders|client:a", 1000, 3, expires) for _ in range(5)]
    assert outcomes == [True, True, True, False, False]
    assert await store.rate_limits.hit("orders|client:a", 1060, 3, expires)
    assert await store.rate_limits.hit("orders|client:b", 1000, 3, expires)


async def test_concurrent_hits_count_exactly_the_limit(store: Store) -> None:
    expires = time.time() + 120
    outcomes = await asyncio.gather(
        *(store.rate_limits.hit("orders|client:a", 2000, 7, expires) for _ in range(20))
    )
    assert sum(outcomes) == 7


async def test_list_executions_by_time(store: Store) -> None:
    base = time.time() - 50
    stamps = [base + offset for offset in (0, 10, 20, 30, 40)]
    executions = [
        make_execution(execution_id=f"{int(t * 1000):012x}{n:020x}", created_at=t, function="fn")
        for n, t in enumerate(stamps)
    ]
    for execution in executions:
        await store.executions.add(execution)
    ids = [e.execution_id for e in executions]
    window = await store.executions.list(since=stamps[1], until=stamps[4])
    assert [e.execution_id for e in window.items] == ids[3:0:-1]
    recent = await store.executions.list(function="fn", since=stamps[3])
    assert [e.execution_id for e in recent.items] == [ids[4], ids[3]]
    older = await store.executions.list(until=stamps[2], limit=1)
    rest = await store.executions.list(until=stamps[2], limit=1, cursor=older.next_cursor)
    assert [e.execution_id for e in older.items + rest.items] == [ids[1], ids[0]]
    assert rest.next_cursor is None
