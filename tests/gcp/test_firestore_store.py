"""Firestore-only behaviour of the store, against the Firestore emulator: the TTL field, expiry
checked on read, Increment rollups atomic across instances, every query served by an index the
schema lists, exact floats, retried writes, odd keys. The port's behaviour itself is covered by
tests/contract/."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip("google.cloud.firestore_v1")

from google.api_core.exceptions import FailedPrecondition  # noqa: E402
from google.cloud.firestore_v1 import (  # noqa: E402
    DELETE_FIELD,
    AsyncDocumentReference,
    AsyncQuery,
    AsyncWriteBatch,
)

from core import histogram  # noqa: E402
from core.errors import InvalidRequest, PayloadTooLarge, ServiceUnavailable  # noqa: E402
from core.models import Status  # noqa: E402
from core.store import firestore as firestore_store  # noqa: E402
from core.store import firestore_schema as schema  # noqa: E402
from core.store.firestore import FirestoreStore  # noqa: E402
from tests.conftest import GCP_PROJECT  # noqa: E402
from tests.contract.test_store_contract import (  # noqa: E402
    make_claim,
    make_client,
    make_execution,
    make_session,
)
from tests.store_support import count_outcome, outcome_count, pending_outcome  # noqa: E402

BUCKET = 1_700_000_000


def new_prefix() -> str:
    return f"t{uuid.uuid4().hex}"


@pytest.fixture
async def store(firestore_host: str) -> AsyncIterator[FirestoreStore]:
    backend = FirestoreStore(GCP_PROJECT, prefix=new_prefix(), retention_days=5)
    yield backend
    await backend.close()


async def stored(store: FirestoreStore, kind: str, document_id: str) -> dict[str, Any]:
    """The raw document, as Firestore holds it."""
    ref = store.client.collection(schema.collection(store.prefix, kind)).document(document_id)
    snapshot = await ref.get()
    assert snapshot.exists
    return snapshot.to_dict()


# --- TTL and expiry ------------------------------------------------------------------------


async def test_ttl_field_is_a_timestamp_not_before_expiry(store: FirestoreStore) -> None:
    now = time.time()
    execution = make_execution(expires_at=now + 100.1234567)
    session = make_session(expires_at=now + 200.5)
    claim = make_claim(expires_at=now + 300.25)
    await store.executions.add(execution)
    await store.sessions.add(session)
    await store.idempotency.claim(claim, now)
    counter_expires_at = now + 400.25
    await store.rate_limits.hit("orders|client:a", 1000, 5, counter_expires_at)

    documents = {
        execution.expires_at: await stored(store, schema.EXECUTIONS, execution.execution_id),
        session.expires_at: await stored(store, schema.SESSIONS, session.session_id),
        claim.expires_at: await stored(
            store, schema.IDEMPOTENCY, schema.idempotency_id(claim.caller, claim.key)
        ),
        counter_expires_at: await stored(
            store, schema.RATE_LIMITS, schema.rate_limit_id("orders|client:a", 1000)
        ),
    }
    for expires_at, document in documents.items():
        expire_at = document[schema.TTL_FIELD]
        assert isinstance(expire_at, datetime) and expire_at.tzinfo is not None
        micros = (expire_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        assert 0 <= micros - Decimal(expires_at) * 1_000_000 < 1
        assert document["expires_at"] == expires_at
    assert set(schema.TTL_KINDS) == {
        schema.EXECUTIONS,
        schema.SESSIONS,
        schema.IDEMPOTENCY,
        schema.RATE_LIMITS,
    }


async def test_expired_records_are_never_read_before_the_ttl_policy_deletes_them(
    store: FirestoreStore,
) -> None:
    now = time.time()
    expired = make_execution(expires_at=now - 1)
    live = make_execution()
    await store.executions.add(expired)
    await store.executions.add(live)

    assert await store.executions.get(expired.execution_id) is None
    assert [e.execution_id for e in (await store.executions.list()).items] == [live.execution_id]
    assert (await stored(store, schema.EXECUTIONS, expired.execution_id))["body"]


async def test_a_listing_reaches_back_to_the_retention_window_only(
    store: FirestoreStore,
) -> None:
    """retention_days is 5: an id minted 6 days ago is outside, whatever its expiry says."""
    six_days_ago = int((time.time() - 6 * 86400) * 1000)
    old = make_execution(execution_id=f"{six_days_ago:012x}{'0' * 20}")
    recent = make_execution()
    await store.executions.add(old)
    await store.executions.add(recent)

    page = await store.executions.list()

    assert [e.execution_id for e in page.items] == [recent.execution_id]
    assert await store.executions.get(old.execution_id) == old


# --- stats ---------------------------------------------------------------------------------


async def test_increments_are_atomic_across_50_concurrent_instances(firestore_host: str) -> None:
    """Each instance has its own client (as separate processes would): 50 concurrent
    Increment writes land on the rollup's few shard documents at once."""
    prefix = new_prefix()
    stores = [FirestoreStore(GCP_PROJECT, prefix=prefix) for _ in range(50)]
    durations = [0.25 + n * 13.5 for n in range(50)]
    try:
        await asyncio.gather(
            *(
                count_outcome(instance, "alpha", BUCKET, n % 4 != 0, ms)
                for n, (instance, ms) in enumerate(zip(stores, durations, strict=True))
            )
        )
        [rollup] = await stores[0].stats.read([BUCKET], function="alpha")
    finally:
        await asyncio.gather(*(instance.close() for instance in stores))

    expected_histogram = histogram.empty()
    for ms in durations:
        expected_histogram[histogram.slot_for(ms)] += 1
    assert (rollup.count, rollup.successes, rollup.failures) == (50, 37, 13)
    assert rollup.duration_sum_ms == pytest.approx(sum(durations), rel=1e-12)
    assert rollup.histogram == expected_histogram


