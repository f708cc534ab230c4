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
    api_keys      `<function>|<key_id>` (see `document_id`) the key's fields, one each
    stats         <bucket>-<sha256(function)>-<shard>     bucket_start, function, shard, count,
                                                          successes, failures, duration_sum_ms,
                                                          histogram {h<slot>: n}
    functions     the function's name (see `document_id`) name, revision, body
    rate_limits   sha256 of (key, window_start)           n, expires_at, expire_at

and, under each `functions` document, the subcollections (their collection ids are prefixed
too: a field setting of Firestore applies to every collection of one id, so prefixing keeps two
deployments sharing a database apart):

    function_versions  the version, zero-padded (`number_id`)   version, body
    function_changes   the revision, zero-padded (`number_id`)  revision, body

`body` is the whole record as JSON. `expire_at` (a Timestamp) is the field of the TTL policies;
`expires_at` (epoch seconds) is what reads check, since TTL deletion lags expiry (up to a day).

The registry's queries need no composite index: functions are listed by `name` (ascending),
versions by `version` and changes by `revision` (descending) within one function's
subcollection: each one field, served by its automatic single-field index (so those fields are
never exempted). A rate-limit counter is only ever read by its id: every field is exempted. A
function's API keys are queried by `function` alone (equality: its single-field index).
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
FUNCTIONS = "functions"
RATE_LIMITS = "rate_limits"
API_KEYS = "api_keys"
KINDS = (EXECUTIONS, IDEMPOTENCY, SESSIONS, CLIENTS, STATS, FUNCTIONS, RATE_LIMITS, API_KEYS)
"""The top-level collections."""

FUNCTION_VERSIONS = "function_versions"
FUNCTION_CHANGES = "function_changes"
SUBCOLLECTIONS = {FUNCTION_VERSIONS: FUNCTIONS, FUNCTION_CHANGES: FUNCTIONS}
"""The subcollection kinds, each to the kind of the documents they sit under."""

TTL_FIELD = "expire_at"
TTL_KINDS = (EXECUTIONS, IDEMPOTENCY, SESSIONS, RATE_LIMITS)

ASCENDING = "ASCENDING"
DESCENDING = "DESCENDING"


@dataclass(frozen=True)
class CompositeIndex:
    """A composite index of one collection kind: equality fields first, then the order."""

    kind: str
    fields: tuple[tuple[str, str], ...]  # (field path, ASCENDING | DESCENDING)


_BY_ID = ("execution_id", DESCENDING)
# Listings are newest first; the runnable (queued, running) executions and the outbox (ended
# executions that owe their announcement or callback) are read oldest first.
COMPOSITE_INDEXES = (
    CompositeIndex(EXECUTIONS, (("function", ASCENDING), _BY_ID)),
    CompositeIndex(EXECUTIONS, (("status", ASCENDING), _BY_ID)),
    CompositeIndex(EXECUTIONS, (("function", ASCENDING), ("status", ASCENDING), _BY_ID)),
    CompositeIndex(EXECUTIONS, (("status", ASCENDING), ("execution_id", ASCENDING))),
    CompositeIndex(EXECUTIONS, (("outbox", ASCENDING), ("execution_id", ASCENDING))),
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
    FUNCTIONS: ("revision", "body"),
    FUNCTION_VERSIONS: ("body",),
    FUNCTION_CHANGES: ("body",),
    RATE_LIMITS: ("n", "expires_at", TTL_FIELD),
    API_KEYS: (
        "secret_hash",
        "created_at",
        "created_by",
        "function_created_at",
        "revoked_at",
        "uses",
        "last_used_at",
    ),
}

# Document ids kept as they are; any other key is encoded (see `document_id`).
_PLAIN_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,127}")
MAX_ID_BYTES = 1500  # Firestore's limit on a document id
NUMBER_DIGITS = 10
MAX_NUMBER = 10**NUMBER_DIGITS - 1  # the highest version or revision `number_id` takes


def collection(prefix: str, kind: str) -> str:
    """The id of the collection of `kind`: of a top-level collection, or of a subcollection
    (and of its collection group, which index and TTL settings name)."""
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


def number_id(number: int) -> str:
    """The document id of a version or revision: zero-padded, so ids sort as the numbers."""
    if not 0 <= number <= MAX_NUMBER:
        raise ValueError(f"{number} is not a version or revision number the store can keep")
    return f"{number:0{NUMBER_DIGITS}d}"


def rate_limit_id(key: str, window_start: int) -> str:
    return hashlib.sha256(json.dumps([key, window_start]).encode()).hexdigest()


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
    listed has its single-field indexes switched off). `collection` is a collection id, which
    for a subcollection kind names its collection group."""
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
