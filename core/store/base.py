"""The store port: repositories for history, idempotency, sessions, clients, stats rollups, the
function registry and rate-limit counters.

Every backend (sqlite, dynamodb, firestore) implements these protocols and passes the shared
contract suite in `tests/contract/`. Rules every backend keeps:

- no scan on a request path: every read is a key lookup or a bounded, indexed query;
- conditional writes where the protocol says so (idempotency claims, session versions,
  execution status transitions and leases) are atomic across processes and instances;
- stats are counters added atomically at write time, read per (bucket, function);
- a registered function changes only through a write conditioned on the revision read, made
  atomically with the version item and the history entry that go with it;
- expired sessions and idempotency records are never returned, even before the backend's own
  TTL mechanism deletes them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from core.models import (
    ApiKey,
    Client,
    Execution,
    FunctionVersion,
    IdempotencyRecord,
    Page,
    RegisteredFunction,
    Session,
    StatsRollup,
    VersionChange,
)

ALL_TIME = -1
"""The bucket_start of the all-time rollups: every count is added to its function's, so
all-time stats are one read, whatever the store's age (counted since the store had them)."""


@dataclass(frozen=True)
class StatsCount:
    """One outcome to add to the stats rollup of (`bucket_start`, `function`) and to the
    function's all-time rollup."""

    function: str
    bucket_start: int
    success: bool
    duration_ms: float
    histogram_slot: int

    @property
    def buckets(self) -> tuple[int, int]:
        """The rollups it is added to: its bucket's and the all-time one."""
        return (self.bucket_start, ALL_TIME)


class ExecutionRepository(Protocol):
    async def add(self, execution: Execution) -> None:
        """Insert a new execution; raises `core.errors.Conflict` if the id exists."""

    async def save(
        self,
        execution: Execution,
        *,
        only_if_status: Collection[str] | None = None,
        only_if_owner: str | None = None,
    ) -> bool:
        """Write the whole record. With `only_if_status`, write only when the stored record's
        status is one of them (atomically) and return whether it was written. With
        `only_if_owner`, write only while the stored record is `running` and leased to
        `only_if_owner` (the saves of a run from the queue, its final one included: one
        outcome per execution); such a save keeps the stored lease (`lease_owner`,
        `lease_until`: `claim` and `renew` set it), whatever `execution` holds."""

    async def claim(
        self, execution_id: str, owner: str, lease_until: float, now: float
    ) -> Execution | None:
        """Atomically make the execution `running` under (`owner`, `lease_until`), with
        `updated_at` = `now`, when it is `queued`, or `running` with a lease that expired
        before `now` (a takeover: `lease_takeovers` counts it). The claimed record, or None:
        missing or expired, ended, running without a lease (a sync run), or leased to a live
        runner. Of concurrent claims exactly one wins."""

    async def renew(self, execution_id: str, owner: str, lease_until: float) -> bool:
        """Set the lease's end to `lease_until` while the record is `running` and leased to
        `owner` (even past its end, if nobody took it over); whether it did."""

    async def list_runnable(
        self, now: float, limit: int, cursor: str | None = None
    ) -> Page[Execution]:
        """What `claim` would take at `now`: `queued` executions and `running` ones whose lease
        expired before `now`, oldest first, through a bounded, indexed query per page.
        Follow `next_cursor` until it is None to see them all: a page may hold fewer than
        `limit` (even none) while more follow, since the pages skip live leases."""

    async def settle_announcement(self, execution_id: str, count: StatsCount) -> bool:
        """In one atomic step, add `count` to its stats rollups (`count.buckets`) and clear the
        execution's `announcement_pending`, only while that flag is set; whether it did.
        Called once the outcome's event went out: a second call (a redo) counts nothing."""

    async def list_outbox(
        self, updated_before: float, limit: int, cursor: str | None = None
    ) -> Page[Execution]:
        """Ended executions that still owe their announcement or their callback
        (`Execution.in_outbox`), last updated before `updated_before`, oldest first, through a
        bounded, indexed query of those alone. Follow `next_cursor` until it is None: a page
        may hold fewer than `limit` (even none) while more follow."""

    async def get(self, execution_id: str) -> Execution | None: ...

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
        """Newest first (by `execution_id`, which sorts by creation time). `since`/`until`
        (epoch seconds) keep executions created at or after `since` and before `until`: a
        range of ids (`core.models.id_floor`), so the same indexes serve it. `cursor` is the
        opaque `next_cursor` of the previous page."""


class IdempotencyRepository(Protocol):
    async def claim(self, record: IdempotencyRecord, now: float) -> IdempotencyRecord | None:
        """Store `record` unless a live record exists for (caller, key); return that existing
        record, or None when this claim won. Atomic: of concurrent claims exactly one wins."""

    async def extend(self, caller: str, key: str, execution_id: str, expires_at: float) -> bool:
        """Set the expiry of the claim (`caller`, `key`) to `expires_at` if that claim started
        `execution_id`; whether it did. A claim is made short-lived (the invocation's deadline
        plus a margin) and extended once its execution is recorded, so a crash before the
        record existed frees the key."""


