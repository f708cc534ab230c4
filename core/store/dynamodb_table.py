"""The one DynamoDB table every repository of the DynamoDB store goes through
(`core.store.dynamodb`, `core.store.dynamodb_registry`), and the codecs of its attributes.

`Table` runs the synchronous botocore calls on a thread pool as large as the client's connection
pool, never on the event loop. A failed condition raises `ConditionFailed`, a transaction
cancelled by a failed condition `TransactionCanceled` (with DynamoDB's reason per action),
anything else `ServiceUnavailable` naming the operation and DynamoDB's error code.
"""

from __future__ import annotations

import asyncio
import math
import random
import zlib
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import partial
from typing import Any

import orjson
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from core.errors import PayloadTooLarge, ServiceUnavailable

COMPRESS_ABOVE_BYTES = 16 * 1024
MAX_BODY_BYTES = 380 * 1024  # an item holds 400 KB; the other attributes are small
BATCH_GET_KEYS = 100  # BatchGetItem's limit per call
BATCH_GET_ATTEMPTS = 5  # rounds for keys DynamoDB leaves unprocessed
BATCH_GET_RETRY_S = 0.05
TRANSACTION_ATTEMPTS = 4  # tries of a transaction that met writes in flight or throttling
TRANSACTION_RETRY_S = 0.02
CONDITION_FAILED = "ConditionalCheckFailed"  # a transaction's cancellation reason
_RETRYABLE_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


class ConditionFailed(Exception):
    """A conditional write found the item in another state; `item` is the stored one when the
    call asked for it."""

    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("conditional check failed")
        self.item = item


