"""The function registry and the rate-limit counters of the DynamoDB store (items and keys in
`core.store.dynamodb_schema`).

- `create` and `update` are each one TransactWriteItems. `create` puts the record only where
  none is (else `Conflict`), with the directory item, the first version and the first change;
  `update` puts the record only over the revision it read, with the directory item, the change
  and the new version (which must not exist yet) and deletes the version to delete. A cancelled
  transaction writes nothing: a failed record condition is a `Conflict` (create) or False
  (update). Transactions cancelled only by a conflict with another one in flight are tried
  again, so the answer follows the stored revision, not a collision.
- `delete` deletes the record and the directory item in one transaction conditioned on the
  record existing (an update in flight then fails on its revision), then sweeps the versions and
  changes left in the function's partition: a Query of at most `SWEEP_BATCH` keys and one
  transaction deleting them together with a check that the record is still absent, repeated
  until the partition is empty. The check keeps a function created again under the name meanwhile
  whole: the sweep stops at it. `create` sweeps first too, so what a delete cut short (a crash)
  never shows in the history of a new function of the same name; that costs every create one
  small Query. A delete of a name without a record (False) sweeps as well. Until a cut-short
  sweep is finished, `get_version` and the listings of the deleted name may still show what it
  left; `get` does not.
- `hit` is one conditional UpdateItem (`ADD n :one` where the window is absent or below the
  limit), so concurrent hits on a window with room for n count exactly n. A botocore retry of a
  hit whose answer was lost counts it twice: the limiter then errs on the strict side.
"""

from __future__ import annotations

from typing import Any

from core.errors import Conflict
from core.models import FunctionVersion, Page, RegisteredFunction, VersionChange
from core.store import dynamodb_schema as schema
from core.store.cursors import check_limit, decode_cursor, decode_version_cursor, page_of
from core.store.dynamodb_schema import TTL_ATTRIBUTE
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

SWEEP_BATCH = 99  # TransactWriteItems takes 100 actions: the check and 99 deletes

_ABSENT = "attribute_not_exists(pk)"


