"""The Firestore store's layout: collections, document ids, the composite indexes its queries
need, the TTL field and the fields kept out of indexes - the one definition Terraform mirrors.
Plain data: importable without any Google library.

Collections are `{prefix}_{kind}`:

    kind          document id                             fields
    executions    the execution id (see `document_id`)    execution_id, function, status,
                                                          expires_at, expire_at, body
    idempotency   sha256 of (caller, key)                 caller, key, fingerprint,
                                                          execution_id, expires_at, expire_at
    sessions      the session id                          version, expires_at, expire_at, body
    clients       the client id                           the client's fields, one each
    stats         <bucket>-<sha256(function)>-<shard>     bucket_start, function, shard, count,
                                                          successes, failures, duration_sum_ms,
                                                          histogram {h<slot>: n}

`body` is the whole record as JSON. `expire_at` (a Timestamp) is the field of the TTL policies;
`expires_at` (epoch seconds) is what reads check, since TTL deletion lags expiry (up to a day).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
from dataclasses import dataclass

from core.errors import InvalidRequest

EXECUTIONS = "executions"
IDEMPOTENCY = "idempotency"
SESSIONS = "sessions"
CLIENTS = "clients"
STATS = "stats"
KINDS = (EXECUTIONS, IDEMPOTENCY, SESSIONS, CLIENTS, STATS)

TTL_FIELD = "expire_at"
TTL_KINDS = (EXECUTIONS, IDEMPOTENCY, SESSIONS)

ASCENDING = "ASCENDING"
DESCENDING = "DESCENDING"


@dataclass(frozen=True)
class CompositeIndex:
    """A composite index of one collection kind: equality fields first, then the order."""

    kind: str
    fields: tuple[tuple[str, str], ...]  # (field path, ASCENDING | DESCENDING)


_BY_ID = ("execution_id", DESCENDING)
COMPOSITE_INDEXES = (
    CompositeIndex(EXECUTIONS, (("function", ASCENDING), _BY_ID)),
    CompositeIndex(EXECUTIONS, (("status", ASCENDING), _BY_ID)),
    CompositeIndex(EXECUTIONS, (("function", ASCENDING), ("status", ASCENDING), _BY_ID)),
    CompositeIndex(STATS, (("function", ASCENDING), ("bucket_start", ASCENDING))),
)

# Fields no query reads, kept out of the automatic single-field indexes: large (body), one
# index entry per map key (histogram), or growing with time, which would make one hot index
# range (Firestore advises exempting TTL fields).
UNINDEXED_FIELDS: dict[str, tuple[str, ...]] = {
    EXECUTIONS: ("body", "expires_at", TTL_FIELD),
    IDEMPOTENCY: ("fingerprint", "execution_id", "expires_at", TTL_FIELD),
    SESSIONS: ("body", "version", "expires_at", TTL_FIELD),
    CLIENTS: ("secret_hash", "scopes"),
    STATS: ("shard", "count", "successes", "failures", "duration_sum_ms", "histogram"),
}

# Document ids kept as they are; any other key is encoded (see `document_id`).
_PLAIN_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,127}")
MAX_ID_BYTES = 1500  # Firestore's limit on a document id


def collection(prefix: str, kind: str) -> str:
    return f"{prefix}_{kind}"


def document_id(key: str) -> str:
    """A valid Firestore document id for `key`, one per key: plain ids (letters, digits, `_`,
    `-`) as they are, anything else `~` + urlsafe base64 (no `/`, never `.` or `__x__`).
    InvalidRequest when even the encoded id is too long."""
    if _PLAIN_ID.fullmatch(key):
        return key
    encoded = "~" + base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")
    if len(encoded) > MAX_ID_BYTES:
        raise InvalidRequest(f"a key of {len(key)} characters is too long for the store")
    return encoded


def idempotency_id(caller: str, key: str) -> str:
    return hashlib.sha256(json.dumps([caller, key]).encode()).hexdigest()


def stats_id(bucket_start: int, function: str, shard: int) -> str:
    digest = hashlib.sha256(function.encode()).hexdigest()[:32]
    return f"{bucket_start}-{digest}-{shard}"


@dataclass(frozen=True)
class QueryShape:
    """What decides the index a query needs: its collection kind, the fields it filters by
    equality and its order (inequality fields included, as Firestore orders by them; the
    implicit `__name__` order left out)."""

    kind: str
    equalities: frozenset[str]
    order: tuple[tuple[str, str], ...]

    def needs_composite_index(self) -> bool:
        """Equalities alone are served by merging single-field indexes, and one ordered field
        without equalities by its own single-field index (both directions exist)."""
        return bool(self.order) and (bool(self.equalities) or len(self.order) > 1)

    def served_by(self, index: CompositeIndex) -> bool:
        """The equality fields first (in any order), then exactly this order."""
        size = len(self.equalities)
        return (
            index.kind == self.kind
            and len(index.fields) == size + len(self.order)
            and {field for field, _ in index.fields[:size]} == self.equalities
            and index.fields[size:] == self.order
        )


def terraform_data(prefix: str) -> dict[str, list[dict[str, object]]]:
    """The indexes and field settings as arguments of Terraform's `google_firestore_index`
    (`indexes`) and `google_firestore_field` (`fields`: `ttl` marks a TTL policy; every field
    listed has its single-field indexes switched off)."""
    indexes = [
        {
            "collection": collection(prefix, index.kind),
            "query_scope": "COLLECTION",
            "fields": [{"field_path": path, "order": order} for path, order in index.fields],
        }
        for index in COMPOSITE_INDEXES
    ]
    fields = [
        {"collection": collection(prefix, kind), "field": field, "ttl": field == TTL_FIELD}
        for kind, names in UNINDEXED_FIELDS.items()
        for field in names
    ]
    return {"indexes": indexes, "fields": fields}


if __name__ == "__main__":  # python -m core.store.firestore_schema [prefix] > firestore.json
    print(json.dumps(terraform_data(sys.argv[1] if len(sys.argv) > 1 else "fnproxy"), indent=2))
