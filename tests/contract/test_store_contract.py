"""The store port's contract: every backend passes these tests unchanged.

Written only against `core.store.base.Store`; the `store` fixture (conftest.py) supplies each
backend in turn.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from core import histogram
from core.errors import Conflict, CursorNotFound
from core.models import Client, Execution, IdempotencyRecord, Session, Status, new_id
from core.store.base import Store
from tests.store_support import count_outcome

HOUR = 3600.0


def make_execution(**changes: Any) -> Execution:
    now = time.time()
    fields: dict[str, Any] = {
        "execution_id": new_id(),
        "target": {"provider": "local", "function": "echo"},
        "provider": "local",
        "function": "echo",
        "mode": "sync",
        "status": Status.QUEUED,
        "caller": "client-1",
        "created_at": now,
        "updated_at": now,
        "expires_at": now + HOUR,
    }
    return Execution(**{**fields, **changes})


def make_session(**changes: Any) -> Session:
    now = time.time()
    fields: dict[str, Any] = {
        "session_id": new_id(),
        "owner": "client-1",
        "data": {"step": 1},
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "expires_at": now + HOUR,
    }
    return Session(**{**fields, **changes})


def make_client(**changes: Any) -> Client:
    fields: dict[str, Any] = {
        "client_id": new_id(),
        "name": "billing",
        "scopes": ["invoke", "read"],
        "secret_hash": "pbkdf2$abc",
        "created_at": time.time(),
        "created_by": "admin",
    }
    return Client(**{**fields, **changes})


def make_claim(**changes: Any) -> IdempotencyRecord:
    fields: dict[str, Any] = {
        "caller": "client-1",
        "key": "key-1",
        "fingerprint": "fp-1",
        "execution_id": new_id(),
        "expires_at": time.time() + HOUR,
    }
    return IdempotencyRecord(**{**fields, **changes})


async def list_all(store: Store, **filters: Any) -> list[str]:
    """Every id a listing yields, following cursors to the end."""
    ids: list[str] = []
    cursor = None
    while True:
        page = await store.executions.list(limit=2, cursor=cursor, **filters)
        ids += [execution.execution_id for execution in page.items]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


# --- executions ---------------------------------------------------------------------------


async def test_execution_roundtrips_every_field(store: Store) -> None:
    now = time.time()
    full = make_execution(
        status=Status.SUCCEEDED,
        payload={"text": "héllo ✓", "items": [1, 2.5, None, True], "nested": {"a": {"b": []}}},
        payload_truncated=True,
        result="...[truncated]",
        result_truncated=True,
        status_code=200,
        success=True,
        error={"type": "Boom", "message": "no", "trace": ["a", "b"]},
        logs="line 1\nline 2",
        logs_truncated=True,
        result_blob={
            "key": "functions/bG9jYWw6ZWNobw==/e1/result",
            "size": 2 * 1024 * 1024,
            "sha256": "ab" * 32,
            "content_type": "application/json",
        },
        logs_blob={
            "key": "k/logs",
            "size": 70000,
            "sha256": "cd" * 32,
            "content_type": "text/plain",
        },
        started_at=now + 0.001,
        finished_at=now + 0.123456789,
        duration_ms=122.456789,
        attempts=3,
        provider_info={"request_id": "r-1", "region": "eu-west-1", "extra": {"n": [1, 2]}},
        session_id=new_id(),
        callback_url="https://example.test/hook",
        idempotency_key="key-1",
        lease_owner="runner-1",
        lease_until=now + 30.123456789,
        lease_takeovers=2,
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        tracestate="congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
        parent_span_id="00f067aa0ba902b7",
    )
    bare = make_execution(payload=None, result=None)
    await store.executions.add(full)
    await store.executions.add(bare)

    assert await store.executions.get(full.execution_id) == full
    assert await store.executions.get(bare.execution_id) == bare


async def test_get_of_unknown_execution_is_none(store: Store) -> None:
    assert await store.executions.get(new_id()) is None


async def test_add_of_existing_id_conflicts_and_keeps_the_original(store: Store) -> None:
    original = make_execution(function="first")
    await store.executions.add(original)

    with pytest.raises(Conflict):
        await store.executions.add(make_execution(execution_id=original.execution_id))

    assert await store.executions.get(original.execution_id) == original


async def test_a_conflicting_add_fails_alone(store: Store) -> None:
    existing = make_execution()
    await store.executions.add(existing)
    fresh = [make_execution() for _ in range(4)]
    duplicate = make_execution(execution_id=existing.execution_id, function="other")

    outcomes = await asyncio.gather(
        *(store.executions.add(e) for e in [*fresh[:2], duplicate, *fresh[2:]]),
        return_exceptions=True,
    )

    assert isinstance(outcomes[2], Conflict)
    assert outcomes[:2] + outcomes[3:] == [None] * 4
    for execution in [existing, *fresh]:
        assert await store.executions.get(execution.execution_id) == execution


async def test_save_upserts(store: Store) -> None:
    execution = make_execution()
    assert await store.executions.save(execution) is True
    assert await store.executions.get(execution.execution_id) == execution

    execution.status, execution.result, execution.attempts = Status.SUCCEEDED, {"ok": 1}, 1
    assert await store.executions.save(execution) is True
    assert await store.executions.get(execution.execution_id) == execution


async def test_conditional_save_writes_only_from_listed_statuses(store: Store) -> None:
    queued = make_execution()
    await store.executions.add(queued)
    running = make_execution(execution_id=queued.execution_id, status=Status.RUNNING, attempts=1)

    assert await store.executions.save(running, only_if_status={Status.QUEUED}) is True
    assert await store.executions.get(queued.execution_id) == running

    late = make_execution(execution_id=queued.execution_id, status=Status.FAILED, attempts=9)
    assert await store.executions.save(late, only_if_status=[Status.QUEUED]) is False
    assert await store.executions.get(queued.execution_id) == running


async def test_conditional_save_of_missing_execution_writes_nothing(store: Store) -> None:
    execution = make_execution()
    assert await store.executions.save(execution, only_if_status=Status.OPEN) is False
    assert await store.executions.get(execution.execution_id) is None


async def test_concurrent_conditional_saves_let_exactly_one_win(store: Store) -> None:
    queued = make_execution()
    await store.executions.add(queued)
    attempts = [
        make_execution(execution_id=queued.execution_id, status=Status.RUNNING, attempts=n)
        for n in range(10)
    ]

    written = await asyncio.gather(
        *(store.executions.save(a, only_if_status={Status.QUEUED}) for a in attempts)
    )

    assert written.count(True) == 1
    winner = attempts[written.index(True)]
    assert await store.executions.get(queued.execution_id) == winner


async def seed_listing(store: Store) -> list[Execution]:
    executions = [
        make_execution(function=function, status=status)
        for function in ("alpha", "beta")
        for status in (Status.SUCCEEDED, Status.FAILED, Status.SUCCEEDED)
    ]
    for execution in executions:
        await store.executions.add(execution)
    return executions


def newest_first(executions: list[Execution]) -> list[str]:
    return sorted((e.execution_id for e in executions), reverse=True)


async def test_list_is_newest_first(store: Store) -> None:
    executions = await seed_listing(store)

    page = await store.executions.list()

    assert [e.execution_id for e in page.items] == newest_first(executions)
    assert page.items[0] == max(executions, key=lambda e: e.execution_id)
    assert page.next_cursor is None


@pytest.mark.parametrize(
    "filters",
    [
        {"function": "alpha"},
        {"status": Status.FAILED},
        {"function": "beta", "status": Status.SUCCEEDED},
        {"function": "gamma"},
    ],
)
async def test_list_filters(store: Store, filters: dict[str, str]) -> None:
    executions = await seed_listing(store)
    expected = [e for e in executions if all(getattr(e, k) == v for k, v in filters.items())]

    page = await store.executions.list(**filters)

    assert [e.execution_id for e in page.items] == newest_first(expected)


async def test_pages_cover_every_item_once(store: Store) -> None:
    executions = await seed_listing(store)
    extra = make_execution(function="alpha")
    await store.executions.add(extra)

    assert await list_all(store) == newest_first([*executions, extra])
    alphas = [e for e in [*executions, extra] if e.function == "alpha"]
    assert await list_all(store, function="alpha") == newest_first(alphas)


async def test_pages_are_bounded_and_last_page_has_no_cursor(store: Store) -> None:
    executions = await seed_listing(store)  # six items: two full pages of three

    first = await store.executions.list(limit=3)
    second = await store.executions.list(limit=3, cursor=first.next_cursor)

    assert len(first.items) == 3 and first.next_cursor is not None
    assert len(second.items) == 3 and second.next_cursor is None
    ids = [e.execution_id for e in first.items + second.items]
    assert ids == newest_first(executions)


async def test_a_cursor_no_listing_gave_names_no_page(store: Store) -> None:
    with pytest.raises(CursorNotFound):
        await store.executions.list(cursor="not a cursor!")


# --- idempotency --------------------------------------------------------------------------


async def test_first_claim_wins_and_later_ones_get_the_stored_record(store: Store) -> None:
    now = time.time()
    first = make_claim()
    second = make_claim(fingerprint="fp-2")

    assert await store.idempotency.claim(first, now) is None
    existing = await store.idempotency.claim(second, now)

    assert existing == first


async def test_claims_are_per_caller(store: Store) -> None:
    now = time.time()
    assert await store.idempotency.claim(make_claim(caller="a"), now) is None
    assert await store.idempotency.claim(make_claim(caller="b"), now) is None


async def test_expired_claim_can_be_claimed_again(store: Store) -> None:
    now = time.time()
    await store.idempotency.claim(make_claim(expires_at=now + 10), now)
    later = now + 20
    renewed = make_claim(fingerprint="fp-2", expires_at=later + HOUR)

    assert await store.idempotency.claim(renewed, later) is None
    assert await store.idempotency.claim(make_claim(), later + 1) == renewed


async def test_concurrent_claims_let_exactly_one_win(store: Store) -> None:
    now = time.time()
    claims = [make_claim(fingerprint=f"fp-{n}") for n in range(20)]

    outcomes = await asyncio.gather(*(store.idempotency.claim(c, now) for c in claims))

    assert outcomes.count(None) == 1
    winner = claims[outcomes.index(None)]
    assert all(o == winner for o in outcomes if o is not None)


# --- sessions -----------------------------------------------------------------------------


async def test_session_add_and_get(store: Store) -> None:
    session = make_session(data={"cart": [1, 2], "name": "é"})
    await store.sessions.add(session)

    assert await store.sessions.get(session.session_id, time.time()) == session
    assert await store.sessions.get(new_id(), time.time()) is None


async def test_expired_session_is_not_returned(store: Store) -> None:
    session = make_session()
    await store.sessions.add(session)

    assert await store.sessions.get(session.session_id, session.expires_at) is None
    assert await store.sessions.get(session.session_id, session.expires_at + 1) is None


async def test_replace_with_current_version_writes(store: Store) -> None:
    session = make_session()
    await store.sessions.add(session)
    updated = make_session(session_id=session.session_id, data={"step": 2}, version=2)

    assert await store.sessions.replace(updated, expected_version=1) is True
    assert await store.sessions.get(session.session_id, time.time()) == updated


async def test_replace_with_stale_version_changes_nothing(store: Store) -> None:
    session = make_session()
    await store.sessions.add(session)
    stale = make_session(session_id=session.session_id, data={"step": 9}, version=3)

    assert await store.sessions.replace(stale, expected_version=2) is False
    assert await store.sessions.get(session.session_id, time.time()) == session


async def test_replace_of_expired_or_missing_session_fails(store: Store) -> None:
    expired = make_session(expires_at=time.time() - 1)
    await store.sessions.add(expired)
    revived = make_session(session_id=expired.session_id, version=2)

    assert await store.sessions.replace(revived, expected_version=1) is False
    assert await store.sessions.replace(make_session(version=2), expected_version=1) is False
    assert await store.sessions.get(expired.session_id, time.time()) is None


async def test_delete_session(store: Store) -> None:
    session = make_session()
    await store.sessions.add(session)

    assert await store.sessions.delete(session.session_id) is True
    assert await store.sessions.get(session.session_id, time.time()) is None
    assert await store.sessions.delete(session.session_id) is False


async def test_delete_of_expired_session_reports_it_missing(store: Store) -> None:
    expired = make_session(expires_at=time.time() - 1)
    await store.sessions.add(expired)

    assert await store.sessions.delete(expired.session_id) is False


# --- clients ------------------------------------------------------------------------------


async def test_clients_add_get_and_list_by_creation(store: Store) -> None:
    now = time.time()
    newer = make_client(name="newer", created_at=now + 1, sigv4_sealed="v1.c2VhbGVk")
    older = make_client(name="older", created_at=now)
    await store.clients.add(newer)
    await store.clients.add(older)

    assert await store.clients.get(older.client_id) == older
    assert await store.clients.get(new_id()) is None
    assert await store.clients.list() == [older, newer]


async def test_revoke_sets_revoked_at(store: Store) -> None:
    client = make_client()
    other = make_client()
    await store.clients.add(client)
    await store.clients.add(other)
    at = time.time()

    assert await store.clients.revoke(client.client_id, at) is True

    revoked = await store.clients.get(client.client_id)
    assert revoked is not None and revoked.revoked_at == at and not revoked.active
    assert await store.clients.get(other.client_id) == other


async def test_set_sigv4_replaces_the_sealed_secret_of_that_client_alone(store: Store) -> None:
    client, other = make_client(sigv4_sealed="v1.b2xk"), make_client(sigv4_sealed="v1.b3RoZXI=")
    await store.clients.add(client)
    await store.clients.add(other)

    assert await store.clients.set_sigv4(client.client_id, "v1.bmV3") is True
    assert await store.clients.set_sigv4(new_id(), "v1.bmV3") is False

    assert (await store.clients.get(client.client_id)).sigv4_sealed == "v1.bmV3"
    assert await store.clients.get(other.client_id) == other


async def test_revoke_of_unknown_client_is_false(store: Store) -> None:
    assert await store.clients.revoke(new_id(), time.time()) is False


async def test_record_use_counts_and_keeps_the_latest_time(store: Store) -> None:
    client, other = make_client(), make_client()
    await store.clients.add(client)
    await store.clients.add(other)
    assert (await store.clients.get(client.client_id)).uses == 0
    at = time.time()

    assert await store.clients.record_use(client.client_id, 3, at) is True
    assert await store.clients.record_use(client.client_id, 2, at - 30) is True  # a late flush

    used = await store.clients.get(client.client_id)
    assert used.uses == 5 and used.last_used_at == at
    assert [c.uses for c in await store.clients.list()] == [5, 0]
    assert await store.clients.get(other.client_id) == other


async def test_concurrent_record_uses_all_count(store: Store) -> None:
    client = make_client()
    await store.clients.add(client)
    at = time.time()
    await asyncio.gather(*(store.clients.record_use(client.client_id, 1, at + n) for n in range(8)))
    used = await store.clients.get(client.client_id)
    assert used.uses == 8 and used.last_used_at == at + 7


async def test_record_use_of_an_unknown_client_is_false_and_creates_none(store: Store) -> None:
    ghost = new_id()
    assert await store.clients.record_use(ghost, 1, time.time()) is False
    assert await store.clients.get(ghost) is None


# --- stats --------------------------------------------------------------------------------


BUCKET = 1_700_000_000


async def test_concurrent_records_add_up_exactly(store: Store) -> None:
    durations = [0.3 + n * 7.25 for n in range(200)]
    successes = [n % 3 != 0 for n in range(200)]

    await asyncio.gather(
        *(
            count_outcome(store, "alpha", BUCKET, ok, ms)
            for ok, ms in zip(successes, durations, strict=False)
        )
    )

    [rollup] = await store.stats.read([BUCKET], function="alpha")
    expected_histogram = histogram.empty()
    for ms in durations:
        expected_histogram[histogram.slot_for(ms)] += 1
    assert (rollup.function, rollup.bucket_start) == ("alpha", BUCKET)
    assert rollup.count == 200
    assert rollup.successes == successes.count(True)
    assert rollup.failures == successes.count(False)
    assert rollup.duration_sum_ms == pytest.approx(sum(durations))
    assert rollup.histogram == expected_histogram


async def test_read_by_function_and_for_every_function(store: Store) -> None:
    later = BUCKET + 3600
    await count_outcome(store, "alpha", BUCKET, True, 5.0)
    await count_outcome(store, "alpha", later, False, 50.0)
    await count_outcome(store, "beta", BUCKET, True, 500.0)

    alpha = await store.stats.read([BUCKET, later], function="alpha")
    everything = await store.stats.read([BUCKET, later])
    first_bucket = await store.stats.read([BUCKET])

    assert sorted((r.bucket_start, r.count, r.failures) for r in alpha) == [
        (BUCKET, 1, 0),
        (later, 1, 1),
    ]
    assert {(r.function, r.bucket_start) for r in everything} == {
        ("alpha", BUCKET),
        ("alpha", later),
        ("beta", BUCKET),
    }
    by_function = {r.function: r for r in first_bucket}
    assert set(by_function) == {"alpha", "beta"}
    beta = by_function["beta"]
    assert (beta.count, beta.successes, beta.duration_sum_ms) == (1, 1, 500.0)
    assert len(beta.histogram) == histogram.SLOT_COUNT
    assert beta.histogram[histogram.slot_for(500.0)] == 1 and sum(beta.histogram) == 1


async def test_read_of_empty_buckets_is_empty(store: Store) -> None:
    await count_outcome(store, "alpha", BUCKET, True, 1.0)

    assert await store.stats.read([BUCKET - 3600, BUCKET + 3600]) == []
    assert await store.stats.read([BUCKET], function="beta") == []
    assert await store.stats.read([]) == []


# --- health -------------------------------------------------------------------------------


async def test_ping(store: Store) -> None:
    await store.ping()
