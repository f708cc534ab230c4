"""The store port: repositories for history, idempotency, sessions, clients and stats rollups.

Every backend (sqlite, dynamodb, firestore) implements these protocols and passes the shared
contract suite in `tests/contract/`. Rules every backend keeps:

- no scan on a request path: every read is a key lookup or a bounded, indexed query;
- conditional writes where the protocol says so (idempotency claims, session versions,
  execution status transitions) are atomic across processes and instances;
- stats are counters added atomically at write time, read per (bucket, function);
- expired sessions and idempotency records are never returned, even before the backend's own
  TTL mechanism deletes them.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from core.models import Client, Execution, IdempotencyRecord, Page, Session, StatsRollup


class ExecutionRepository(Protocol):
    async def add(self, execution: Execution) -> None:
        """Insert a new execution; raises `core.errors.Conflict` if the id exists."""

    async def save(
        self, execution: Execution, *, only_if_status: Collection[str] | None = None
    ) -> bool:
        """Write the whole record. With `only_if_status`, write only when the stored record's
        status is one of them (atomically) and return whether it was written."""

    async def get(self, execution_id: str) -> Execution | None: ...

    async def list(
        self,
        *,
        function: str | None = None,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Execution]:
        """Newest first (by `execution_id`, which sorts by creation time). `cursor` is the
        opaque `next_cursor` of the previous page."""


class IdempotencyRepository(Protocol):
    async def claim(self, record: IdempotencyRecord, now: float) -> IdempotencyRecord | None:
        """Store `record` unless a live record exists for (caller, key); return that existing
        record, or None when this claim won. Atomic: of concurrent claims exactly one wins."""


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


class StatsRepository(Protocol):
    async def record(
        self,
        function: str,
        bucket_start: int,
        success: bool,
        duration_ms: float,
        histogram_slot: int,
    ) -> None:
        """Atomically add one outcome to the rollup of (bucket_start, function)."""

    async def read(
        self, bucket_starts: Collection[int], function: str | None = None
    ) -> list[StatsRollup]:
        """Rollups of the given buckets: one function's, or every function's."""


class Store(Protocol):
    executions: ExecutionRepository
    idempotency: IdempotencyRepository
    sessions: SessionRepository
    clients: ClientRepository
    stats: StatsRepository

    async def ping(self) -> None:
        """Raise if the store cannot be reached."""

    async def close(self) -> None: ...
