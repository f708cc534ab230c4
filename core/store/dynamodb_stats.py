"""Stats rollups on DynamoDB: one item per (bucket, function), added to by the execution's
`settle_announcement` with one atomic ADD (`stats_update`), and per bucket an index item
naming the functions that have a rollup there (keys in `core.store.dynamodb_schema`).

Why the index: a read of every function's rollups is then two BatchGetItems (the buckets'
index items, then the rollups they name) instead of one Query per bucket, 25 for the default
24-hour window. Both are O(rollups read) on DynamoDB; the index saves the round trips, and on
emulators that answer a Query by sorting the whole table (moto does), it keeps the read
independent of how many executions the table holds.

How the index stays whole:
- A writer names the function in each bucket's index before the first ADD to its rollup there
  by this process (`RollupIndex.note`; a process remembers what it named), so an index never
  lacks a rollup written since.
- Rollups written before the index existed (an older version, or an older process during a
  rolling deployment) are found by the first read of the bucket that sees its index item
  without `complete`: it Queries the bucket's rollups, as reads did before, and adds their
  names with `complete` set. From then on reads trust the index. A function first counted in
  a bucket by an older process after that is missing from every-function reads of that bucket
  until this version's processes count it there once.
- An index would outgrow DynamoDB's 400 KB item: past MAX_INDEXED_FUNCTIONS names, or for a
  name longer than MAX_INDEXED_NAME, the item is marked `overflowed` and reads Query that
  bucket (still O(rollups) on DynamoDB).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from decimal import Decimal
from typing import Any

from core import histogram
from core.models import StatsRollup
from core.store import dynamodb_schema as schema
from core.store.dynamodb_table import ConditionFailed, Table, from_attributes, to_attributes
from core.store.rollups import Tally

MAX_INDEXED_FUNCTIONS = 1000
MAX_INDEXED_NAME = 256
"""Characters; with MAX_INDEXED_FUNCTIONS an index item stays well under 400 KB."""
MAX_REMEMBERED = 10_000
"""(bucket, function) pairs a process remembers naming; forgotten all at once beyond (naming
again is harmless)."""


def stats_update(tally: Tally) -> dict[str, Any]:
    """UpdateItem parameters: one atomic ADD to every counter, histogram slots included."""
    slots = [f"h{slot}" for slot in sorted(tally.slots)]
    adds = ["#count :count", "successes :successes", "failures :failures"]
    adds += ["duration_sum_ms :duration", *(f"#{slot} :{slot}" for slot in slots)]
    values = {
        ":count": tally.count,
        ":successes": tally.successes,
        ":failures": tally.failures,
        ":duration": Decimal(str(tally.duration_sum_ms)),
    }
    values.update({f":h{slot}": n for slot, n in tally.slots.items()})
    return {
        "UpdateExpression": "ADD " + ", ".join(adds),
        "ExpressionAttributeNames": {"#count": "count", **{f"#{s}": s for s in slots}},
        "ExpressionAttributeValues": to_attributes(values),
    }


class RollupIndex:
    """The index items: the functions with a rollup in each bucket."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self._naming: dict[tuple[int, str], asyncio.Future[None]] = {}

    async def note(self, buckets: Collection[int], function: str) -> None:
        """Name `function` in the index of each bucket (before its rollups are added to). Every
        settled execution calls this: a bucket this process has named the function in already
        costs a dict lookup, no task."""
        unnamed = [b for b in buckets if not _succeeded(self._naming.get((b, function)))]
        if unnamed:
            await asyncio.gather(*(self._name(bucket, function) for bucket in unnamed))

    async def _name(self, bucket: int, function: str) -> None:
        """One write per (bucket, function) and process: concurrent first counts (a batch of a
        new function, a new hour) wait for the same write; a failed one is tried again by the
        next count."""
        key = (bucket, function)
        naming = self._naming.get(key)
        if naming is None:
            if len(self._naming) >= MAX_REMEMBERED:
                self._naming.clear()
            naming = self._naming[key] = asyncio.ensure_future(self._add(bucket, {function}))
        try:
            await asyncio.shield(naming)
        except Exception:
            if self._naming.get(key) is naming:
                del self._naming[key]
            raise

    async def rollup_items(self, buckets: list[int]) -> list[dict[str, Any]]:
        """Every rollup item of these buckets: by key where the bucket's index is complete,
        else by a Query of the bucket (which completes its index)."""
        indexes = await self._table.batch_get([schema.stats_index_key(b) for b in buckets])
        by_bucket = {_bucket_of(index): from_attributes(index) for index in indexes}
        keys: list[dict[str, str]] = []
        queried: list[tuple[int, dict[str, Any] | None]] = []
        for bucket in buckets:
            index = by_bucket.get(bucket)
            if index is not None and index.get("complete") and not index.get("overflowed"):
                keys += [schema.stats_key(bucket, name) for name in index.get("function_names", ())]
            else:
                queried.append((bucket, index))
        found = await asyncio.gather(
            self._table.batch_get(keys), *(self._query(b, index) for b, index in queried)
        )
        return [item for items in found for item in items]

    async def _query(self, bucket: int, index: dict[str, Any] | None) -> list[dict[str, Any]]:
        """The bucket's rollups by a Query; the bucket's index is completed with their names
        unless it is overflowed (or already complete)."""
        items = await self._table.query_all(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :rollup)",
            ExpressionAttributeValues=to_attributes(
                {":pk": schema.stats_pk(bucket), ":rollup": schema.ROLLUP_SK_PREFIX}
            ),
        )
        if index is None or not (index.get("complete") or index.get("overflowed")):
            names = {schema.parse_stats_key(i["pk"]["S"], i["sk"]["S"])[1] for i in items}
            await self._add(bucket, names, complete=True)
        return items

    async def _add(self, bucket: int, names: set[str], *, complete: bool = False) -> None:
        """Add `names` to the bucket's index (and mark it complete), or mark it overflowed
        when they would take it past its bounds."""
        if len(names) > MAX_INDEXED_FUNCTIONS or any(len(n) > MAX_INDEXED_NAME for n in names):
            await self._mark_overflowed(bucket)
            return
        actions = ["ADD function_names :names"] if names else []
        values: dict[str, Any] = {":names": names} if names else {}
        if complete:
            actions.append("SET complete = :true")
            values[":true"] = True
        room = MAX_INDEXED_FUNCTIONS - len(names)
        try:
            await self._table.call(
                "update_item",
                TableName=self._table.name,
                Key=to_attributes(schema.stats_index_key(bucket)),
                UpdateExpression=" ".join(actions),
                ConditionExpression=(
                    "attribute_not_exists(function_names) OR size(function_names) <= :room"
                ),
                ExpressionAttributeValues=to_attributes({**values, ":room": room}),
            )
        except ConditionFailed:
            await self._mark_overflowed(bucket)

    async def _mark_overflowed(self, bucket: int) -> None:
        await self._table.call(
            "update_item",
            TableName=self._table.name,
            Key=to_attributes(schema.stats_index_key(bucket)),
            UpdateExpression="SET overflowed = :true",
            ExpressionAttributeValues=to_attributes({":true": True}),
        )


