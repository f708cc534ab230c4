"""One-document operations every Firestore repository shares (`core.store.firestore`,
`core.store.firestore_registry`): reads, creations, compare-and-set writes, the TTL Timestamp,
the size check of a record's body and Firestore's failures as `ServiceUnavailable`.

Conditional writes are preconditions, not transactions: a read, then a write that carries the
read's `update_time` as its precondition (compare-and-set on one document). That is as atomic
as a transaction at two round trips instead of three (begin, read, commit) and without
transaction aborts under contention. A write that finds the document changed reads it again and
decides anew, at most MAX_WRITE_ATTEMPTS times. Creations use `create` (fails when the document
exists). The client retries a commit whose answer was lost; the retry then fails (the document
exists, or its update time moved), so a failed write that finds exactly its own data stored
counts as done.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from google.api_core.exceptions import AlreadyExists, FailedPrecondition, GoogleAPIError, NotFound
from google.cloud.firestore_v1 import (
    AsyncClient,
    AsyncCollectionReference,
    AsyncDocumentReference,
)
from google.cloud.firestore_v1.base_document import DocumentSnapshot
from grpc.aio import UsageError

from core.errors import Conflict, InvalidRequest, PayloadTooLarge, ServiceUnavailable
from core.store import firestore_schema as schema

MAX_WRITE_ATTEMPTS = 20  # reads-then-writes of one conditional write that others outpaced
MAX_BODY_BYTES = 1_000_000  # a document holds 1 MiB; its other fields are small
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@contextmanager
def calling(operation: str) -> Iterator[None]:
    """Firestore's failures (and calls on a closed store) as `ServiceUnavailable` naming the
    operation and the error."""
    try:
        yield
    except (GoogleAPIError, UsageError) as error:
        raise ServiceUnavailable(f"Firestore {operation} failed: {type(error).__name__}") from error


def expire_at(expires_at: float) -> datetime:
    """The TTL Timestamp: never before the record's own expiry (rounded up to the microsecond;
    exactly, in decimal: the float product can round below the true value)."""
    return _EPOCH + timedelta(microseconds=math.ceil(Decimal(expires_at) * 1_000_000))


def body(record: Any, what: str) -> str:
    """The record as the JSON string of a document's `body` (floats survive exactly);
    PayloadTooLarge when it would not fit in a document."""
    encoded = orjson.dumps(record)
    if len(encoded) > MAX_BODY_BYTES:
        raise PayloadTooLarge(
            f"the {what} record is {len(encoded)} bytes; the Firestore store keeps at most "
            f"{MAX_BODY_BYTES} per record"
        )
    return encoded.decode()


async def read(ref: AsyncDocumentReference) -> DocumentSnapshot | None:
    with calling("get"):
        snapshot = await ref.get()
    return snapshot if snapshot.exists else None


def document(collection: AsyncCollectionReference, key: str) -> AsyncDocumentReference | None:
    """The document of `key`, or None for a key no document can have (too long)."""
    try:
        return collection.document(schema.document_id(key))
    except InvalidRequest:
        return None


async def create(ref: AsyncDocumentReference, data: dict[str, Any], what: str) -> None:
    """Create the document; Conflict when another one has its id."""
    with calling("create"):
        try:
            await ref.create(data)
            return
        except AlreadyExists:
            pass
    stored = await read(ref)
    if stored is None or stored.to_dict() != data:  # else: our own create, retried
        raise Conflict(f"{what} already exists")


async def update_if_exists(ref: AsyncDocumentReference, fields: dict[str, Any]) -> bool:
    """One update of the document (transforms included); False when there is none."""
    with calling("update"):
        try:
            await ref.update(fields)
        except NotFound:
            return False
    return True


async def revoke_document(ref: AsyncDocumentReference | None, at: float) -> bool:
    """Set the document's `revoked_at` to `at` unless it is set already (the first revocation
    is kept); False when there is no such document."""
    if ref is None:
        return False
    _, stored = await write_if(
        ref, lambda stored: {**stored, "revoked_at": at} if stored["revoked_at"] is None else None
    )
    return stored is not None


class _Delete:
    """What `decide` gives back to have `write_if` delete the document."""


DELETE = _Delete()
Decision = dict[str, Any] | _Delete | None


async def write_if(
    ref: AsyncDocumentReference, decide: Callable[[dict[str, Any]], Decision]
) -> tuple[bool, dict[str, Any] | None]:
    """Compare-and-set one document: `decide(stored)` gives the document to write over the
    stored one, DELETE, or None to leave it. Returns whether it wrote, and the stored document
    it decided on (None when there was none)."""
    attempted: Decision = None
    for _ in range(MAX_WRITE_ATTEMPTS):
        snapshot = await read(ref)
        if snapshot is None:
            return False, None
        stored = snapshot.to_dict()
        if attempted is not None and stored == attempted:  # ours: the answer to it was lost
            return True, stored
        change = decide(stored)
        if change is None:
            return False, stored
        option = AsyncClient.write_option(last_update_time=snapshot.update_time)
        deleting = isinstance(change, _Delete)
        with calling("delete" if deleting else "update"):
            try:
                if deleting:
                    await ref.delete(option=option)
                else:
                    await ref.update(change, option=option)
                return True, stored
            except FailedPrecondition:  # written meanwhile: read it again
                attempted = change
    raise ServiceUnavailable(
        f"Firestore: {ref.path} changed under each of {MAX_WRITE_ATTEMPTS} conditional writes"
    )