class TransactionCanceled(Exception):
    """DynamoDB cancelled a transaction: nothing of it was written. `reasons` holds one code per
    action, in order: "None" for an action that was fine, "ConditionalCheckFailed",
    "TransactionConflict" (another transaction or write on the item was in flight), ..."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(f"transaction cancelled: {', '.join(reasons)}")
        self.reasons = reasons

    def failed(self, action: int) -> bool:
        """Whether the condition of the `action`-th action failed."""
        return action < len(self.reasons) and self.reasons[action] == CONDITION_FAILED

    @property
    def any_failed(self) -> bool:
        return CONDITION_FAILED in self.reasons

    @property
    def retryable(self) -> bool:
        """Cancelled for nothing but conflicts with writes in flight or throttling: worth
        trying again."""
        causes = {reason for reason in self.reasons if reason != "None"}
        return bool(causes) and causes <= _RETRYABLE_REASONS


class Table:
    """One table through one botocore client; every call runs on the store's thread pool."""

    def __init__(self, name: str, client: Any, pool_size: int) -> None:
        self.name = name
        self.client = client
        self._executor = ThreadPoolExecutor(pool_size, thread_name_prefix="fnproxy-dynamodb")
        self._closed = False

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Run one client operation; a failed condition raises `ConditionFailed`, a cancelled
        transaction `TransactionCanceled`, any other failure `ServiceUnavailable` naming the
        operation and DynamoDB's error code."""
        if self._closed:
            raise ServiceUnavailable("the store is closed")
        method = partial(getattr(self.client, operation), **params)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, method)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "Unknown")
            if code == "ConditionalCheckFailedException":
                raise ConditionFailed(error.response.get("Item")) from None
            if code == "TransactionCanceledException":
                reasons = error.response.get("CancellationReasons") or []
                raise TransactionCanceled([r.get("Code", "None") for r in reasons]) from None
            raise ServiceUnavailable(f"DynamoDB {operation} failed: {code}") from error
        except BotoCoreError as error:
            raise ServiceUnavailable(
                f"DynamoDB {operation} failed: {type(error).__name__}"
            ) from error

    async def put(self, item: dict[str, Any], condition: str | None = None, **params: Any) -> None:
        """Write `item`. A failed `condition` raises `ConditionFailed` with the stored item,
        unless that item already is `item`: an earlier attempt of this very call wrote it (its
        answer was lost and botocore retried), so the write is done."""
        if condition is None:
            await self.call("put_item", TableName=self.name, Item=item, **params)
            return
        try:
            await self.call(
                "put_item",
                TableName=self.name,
                Item=item,
                ConditionExpression=condition,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **params,
            )
        except ConditionFailed as failed:
            if failed.item is None or from_attributes(failed.item) != from_attributes(item):
                raise

    async def get(self, key: dict[str, str]) -> dict[str, Any] | None:
        response = await self.call(
            "get_item", TableName=self.name, Key=to_attributes(key), ConsistentRead=True
        )
        return response.get("Item")

    async def transact(self, actions: list[dict[str, Any]]) -> None:
        """Write `actions` (TransactWriteItems entries, without `TableName`) all or none. A
        transaction cancelled only by conflicts with other writes in flight (or throttling) is
        tried again (its conditions are then checked against what those writes left). A failed
        condition raises `TransactionCanceled`; any other cancellation (conflicts to the last
        try, validation, ...) `ServiceUnavailable`. botocore gives each call its own
        `ClientRequestToken` and keeps it across its own retries, so a retried call whose first
        answer was lost is not applied twice."""
        items = [
            {kind: {"TableName": self.name, **action} for kind, action in entry.items()}
            for entry in actions
        ]
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                await self.call("transact_write_items", TransactItems=items)
                return
            except TransactionCanceled as canceled:
                if canceled.any_failed:
                    raise
                if not canceled.retryable or attempt == TRANSACTION_ATTEMPTS - 1:
                    raise ServiceUnavailable(f"DynamoDB {canceled}") from None
            await asyncio.sleep(TRANSACTION_RETRY_S * 2**attempt * (1 + random.random()))

    async def query(self, want: int, **params: Any) -> list[dict[str, Any]]:
        """Up to `want` items of a consistent query of the table, in the query's order."""
        items: list[dict[str, Any]] = []
        while len(items) < want:
            response = await self.call(
                "query", TableName=self.name, ConsistentRead=True, Limit=want - len(items), **params
            )
            items += response["Items"]
            if "LastEvaluatedKey" not in response:
                break
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return items

    async def query_all(self, **params: Any) -> list[dict[str, Any]]:
        """Every item a consistent query of the table yields, page after page."""
        items: list[dict[str, Any]] = []
        while True:
            response = await self.call("query", TableName=self.name, ConsistentRead=True, **params)
            items += response["Items"]
            if "LastEvaluatedKey" not in response:
                return items
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    async def batch_get(self, keys: list[dict[str, str]]) -> list[dict[str, Any]]:
        """The items of `keys` (distinct) that exist, read consistently, in no set order."""
        chunks = [keys[i : i + BATCH_GET_KEYS] for i in range(0, len(keys), BATCH_GET_KEYS)]
        found = await asyncio.gather(*(self._batch_get_chunk(chunk) for chunk in chunks))
        return [item for items in found for item in items]

    async def _batch_get_chunk(self, keys: list[dict[str, str]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request = {self.name: {"Keys": [to_attributes(k) for k in keys], "ConsistentRead": True}}
        for attempt in range(BATCH_GET_ATTEMPTS):
            if attempt:
                await asyncio.sleep(BATCH_GET_RETRY_S * 2**attempt)
            response = await self.call("batch_get_item", RequestItems=request)
            items += response["Responses"].get(self.name, [])
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return items
        raise ServiceUnavailable("DynamoDB batch_get_item left keys unprocessed after retries")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        self.client.close()


def to_attributes(values: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values; None is left out, floats go through `Decimal(str(x))` so
    they read back exactly."""
    return {
        name: _SERIALIZER.serialize(Decimal(str(value)) if isinstance(value, float) else value)
        for name, value in values.items()
        if value is not None
    }


def from_attributes(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _DESERIALIZER.deserialize(value) for name, value in item.items()}


def ttl_seconds(expires_at: float) -> int:
    """Epoch seconds for DynamoDB's TTL, never before the record's own expiry."""
    return math.ceil(expires_at)


def encode_body(record: Any, what: str) -> dict[str, Any]:
    data = orjson.dumps(record)
    if len(data) <= COMPRESS_ABOVE_BYTES:
        return {"S": data.decode()}
    packed = zlib.compress(data)
    if len(packed) > MAX_BODY_BYTES:
        raise PayloadTooLarge(
            f"the {what} record is {len(packed)} bytes even compressed; the DynamoDB store "
            f"keeps at most {MAX_BODY_BYTES} per record"
        )
    return {"B": packed}


def decode_body(attribute: dict[str, Any]) -> Any:
    if "B" in attribute:
        return orjson.loads(zlib.decompress(attribute["B"]))
    return orjson.loads(attribute["S"])
