"""The function registry and the rate-limit counters on Firestore (native mode). Collections,
document ids and index settings: `core.store.firestore_schema`.

- A function is the document `{prefix}_functions/<name>`; its versions and its change history
  are documents of that document's subcollections, one per version and one per revision.
- `create` is one batch of three `create`s (the function, its first version and its first
  change): all are written or none, and none when any of them exists.
- `update` is one batch conditioned on the function document's `update_time` as read (a
  compare-and-set over the revision read): the function record, the change (`create`, so never
  over another), the added version (`create`) and the deleted one, all or nothing. A commit
  whose answer was lost and that the client retried fails its own precondition; finding
  exactly its own record stored, it counts as written.
- `delete` deletes the function document (precondition: it exists), so updates that read it
  fail their own precondition, then its versions and history, PURGE_PAGE documents per
  transaction. Each transaction reads the function document first and deletes nothing once it
  exists again (created anew: what is left is the new function's). Versions go first, then the
  history newest first, so its first entry (revision 1) goes last: a `create`, which creates
  that entry too, fails while an earlier delete is unfinished, and then finishes it (the same
  transactions) and tries again. A delete interrupted before its end is finished by the next
  `delete` or `create` of the name.
- Listings are bounded queries on one field each (no composite index): functions by `name`
  from the cursor's name on, versions by `version` and changes by `revision` below the
  cursor's number, `limit + 1` documents.
- `hit` is one write: an `Increment` of the window's counter `n`, whose result (the counter
  after it) the commit returns. The hits that make it 1 to `limit` are counted; later ones are
  refused, so of concurrent hits exactly as many as the window has room for are counted,
  without a read, a transaction or a retry. `n` thus counts refused hits too, until an instance
  has seen the window full: it remembers that (windows only fill up) and refuses the window's
  later hits without a write, so a caller over its limit costs no write per refusal. A commit
  retried after its answer was lost counts twice: the error is on the strict side. A window's
  admitted hits all write its one document, and Firestore sustains about one write a second per
  document before writes contend: fine for limits per caller and function, not for thousands
  a minute.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from google.api_core.exceptions import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    NotFound,
)
from google.cloud.firestore_v1 import (
    AsyncClient,
    AsyncCollectionReference,
    AsyncDocumentReference,
    AsyncQuery,
    AsyncTransaction,
    Increment,
    async_transactional,
)
from google.cloud.firestore_v1.base_document import DocumentSnapshot

from core.errors import Conflict, ServiceUnavailable
from core.models import FunctionVersion, Page, RegisteredFunction, VersionChange
from core.store import firestore_schema as schema
from core.store.cursors import check_limit, decode_cursor, decode_version_cursor, page_of
from core.store.firestore_documents import (
    MAX_WRITE_ATTEMPTS,
    body,
    calling,
    document,
    expire_at,
    read,
)
from core.store.firestore_schema import TTL_FIELD

PURGE_PAGE = 200  # documents deleted per transaction of a delete
MAX_CREATE_ATTEMPTS = 5  # batches of a create (one finding an unfinished delete finishes it)
MAX_PURGE_ATTEMPTS = 5  # transactions of one purge step aborted by a concurrent one
MAX_FULL_WINDOWS = 10_000  # rate-limit windows an instance remembers as full


def _function_data(function: RegisteredFunction) -> dict[str, Any]:
    return {
        "name": function.name,
        "revision": function.revision,
        "body": body(function, "function"),
    }


def _version_data(version: FunctionVersion) -> dict[str, Any]:
    return {"version": version.version, "body": body(version, "function version")}


def _change_data(change: VersionChange) -> dict[str, Any]:
    return {"revision": change.revision, "body": body(change, "function change")}


class FirestoreFunctions:
    """`core.store.base.FunctionRepository` on `{prefix}_functions` and its subcollections."""

    def __init__(
        self, client: AsyncClient, functions: AsyncCollectionReference, prefix: str
    ) -> None:
        self._client = client
        self._functions = functions
        self._versions_id = schema.collection(prefix, schema.FUNCTION_VERSIONS)
        self._changes_id = schema.collection(prefix, schema.FUNCTION_CHANGES)

    def _versions(self, function: AsyncDocumentReference) -> AsyncCollectionReference:
        return function.collection(self._versions_id)

    def _changes(self, function: AsyncDocumentReference) -> AsyncCollectionReference:
        return function.collection(self._changes_id)

    async def create(
        self, function: RegisteredFunction, first: FunctionVersion, change: VersionChange
    ) -> None:
        ref = self._functions.document(schema.document_id(function.name))
        data = _function_data(function)
        version_ref = self._versions(ref).document(schema.number_id(first.version))
        change_ref = self._changes(ref).document(schema.number_id(change.revision))
        for _ in range(MAX_CREATE_ATTEMPTS):
            batch = self._client.batch()
            batch.create(ref, data)
            batch.create(version_ref, _version_data(first))
            batch.create(change_ref, _change_data(change))
            with calling("commit"):
                try:
                    await batch.commit()
                    return
                except Aborted:  # its lock lost to a delete's transaction: nothing written
                    continue
                except AlreadyExists:
                    pass
            stored = await read(ref)
            if stored is not None:
                if stored.to_dict() == data:  # our own batch, retried after its answer was lost
                    return
                raise Conflict(f"function {function.name!r} already exists")
            await self._purge(ref)  # what an unfinished delete left: finish it
        raise ServiceUnavailable(
            f"Firestore: function {function.name!r} deleted and created concurrently under "
            f"{MAX_CREATE_ATTEMPTS} creates"
        )

    async def get(self, name: str) -> RegisteredFunction | None:
        ref = document(self._functions, name)
        snapshot = await read(ref) if ref is not None else None
        if snapshot is None:
            return None
        return RegisteredFunction(**orjson.loads(snapshot.get("body")))

    async def list(self, *, limit: int = 50, cursor: str | None = None) -> Page[RegisteredFunction]:
        check_limit(limit)
        query = self._functions.order_by("name")
        if cursor is not None:
            query = query.start_after({"name": decode_cursor(cursor)})
        with calling("query"):
            snapshots = await query.limit(limit + 1).get()
        functions = [RegisteredFunction(**orjson.loads(s.get("body"))) for s in snapshots]
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
        ref = document(self._functions, function.name)
        if ref is None:
            return False
        data = _function_data(function)
        versions = self._versions(ref)
        change_ref = self._changes(ref).document(schema.number_id(change.revision))
        added = (
            (versions.document(schema.number_id(add_version.version)), add_version)
            if add_version is not None
            else None
        )
        deleted = (
            versions.document(schema.number_id(delete_version))
            if delete_version is not None and 0 <= delete_version <= schema.MAX_NUMBER
            else None
        )
        attempted = exists = False
        for _ in range(MAX_WRITE_ATTEMPTS):
            snapshot = await read(ref)
            if snapshot is None:
                return False
            stored = snapshot.to_dict()
            if attempted and stored == data:  # ours: the answer to it was lost
                return True
            if stored["revision"] != expected_revision:
                return False
            if exists:  # the function is as read: the change or the version is what exists
                raise Conflict(
                    f"revision {change.revision} or the version added to {function.name!r} "
                    "exists already"
                )
            batch = self._client.batch()
            option = self._client.write_option(last_update_time=snapshot.update_time)
            batch.update(ref, data, option=option)
            batch.create(change_ref, _change_data(change))
            if added is not None:
                batch.create(added[0], _version_data(added[1]))
            if deleted is not None:
                batch.delete(deleted)
            with calling("commit"):
                try:
                    await batch.commit()
                    return True
                except (FailedPrecondition, NotFound, Aborted):  # changed, deleted, contended
                    attempted = True
                except AlreadyExists:
                    attempted = exists = True
        raise ServiceUnavailable(
            f"Firestore: {ref.path} changed under each of {MAX_WRITE_ATTEMPTS} conditional writes"
        )

    async def delete(self, name: str) -> bool:
        ref = document(self._functions, name)
        if ref is None:
            return False
        with calling("delete"):
            try:
                await ref.delete(option=self._client.write_option(exists=True))
                deleted = True
            except (NotFound, FailedPrecondition):  # no such function
                deleted = False
        await self._purge(ref)  # also finishes an earlier delete that was interrupted
        return deleted

    async def get_version(self, name: str, version: int) -> FunctionVersion | None:
        ref = document(self._functions, name)
        if ref is None or not 0 <= version <= schema.MAX_NUMBER:
            return None
        snapshot = await read(self._versions(ref).document(schema.number_id(version)))
        return FunctionVersion(**orjson.loads(snapshot.get("body"))) if snapshot else None

    async def list_versions(
        self, name: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[FunctionVersion]:
        snapshots = await self._newest_first(name, self._versions, "version", limit, cursor)
        versions = [FunctionVersion(**orjson.loads(s.get("body"))) for s in snapshots]
        return page_of(versions, limit, lambda version: version.version)

    async def list_changes(
        self, name: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[VersionChange]:
        snapshots = await self._newest_first(name, self._changes, "revision", limit, cursor)
        changes = [VersionChange(**orjson.loads(s.get("body"))) for s in snapshots]
        return page_of(changes, limit, lambda change: change.revision)

    async def _newest_first(
        self,
        name: str,
        subcollection: Callable[[AsyncDocumentReference], AsyncCollectionReference],
        field: str,
        limit: int,
        cursor: str | None,
    ) -> list[DocumentSnapshot]:
        """Up to `limit + 1` documents of a function's subcollection by `field`, highest first,
        below the cursor's number."""
        check_limit(limit)
        below = decode_version_cursor(cursor) if cursor is not None else None
        ref = document(self._functions, name)
        if ref is None:
            return []
        query = subcollection(ref).order_by(field, direction=AsyncQuery.DESCENDING)
        if below is not None and below <= schema.MAX_NUMBER:  # else: every number is below
            query = query.start_after({field: below})
        with calling("query"):
            snapshots = await query.limit(limit + 1).get()
        return list(snapshots)

    async def _purge(self, ref: AsyncDocumentReference) -> None:
        """Delete the versions and the history of the function of `ref` while it does not
        exist: one transaction per PURGE_PAGE documents, versions first, then the history
        newest first (its first entry last)."""
        versions = self._versions(ref).order_by("version", direction=AsyncQuery.DESCENDING)
        changes = self._changes(ref).order_by("revision", direction=AsyncQuery.DESCENDING)

        @async_transactional
        async def purge_page(transaction: AsyncTransaction) -> bool:
            """Delete the next page; whether there may be more."""
            if (await ref.get(transaction=transaction)).exists:
                return False  # created anew: the rest is the new function's
            page = list(await versions.limit(PURGE_PAGE).get(transaction=transaction))
            if len(page) < PURGE_PAGE:
                room = PURGE_PAGE - len(page)
                page += await changes.limit(room).get(transaction=transaction)
            for snapshot in page:
                transaction.delete(snapshot.reference)
            return len(page) == PURGE_PAGE

        more = True
        while more:
            more = await self._transact(purge_page, "delete")

    async def _transact(
        self, work: Callable[[AsyncTransaction], Awaitable[bool]], operation: str
    ) -> bool:
        """Run `work` in a transaction, again when a concurrent one aborted it."""
        for _ in range(MAX_PURGE_ATTEMPTS):
            with calling(operation):
                try:
                    return await work(self._client.transaction())
                except Aborted:  # a read's lock lost to a concurrent transaction
                    continue
                except ValueError as error:  # each commit attempt of the transaction aborted
                    if not isinstance(error.__cause__, Aborted):
                        raise
        raise ServiceUnavailable(
            f"Firestore {operation}: aborted by concurrent transactions {MAX_PURGE_ATTEMPTS} times"
        )


