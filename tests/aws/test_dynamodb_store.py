"""DynamoDB-only behaviour of the store, against moto: table definition and TTL, expiry checked
on read, indexed listing across day partitions (never a Scan), exact
floats, large records. The port's behaviour itself is covered by tests/contract/."""

from __future__ import annotations

import asyncio
import base64
import math
import os
import time
import urllib.request
import uuid
from collections import Counter
from typing import Any

import boto3
import orjson
import pytest
from botocore.awsrequest import AWSResponse

from core.errors import CursorNotFound, InvalidRequest, PayloadTooLarge, ServiceUnavailable
from core.models import Execution, Status
from core.store import dynamodb_stats
from core.store.base import ALL_TIME
from core.store.dynamodb import TABLE_DEFINITION, TTL_ATTRIBUTE, DynamoDBStore, create_table
from core.store.dynamodb_schema import (
    LISTING_INDEXES,
    OUTBOX_INDEX,
    STATS_INDEX_SK,
    execution_key,
    session_key,
    stats_key,
    stats_pk,
)
from core.store.dynamodb_stats import stats_update
from core.store.rollups import tally_of
from tests.contract.test_store_contract import make_claim, make_client, make_execution, make_session
from tests.store_support import count_outcome, outcome_count, pending_outcome

REGION = "us-east-1"
RETENTION_DAYS = 5
DAY_S = 86400.0
BUCKET = 1_700_000_000


class OperationLog:
    """Every DynamoDB operation a client sends, with its parameters (a botocore event hook)."""

    def __init__(self, client: Any) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("before-parameter-build.dynamodb", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def names(self) -> Counter[str]:
        return Counter(name for name, _ in self.calls)


class LoseFirstAnswer:
    """Delivers an operation's next request to the server for real, then answers it with a 500
    as if the answer were lost on the way back: botocore retries the request."""

    LOST = b'{"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError"}'

    def __init__(self, client: Any, operation: str) -> None:
        self.armed = False
        client.meta.events.register(f"before-send.dynamodb.{operation}", self._send)

    def _send(self, request: Any, **_: Any) -> AWSResponse | None:
        if not self.armed:
            return None
        self.armed = False
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        delivered = urllib.request.Request(
            request.url, data=request.body, headers=headers, method=request.method
        )
        urllib.request.urlopen(delivered, timeout=5).close()
        return AWSResponse(request.url, 500, {}, _Raw(self.LOST))


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


@pytest.fixture(scope="module")
def admin(moto_url: str) -> Any:
    return boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_url)


@pytest.fixture
def table(admin: Any) -> Any:
    name = f"fnproxy-test-{uuid.uuid4().hex}"
    create_table(admin, name)
    yield name
    admin.delete_table(TableName=name)


@pytest.fixture
async def store(moto_url: str, table: str) -> Any:
    opened = DynamoDBStore(table, REGION, moto_url, retention_days=RETENTION_DAYS)
    yield opened
    await opened.close()


def id_at(epoch: float) -> str:
    """An execution id whose clock says `epoch` (the form of core.models.new_id)."""
    return f"{int(epoch * 1000):012x}{os.urandom(10).hex()}"


def raw_item(admin: Any, table: str, key: dict[str, str]) -> dict[str, Any] | None:
    key_values = {name: {"S": value} for name, value in key.items()}
    return admin.get_item(TableName=table, Key=key_values, ConsistentRead=True).get("Item")