async def test_increments_of_one_shard_keep_the_other_histogram_slots(
    store: FirestoreStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes one after the other to one shard document, each to another slot: a merge that
    replaced the histogram map would keep only the last slot."""
    monkeypatch.setattr(firestore_store, "ROLLUP_SHARDS", 1)
    for slot in range(5):
        await count_outcome(store, "alpha", BUCKET, True, 1.0, slot)
    await count_outcome(store, "alpha", BUCKET, False, 1.0, 2)

    [rollup] = await store.stats.read([BUCKET])

    assert rollup.histogram[:6] == [1, 1, 2, 1, 1, 0] and sum(rollup.histogram) == 6
    assert (rollup.count, rollup.successes, rollup.failures) == (6, 5, 1)


async def test_a_stats_read_past_its_document_bound_is_refused(
    store: FirestoreStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(4):
        await count_outcome(store, f"fn-{n}", BUCKET, True, 1.0, 0)
    monkeypatch.setattr(firestore_store, "MAX_ROLLUP_DOCUMENTS", 3)

    with pytest.raises(InvalidRequest, match="one function"):
        await store.stats.read([BUCKET])
    assert len(await store.stats.read([BUCKET], function="fn-1")) == 1


# --- the outbox ------------------------------------------------------------------------------


def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the documents the executions store reads, one entry per read."""
    paths: list[str] = []
    real_read = firestore_store.read

    async def counted(ref: AsyncDocumentReference) -> Any:
        paths.append(ref.path)
        return await real_read(ref)

    monkeypatch.setattr(firestore_store, "read", counted)
    return paths


async def test_a_settle_after_this_process_saved_the_outcome_reads_nothing(
    store: FirestoreStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync invocation's case: one commit, preconditioned on its own save's update time."""
    execution = pending_outcome("alpha", True, 5.0)
    await store.executions.save(execution)
    reads = count_reads(monkeypatch)

    count = outcome_count("alpha", BUCKET, True, 5.0)
    assert await store.executions.settle_announcement(execution.execution_id, count)
    assert reads == []
    assert not await store.executions.settle_announcement(execution.execution_id, count)

    document = await stored(store, schema.EXECUTIONS, execution.execution_id)
    assert document["announcement_pending"] is False and document["outbox"] is False
    assert not (await store.executions.get(execution.execution_id)).announcement_pending
    assert [r.count for r in await store.stats.read([BUCKET], function="alpha")] == [1]


async def test_an_outcome_settled_by_another_instance_is_not_counted_again(
    store: FirestoreStore, firestore_host: str
) -> None:
    """The saving instance's remembered update time no longer holds: a read decides."""
    other = FirestoreStore(GCP_PROJECT, prefix=store.prefix, retention_days=5)
    execution = pending_outcome("beta", True, 5.0)
    await store.executions.save(execution)
    count = outcome_count("beta", BUCKET, True, 5.0)
    try:
        assert await other.executions.settle_announcement(execution.execution_id, count)
    finally:
        await other.close()

    assert not await store.executions.settle_announcement(execution.execution_id, count)
    assert [r.count for r in await store.stats.read([BUCKET], function="beta")] == [1]


async def test_an_outcome_saved_before_the_flag_field_existed_settles_once(
    store: FirestoreStore,
) -> None:
    """Its body's flag counts; the settle that clears it keeps a callback owed outboxed."""
    owing = pending_outcome("gamma", True, 5.0)
    owing.callback_url = "https://hooks.example/cb"
    owed_nothing = pending_outcome("gamma", False, 7.0)
    later = FirestoreStore(GCP_PROJECT, prefix=store.prefix, retention_days=5)
    try:
        for execution in (owing, owed_nothing):
            await store.executions.save(execution)
            ref = store.client.collection(schema.collection(store.prefix, schema.EXECUTIONS))
            await ref.document(execution.execution_id).update(
                {"announcement_pending": DELETE_FIELD}
            )
        for execution in (owing, owed_nothing):
            count = outcome_count("gamma", BUCKET, bool(execution.success), 5.0)
            assert await later.executions.settle_announcement(execution.execution_id, count)
            assert not await later.executions.settle_announcement(execution.execution_id, count)
        outbox = await later.executions.list_outbox(time.time() + 1, 10)
    finally:
        await later.close()

    assert [e.execution_id for e in outbox.items] == [owing.execution_id]
    assert [(r.count, r.successes) for r in await store.stats.read([BUCKET], "gamma")] == [(2, 1)]


# --- indexes -------------------------------------------------------------------------------


class QueryLog:
    """The shape of every query the store runs (AsyncQuery.get wrapped), and how many of them
    had no limit."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
        self.shapes: set[schema.QueryShape] = set()
        self.unbounded = 0
        self._prefix = f"{prefix}_"
        real_get = AsyncQuery.get

        async def recorded_get(query: AsyncQuery, *args: Any, **kwargs: Any) -> Any:
            self.shapes.add(self._shape(query))
            self.unbounded += not query._to_protobuf()._pb.HasField("limit")
            return await real_get(query, *args, **kwargs)

        monkeypatch.setattr(AsyncQuery, "get", recorded_get)

    def _shape(self, query: AsyncQuery) -> schema.QueryShape:
        structured = query._to_protobuf()._pb
        kind = query._parent.id.removeprefix(self._prefix)
        where = structured.where
        filters = (
            [f.field_filter for f in where.composite_filter.filters]
            if where.HasField("composite_filter")
            else [where.field_filter] * where.HasField("field_filter")
        )
        equal = type(filters[0]).Operator.EQUAL if filters else None
        equalities = frozenset(f.field.field_path for f in filters if f.op == equal)
        order = [
            (o.field.field_path, "ASCENDING" if o.direction == 1 else "DESCENDING")
            for o in structured.order_by
            if o.field.field_path != "__name__"
        ]
        ordered = {path for path, _ in order}
        inequalities = sorted({f.field.field_path for f in filters if f.op != equal} - ordered)
        order += [(path, "ASCENDING") for path in inequalities]  # Firestore's implicit order
        return schema.QueryShape(kind, equalities, tuple(order))


async def test_every_query_the_store_runs_is_bounded_and_served_by_a_listed_index(
    firestore_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = new_prefix()
    log = QueryLog(monkeypatch, prefix)
    store = FirestoreStore(GCP_PROJECT, prefix=prefix)
    try:
        for _ in range(2):
            await store.executions.add(make_execution(function="alpha", status=Status.FAILED))
        for function in (None, "alpha"):
            for status in (None, Status.FAILED):
                first = await store.executions.list(function=function, status=status, limit=1)
                await store.executions.list(
                    function=function, status=status, cursor=first.next_cursor
                )
        first = await store.executions.list_runnable(time.time(), 1)
        await store.executions.list_runnable(time.time(), 1, first.next_cursor)
        first = await store.executions.list_outbox(time.time(), 1)
        await store.executions.list_outbox(time.time(), 1, first.next_cursor)
        await store.stats.read([BUCKET])
        await store.stats.read([BUCKET, BUCKET + 3600], function="alpha")
        await store.clients.list()
    finally:
        await store.close()

    composite = {shape for shape in log.shapes if shape.needs_composite_index()}
    assert len(log.shapes) == 9 and len(composite) == 6
    assert log.unbounded == 0
    for shape in composite:
        assert any(shape.served_by(index) for index in schema.COMPOSITE_INDEXES), shape
    for index in schema.COMPOSITE_INDEXES:  # none listed that no query needs
        assert any(shape.served_by(index) for shape in composite), index
    for shape in log.shapes:
        queried = shape.equalities | {path for path, _ in shape.order}
        assert not queried & set(schema.UNINDEXED_FIELDS[shape.kind]), shape


def test_the_schema_loads_no_google_library() -> None:
    """Terraform tooling and the AWS entry may read it without the gcp extra."""
    libraries = ("google.cloud.firestore", "google.api_core", "google.auth", "grpc")
    code = (
        "import sys, core.store.firestore_schema; "
        f"print(sorted(m for m in sys.modules if m.startswith({libraries!r})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"


def test_terraform_data_names_prefixed_collections_and_the_ttl_fields() -> None:
    data = json.loads(json.dumps(schema.terraform_data("prod")))

    assert {index["collection"] for index in data["indexes"]} == {
        "prod_executions",
        "prod_stats",
    }
    assert {"field_path": "execution_id", "order": "DESCENDING"} in data["indexes"][0]["fields"]
    ttl = {(f["collection"], f["field"]) for f in data["fields"] if f["ttl"]}
    assert ttl == {(f"prod_{kind}", schema.TTL_FIELD) for kind in schema.TTL_KINDS}


# --- values and keys -----------------------------------------------------------------------


async def test_floats_round_trip_exactly(store: FirestoreStore) -> None:
    floats = [0.1, 1 / 3, 2.0**-1074, 1.7976931348623157e308, -0.0, 123456789.123456789]
    execution = make_execution(
        payload={"floats": floats},
        result=[{"x": f} for f in floats],
        duration_ms=1 / 7,
        created_at=1_700_000_000.123456789,
        started_at=1_700_000_000.987654321,
        timeout_s=0.3,
    )
    client = make_client(created_at=1_700_000_000.000001)
    await store.executions.add(execution)
    await store.clients.add(client)
    await count_outcome(store, "alpha", BUCKET, True, 1 / 3, 0)

    assert await store.executions.get(execution.execution_id) == execution
    assert await store.clients.get(client.client_id) == client
    [rollup] = await store.stats.read([BUCKET])
    assert rollup.duration_sum_ms == 1 / 3


async def test_odd_keys_are_stored_under_valid_document_ids(store: FirestoreStore) -> None:
    now = time.time()
    for key in ("a/b", "..", "__reserved__", "é 1", "x" * 200):
        execution = make_execution(execution_id=key)
        session = make_session(session_id=key)
        await store.executions.add(execution)
        await store.sessions.add(session)
        assert await store.executions.get(key) == execution
        assert await store.sessions.get(key, now) == session
    assert await store.executions.get("y" * 2000) is None
    assert await store.sessions.get("y" * 2000, now) is None
    assert await store.clients.revoke("y" * 2000, now) is False
    assert await store.clients.record_use("y" * 2000, 1, now) is False


async def test_a_record_too_large_for_a_document_is_refused(store: FirestoreStore) -> None:
    with pytest.raises(PayloadTooLarge):
        await store.executions.add(make_execution(payload="x" * 1_100_000))


# --- retried writes ------------------------------------------------------------------------


async def test_a_conditional_write_whose_answer_was_lost_counts_as_written(
    store: FirestoreStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client retries a commit whose answer was lost; the retry's precondition then fails
    on the first attempt's own write."""
    queued = make_execution()
    await store.executions.add(queued)
    running = make_execution(execution_id=queued.execution_id, status=Status.RUNNING)
    real_update = AsyncDocumentReference.update

    async def applied_then_lost(self: AsyncDocumentReference, *args: Any, **kwargs: Any) -> Any:
        await real_update(self, *args, **kwargs)
        raise FailedPrecondition("update time mismatch (the retry of a lost answer)")

    monkeypatch.setattr(AsyncDocumentReference, "update", applied_then_lost)

    assert await store.executions.save(running, only_if_status={Status.QUEUED}) is True
    assert await store.executions.get(queued.execution_id) == running


async def test_a_settle_whose_commit_answer_was_lost_counts_once_and_says_so(
    store: FirestoreStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit is applied, its answer lost, the retry's precondition fails: the token the
    document holds is this settle's own."""
    execution = pending_outcome("delta", True, 5.0)
    await store.executions.save(execution)
    real_commit = AsyncWriteBatch.commit
    lost: list[bool] = []

    async def applied_then_lost(self: AsyncWriteBatch, *args: Any, **kwargs: Any) -> Any:
        result = await real_commit(self, *args, **kwargs)
        if not lost:
            lost.append(True)
            raise FailedPrecondition("update time mismatch (the retry of a lost answer)")
        return result

    monkeypatch.setattr(AsyncWriteBatch, "commit", applied_then_lost)
    count = outcome_count("delta", BUCKET, True, 5.0)

    assert await store.executions.settle_announcement(execution.execution_id, count)
    assert lost == [True]
    assert not await store.executions.settle_announcement(execution.execution_id, count)
    assert [r.count for r in await store.stats.read([BUCKET], function="delta")] == [1]


async def test_a_repeated_create_of_the_same_record_is_not_a_conflict(
    store: FirestoreStore,
) -> None:
    """What a create retried after its lost answer looks like."""
    execution = make_execution()
    claim = make_claim()
    await store.executions.add(execution)
    await store.executions.add(execution)

    assert await store.idempotency.claim(claim, time.time()) is None
    assert await store.idempotency.claim(claim, time.time()) is None
    assert await store.idempotency.claim(make_claim(fingerprint="other"), time.time()) == claim


async def test_revoke_keeps_the_first_revocation_time(store: FirestoreStore) -> None:
    client = make_client()
    await store.clients.add(client)

    assert await store.clients.revoke(client.client_id, 100.0) is True
    assert await store.clients.revoke(client.client_id, 200.0) is True

    revoked = await store.clients.get(client.client_id)
    assert revoked is not None and revoked.revoked_at == 100.0


async def test_ping_fails_once_the_store_is_closed(firestore_host: str) -> None:
    store = FirestoreStore(GCP_PROJECT, prefix=new_prefix())
    await store.ping()
    await store.close()

    with pytest.raises(ServiceUnavailable, match="UsageError"):
        await store.ping()