def _put(
    item: dict[str, Any], condition: str | None = None, values: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A transaction's Put action, conditioned on `condition` (over `values`) when given."""
    put: dict[str, Any] = {"Item": item}
    if condition is not None:
        put["ConditionExpression"] = condition
    if values:
        put["ExpressionAttributeValues"] = to_attributes(values)
    return {"Put": put}


def _item(key: dict[str, str], record: Any, what: str, **attributes: Any) -> dict[str, Any]:
    return {**to_attributes({**key, **attributes}), "body": encode_body(record, what)}


def _function_item(function: RegisteredFunction) -> dict[str, Any]:
    key = schema.function_key(function.name)
    return _item(key, function, "function", revision=function.revision)


def _directory_item(function: RegisteredFunction) -> dict[str, Any]:
    return _item(schema.directory_key(function.name), function, "function")


def _version_put(version: FunctionVersion) -> dict[str, Any]:
    item = _item(schema.version_key(version.name, version.version), version, "version")
    return _put(item, _ABSENT)


def _change_put(change: VersionChange) -> dict[str, Any]:
    return _put(_item(schema.change_key(change.name, change.revision), change, "change"), _ABSENT)


def _conflict(canceled: TransactionCanceled, actions: list[dict[str, Any]]) -> Conflict:
    """The `Conflict` of a transaction cancelled because an item it must create (a version, a
    change) already exists, naming that item."""
    failed = [a["Put"]["Item"] for n, a in enumerate(actions) if canceled.failed(n) and "Put" in a]
    keys = ", ".join(f"{item['pk']['S']} {item['sk']['S']}" for item in failed)
    return Conflict(f"the store already holds {keys or 'an item of the change'}")


class Functions:
    def __init__(self, table: Table) -> None:
        self._table = table

    async def create(
        self, function: RegisteredFunction, first: FunctionVersion, change: VersionChange
    ) -> None:
        await self._sweep(function.name)
        actions = [
            _put(_function_item(function), _ABSENT),
            _put(_directory_item(function)),
            _version_put(first),
            _change_put(change),
        ]
        try:
            await self._table.transact(actions)
        except TransactionCanceled as canceled:
            if canceled.failed(0):
                raise Conflict(f"function {function.name!r} already exists") from None
            raise _conflict(canceled, actions) from None

    async def get(self, name: str) -> RegisteredFunction | None:
        item = await self._table.get(schema.function_key(name))
        return RegisteredFunction(**decode_body(item["body"])) if item is not None else None

    async def list(self, *, limit: int = 50, cursor: str | None = None) -> Page[RegisteredFunction]:
        """One Query of the directory, which holds a copy of every record."""
        check_limit(limit)
        condition = "pk = :pk"
        values: dict[str, Any] = {":pk": schema.FUNCTIONS_PK}
        if cursor is not None:
            condition += " AND sk > :after"
            values[":after"] = schema.directory_key(decode_cursor(cursor))["sk"]
        items = await self._table.query(
            limit + 1,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=to_attributes(values),
        )
        functions = [RegisteredFunction(**decode_body(item["body"])) for item in items]
        return page_of(functions, limit, lambda function: function.name)

    async def update(
        self,
        function: RegisteredFunction,
        expected_revision: int,
        change: VersionChange,
        *,
        add_version: FunctionVersion | None = None,
        delete_version: int | None = None,
    ) -> bool:
        over_revision = {":expected": expected_revision}
        actions = [
            _put(_function_item(function), "revision = :expected", over_revision),
            _put(_directory_item(function)),
            _change_put(change),
        ]
        if add_version is not None:
            actions.append(_version_put(add_version))
        if delete_version is not None:
            key = schema.version_key(function.name, delete_version)
            actions.append({"Delete": {"Key": to_attributes(key)}})
        try:
            await self._table.transact(actions)
        except TransactionCanceled as canceled:
            if canceled.failed(0):
                return False
            raise _conflict(canceled, actions) from None
        return True

    async def delete(self, name: str) -> bool:
        actions = [
            {
                "Delete": {
                    "Key": to_attributes(schema.function_key(name)),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            {"Delete": {"Key": to_attributes(schema.directory_key(name))}},
        ]
        try:
            await self._table.transact(actions)
        except TransactionCanceled as canceled:
            if not canceled.failed(0):
                raise
            await self._sweep(name)  # finish what a delete cut short, if anything
            return False
        await self._sweep(name)
        return True

    async def get_version(self, name: str, version: int) -> FunctionVersion | None:
        if not 0 <= version <= schema.MAX_NUMBER:
            return None
        item = await self._table.get(schema.version_key(name, version))
        return FunctionVersion(**decode_body(item["body"])) if item is not None else None

    async def list_versions(
        self, name: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[FunctionVersion]:
        items = await self._newest(name, schema.VERSION_PREFIX, limit, cursor)
        versions = [FunctionVersion(**decode_body(item["body"])) for item in items]
        return page_of(versions, limit, lambda version: version.version)

    async def list_changes(
        self, name: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[VersionChange]:
        items = await self._newest(name, schema.CHANGE_PREFIX, limit, cursor)
        changes = [VersionChange(**decode_body(item["body"])) for item in items]
        return page_of(changes, limit, lambda change: change.revision)

    async def _newest(
        self, name: str, prefix: str, limit: int, cursor: str | None
    ) -> list[dict[str, Any]]:
        """Up to `limit + 1` items of `prefix` in the function's partition, highest number
        first, below the number `cursor` names."""
        check_limit(limit)
        below = decode_version_cursor(cursor) if cursor is not None else None
        bounds = schema.numbered_range(prefix, below)
        if bounds is None:
            return []
        return await self._table.query(
            limit + 1,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lowest AND :highest",
            ExpressionAttributeValues=to_attributes(
                {":pk": schema.function_pk(name), ":lowest": bounds[0], ":highest": bounds[1]}
            ),
            ScanIndexForward=False,
        )

    async def _sweep(self, name: str) -> None:
        """Delete what a deleted function left in its partition, `SWEEP_BATCH` items per
        transaction, each conditioned on the record being absent; stop at a record (one there,
        or one created meanwhile)."""
        check = {
            "ConditionCheck": {
                "Key": to_attributes(schema.function_key(name)),
                "ConditionExpression": _ABSENT,
            }
        }
        while True:
            keys = await self._table.query(
                SWEEP_BATCH,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues=to_attributes({":pk": schema.function_pk(name)}),
                ProjectionExpression="pk, sk",
            )
            if not keys or any(key["sk"]["S"] == schema.FUNCTION_SK for key in keys):
                return
            try:
                await self._table.transact([check, *({"Delete": {"Key": key}} for key in keys)])
            except TransactionCanceled as canceled:
                if canceled.failed(0):
                    return
                raise


class RateLimits:
    def __init__(self, table: Table) -> None:
        self._table = table

    async def hit(self, key: str, window_start: int, limit: int, expires_at: float) -> bool:
        if limit < 1:
            return False  # a window with room for none is always full
        try:
            await self._table.call(
                "update_item",
                TableName=self._table.name,
                Key=to_attributes(schema.rate_limit_key(key, window_start)),
                UpdateExpression="ADD #n :one SET #ttl = :ttl",
                ConditionExpression="attribute_not_exists(#n) OR #n < :limit",
                ExpressionAttributeNames={"#n": "n", "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues=to_attributes(
                    {":one": 1, ":limit": limit, ":ttl": ttl_seconds(expires_at)}
                ),
            )
        except ConditionFailed:
            return False
        return True

    async def count(self, key: str, window_start: int) -> int:
        item = await self._table.get(schema.rate_limit_key(key, window_start))
        return int(from_attributes(item)["n"]) if item else 0
