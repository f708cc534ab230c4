"""Functions' API keys on the DynamoDB table (`core.store.base.ApiKeyRepository`): each key is
an item `APIKEYS#<function>` / `KEY#<key_id>` with its fields one attribute each, so a
function's keys are one Query of its own partition, and a use is counted with one atomic ADD
(`record_use`, which the clients' items share)."""

from __future__ import annotations

from typing import Any

from core.errors import Conflict
from core.models import ApiKey
from core.store.dynamodb_table import ConditionFailed, Table, from_attributes, to_attributes


def api_keys_pk(function: str) -> str:
    return f"APIKEYS#{function}"


def api_key_key(function: str, key_id: str) -> dict[str, str]:
    return {"pk": api_keys_pk(function), "sk": f"KEY#{key_id}"}


class ApiKeys:
    def __init__(self, table: Table) -> None:
        self._table = table

    async def add(self, key: ApiKey) -> None:
        item = to_attributes({**api_key_key(key.function, key.key_id), **key.to_dict()})
        try:
            await self._table.put(item, "attribute_not_exists(pk)")
        except ConditionFailed:
            raise Conflict("API key already exists") from None

    async def get(self, function: str, key_id: str) -> ApiKey | None:
        item = await self._table.get(api_key_key(function, key_id))
        return _api_key_from(item) if item is not None else None

    async def list(self, function: str, limit: int) -> list[ApiKey]:
        items = await self._table.query(
            limit,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=to_attributes({":pk": api_keys_pk(function)}),
        )
        keys = [_api_key_from(item) for item in items]
        return sorted(keys, key=lambda k: (k.created_at, k.key_id))

    async def revoke(self, function: str, key_id: str, at: float) -> bool:
        update = "SET revoked_at = if_not_exists(revoked_at, :at)"
        return await update_existing(
            self._table, api_key_key(function, key_id), update, {":at": at}
        )

    async def record_use(self, function: str, key_id: str, uses: int, last_used_at: float) -> bool:
        return await record_use(self._table, api_key_key(function, key_id), uses, last_used_at)


def _api_key_from(item: dict[str, Any]) -> ApiKey:
    values = from_attributes(item)
    revoked_at = values.get("revoked_at")
    last_used_at = values.get("last_used_at")
    return ApiKey(
        function=values["function"],
        key_id=values["key_id"],
        secret_hash=values["secret_hash"],
        created_at=float(values["created_at"]),
        created_by=values["created_by"],
        function_created_at=float(values["function_created_at"]),
        revoked_at=float(revoked_at) if revoked_at is not None else None,
        uses=int(values.get("uses", 0)),
        last_used_at=float(last_used_at) if last_used_at is not None else None,
    )


async def record_use(table: Table, key: dict[str, str], uses: int, last_used_at: float) -> bool:
    """Add `uses` to the existing item's `uses` and raise its `last_used_at`: one update when
    `last_used_at` is the latest (DynamoDB has no max()), else a second that only counts.
    False when there is no such item."""
    later = "attribute_not_exists(last_used_at) OR last_used_at < :at"
    counted = "ADD uses :uses SET last_used_at = :at"
    if await update_existing(table, key, counted, {":uses": uses, ":at": last_used_at}, later):
        return True
    return await update_existing(table, key, "ADD uses :uses", {":uses": uses})


async def update_existing(
    table: Table,
    key: dict[str, str],
    update: str,
    values: dict[str, Any],
    condition: str | None = None,
) -> bool:
    """One UpdateItem of the existing item of `key` (and `condition`); False when none holds."""
    exists = "attribute_exists(pk)" + (f" AND ({condition})" if condition else "")
    try:
        await table.call(
            "update_item",
            TableName=table.name,
            Key=to_attributes(key),
            UpdateExpression=update,
            ConditionExpression=exists,
            ExpressionAttributeValues=to_attributes(values),
        )
    except ConditionFailed:
        return False
    return True
