"""The store port on DynamoDB: one table (layout in `core.store.dynamodb_schema`), reached
through one botocore client whose synchronous calls run on a thread pool as large as its
connection pool, never on the event loop (`core.store.dynamodb_table`). The function registry
and the rate-limit counters are in `core.store.dynamodb_registry`.

- Conditional writes: an execution `add` and a session `add` need the key to be free, a
  conditional `save` needs one of the listed statuses, a session `replace` the expected version
  (and a live session), an idempotency claim a free or expired key. A failed condition returns
  the stored item in the same call (`ReturnValuesOnConditionCheckFailure`): a losing claim gets
  the winner's record from it, and a write that finds exactly its own item counts as done (a
  retry by botocore after the first attempt's answer was lost).
- Leases (`core.store.leases`): an execution item carries `lease_owner` and `lease_until` as
  attributes beside `status`. A claim reads the item and puts the claimed record conditional on
  the status and lease it read; a renewal sets `lease_until` alone (one small UpdateItem, no
  index write), so that attribute, not the body's copy, is the lease's end; a save under a lease
  is one UpdateItem of everything but the lease, conditional on `running` under its owner.
  `list_runnable` walks the by_status index's `queued` and `running` partitions day by day,
  oldest first, from the retention window's start (or the cursor's day): a full pass costs two
  small queries per day of the window, which suits recovery; the AWS queue is SQS, not this.
- The outbox: an ended execution that owes its announcement or callback has the sparse
  `by_outbox` index's key (its id's day), and `announcement_pending` as an attribute (it, not
  the body's copy, counts), beside `callback_owed`. `settle_announcement` is one
  TransactWriteItems: the execution's update conditional on the flag and on no callback owed
  (it leaves the index) and the rollup's ADD; when the item owes a callback, or predates
  `callback_owed`, that fails, and a read decides a second one. `list_outbox` walks
  `by_outbox` day by day as `list_runnable` walks by_status.
- Expiry: executions, sessions and idempotency records carry `ttl` (epoch seconds). DynamoDB
  deletes expired items lazily (often within days), so reads also check `expires_at` and never
  return an expired item.
- Stats: one item per (bucket, function), added to with an atomic `ADD` per outcome, in the
  transaction of the outcome's `settle_announcement`: one write per outcome, nothing
  coalesced, so one rollup item takes at most what one partition writes (1,000 write units a
  second, two per transactional write). Each bucket's index
  item names its functions, so every function's rollups are read by key, never by a Query per
  bucket (`core.store.dynamodb_stats`).
- Listing executions (no Scan anywhere): a keys-only GSI per filter combination, partitioned by
  the UTC day of the execution id, gives the ids newest first; the records themselves come from
  the table with one consistent BatchGetItem. Day partitions keep each partition bounded and let
  old days age out, but all of one day's executions share one partition key per index: roughly
  1000 new executions a second per index before DynamoDB throttles index writes (a random
  suffix per day, merged on read, would lift that). Keys-only indexes are written only when an
  execution is created or changes status, not on every save, and hold no copy of the bodies. The
  price is on the read side: a listing walks back day by day, to the history retention window at
  most (1, 2, 4, then 8 days per round, queried in parallel), so a sparse filter's last page
  costs up to `retention_days` small queries. A record whose status changed since the index
  was read is left out of a page filtered by status, so a page may hold fewer than `limit` items.
  The cursor is the last id of the page (urlsafe base64): the day to resume from is in the id.
  `since`/`until` are a range of ids (`core.models.id_floor`): they bound the days walked (from
  the day of `until` back to the day of `since`) and add a range condition on the index's sort
  key, so a time window costs queries of its own days only.
- Large records: bodies over 16 KiB are stored zlib-compressed; one still over the item size
  limit is refused with `PayloadTooLarge` rather than failing inside DynamoDB.
- Numbers: typed attributes go through `Decimal(str(x))` and come back as the field's type, so
  floats survive exactly; JSON bodies (orjson) keep nested floats exact by themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from botocore.config import Config

from core.aws_clients import aws_client
from core.errors import Conflict, CursorNotFound, InvalidRequest, ServiceUnavailable
from core.models import (
    Client,
    Execution,
    IdempotencyRecord,
    Page,
    Session,
    Status,
    id_floor,
    new_id,
)
from core.store import dynamodb_schema as schema
from core.store.base import StatsCount
from core.store.cursors import NO_SUCH_PAGE, check_limit, decode_cursor, encode_cursor
from core.store.dynamodb_api_keys import ApiKeys, record_use, update_existing
from core.store.dynamodb_registry import Functions, RateLimits
from core.store.dynamodb_schema import TABLE_DEFINITION, TTL_ATTRIBUTE, create_table
from core.store.dynamodb_stats import RollupIndex, Stats, stats_update
from core.store.dynamodb_table import (
    ConditionFailed,
    Table,
    TransactionCanceled,
    decode_body,
    encode_body,
    from_attributes,
    to_attributes,
    ttl_seconds,
)
from core.store.leases import claimed, runnable
from core.store.rollups import tally_of

__all__ = ["TABLE_DEFINITION", "TTL_ATTRIBUTE", "DynamoDBStore", "create_table"]

MAX_DAYS_PER_ROUND = 8
LEASE_ATTRIBUTES = ("lease_owner", "lease_until")
HELD_BY = "#status = :running AND lease_owner = :owner"
"""The condition of a write under a lease: the execution runs under `:owner`'s lease."""
ANNOUNCING = "announcement_pending = :true"
NO_CALLBACK_OWED = ANNOUNCING + " AND callback_owed = :false"
"""The conditions of a settle: the flag is set; and also, the item owes no callback."""
SETTLE_ATTEMPTS = 3  # transactions of one settle: the guess, then what reads found
CLOCK_SKEW_S = 300.0  # another instance's clock may be this far ahead (ids of "tomorrow")


