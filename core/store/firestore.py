"""The store port on Firestore (native mode), through the async client (gRPC on the event loop).
Layout, indexes and TTL field: `core.store.firestore_schema`.

- Conditional writes are compare-and-sets on one document (`core.store.firestore_documents`);
  the registry's writes, which touch several documents, are in `core.store.firestore_registry`.
- Leases (`core.store.leases`): a claim, a renewal and a save under a lease are each one
  compare-and-set of the execution's document, deciding on the record its body holds.
  `list_runnable` runs one query per open status (`queued`, `running`), oldest first by
  `execution_id` within the retention window, and merges them; live leases are skipped after
  the read, so a page may hold fewer than `limit` items.
- Expiry: executions, sessions, idempotency records and rate-limit counters carry `expire_at`,
  a Timestamp for Firestore TTL policies, which delete expired documents lazily (typically
  within a day), so reads also check `expires_at` and never return an expired record.
- The outbox: an execution document's `outbox` field is true while the ended execution owes
  its announcement or callback; `list_outbox` queries it (composite index outbox, execution_id).
  Its `announcement_pending` field is the flag (it, not the body's copy, counts).
  `settle_announcement` is one batch: the update of those two fields, preconditioned on the
  document's update time, and the rollup's Increments. That update time is the one of this
  process's own save that set the flag, when it made it (one round trip, a sync invocation's
  case); else, or when the document changed since, a read's (read again and retried when the
  document changed meanwhile).
- Stats: rollups are added to with `Increment` transforms (atomic on the server), spread over
  ROLLUP_SHARDS documents per (bucket, function) because Firestore sustains only a modest
  write rate per document; a read sums the shards. Each outcome's Increments are in its own
  settle's batch (nothing is combined): a rollup takes one write per outcome, spread over its
  shards.
- Listing executions: newest first by `execution_id` (ids sort by creation time), with
  `limit(n + 1)` and a cursor that is the page's last id (urlsafe base64). A time range
  (`since`/`until`) is a range of ids (`core.models.id_floor`) on that same field, so the same
  indexes serve it. Filtered listings use the composite indexes in the schema. A listing looks
  back `retention_days` at most (older records have expired), and leaves out records expired
  but not deleted yet, so a page may hold fewer than `limit` items. Ids indexed in creation
  order make one hot index range: Firestore advises about 500 new executions a second at most
  for such an index.
- Bounded queries only: listings take `limit`; a stats read takes at most MAX_ROLLUP_DOCUMENTS
  rollup documents (InvalidRequest beyond: ask for fewer buckets or one function); the clients
  list at most MAX_CLIENTS clients (the oldest; a warning is logged when there are more).
- Records are stored as their indexed fields plus the whole record as an orjson `body` string
  (floats survive exactly); clients are small and stored field by field.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson
from google.api_core.exceptions import Aborted, AlreadyExists, FailedPrecondition
from google.cloud.firestore_v1 import (
    AsyncClient,
    AsyncCollectionReference,
    AsyncDocumentReference,
    AsyncQuery,
    FieldFilter,
    Increment,
    Maximum,
)

from core import histogram
from core.errors import InvalidRequest, ServiceUnavailable
from core.gcp_credentials import library_credentials
from core.models import (
    Client,
    Execution,
    IdempotencyRecord,
    Page,
    Session,
    StatsRollup,
    Status,
    id_floor,
    new_id,
)
from core.store import firestore_schema as schema
from core.store.base import StatsCount
from core.store.cursors import check_limit, decode_cursor, encode_cursor
from core.store.firestore_api_keys import FirestoreApiKeys
from core.store.firestore_documents import (
    DELETE,
    MAX_WRITE_ATTEMPTS,
    Decision,
    body,
    calling,
    create,
    document,
    expire_at,
    read,
    revoke_document,
    update_if_exists,
    write_if,
)
from core.store.firestore_registry import FirestoreFunctions, FirestoreRateLimits
from core.store.firestore_schema import TTL_FIELD
from core.store.leases import (
    claimed,
    held_by,
    outbox_page,
    runnable,
    runnable_page,
    with_lease_of,
)
from core.store.rollups import Tally, tally_of

logger = logging.getLogger("fnproxy.store.firestore")

EMULATOR_VARIABLE = "FIRESTORE_EMULATOR_HOST"
"""Set, the client talks to that emulator, anonymously."""
ROLLUP_SHARDS = 4
MAX_ROLLUP_DOCUMENTS = 20_000  # per stats read (a month of hourly buckets is 744 x shards)
MAX_CLIENTS = 1000
CLOCK_SKEW_S = 300.0  # another instance's clock may be this far behind
DAY_S = 86400
REMEMBERED_SAVES = 10_000
"""At most this many executions saved with their announcement pending are remembered (their
write's update time) for their settle; the oldest are forgotten (then a read finds it)."""


def listing_query(
    executions: AsyncCollectionReference,
    function: str | None,
    status: str | None,
    oldest_id: str,
    before: str | None,
    limit: int,
) -> AsyncQuery:
    """Executions newest first, from `before` (excluded) back to `oldest_id` (included)."""
    query: Any = executions
    if function is not None:
        query = query.where(filter=FieldFilter("function", "==", function))
    if status is not None:
        query = query.where(filter=FieldFilter("status", "==", status))
    query = query.where(filter=FieldFilter("execution_id", ">=", oldest_id))
    query = query.order_by("execution_id", direction=AsyncQuery.DESCENDING)
    if before is not None:
        query = query.start_after({"execution_id": before})
    return query.limit(limit)


def oldest_first_query(
    executions: AsyncCollectionReference,
    field: str,
    value: Any,
    oldest_id: str,
    after: str | None,
    limit: int,
) -> AsyncQuery:
    """Executions whose `field` equals `value` (one open status, or the outbox flag), oldest
    first, from `oldest_id` (included) or after `after`."""
    query = executions.where(filter=FieldFilter(field, "==", value))
    query = query.where(filter=FieldFilter("execution_id", ">=", oldest_id))
    query = query.order_by("execution_id", direction=AsyncQuery.ASCENDING)
    if after is not None:
        query = query.start_after({"execution_id": after})
    return query.limit(limit)


class _Executions:
    def __init__(
        self,
        client: AsyncClient,
        collection: AsyncCollectionReference,
        stats: AsyncCollectionReference,
        retention_days: int,
    ) -> None:
        self._client = client
        self._collection = collection
        self._stats = stats
        self._retention_s = retention_days * DAY_S
        self._saved_pending: OrderedDict[str, tuple[datetime, bool]] = OrderedDict()
        """By execution id: the update time of this process's save that set its announcement
        pending, and whether a callback is owed."""

    def _ref(self, execution_id: str) -> AsyncDocumentReference:
        return self._collection.document(schema.document_id(execution_id))

    async def add(self, execution: Execution) -> None:
        await create(self._ref(execution.execution_id), _execution_data(execution), "execution")

    async def save(
        self,
        execution: Execution,
        *,
        only_if_status: Collection[str] | None = None,
        only_if_owner: str | None = None,
    ) -> bool:
        if only_if_owner is not None:
            return await self._save_leased(execution, only_if_owner, only_if_status)
        data = _execution_data(execution)
        ref = self._ref(execution.execution_id)
        if only_if_status is None:
            with calling("set"):
                written = await ref.set(data)
            self._remember(execution, written.update_time)
            return True
        statuses = frozenset(only_if_status)
        written, _ = await write_if(
            ref, lambda stored: data if stored["status"] in statuses else None
        )
        return written

    def _remember(self, execution: Execution, update_time: datetime) -> None:
        """Keep the update time of a save that set the announcement pending, for its settle."""
        saved = self._saved_pending
        saved.pop(execution.execution_id, None)
        if execution.announcement_pending:
            saved[execution.execution_id] = update_time, execution.callback_pending
            if len(saved) > REMEMBERED_SAVES:
                saved.popitem(last=False)

    async def _save_leased(
        self, execution: Execution, owner: str, statuses: Collection[str] | None
    ) -> bool:
        def decide(stored: Execution) -> Execution | None:
            if statuses is not None and stored.status not in statuses:
                return None
            return with_lease_of(execution, stored) if held_by(stored, owner) else None

        return await self._change(execution.execution_id, decide) is not None

    async def claim(
        self, execution_id: str, owner: str, lease_until: float, now: float
    ) -> Execution | None:
        def decide(stored: Execution) -> Execution | None:
            return claimed(stored, owner, lease_until, now) if runnable(stored, now) else None

        return await self._change(execution_id, decide)

    async def renew(self, execution_id: str, owner: str, lease_until: float) -> bool:
        def decide(stored: Execution) -> Execution | None:
            return replace(stored, lease_until=lease_until) if held_by(stored, owner) else None

        return await self._change(execution_id, decide) is not None

    async def _change(
        self, execution_id: str, decide: Callable[[Execution], Execution | None]
    ) -> Execution | None:
        """Compare-and-set of one record: `decide(stored)` gives the record to write, or None
        to leave it. The record written, or None."""
        ref = document(self._collection, execution_id)
        if ref is None:
            return None
        decided: Execution | None = None

        def decide_data(stored: dict[str, Any]) -> Decision:
            nonlocal decided
            decided = decide(_execution_from(stored))
            return _execution_data(decided) if decided is not None else None

        written, _ = await write_if(ref, decide_data)
        return decided if written else None

    async def list_runnable(
        self, now: float, limit: int, cursor: str | None = None
    ) -> Page[Execution]:
        """One query per open status, oldest first, merged."""
        check_limit(limit)
        after = decode_cursor(cursor) if cursor is not None else None
        oldest = id_floor(now - self._retention_s - CLOCK_SKEW_S)
        queries = [
            oldest_first_query(self._collection, "status", status, oldest, after, limit + 1)
            for status in sorted(Status.OPEN)
        ]
        with calling("query"):
            found = await asyncio.gather(*(query.get() for query in queries))
        scanned = sorted(
            (_execution_from(s.to_dict()) for snapshots in found for s in snapshots),
            key=lambda execution: execution.execution_id,
        )
        return runnable_page(scanned[: limit + 1], limit, now)

    async def list_outbox(
        self, updated_before: float, limit: int, cursor: str | None = None
    ) -> Page[Execution]:
        check_limit(limit)
        after = decode_cursor(cursor) if cursor is not None else None
        oldest = id_floor(updated_before - self._retention_s - CLOCK_SKEW_S)
        query = oldest_first_query(self._collection, "outbox", True, oldest, after, limit + 1)
        with calling("query"):
            snapshots = await query.get()
        scanned = [_execution_from(s.to_dict()) for s in snapshots]
        return outbox_page(scanned, limit, updated_before)

    async def settle_announcement(self, execution_id: str, count: StatsCount) -> bool:
        """A batch clearing the flag (preconditioned on the document's update time) with the
        rollup's Increments: with the update time of this process's own save when it set the
        flag, else (or when the document changed since) with a read's, read again when the
        document changed in between. The batch marks the document with this settle's own
        token: a commit the client sent again after its answer was lost fails its
        precondition, and the token read back says it was this settle's."""
        ref = document(self._collection, execution_id)
        if ref is None:
            return False
        token = new_id()
        saved = self._saved_pending.pop(execution_id, None)
        if saved is not None and await self._clear_announcement(ref, count, token, *saved):
            return True
        for _ in range(MAX_WRITE_ATTEMPTS):
            snapshot = await read(ref)
            data = snapshot.to_dict() if snapshot else None
            stored = _execution_from(data) if data is not None else None
            if stored is None or not stored.announcement_pending:
                return data is not None and data.get("settled_by") == token
            owed = stored.callback_pending
            if await self._clear_announcement(ref, count, token, snapshot.update_time, owed):
                return True
        raise ServiceUnavailable(f"Firestore: {ref.path} kept changing under the stats count")

    async def _clear_announcement(
        self,
        ref: AsyncDocumentReference,
        count: StatsCount,
        token: str,
        update_time: datetime,
        callback_owed: bool,
    ) -> bool:
        """Clear the flag (the document stays in the outbox while a callback is owed), mark the
        document with `token` and add the counts, in one batch, if the document is still as of
        `update_time`."""
        batch = self._client.batch()
        cleared = {"announcement_pending": False, "outbox": callback_owed, "settled_by": token}
        batch.update(ref, cleared, option=AsyncClient.write_option(last_update_time=update_time))
        increments = _increments(tally_of(count))
        for bucket_start in count.buckets:
            stats_ref, fields = _rollup_write(self._stats, bucket_start, count.function)
            batch.set(stats_ref, {**fields, **increments}, merge=True)
        return await _committed(batch)

    async def get(self, execution_id: str) -> Execution | None:
        ref = document(self._collection, execution_id)
        snapshot = await read(ref) if ref is not None else None
        if snapshot is None:
            return None
        execution = _execution_from(snapshot.to_dict())
        return execution if execution.expires_at > time.time() else None

    async def list(
        self,
        *,
        function: str | None = None,
        status: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Execution]:
        """Ids in [id_floor(since), id_floor(until)), and back `retention_days` at most."""
        check_limit(limit)
        before = decode_cursor(cursor) if cursor is not None else None
        if until is not None:
            before = min(before, id_floor(until)) if before is not None else id_floor(until)
        now = time.time()
        oldest = id_floor(now - self._retention_s - CLOCK_SKEW_S)
        if since is not None:
            oldest = max(oldest, id_floor(since))
        query = listing_query(self._collection, function, status, oldest, before, limit + 1)
        with calling("query"):
            snapshots = await query.get()
        page = [_execution_from(s.to_dict()) for s in snapshots[:limit]]
        items = [execution for execution in page if execution.expires_at > now]
        more = len(snapshots) > limit
        return Page(items, encode_cursor(page[-1].execution_id) if more else None)


async def _committed(batch: Any) -> bool:
    """Commit the batch; False when nothing of it was written: a precondition failed (a
    document changed meanwhile), or Firestore aborted it (contention on its documents)."""
    with calling("commit"):
        try:
            await batch.commit()
        except (FailedPrecondition, Aborted):
            return False
    return True


def _execution_data(execution: Execution) -> dict[str, Any]:
    return {
        "execution_id": execution.execution_id,
        "function": execution.function,
        "status": execution.status,
        "expires_at": execution.expires_at,
        TTL_FIELD: expire_at(execution.expires_at),
        "outbox": execution.in_outbox,
        "announcement_pending": execution.announcement_pending,
        "body": body(execution, "execution"),
    }


def _execution_from(data: dict[str, Any]) -> Execution:
    """The record of a document: its body, with the `announcement_pending` field's flag (a
    settle clears the field alone); a document written before the field has its body's."""
    execution = Execution.from_record(orjson.loads(data["body"]))
    if "announcement_pending" in data:
        execution.announcement_pending = data["announcement_pending"]
    return execution


class _Idempotency:
    def __init__(self, collection: AsyncCollectionReference) -> None:
        self._collection = collection

    async def claim(self, record: IdempotencyRecord, now: float) -> IdempotencyRecord | None:
        """Create the record (one write); when one exists, return it while live, else take it
        over with a compare-and-set."""
        ref = self._collection.document(schema.idempotency_id(record.caller, record.key))
        data = {
            "caller": record.caller,
            "key": record.key,
            "fingerprint": record.fingerprint,
            "execution_id": record.execution_id,
            "expires_at": record.expires_at,
            TTL_FIELD: expire_at(record.expires_at),
        }

        def take_over(stored: dict[str, Any]) -> Decision:
            """An expired claim, or ours already (our create retried after its lost answer)."""
            return data if stored["expires_at"] <= now or stored == data else None

        for _ in range(MAX_WRITE_ATTEMPTS):
            with calling("create"):
                try:
                    await ref.create(data)
                    return None
                except AlreadyExists:
                    pass
            taken, stored = await write_if(ref, take_over)
            if taken:
                return None
            if stored is not None:
                return _claim_from(stored)
            # deleted meanwhile (by the TTL policy): create it again
        raise ServiceUnavailable(
            f"Firestore: idempotency record contended under {MAX_WRITE_ATTEMPTS} claims"
        )

    async def extend(self, caller: str, key: str, execution_id: str, expires_at: float) -> bool:
        ref = self._collection.document(schema.idempotency_id(caller, key))
        extended = {"expires_at": expires_at, TTL_FIELD: expire_at(expires_at)}

        def ours(stored: dict[str, Any]) -> Decision:
            return {**stored, **extended} if stored["execution_id"] == execution_id else None

        written, _ = await write_if(ref, ours)
        return written


def _claim_from(stored: dict[str, Any]) -> IdempotencyRecord:
    return IdempotencyRecord(
        caller=stored["caller"],
        key=stored["key"],
        fingerprint=stored["fingerprint"],
        execution_id=stored["execution_id"],
        expires_at=stored["expires_at"],
    )


class _Sessions:
    def __init__(self, collection: AsyncCollectionReference) -> None:
        self._collection = collection

    def _ref(self, session_id: str) -> AsyncDocumentReference:
        return self._collection.document(schema.document_id(session_id))

    async def add(self, session: Session) -> None:
        await create(self._ref(session.session_id), _session_data(session), "session")

    async def get(self, session_id: str, now: float) -> Session | None:
        ref = document(self._collection, session_id)
        snapshot = await read(ref) if ref is not None else None
        if snapshot is None or snapshot.get("expires_at") <= now:
            return None
        return Session(**orjson.loads(snapshot.get("body")))

    async def replace(self, session: Session, expected_version: int) -> bool:
        """Writes only over a live session of `expected_version`."""
        ref = document(self._collection, session.session_id)
        if ref is None:
            return False
        data = _session_data(session)
        now = time.time()

        def current(stored: dict[str, Any]) -> Decision:
            live = stored["expires_at"] > now
            return data if live and stored["version"] == expected_version else None

        written, _ = await write_if(ref, current)
        return written

    async def delete(self, session_id: str) -> bool:
        """Deletes a live session (an expired one is left to the TTL policy)."""
        ref = document(self._collection, session_id)
        if ref is None:
            return False
        now = time.time()
        deleted, _ = await write_if(
            ref, lambda stored: DELETE if stored["expires_at"] > now else None
        )
        return deleted


def _session_data(session: Session) -> dict[str, Any]:
    return {
        "version": session.version,
        "expires_at": session.expires_at,
        TTL_FIELD: expire_at(session.expires_at),
        "body": body(session, "session"),
    }


class _Clients:
    def __init__(self, collection: AsyncCollectionReference) -> None:
        self._collection = collection

    async def add(self, client: Client) -> None:
        ref = self._collection.document(schema.document_id(client.client_id))
        await create(ref, client.to_dict(), "client")

    async def get(self, client_id: str) -> Client | None:
        ref = document(self._collection, client_id)
        snapshot = await read(ref) if ref is not None else None
        return Client(**snapshot.to_dict()) if snapshot is not None else None

    async def list(self) -> list[Client]:
        """The oldest MAX_CLIENTS clients, by creation (then id)."""
        query = self._collection.order_by("created_at").limit(MAX_CLIENTS + 1)
        with calling("query"):
            snapshots = await query.get()
        if len(snapshots) > MAX_CLIENTS:
            logger.warning("more than %d clients: listing the oldest %d", MAX_CLIENTS, MAX_CLIENTS)
        clients = [Client(**s.to_dict()) for s in snapshots[:MAX_CLIENTS]]
        return sorted(clients, key=lambda c: (c.created_at, c.client_id))

    async def revoke(self, client_id: str, at: float) -> bool:
        """Sets `revoked_at` (kept when already revoked); False when the client is unknown."""
        return await revoke_document(document(self._collection, client_id), at)

    async def set_sigv4(self, client_id: str, sealed: str) -> bool:
        return await self._update(client_id, {"sigv4_sealed": sealed})

    async def record_use(self, client_id: str, uses: int, last_used_at: float) -> bool:
        """Server-side transforms, so concurrent uses all count."""
        return await self._update(
            client_id, {"uses": Increment(uses), "last_used_at": Maximum(last_used_at)}
        )

    async def _update(self, client_id: str, fields: dict[str, Any]) -> bool:
        ref = document(self._collection, client_id)
        return ref is not None and await update_if_exists(ref, fields)


def rollups_query(
    stats: AsyncCollectionReference, first: int, last: int, function: str | None
) -> AsyncQuery:
    """Rollup shards of the buckets from `first` to `last`: one function's, or every one's."""
    query: Any = stats
    if function is not None:
        query = query.where(filter=FieldFilter("function", "==", function))
    query = query.where(filter=FieldFilter("bucket_start", ">=", first))
    query = query.where(filter=FieldFilter("bucket_start", "<=", last))
    return query.limit(MAX_ROLLUP_DOCUMENTS + 1)


def _increments(tally: Tally) -> dict[str, Any]:
    return {
        "count": Increment(tally.count),
        "successes": Increment(tally.successes),
        "failures": Increment(tally.failures),
        "duration_sum_ms": Increment(tally.duration_sum_ms),
        "histogram": {f"h{slot}": Increment(n) for slot, n in tally.slots.items()},
    }


def _rollup_write(
    stats: AsyncCollectionReference, bucket_start: int, function: str
) -> tuple[AsyncDocumentReference, dict[str, Any]]:
    """A random shard of the rollup of (bucket_start, function), and its key fields."""
    shard = random.randrange(ROLLUP_SHARDS)
    ref = stats.document(schema.stats_id(bucket_start, function, shard))
    return ref, {"bucket_start": bucket_start, "function": function, "shard": shard}


class _Stats:
    """Rollups sharded over ROLLUP_SHARDS documents, each counted into a random shard by
    `settle_announcement` (`_rollup_write`, `_increments`)."""

    def __init__(self, collection: AsyncCollectionReference) -> None:
        self._collection = collection

    async def read(
        self, bucket_starts: Collection[int], function: str | None = None
    ) -> list[StatsRollup]:
        """One range query over the buckets' shards, summed per (bucket, function)."""
        buckets = set(bucket_starts)
        if not buckets:
            return []
        query = rollups_query(self._collection, min(buckets), max(buckets), function)
        with calling("query"):
            snapshots = await query.get()
        if len(snapshots) > MAX_ROLLUP_DOCUMENTS:
            raise InvalidRequest(
                f"more than {MAX_ROLLUP_DOCUMENTS} rollups in this window: ask for a shorter "
                "one or for one function"
            )
        shards: defaultdict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
        for snapshot in snapshots:
            shard = snapshot.to_dict()
            if shard["bucket_start"] in buckets:
                shards[(shard["bucket_start"], shard["function"])].append(shard)
        return [_rollup_from(key, shards[key]) for key in sorted(shards)]


def _rollup_from(key: tuple[int, str], shards: list[dict[str, Any]]) -> StatsRollup:
    slots = histogram.empty()
    for shard in shards:
        for name, n in shard.get("histogram", {}).items():
            slots[int(name.removeprefix("h"))] += n
    return StatsRollup(
        function=key[1],
        bucket_start=key[0],
        count=sum(shard["count"] for shard in shards),
        successes=sum(shard["successes"] for shard in shards),
        failures=sum(shard["failures"] for shard in shards),
        duration_sum_ms=math.fsum(shard["duration_sum_ms"] for shard in shards),
        histogram=slots,
    )


class FirestoreStore:
    """The `core.store.base.Store` port on Firestore collections `{prefix}_<kind>` of
    `database` in `project`. `retention_days` is how far back a listing looks (the history
    retention window). With FIRESTORE_EMULATOR_HOST set, the client talks to that emulator;
    else it has the process's default credentials (`core.gcp_credentials`)."""

    def __init__(
        self,
        project: str,
        database: str = "(default)",
        prefix: str = "fnproxy",
        retention_days: int = 30,
    ) -> None:
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        self.client = AsyncClient(
            project=project,
            database=database,
            credentials=library_credentials(EMULATOR_VARIABLE),
        )
        self.prefix = prefix
        collections = {
            kind: self.client.collection(schema.collection(prefix, kind)) for kind in schema.KINDS
        }
        self.executions = _Executions(
            self.client,
            collections[schema.EXECUTIONS],
            collections[schema.STATS],
            retention_days,
        )
        self.idempotency = _Idempotency(collections[schema.IDEMPOTENCY])
        self.sessions = _Sessions(collections[schema.SESSIONS])
        self.clients = _Clients(collections[schema.CLIENTS])
        self.api_keys = FirestoreApiKeys(collections[schema.API_KEYS])
        self.stats = _Stats(collections[schema.STATS])
        self.functions = FirestoreFunctions(self.client, collections[schema.FUNCTIONS], prefix)
        self.rate_limits = FirestoreRateLimits(collections[schema.RATE_LIMITS])
        self._ping = collections[schema.EXECUTIONS].document("ping")

    async def ping(self) -> None:
        """One document read (of an id no execution has)."""
        await read(self._ping)

    async def close(self) -> None:
        """Close the client's channel (AsyncClient has no close of its own)."""
        api = self.client._firestore_api_internal
        if api is not None:
            await api.transport.close()