class FirestoreRateLimits:
    """`core.store.base.RateLimitRepository` on `{prefix}_rate_limits`: one counter document
    per (key, window)."""

    def __init__(self, collection: AsyncCollectionReference) -> None:
        self._collection = collection
        self._full: dict[tuple[str, int], tuple[int, float]] = {}
        """Windows this instance saw full: the counter it saw, and the window's expiry."""

    async def hit(self, key: str, window_start: int, limit: int, expires_at: float) -> bool:
        window = (key, window_start)
        seen = self._full.get(window)
        if seen is not None and seen[0] >= limit:  # so would the store: counters only grow
            return False
        ref = self._collection.document(schema.rate_limit_id(key, window_start))
        data = {"n": Increment(1), "expires_at": expires_at, TTL_FIELD: expire_at(expires_at)}
        with calling("set"):
            result = await ref.set(data, merge=True)
        n = result.transform_results[0].integer_value
        if n <= limit:
            return True
        self._remember_full(window, n, expires_at)
        return False

    async def count(self, key: str, window_start: int) -> int:
        snapshot = await read(self._collection.document(schema.rate_limit_id(key, window_start)))
        return int(snapshot.get("n")) if snapshot is not None else 0

    def _remember_full(self, window: tuple[str, int], n: int, expires_at: float) -> None:
        if len(self._full) >= MAX_FULL_WINDOWS:
            now = time.time()
            self._full = {w: seen for w, seen in self._full.items() if seen[1] > now}
            if len(self._full) >= MAX_FULL_WINDOWS:
                self._full.clear()
        self._full[window] = (n, expires_at)