def _decode_cursor(cursor: str) -> tuple[str, date]:
    """The id a cursor names and that id's day."""
    execution_id = decode_cursor(cursor)
    try:
        return execution_id, schema.execution_day(execution_id)
    except InvalidRequest:
        raise CursorNotFound(NO_SUCH_PAGE) from None


class _Executions:
    def __init__(self, table: Table, rollup_index: RollupIndex, retention_days: int) -> None:
        self._table = table
        self._rollup_index = rollup_index
        self._retention_days = retention_days

    async def add(self, execution: Execution) -> None:
        try:
            await self._table.put(_execution_item(execution), "attribute_not_exists(pk)")
        except ConditionFailed:
            raise Conflict("execution already exists") from None

    async def save(
        self,
        execution: Execution,
        *,
        only_if_status: Collection[str] | None = None,
        only_if_owner: str | None = None,
    ) -> bool:
        if only_if_owner is not None:
            return await self._save_leased(execution, only_if_owner, only_if_status)
        item = _execution_item(execution)
        if only_if_status is None:
            await self._table.put(item)
            return True
        statuses = {f":s{n}": status for n, status in enumerate(sorted(only_if_status))}
        if not statuses:
            return False
        try:
            await self._table.put(
                item,
                f"#status IN ({', '.join(statuses)})",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_attributes(statuses),
            )
        except ConditionFailed:
            return False
        return True

    async def _save_leased(
        self, execution: Execution, owner: str, statuses: Collection[str] | None
    ) -> bool:
        """One UpdateItem of every attribute but the lease's, while `owner` holds it."""
        if statuses is not None and Status.RUNNING not in statuses:
            return False
        item = _execution_item(replace(execution, lease_owner=owner))
        changes = {name: item[name] for name in item.keys() - {"pk", "sk", *LEASE_ATTRIBUTES}}
        try:
            await self._table.call(
                "update_item",
                TableName=self._table.name,
                Key=to_attributes(schema.execution_key(execution.execution_id)),
                UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in changes),
                ConditionExpression=HELD_BY,
                ExpressionAttributeNames={f"#{name}": name for name in changes},
                ExpressionAttributeValues={
                    **{f":{name}": value for name, value in changes.items()},
                    **to_attributes({":running": Status.RUNNING, ":owner": owner}),
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConditionFailed as failed:  # unless it is this save's own, retried by botocore
            return failed.item is not None and failed.item.get("body") == item["body"]
        return True

    async def claim(
        self, execution_id: str, owner: str, lease_until: float, now: float
    ) -> Execution | None:
        """A read, then a put conditional on the status and lease that read found."""
        item = await self._table.get(schema.execution_key(execution_id))
        if item is None:
            return None
        stored = _execution_from(item)
        if not runnable(stored, now):
            return None
        taken = claimed(stored, owner, lease_until, now)
        try:
            await self._table.put(_execution_item(taken), **_unchanged(stored))
        except ConditionFailed:
            return None
        return taken

    async def renew(self, execution_id: str, owner: str, lease_until: float) -> bool:
        """Sets the `lease_until` attribute alone (reads take it over the body's)."""
        try:
            await self._table.call(
                "update_item",
                TableName=self._table.name,
                Key=to_attributes(schema.execution_key(execution_id)),
                UpdateExpression="SET lease_until = :until",
                ConditionExpression=HELD_BY,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_attributes(
                    {":until": lease_until, ":running": Status.RUNNING, ":owner": owner}
                ),
            )
        except ConditionFailed:
            return False
        return True

    async def list_runnable(
        self, now: float, limit: int, cursor: str | None = None
    ) -> Page[Execution]:
        """The by_status index's queued and running partitions, day by day from the oldest
        (the retention window's start, or the cursor's day) up to today."""
        check_limit(limit)
        after = _decode_cursor(cursor)[0] if cursor is not None else None
        days = self._days_after(now, after)
        ids = await self._oldest_ids(days, after, limit + 1, _open_partitions)
        page_ids = ids[:limit]
        items = [e for e in await self._fetch(page_ids) if runnable(e, now)]
        return Page(items, encode_cursor(page_ids[-1]) if len(ids) > limit else None)

    async def list_outbox(
        self, updated_before: float, limit: int, cursor: str | None = None
    ) -> Page[Execution]:
        """The by_outbox index, day by day from the oldest (as `list_runnable`)."""
        check_limit(limit)
        after = _decode_cursor(cursor)[0] if cursor is not None else None
        days = self._days_after(updated_before, after)
        ids = await self._oldest_ids(days, after, limit + 1, _outbox_partition)
        page_ids = ids[:limit]
        items = [
            e for e in await self._fetch(page_ids) if e.in_outbox and e.updated_at < updated_before
        ]
        return Page(items, encode_cursor(page_ids[-1]) if len(ids) > limit else None)

    async def settle_announcement(self, execution_id: str, count: StatsCount) -> bool:
        """One transaction conditional on the flag and on no callback being owed (the item's
        `callback_owed`), which also takes the execution out of the outbox index: a sync
        outcome's settle is one round trip. When that condition fails (a callback is owed, the
        flag was cleared already, or the item was saved before `callback_owed` existed), a read
        tells which, and the transaction for what it found follows. Each transaction marks the
        item with this settle's own token: a transaction botocore sent again after its answer
        was lost fails its condition, and the token read back says it was this settle's. The
        rollups' buckets name the function in their index first (`RollupIndex.note`)."""
        counted = _rollup_updates(count)
        await self._rollup_index.note(count.buckets, count.function)
        token = new_id()
        condition, leave_outbox = NO_CALLBACK_OWED, True
        for _ in range(SETTLE_ATTEMPTS):
            cleared = _cleared(execution_id, condition, leave_outbox, token)
            try:
                await self._table.transact([{"Update": cleared}, *counted])
            except TransactionCanceled:  # a condition failed: nothing of it was written
                item = await self._table.get(schema.execution_key(execution_id))
                stored = _execution_from(item) if item is not None else None
                if stored is None or not stored.announcement_pending:
                    return stored is not None and item.get("settled_by") == {"S": token}
                condition, leave_outbox = ANNOUNCING, not stored.callback_pending
            else:
                return True
        raise ServiceUnavailable(f"DynamoDB: execution {execution_id} kept changing under a count")

    def _days_after(self, now: float, after: str | None) -> list[date]:
        """The days that may hold open ids above `after`, oldest first: from the retention
        window's start (or the day of `after`) up to today, clock skew allowed."""
        oldest = schema.utc_day(now - self._retention_days * schema.DAY_S)
        if after is not None:
            oldest = max(oldest, schema.execution_day(after))
        newest = schema.utc_day(now + CLOCK_SKEW_S)
        return [oldest + timedelta(days=n) for n in range((newest - oldest).days + 1)]

    async def _oldest_ids(
        self, days: list[date], after: str | None, want: int, partitions: DayPartitions
    ) -> list[str]:
        """Up to `want` ids above `after` in the index partitions of these days, oldest first.
        Days are queried in rounds of 1, 2, 4, ... at once, every partition of each."""
        ids: list[str] = []
        width = 1
        while days and len(ids) < want:
            chosen, days = days[:width], days[width:]
            missing = want - len(ids)
            found = await asyncio.gather(
                *(
                    self._index_ids(index, partition, after, missing)
                    for day in chosen
                    for index, partition in partitions(day)
                )
            )
            ids += sorted(i for day_ids in found for i in day_ids)
            width = min(width * 2, MAX_DAYS_PER_ROUND)
        return ids[:want]

    async def _index_ids(
        self, index: str, partition: str, after: str | None, want: int
    ) -> list[str]:
        """One index partition's oldest ids above `after`, up to `want`."""
        if after is None:
            return await self._partition_ids(index, partition, None, {}, want)
        condition = f"{schema.LISTING_SORT_KEY} > :after"
        return await self._partition_ids(index, partition, condition, {":after": after}, want)

    async def _partition_ids(
        self,
        index: str,
        partition: str,
        sort_key_condition: str | None,
        values: dict[str, Any],
        want: int,
        *,
        newest_first: bool = False,
        keep: Callable[[str], bool] | None = None,
    ) -> list[str]:
        """Up to `want` ids of one index partition, oldest first (or newest first), whose sort
        key meets `sort_key_condition` (on `values`) and that `keep` keeps, page after page."""
        condition = "#partition = :partition"
        if sort_key_condition is not None:
            condition += f" AND {sort_key_condition}"
        params: dict[str, Any] = {
            "TableName": self._table.name,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#partition": index},
            "ExpressionAttributeValues": to_attributes({":partition": partition, **values}),
        }
        if newest_first:
            params["ScanIndexForward"] = False
        ids: list[str] = []
        while len(ids) < want:
            response = await self._table.call("query", Limit=want - len(ids), **params)
            found = (item[schema.LISTING_SORT_KEY]["S"] for item in response["Items"])
            ids += [i for i in found if keep is None or keep(i)]
            if "LastEvaluatedKey" not in response:
                break
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return ids

    async def get(self, execution_id: str) -> Execution | None:
        item = await self._table.get(schema.execution_key(execution_id))
        if item is None:
            return None
        execution = _execution_from(item)
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
        check_limit(limit)
        before = _decode_cursor(cursor)[0] if cursor is not None else None
        if until is not None:
            before = min(before or "~", id_floor(until))
        at_or_after = id_floor(since) if since is not None else None
        if before is not None and at_or_after is not None and at_or_after >= before:
            return Page([])
        now = time.time()
        ids = await self._newest_ids(
            self._days(now, before, since), function, status, before, at_or_after, limit + 1
        )
        page_ids = ids[:limit]
        items = [
            execution
            for execution in await self._fetch(page_ids)
            if execution.expires_at > now
            and function in (None, execution.function)
            and status in (None, execution.status)
        ]
        return Page(items, encode_cursor(page_ids[-1]) if len(ids) > limit else None)

    def _days(self, now: float, before: str | None, since: float | None) -> list[date]:
        """The days that may hold ids below `before` created at or after `since`, newest
        first: from the day of `before` (or today, clock skew allowed) back to the retention
        window's start or the day of `since`, whichever is later."""
        newest = now + CLOCK_SKEW_S
        first = schema.utc_day(newest)
        if before is not None and before < id_floor(newest):
            first = schema.execution_day(before)
        oldest = schema.utc_day(now - self._retention_days * schema.DAY_S)
        if since is not None:
            oldest = max(oldest, schema.utc_day(min(since, newest)))
        return [first - timedelta(days=n) for n in range((first - oldest).days + 1)]

    async def _newest_ids(
        self,
        days: list[date],
        function: str | None,
        status: str | None,
        before: str | None,
        at_or_after: str | None,
        want: int,
    ) -> list[str]:
        """Up to `want` ids in [`at_or_after`, `before`), newest first. Days are queried in
        rounds of 1, 2, 4, ... at once; each gives its newest ids up to what was still missing
        when its round began."""
        ids: list[str] = []
        width = 1
        while days and len(ids) < want:
            chosen, days = days[:width], days[width:]
            missing = want - len(ids)
            per_day = await asyncio.gather(
                *(
                    self._day_ids(day, function, status, before, at_or_after, missing)
                    for day in chosen
                )
            )
            for day_ids in per_day:
                ids += day_ids
            width = min(width * 2, MAX_DAYS_PER_ROUND)
        return ids[:want]

    async def _day_ids(
        self,
        day: date,
        function: str | None,
        status: str | None,
        before: str | None,
        at_or_after: str | None,
        want: int,
    ) -> list[str]:
        """One day's newest ids in [`at_or_after`, `before`), up to `want`. A key condition
        holds one range on the sort key, and BETWEEN includes both ends: with both bounds the
        query asks for [`at_or_after`, `before`] and `before` itself is left out here."""
        index, partition = schema.listing_partition(day, function, status)
        condition = None
        if before is not None and at_or_after is not None:
            condition = f"{schema.LISTING_SORT_KEY} BETWEEN :from AND :before"
        elif before is not None:
            condition = f"{schema.LISTING_SORT_KEY} < :before"
        elif at_or_after is not None:
            condition = f"{schema.LISTING_SORT_KEY} >= :from"
        values: dict[str, Any] = {}
        if before is not None:
            values[":before"] = before
        if at_or_after is not None:
            values[":from"] = at_or_after
        return await self._partition_ids(
            index,
            partition,
            condition,
            values,
            want,
            newest_first=True,
            keep=(lambda i: i < before) if before is not None else None,
        )

    async def _fetch(self, execution_ids: list[str]) -> list[Execution]:
        """The records of these ids that still exist, in the order of the ids."""
        items = await self._table.batch_get([schema.execution_key(i) for i in execution_ids])
        records = (_execution_from(item) for item in items)
        found = {execution.execution_id: execution for execution in records}
        return [found[i] for i in execution_ids if i in found]


DayPartitions = Callable[[date], list[tuple[str, str]]]
"""The (index, partition key) pairs a walk over days queries for one day."""


def _open_partitions(day: date) -> list[tuple[str, str]]:
    return [schema.listing_partition(day, None, status) for status in Status.OPEN]


def _cleared(execution_id: str, condition: str, leave_outbox: bool, token: str) -> dict[str, Any]:
    """The update clearing the flag (and the outbox index's key if `leave_outbox`) if
    `condition` holds, marking the item with the settle's `token`."""
    return {
        "Key": to_attributes(schema.execution_key(execution_id)),
        "UpdateExpression": "SET announcement_pending = :false, settled_by = :token"
        + (f" REMOVE {schema.OUTBOX_INDEX}" if leave_outbox else ""),
        "ConditionExpression": condition,
        "ExpressionAttributeValues": to_attributes(
            {":true": True, ":false": False, ":token": token}
        ),
    }


def _rollup_updates(count: StatsCount) -> list[dict[str, Any]]:
    """The transaction's ADD of `count` to each of its buckets' rollups."""
    update = stats_update(tally_of(count))
    return [
        {"Update": {"Key": to_attributes(schema.stats_key(bucket, count.function)), **update}}
        for bucket in count.buckets
    ]


def _outbox_partition(day: date) -> list[tuple[str, str]]:
    return [(schema.OUTBOX_INDEX, day.isoformat())]


def _execution_item(execution: Execution) -> dict[str, Any]:
    day = schema.execution_day(execution.execution_id)
    return {
        **to_attributes(
            {
                **schema.execution_key(execution.execution_id),
                schema.LISTING_SORT_KEY: execution.execution_id,
                "status": execution.status,
                "lease_owner": execution.lease_owner,
                "lease_until": execution.lease_until,
                "announcement_pending": execution.announcement_pending,
                "callback_owed": execution.callback_pending,
                schema.OUTBOX_INDEX: day.isoformat() if execution.in_outbox else None,
                TTL_ATTRIBUTE: ttl_seconds(execution.expires_at),
                **schema.listing_keys(day, execution.function, execution.status),
            }
        ),
        "body": encode_body(execution, "execution"),
    }


def _execution_from(item: dict[str, Any]) -> Execution:
    """The record of an item. `renew` moves the `lease_until` attribute alone: it, not the
    body's copy, is the lease's end."""
    execution = Execution.from_record(decode_body(item["body"]))
    if "lease_until" in item:
        execution.lease_until = float(item["lease_until"]["N"])
    if "announcement_pending" in item:
        execution.announcement_pending = item["announcement_pending"]["BOOL"]
    return execution


def _unchanged(stored: Execution) -> dict[str, Any]:
    """Put parameters: the condition that the item still has the status and lease of
    `stored` (a claim, a renewal or the end of the run in between fails it)."""
    seen = {"status": stored.status, "lease_owner": stored.lease_owner}
    seen["lease_until"] = stored.lease_until
    conditions = [
        f"#{name} = :{name}" if value is not None else f"attribute_not_exists(#{name})"
        for name, value in seen.items()
    ]
    return {
        "condition": " AND ".join(conditions),
        "ExpressionAttributeNames": {f"#{name}": name for name in seen},
        "ExpressionAttributeValues": to_attributes({f":{n}": v for n, v in seen.items()}),
    }


class _Idempotency:
    def __init__(self, table: Table) -> None:
        self._table = table

    async def claim(self, record: IdempotencyRecord, now: float) -> IdempotencyRecord | None:
        item = to_attributes(
            {
                **schema.idempotency_key(record.caller, record.key),
                "fingerprint": record.fingerprint,
                "execution_id": record.execution_id,
                "expires_at": record.expires_at,
                TTL_ATTRIBUTE: ttl_seconds(record.expires_at),
            }
        )
        try:
            await self._table.put(
                item,
                "attribute_not_exists(pk) OR expires_at <= :now",
                ExpressionAttributeValues=to_attributes({":now": now}),
            )
        except ConditionFailed as lost:
            if lost.item is None:
                raise ServiceUnavailable("DynamoDB did not return the winning claim") from None
            winner = from_attributes(lost.item)
            return IdempotencyRecord(
                caller=record.caller,
                key=record.key,
                fingerprint=winner["fingerprint"],
                execution_id=winner["execution_id"],
                expires_at=float(winner["expires_at"]),
            )
        return None

    async def extend(self, caller: str, key: str, execution_id: str, expires_at: float) -> bool:
        try:
            await self._table.call(
                "update_item",
                TableName=self._table.name,
                Key=to_attributes(schema.idempotency_key(caller, key)),
                UpdateExpression="SET expires_at = :expires_at, #ttl = :ttl",
                ConditionExpression="execution_id = :execution_id",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues=to_attributes(
                    {
                        ":expires_at": expires_at,
                        ":ttl": ttl_seconds(expires_at),
                        ":execution_id": execution_id,
                    }
                ),
            )
        except ConditionFailed:
            return False
        return True


class _Sessions:
    def __init__(self, table: Table) -> None:
        self._table = table

    async def add(self, session: Session) -> None:
        try:
            await self._table.put(_session_item(session), "attribute_not_exists(pk)")
        except ConditionFailed:
            raise Conflict("session already exists") from None

    async def get(self, session_id: str, now: float) -> Session | None:
        item = await self._table.get(schema.session_key(session_id))
        if item is None:
            return None
        session = Session(**decode_body(item["body"]))
        return session if session.expires_at > now else None

    async def replace(self, session: Session, expected_version: int) -> bool:
        """Writes only over a live session of `expected_version`."""
        try:
            await self._table.put(
                _session_item(session),
                "version = :expected AND expires_at > :now",
                ExpressionAttributeValues=to_attributes(
                    {":expected": expected_version, ":now": time.time()}
                ),
            )
        except ConditionFailed:
            return False
        return True

    async def delete(self, session_id: str) -> bool:
        """Deletes the item; True only when the session was still live."""
        response = await self._table.call(
            "delete_item",
            TableName=self._table.name,
            Key=to_attributes(schema.session_key(session_id)),
            ReturnValues="ALL_OLD",
        )
        old = response.get("Attributes")
        return old is not None and float(from_attributes(old)["expires_at"]) > time.time()


def _session_item(session: Session) -> dict[str, Any]:
    return {
        **to_attributes(
            {
                **schema.session_key(session.session_id),
                "version": session.version,
                "expires_at": session.expires_at,
                TTL_ATTRIBUTE: ttl_seconds(session.expires_at),
            }
        ),
        "body": encode_body(session, "session"),
    }


class _Clients:
    """All clients share one partition, so listing them is one Query."""

    def __init__(self, table: Table) -> None:
        self._table = table

    async def add(self, client: Client) -> None:
        item = to_attributes({**schema.client_key(client.client_id), **client.to_dict()})
        try:
            await self._table.put(item, "attribute_not_exists(pk)")
        except ConditionFailed:
            raise Conflict("client already exists") from None

    async def get(self, client_id: str) -> Client | None:
        item = await self._table.get(schema.client_key(client_id))
        return _client_from(item) if item is not None else None

    async def list(self) -> list[Client]:
        items = await self._table.query_all(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=to_attributes({":pk": schema.CLIENTS_PK}),
        )
        clients = [_client_from(item) for item in items]
        return sorted(clients, key=lambda c: (c.created_at, c.client_id))

    async def revoke(self, client_id: str, at: float) -> bool:
        """Sets `revoked_at` (kept when already revoked); False when the client is unknown."""
        update = "SET revoked_at = if_not_exists(revoked_at, :at)"
        return await self._update(client_id, update, {":at": at})

    async def set_sigv4(self, client_id: str, sealed: str) -> bool:
        return await self._update(client_id, "SET sigv4_sealed = :sealed", {":sealed": sealed})

    async def record_use(self, client_id: str, uses: int, last_used_at: float) -> bool:
        return await record_use(self._table, schema.client_key(client_id), uses, last_used_at)

    async def _update(self, client_id: str, update: str, values: dict[str, Any]) -> bool:
        """One UpdateItem of an existing client; False when there is none."""
        return await update_existing(self._table, schema.client_key(client_id), update, values)


def _client_from(item: dict[str, Any]) -> Client:
    values = from_attributes(item)
    revoked_at = values.get("revoked_at")
    last_used_at = values.get("last_used_at")
    return Client(
        client_id=values["client_id"],
        name=values["name"],
        scopes=list(values["scopes"]),
        secret_hash=values["secret_hash"],
        created_at=float(values["created_at"]),
        created_by=values["created_by"],
        revoked_at=float(revoked_at) if revoked_at is not None else None,
        uses=int(values.get("uses", 0)),
        last_used_at=float(last_used_at) if last_used_at is not None else None,
        sigv4_sealed=values.get("sigv4_sealed"),
    )


class DynamoDBStore:
    """The `core.store.base.Store` port on one DynamoDB table (see `create_table`).

    `pool_size` bounds both the HTTP connection pool and the threads that run the calls; size
    it for the concurrency expected (batch invocations, async workers). `retention_days` is how
    far back a listing looks (the history retention window). `client` is the botocore client,
    there for instrumentation (event hooks) and tests.
    """

    def __init__(
        self,
        table_name: str,
        region: str,
        endpoint_url: str | None = None,
        pool_size: int = 50,
        *,
        retention_days: int = 30,
    ) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        config = Config(
            max_pool_connections=pool_size,
            retries={"mode": "standard"},
            connect_timeout=5,
            read_timeout=10,
        )
        # The process's one boto3 session: its data and credentials serve every AWS client.
        self.client = aws_client("dynamodb", region, endpoint_url, config)
        self._table = Table(table_name, self.client, pool_size)
        rollup_index = RollupIndex(self._table)
        self.executions = _Executions(self._table, rollup_index, retention_days)
        self.idempotency = _Idempotency(self._table)
        self.sessions = _Sessions(self._table)
        self.clients = _Clients(self._table)
        self.api_keys = ApiKeys(self._table)
        self.stats = Stats(self._table, rollup_index)
        self.functions = Functions(self._table)
        self.rate_limits = RateLimits(self._table)

    async def ping(self) -> None:
        await self._table.call("describe_table", TableName=self._table.name)

    async def close(self) -> None:
        await self._table.close()