async def test_create_table_makes_keys_only_listing_indexes_and_enables_ttl(
    admin: Any, table: str
) -> None:
    description = admin.describe_table(TableName=table)["Table"]
    ttl = admin.describe_time_to_live(TableName=table)["TimeToLiveDescription"]

    indexes = {i["IndexName"]: i for i in description["GlobalSecondaryIndexes"]}
    assert set(indexes) == {*LISTING_INDEXES, OUTBOX_INDEX}
    assert {i["Projection"]["ProjectionType"] for i in indexes.values()} == {"KEYS_ONLY"}
    assert description["BillingModeSummary"]["BillingMode"] == TABLE_DEFINITION["BillingMode"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", TTL_ATTRIBUTE)


async def test_expiring_items_carry_ttl_in_whole_epoch_seconds(
    store: DynamoDBStore, admin: Any, table: str
) -> None:
    expires_at = time.time() + 3600.25
    execution = make_execution(expires_at=expires_at)
    session = make_session(expires_at=expires_at)
    claim = make_claim(expires_at=expires_at)
    await store.executions.add(execution)
    await store.sessions.add(session)
    await store.idempotency.claim(claim, time.time())
    renewed = make_session(session_id=session.session_id, version=2, expires_at=expires_at + 60)
    assert await store.sessions.replace(renewed, expected_version=1)

    keys = {
        "execution": execution_key(execution.execution_id),
        "session": session_key(session.session_id),
        "idempotency": {"pk": f"IDEM#{claim.caller}", "sk": f"KEY#{claim.key}"},
    }
    ttls = {what: raw_item(admin, table, key)[TTL_ATTRIBUTE] for what, key in keys.items()}
    assert ttls == {
        "execution": {"N": str(math.ceil(expires_at))},
        "session": {"N": str(math.ceil(expires_at + 60))},
        "idempotency": {"N": str(math.ceil(expires_at))},
    }


async def test_expired_execution_is_hidden_before_ttl_deletes_it(
    store: DynamoDBStore, admin: Any, table: str
) -> None:
    expired = make_execution(expires_at=time.time() - 1)
    live = make_execution()
    await store.executions.add(expired)
    await store.executions.add(live)

    assert raw_item(admin, table, execution_key(expired.execution_id)) is not None
    assert await store.executions.get(expired.execution_id) is None
    page = await store.executions.list()
    assert [e.execution_id for e in page.items] == [live.execution_id]


async def test_every_read_is_a_key_lookup_or_an_indexed_query(store: DynamoDBStore) -> None:
    log = OperationLog(store.client)
    await store.executions.add(make_execution(function="alpha", status="failed"))
    await store.clients.add(make_client())
    log.calls.clear()

    for function, status, index in [
        (None, None, "by_day"),
        ("alpha", None, "by_function"),
        (None, "failed", "by_status"),
        ("alpha", "failed", "by_function_status"),
    ]:
        page = await store.executions.list(function=function, status=status)
        assert len(page.items) == 1
        queried = {params.get("IndexName") for name, params in log.calls if name == "Query"}
        assert queried == {index}
        log.calls.clear()
    await count_outcome(store, "alpha", BUCKET, True, 5.0)  # its execution is in no listing above
    await store.stats.read([BUCKET, BUCKET + 3600])  # the first read completes their index
    log.calls.clear()
    await store.clients.list()
    await store.stats.read([BUCKET, BUCKET + 3600])
    await store.stats.read([BUCKET], function="alpha")

    assert set(log.names()) == {"Query", "BatchGetItem"}
    table_queries = [params for name, params in log.calls if name == "Query"]
    assert all("IndexName" not in params for params in table_queries)
    assert len(table_queries) == 1  # the clients'; stats are read by key


async def test_every_functions_rollups_are_read_by_key_whatever_the_table_holds(
    store: DynamoDBStore,
) -> None:
    """Two BatchGetItems (the buckets' index items, then the rollups they name), no Query:
    an emulator that sorts the whole table for a Query would make the read grow with it."""
    await count_outcome(store, "alpha", BUCKET, True, 5.0)
    await count_outcome(store, "beta", BUCKET + 3600, False, 7.0)
    await store.stats.read([BUCKET, BUCKET + 3600, BUCKET + 7200])
    log = OperationLog(store.client)

    rollups = await store.stats.read([BUCKET, BUCKET + 3600, BUCKET + 7200])

    assert [(r.function, r.bucket_start, r.count) for r in rollups] == [
        ("alpha", BUCKET, 1),
        ("beta", BUCKET + 3600, 1),
    ]
    assert log.names() == Counter({"BatchGetItem": 2})


async def test_rollups_counted_before_their_bucket_had_an_index_are_read_and_indexed(
    store: DynamoDBStore, admin: Any, table: str
) -> None:
    """A rollup written as earlier versions did (its ADD alone) is found by the first read,
    which Queries the bucket and completes its index; later reads find it by key."""
    update = stats_update(tally_of(outcome_count("old", BUCKET, True, 3.0)))
    key = {name: {"S": value} for name, value in stats_key(BUCKET, "old").items()}
    admin.update_item(TableName=table, Key=key, **update)
    await count_outcome(store, "new", BUCKET, True, 4.0)

    first = await store.stats.read([BUCKET])
    log = OperationLog(store.client)
    second = await store.stats.read([BUCKET])

    assert [(r.function, r.count) for r in first] == [("new", 1), ("old", 1)]
    assert second == first
    assert set(log.names()) == {"BatchGetItem"}


async def test_a_function_counted_by_another_process_after_the_index_was_completed_is_read(
    store: DynamoDBStore, moto_url: str, table: str
) -> None:
    await count_outcome(store, "alpha", BUCKET, True, 5.0)
    await store.stats.read([BUCKET])
    other = DynamoDBStore(table, REGION, moto_url, retention_days=RETENTION_DAYS)
    try:
        await count_outcome(other, "beta", BUCKET, True, 6.0)
        await count_outcome(other, "alpha", BUCKET, False, 7.0)
    finally:
        await other.close()

    rollups = await store.stats.read([BUCKET])

    assert [(r.function, r.count, r.failures) for r in rollups] == [("alpha", 2, 1), ("beta", 1, 0)]


async def test_concurrent_first_counts_of_a_function_name_it_once_per_bucket(
    store: DynamoDBStore,
) -> None:
    log = OperationLog(store.client)

    await asyncio.gather(*(count_outcome(store, "alpha", BUCKET, True, 5.0) for _ in range(20)))

    index_writes = [
        params["Key"]["pk"]["S"]
        for name, params in log.calls
        if name == "UpdateItem" and params["Key"]["sk"]["S"] == STATS_INDEX_SK
    ]
    assert sorted(index_writes) == sorted([stats_pk(BUCKET), stats_pk(ALL_TIME)])
    [rollup] = await store.stats.read([BUCKET])
    assert rollup.count == 20


async def test_a_bucket_with_more_functions_than_its_index_holds_is_read_by_a_query(
    store: DynamoDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dynamodb_stats, "MAX_INDEXED_FUNCTIONS", 2)
    long_name = "http:example.com/" + "p" * dynamodb_stats.MAX_INDEXED_NAME
    for function in ("alpha", "beta", "gamma"):
        await count_outcome(store, function, BUCKET, True, 5.0)
    await count_outcome(store, long_name, BUCKET + 3600, True, 5.0)
    await store.stats.read([BUCKET, BUCKET + 3600])
    log = OperationLog(store.client)

    rollups = await store.stats.read([BUCKET, BUCKET + 3600])

    assert [(r.function, r.bucket_start) for r in rollups] == [
        ("alpha", BUCKET),
        ("beta", BUCKET),
        ("gamma", BUCKET),
        (long_name, BUCKET + 3600),
    ]
    assert log.names()["Query"] == 2


async def test_a_sync_outcome_settles_in_one_transaction_and_leaves_the_outbox(
    store: DynamoDBStore, admin: Any, table: str
) -> None:
    """No callback owed: no read before the transaction (a round trip per sync invocation)."""
    await count_outcome(store, "alpha", BUCKET, True, 5.0)  # the bucket's index names alpha
    execution = pending_outcome("alpha", True, 6.0)
    await store.executions.save(execution)
    log = OperationLog(store.client)

    settled = await store.executions.settle_announcement(
        execution.execution_id, outcome_count("alpha", BUCKET, True, 6.0)
    )

    assert settled
    assert log.names() == Counter({"TransactWriteItems": 1})
    item = raw_item(admin, table, execution_key(execution.execution_id))
    assert item["announcement_pending"] == {"BOOL": False} and OUTBOX_INDEX not in item
    assert [r.count for r in await store.stats.read([BUCKET], function="alpha")] == [2]


async def test_a_settle_whose_answer_was_lost_counts_once_and_says_so(
    store: DynamoDBStore,
) -> None:
    """botocore sends the transaction again; its condition fails, the item is this settle's."""
    execution = pending_outcome("delta", True, 5.0)
    await store.executions.save(execution)
    lose = LoseFirstAnswer(store.client, "TransactWriteItems")
    count = outcome_count("delta", BUCKET, True, 5.0)

    lose.armed = True
    assert await store.executions.settle_announcement(execution.execution_id, count)

    assert not lose.armed
    assert not await store.executions.settle_announcement(execution.execution_id, count)
    assert [r.count for r in await store.stats.read([BUCKET], function="delta")] == [1]


async def test_an_outcome_saved_before_callback_owed_existed_settles_once(
    store: DynamoDBStore, admin: Any, table: str
) -> None:
    """An item an earlier version wrote has no `callback_owed`: a read decides its settle."""
    owing = pending_outcome("beta", True, 5.0)
    owing.callback_url = "https://hooks.example/cb"
    owed_nothing = pending_outcome("beta", False, 7.0)
    for execution in (owing, owed_nothing):
        await store.executions.save(execution)
        key = {name: {"S": value} for name, value in execution_key(execution.execution_id).items()}
        admin.update_item(TableName=table, Key=key, UpdateExpression="REMOVE callback_owed")

    for execution in (owing, owed_nothing):
        count = outcome_count("beta", BUCKET, bool(execution.success), execution.duration_ms)
        assert await store.executions.settle_announcement(execution.execution_id, count)
        assert not await store.executions.settle_announcement(execution.execution_id, count)

    outbox = await store.executions.list_outbox(time.time() + 1, 10)
    assert [e.execution_id for e in outbox.items] == [owing.execution_id]
    assert [(r.count, r.successes) for r in await store.stats.read([BUCKET], "beta")] == [(2, 1)]


async def test_listing_walks_day_partitions_back_to_the_retention_window(
    store: DynamoDBStore,
) -> None:
    now = time.time()
    by_age = {
        days: make_execution(execution_id=id_at(now - days * DAY_S), function=function)
        for days, function in [(0, "alpha"), (1, "beta"), (3, "alpha"), (4, "alpha")]
    }
    too_old = make_execution(execution_id=id_at(now - (RETENTION_DAYS + 2) * DAY_S))
    for execution in [*by_age.values(), too_old]:
        await store.executions.add(execution)

    assert await list_ids(store, limit=1) == [by_age[d].execution_id for d in (0, 1, 3, 4)]
    assert await list_ids(store, limit=2, function="alpha") == [
        by_age[d].execution_id for d in (0, 3, 4)
    ]
    assert await store.executions.get(too_old.execution_id) == too_old


async def list_ids(store: DynamoDBStore, **query: Any) -> list[str]:
    """Every id of a listing, page after page; each page but the last is full."""
    ids: list[str] = []
    page = await store.executions.list(**query)
    while page.next_cursor is not None:
        assert len(page.items) == query["limit"]
        ids += [e.execution_id for e in page.items]
        page = await store.executions.list(**query, cursor=page.next_cursor)
    return ids + [e.execution_id for e in page.items]


@pytest.mark.parametrize("cursor", ["aGVsbG8", base64.urlsafe_b64encode(b"\xff").decode()])
async def test_a_cursor_that_names_no_execution_id_names_no_page(
    store: DynamoDBStore, cursor: str
) -> None:
    with pytest.raises(CursorNotFound):
        await store.executions.list(cursor=cursor)


async def test_execution_ids_without_a_clock_are_refused(store: DynamoDBStore) -> None:
    with pytest.raises(InvalidRequest):
        await store.executions.add(make_execution(execution_id="not-a-clock-id"))


async def test_floats_round_trip_exactly(store: DynamoDBStore) -> None:
    awkward = [0.1 + 0.2, 5e-324, 1.7976931348623157e308, -2.5e-10, 1 / 3]
    execution = make_execution(
        created_at=1_700_000_000.1234567,
        duration_ms=0.1 + 0.2,
        payload={"floats": awkward, "nested": {"x": 1e-7}},
        result=awkward,
    )
    client = make_client(created_at=1_700_000_000.000001)
    claim = make_claim(expires_at=time.time() + 3600.123456789)
    await store.executions.add(execution)
    await store.clients.add(client)
    await store.clients.revoke(client.client_id, 1_700_000_123.987654321)
    await store.clients.record_use(client.client_id, 2, 1_700_000_456.123456789)
    await store.idempotency.claim(claim, time.time())
    await count_outcome(store, "alpha", BUCKET, True, 0.1)
    await count_outcome(store, "alpha", BUCKET, True, 0.2)

    stored = await store.executions.get(execution.execution_id)
    assert stored == execution
    assert repr(stored.payload) == repr(execution.payload)
    revoked = await store.clients.get(client.client_id)
    assert (revoked.created_at, revoked.revoked_at) == (client.created_at, 1_700_000_123.987654321)
    assert (revoked.uses, revoked.last_used_at) == (2, 1_700_000_456.123456789)
    assert await store.idempotency.claim(make_claim(), time.time()) == claim
    [rollup] = await store.stats.read([BUCKET], function="alpha")
    assert rollup.duration_sum_ms == 0.3  # decimal addition, not 0.30000000000000004


async def test_large_records_are_compressed_and_oversized_ones_refused(
    store: DynamoDBStore, admin: Any, table: str
) -> None:
    rows = [{"n": n, "text": "abc" * 10} for n in range(6000)]  # ~300 KB of JSON
    compressible = make_execution(payload={"rows": rows})
    small = make_execution(payload={"x": 1})
    noise = make_execution(payload=os.urandom(400_000).hex())
    await store.executions.add(compressible)
    await store.executions.add(small)

    assert await store.executions.get(compressible.execution_id) == compressible
    assert "B" in raw_item(admin, table, execution_key(compressible.execution_id))["body"]
    small_body = raw_item(admin, table, execution_key(small.execution_id))["body"]
    assert Execution(**orjson.loads(small_body["S"])) == small  # readable JSON in the console
    with pytest.raises(PayloadTooLarge):
        await store.executions.add(noise)
    with pytest.raises(PayloadTooLarge):
        await store.sessions.add(make_session(data={"blob": os.urandom(400_000).hex()}))
    assert await store.executions.get(noise.execution_id) is None


async def test_missing_table_and_closed_store_are_service_unavailable(
    store: DynamoDBStore, moto_url: str
) -> None:
    missing = DynamoDBStore(f"fnproxy-missing-{uuid.uuid4().hex}", REGION, moto_url)
    try:
        with pytest.raises(ServiceUnavailable, match="ResourceNotFoundException"):
            await missing.ping()
    finally:
        await missing.close()

    await store.close()
    with pytest.raises(ServiceUnavailable, match="closed"):
        await store.executions.get(make_execution().execution_id)


async def test_a_conditional_write_retried_after_its_answer_was_lost_counts_as_done(
    store: DynamoDBStore,
) -> None:
    queued = make_execution()
    await store.executions.add(queued)
    running = make_execution(execution_id=queued.execution_id, status=Status.RUNNING, attempts=1)
    fresh = make_execution()
    claim = make_claim()
    lose = LoseFirstAnswer(store.client, "PutItem")

    lose.armed = True
    assert await store.executions.save(running, only_if_status=Status.OPEN) is True
    lose.armed = True
    await store.executions.add(fresh)  # no Conflict with its own first attempt
    lose.armed = True
    assert await store.idempotency.claim(claim, time.time()) is None

    assert not lose.armed
    assert await store.executions.get(queued.execution_id) == running
    assert await store.executions.get(fresh.execution_id) == fresh
    assert await store.idempotency.claim(make_claim(fingerprint="fp-2"), time.time()) == claim