class SessionRepository(Protocol):
    async def add(self, session: Session) -> None: ...

    async def get(self, session_id: str, now: float) -> Session | None:
        """The session, or None when missing or expired."""

    async def replace(self, session: Session, expected_version: int) -> bool:
        """Write `session` only if the stored version equals `expected_version`."""

    async def delete(self, session_id: str) -> bool: ...


class ClientRepository(Protocol):
    async def add(self, client: Client) -> None: ...

    async def get(self, client_id: str) -> Client | None: ...

    async def list(self) -> list[Client]: ...

    async def revoke(self, client_id: str, at: float) -> bool:
        """Mark the client revoked; False when it does not exist."""

    async def set_sigv4(self, client_id: str, sealed: str) -> bool:
        """Replace the client's sealed SigV4 secret; False when the client does not exist."""

    async def record_use(self, client_id: str, uses: int, last_used_at: float) -> bool:
        """In one atomic step, add `uses` to the client's count and raise its `last_used_at`
        to `last_used_at` (an earlier time leaves it); False when the client does not exist.
        Concurrent calls from any instances all count."""


class ApiKeyRepository(Protocol):
    """The API keys of registered functions (`core.auth.api_keys`), each under its function."""

    async def add(self, key: ApiKey) -> None:
        """Insert a new key; raises `core.errors.Conflict` if (function, key_id) exists."""

    async def get(self, function: str, key_id: str) -> ApiKey | None: ...

    async def list(self, function: str, limit: int) -> list[ApiKey]:
        """Up to `limit` of the function's keys, revoked ones included, oldest first (then by
        id): one bounded query."""

    async def revoke(self, function: str, key_id: str, at: float) -> bool:
        """Mark the key revoked (its first `revoked_at` kept); False when it does not exist."""

    async def record_use(self, function: str, key_id: str, uses: int, last_used_at: float) -> bool:
        """As `ClientRepository.record_use`, for one key; False when it does not exist."""


class StatsRepository(Protocol):
    """Stats rollups, read only: an outcome is counted by `ExecutionRepository.
    settle_announcement`, in the step that clears its announcement flag."""

    async def read(
        self, bucket_starts: Collection[int], function: str | None = None
    ) -> list[StatsRollup]:
        """Rollups of the given buckets: one function's, or every function's."""


class FunctionRepository(Protocol):
    """Registered functions, their versions and their change history."""

    async def create(
        self, function: RegisteredFunction, first: FunctionVersion, change: VersionChange
    ) -> None:
        """Store a new function with its first version and history entry, atomically; raises
        `core.errors.Conflict` when the name is taken."""

    async def get(self, name: str) -> RegisteredFunction | None: ...

    async def list(self, *, limit: int = 50, cursor: str | None = None) -> Page[RegisteredFunction]:
        """By name, ascending."""

    async def update(
        self,
        function: RegisteredFunction,
        expected_revision: int,
        change: VersionChange,
        *,
        add_version: FunctionVersion | None = None,
        delete_version: int | None = None,
    ) -> bool:
        """Replace the function's record with `function` only if the stored revision is
        `expected_revision`, and in the same atomic step append `change` (whose revision is
        `function.revision`), add `add_version` and delete version `delete_version`. False
        (and nothing written) when the revision moved on or the function is gone."""

    async def delete(self, name: str) -> bool:
        """Delete the function, its versions and its history; False when it does not exist."""

    async def get_version(self, name: str, version: int) -> FunctionVersion | None: ...

    async def list_versions(
        self, name: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[FunctionVersion]:
        """Newest (highest) version first."""

    async def list_changes(
        self, name: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[VersionChange]:
        """Newest (highest revision) first."""


class RateLimitRepository(Protocol):
    async def hit(self, key: str, window_start: int, limit: int, expires_at: float) -> bool:
        """Count one request in the fixed window (`key`, `window_start`) unless it holds
        `limit` already; True when counted. Atomic across processes and instances: of
        concurrent hits on a window with room for n, exactly n are counted. `expires_at`:
        when the window's counter may be deleted."""

    async def count(self, key: str, window_start: int) -> int:
        """The hits the window (`key`, `window_start`) holds: 0 for a window never hit, at
        least `limit` once one of its hits was refused (a backend may count refused hits
        too). A read: it counts nothing."""


class Store(Protocol):
    executions: ExecutionRepository
    idempotency: IdempotencyRepository
    sessions: SessionRepository
    clients: ClientRepository
    api_keys: ApiKeyRepository
    stats: StatsRepository
    functions: FunctionRepository
    rate_limits: RateLimitRepository

    async def ping(self) -> None:
        """Raise if the store cannot be reached."""

    async def close(self) -> None: ...