class Stats:
    """The `StatsRepository` port: rollups read by key, through the buckets' index for every
    function's."""

    def __init__(self, table: Table, index: RollupIndex) -> None:
        self._table = table
        self._index = index

    async def read(
        self, bucket_starts: Collection[int], function: str | None = None
    ) -> list[StatsRollup]:
        """One function's rollups in one BatchGetItem; every function's through the index."""
        buckets = sorted(set(bucket_starts))
        if function is not None:
            items = await self._table.batch_get([schema.stats_key(b, function) for b in buckets])
        else:
            items = await self._index.rollup_items(buckets)
        rollups = [_rollup_from(item) for item in items]
        return sorted(rollups, key=lambda r: (r.bucket_start, r.function))


def _succeeded(naming: asyncio.Future[None] | None) -> bool:
    """The write naming a function in an index is done and did not fail."""
    return (
        naming is not None
        and naming.done()
        and not naming.cancelled()
        and naming.exception() is None
    )


def _bucket_of(item: dict[str, Any]) -> int:
    return schema.parse_stats_key(item["pk"]["S"], item["sk"]["S"])[0]


def _rollup_from(item: dict[str, Any]) -> StatsRollup:
    values = from_attributes(item)
    bucket_start, function = schema.parse_stats_key(values["pk"], values["sk"])
    return StatsRollup(
        function=function,
        bucket_start=bucket_start,
        count=int(values["count"]),
        successes=int(values["successes"]),
        failures=int(values["failures"]),
        duration_sum_ms=float(values["duration_sum_ms"]),
        histogram=[int(values.get(f"h{slot}", 0)) for slot in range(histogram.SLOT_COUNT)],
    )
