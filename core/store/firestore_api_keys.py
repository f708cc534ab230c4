"""Functions' API keys on Firestore (`core.store.base.ApiKeyRepository`): the collection
`{prefix}_api_keys` (`core.store.firestore_schema`), one document per key (id:
`<function>|<key_id>`, encoded by `document_id`) with the key's fields one each. A function's
keys are one query on `function` (its automatic single-field index: no composite index); a use
is counted with server-side transforms, so concurrent uses all count."""

from __future__ import annotations

from google.cloud.firestore_v1 import (
    AsyncCollectionReference,
    AsyncDocumentReference,
    FieldFilter,
    Increment,
    Maximum,
)

from core.models import ApiKey
from core.store import firestore_schema as schema
from core.store.firestore_documents import (
    calling,
    create,
    document,
    read,
    revoke_document,
    update_if_exists,
)


class FirestoreApiKeys:
    def __init__(self, collection: AsyncCollectionReference) -> None:
        self._collection = collection

    def _document(self, function: str, key_id: str) -> AsyncDocumentReference | None:
        return document(self._collection, f"{function}|{key_id}")

    async def add(self, key: ApiKey) -> None:
        ref = self._collection.document(schema.document_id(f"{key.function}|{key.key_id}"))
        await create(ref, key.to_dict(), "API key")

    async def get(self, function: str, key_id: str) -> ApiKey | None:
        ref = self._document(function, key_id)
        snapshot = await read(ref) if ref is not None else None
        return ApiKey(**snapshot.to_dict()) if snapshot is not None else None

    async def list(self, function: str, limit: int) -> list[ApiKey]:
        query = self._collection.where(filter=FieldFilter("function", "==", function))
        with calling("query"):
            snapshots = await query.limit(limit).get()
        keys = [ApiKey(**snapshot.to_dict()) for snapshot in snapshots]
        return sorted(keys, key=lambda k: (k.created_at, k.key_id))

    async def revoke(self, function: str, key_id: str, at: float) -> bool:
        return await revoke_document(self._document(function, key_id), at)

    async def record_use(self, function: str, key_id: str, uses: int, last_used_at: float) -> bool:
        ref = self._document(function, key_id)
        fields = {"uses": Increment(uses), "last_used_at": Maximum(last_used_at)}
        return ref is not None and await update_if_exists(ref, fields)
