"""The embedded store: one SQLite file in WAL mode, safe for many tasks, threads and processes.

Writes go through one writer thread that owns the write connection. It drains every pending
write and runs them in one `BEGIN IMMEDIATE ... COMMIT` (group commit), then settles the
callers' futures on their event loops. A failing op fails alone: the group is then redone with
one SAVEPOINT per op.

Reads run directly on the calling thread through a thread-local read connection: a WAL reader
never waits for the writer, and a point lookup is cheaper than a thread hop (measured: `get`
~27 us inline vs ~80-120 us through `asyncio.to_thread`), so offloading reads would only add
latency.

Rows are indexed columns plus the whole record as an orjson body.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import queue
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import orjson

from core import histogram
from core.errors import Conflict, InvalidRequest, ServiceUnavailable
from core.models import Client, Execution, IdempotencyRecord, Page, Session, StatsRollup

logger = logging.getLogger("fnproxy.store.sqlite")

Op = Callable[[sqlite3.Connection], Any]

BUSY_TIMEOUT_MS = 5000
MAX_GROUP = 1000  # ops per group commit, so one transaction never grows without bound
PURGE_INTERVAL_S = 600.0
PURGE_BACKLOG_INTERVAL_S = 1.0  # sooner while a purge run hit its limit
PURGE_LIMIT = 1000  # rows per table per purge run

SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    execution_id TEXT PRIMARY KEY,
    function TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_by_function ON executions (function, execution_id DESC);
CREATE INDEX IF NOT EXISTS executions_by_status ON executions (status, execution_id DESC);
CREATE INDEX IF NOT EXISTS executions_by_function_status
    ON executions (function, status, execution_id DESC);
CREATE INDEX IF NOT EXISTS executions_by_expiry ON executions (expires_at);

CREATE TABLE IF NOT EXISTS idempotency (
    caller TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (caller, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_by_expiry ON idempotency (expires_at);

CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    expires_at REAL NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);

CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS clients_by_creation ON clients (created_at, client_id);

CREATE TABLE IF NOT EXISTS stats_rollups (
    bucket_start INTEGER NOT NULL,
    function TEXT NOT NULL,
    count INTEGER NOT NULL,
    successes INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    duration_sum_ms REAL NOT NULL,
    PRIMARY KEY (bucket_start, function)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS stats_histogram (
    bucket_start INTEGER NOT NULL,
    function TEXT NOT NULL,
    slot INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (bucket_start, function, slot)
) WITHOUT ROWID;
"""

# Tables whose rows the store deletes once `expires_at` has passed, with their keys.
EXPIRING_TABLES = {
    "executions": "execution_id",
    "sessions": "session_id",
    "idempotency": "caller, key",
}


def _connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode: transactions are opened explicitly."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def purge_expired(conn: sqlite3.Connection, now: float, limit: int = PURGE_LIMIT) -> bool:
    """Delete up to `limit` expired rows per table; True when some table may hold more."""
    more = False
    for table, key in EXPIRING_TABLES.items():
        deleted = conn.execute(
            f"DELETE FROM {table} WHERE ({key}) IN "
            f"(SELECT {key} FROM {table} WHERE expires_at <= ? LIMIT ?)",
            (now, limit),
        ).rowcount
        more = more or deleted >= limit
    return more


class _Writer(threading.Thread):
    """Owns the write connection; runs queued ops in group commits."""

    _STOP = object()

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(name="fnproxy-sqlite-writer", daemon=True)
        self._conn = conn
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._next_purge = 0.0  # purge as soon as the thread starts
        self.closed = False

    async def submit(self, op: Op) -> Any:
        if self.closed:
            raise ServiceUnavailable("the store is closed")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((op, future, loop))
        return await future

    def stop(self) -> None:
        """Let every op queued so far commit, then end the thread."""
        self.closed = True
        self._queue.put(self._STOP)

    def run(self) -> None:
        running = True
        while running:
            group, running = self._next_group()
            if group:
                self._commit(group)
            if time.monotonic() >= self._next_purge:
                self._purge()
        self._fail_leftovers()
        self._conn.close()

    def _next_group(self) -> tuple[list[Any], bool]:
        """Every pending op (up to MAX_GROUP), and whether to keep running."""
        try:
            item = self._queue.get(timeout=max(0.0, self._next_purge - time.monotonic()))
        except queue.Empty:
            return [], True
        group: list[Any] = []
        while item is not self._STOP:
            group.append(item)
            if len(group) >= MAX_GROUP:
                return group, True
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return group, True
        return group, False

    def _commit(self, group: list[Any]) -> None:
        try:
            outcomes = self._run_group([op for op, _, _ in group])
        except sqlite3.Error as exc:
            self._rollback()
            failure = ServiceUnavailable(f"store write failed: {exc}")
            outcomes = [(None, failure)] * len(group)
        _settle(group, outcomes)

    def _run_group(self, ops: list[Op]) -> list[tuple[Any, BaseException | None]]:
        """All ops in one transaction. When one fails, roll back and redo each op in its own
        savepoint, so only that op fails (savepoints on every op would cost ~25% throughput)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            outcomes = [(op(self._conn), None) for op in ops]
        except Exception:  # noqa: BLE001 - an op failed: take the slow, isolating path
            self._rollback()
            self._conn.execute("BEGIN IMMEDIATE")
            outcomes = [self._run_isolated(op) for op in ops]
        self._conn.execute("COMMIT")
        return outcomes

    def _run_isolated(self, op: Op) -> tuple[Any, BaseException | None]:
        self._conn.execute("SAVEPOINT op")
        try:
            result = op(self._conn)
        except Exception as exc:  # noqa: BLE001 - the op's own failure: undo it alone
            self._conn.execute("ROLLBACK TO op")
            self._conn.execute("RELEASE op")
            return None, exc
        self._conn.execute("RELEASE op")
        return result, None

    def _purge(self) -> None:
        more = False
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            more = purge_expired(self._conn, time.time())
            self._conn.execute("COMMIT")
        except sqlite3.Error:
            self._rollback()
            logger.exception("purge of expired rows failed; retrying later")
        interval = PURGE_BACKLOG_INTERVAL_S if more else PURGE_INTERVAL_S
        self._next_purge = time.monotonic() + interval

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def _fail_leftovers(self) -> None:
        """Ops that raced with stop(): tell their callers instead of leaving them waiting."""
        leftovers = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not self._STOP:
                leftovers.append(item)
        _settle(leftovers, [(None, ServiceUnavailable("the store is closed"))] * len(leftovers))


def _settle(group: list[Any], outcomes: list[tuple[Any, BaseException | None]]) -> None:
    """Resolve the futures with one wake-up per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = defaultdict(list)
    for (_, future, loop), outcome in zip(group, outcomes, strict=False):
        by_loop[loop].append((future, outcome))
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, settled)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass


def _resolve(settled: list[Any]) -> None:
    for future, (result, error) in settled:
        if future.done():  # the caller was cancelled
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


class _Database:
    """One file: the writer thread plus one read connection per reading thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        conn = _connect(path)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(f"BEGIN IMMEDIATE; {SCHEMA} COMMIT;")
        self._writer = _Writer(conn)
        self._writer.start()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    async def write(self, op: Op) -> Any:
        return await self._writer.submit(op)

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        if self._writer.closed:
            raise ServiceUnavailable("the store is closed")
        return self._reader().execute(sql, params).fetchall()

    def check(self) -> None:
        if not self._writer.is_alive():
            raise ServiceUnavailable("the store's writer is not running")
        self.read("SELECT 1")

    async def close(self) -> None:
        if self._writer.closed:
            return
        self._writer.stop()
        await asyncio.to_thread(self._writer.join)
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self._path)
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn


def _insert(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...], what: str) -> None:
    try:
        conn.execute(sql, params)
    except sqlite3.IntegrityError:
        raise Conflict(f"{what} already exists") from None


def _encode_cursor(execution_id: str) -> str:
    return base64.urlsafe_b64encode(execution_id.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError included
        raise InvalidRequest("invalid cursor") from None
    if not decoded:
        raise InvalidRequest("invalid cursor")
    return decoded


def list_query(
    function: str | None, status: str | None, before: str | None, limit: int
) -> tuple[str, tuple[Any, ...]]:
    """Newest-first page query; every filter combination is served by an index."""
    conditions, params = [], []
    for column, value in (("function", function), ("status", status)):
        if value is not None:
            conditions.append(f"{column} = ?")
            params.append(value)
    if before is not None:
        conditions.append("execution_id < ?")
        params.append(before)
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    sql = f"SELECT body FROM executions {where}ORDER BY execution_id DESC LIMIT ?"
    return sql, (*params, limit)


class _Executions:
    _INSERT = (
        "INSERT INTO executions (execution_id, function, status, created_at, expires_at, body) "
        "VALUES (?, ?, ?, ?, ?, ?)"
    )
    _UPSERT = (
        f"{_INSERT} ON CONFLICT (execution_id) DO UPDATE SET "
        "function = excluded.function, status = excluded.status, "
        "created_at = excluded.created_at, expires_at = excluded.expires_at, body = excluded.body"
    )

    def __init__(self, db: _Database) -> None:
        self._db = db

    async def add(self, execution: Execution) -> None:
        row = _execution_row(execution)
        await self._db.write(lambda conn: _insert(conn, self._INSERT, row, "execution"))

    async def save(
        self, execution: Execution, *, only_if_status: Collection[str] | None = None
    ) -> bool:
        row = _execution_row(execution)
        if only_if_status is None:
            return await self._db.write(lambda conn: conn.execute(self._UPSERT, row).rowcount == 1)
        statuses = tuple(only_if_status)
        sql = (
            "UPDATE executions SET function = ?, status = ?, created_at = ?, expires_at = ?, "
            f"body = ? WHERE execution_id = ? AND status IN ({', '.join('?' * len(statuses))})"
        )
        params = (*row[1:], row[0], *statuses)
        return await self._db.write(lambda conn: conn.execute(sql, params).rowcount == 1)

    async def get(self, execution_id: str) -> Execution | None:
        rows = self._db.read("SELECT body FROM executions WHERE execution_id = ?", (execution_id,))
        return Execution(**orjson.loads(rows[0][0])) if rows else None

    async def list(
        self,
        *,
        function: str | None = None,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Execution]:
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        before = _decode_cursor(cursor) if cursor is not None else None
        rows = self._db.read(*list_query(function, status, before, limit + 1))
        items = [Execution(**orjson.loads(body)) for (body,) in rows[:limit]]
        more = len(rows) > limit
        return Page(items, _encode_cursor(items[-1].execution_id) if more else None)


def _execution_row(execution: Execution) -> tuple[Any, ...]:
    return (
        execution.execution_id,
        execution.function,
        execution.status,
        execution.created_at,
        execution.expires_at,
        orjson.dumps(execution),
    )


class _Idempotency:
    _CLAIM = (
        "INSERT INTO idempotency (caller, key, fingerprint, execution_id, expires_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (caller, key) DO UPDATE SET "
        "fingerprint = excluded.fingerprint, execution_id = excluded.execution_id, "
        "expires_at = excluded.expires_at WHERE idempotency.expires_at <= ?"
    )
    _EXISTING = (
        "SELECT caller, key, fingerprint, execution_id, expires_at FROM idempotency "
        "WHERE caller = ? AND key = ?"
    )

    def __init__(self, db: _Database) -> None:
        self._db = db

    async def claim(self, record: IdempotencyRecord, now: float) -> IdempotencyRecord | None:
        params = (
            record.caller,
            record.key,
            record.fingerprint,
            record.execution_id,
            record.expires_at,
            now,
        )

        def claim(conn: sqlite3.Connection) -> IdempotencyRecord | None:
            if conn.execute(self._CLAIM, params).rowcount == 1:
                return None
            return IdempotencyRecord(*conn.execute(self._EXISTING, params[:2]).fetchone())

        return await self._db.write(claim)


class _Sessions:
    def __init__(self, db: _Database) -> None:
        self._db = db

    async def add(self, session: Session) -> None:
        sql = "INSERT INTO sessions (session_id, version, expires_at, body) VALUES (?, ?, ?, ?)"
        row = (session.session_id, session.version, session.expires_at, orjson.dumps(session))
        await self._db.write(lambda conn: _insert(conn, sql, row, "session"))

    async def get(self, session_id: str, now: float) -> Session | None:
        rows = self._db.read(
            "SELECT body FROM sessions WHERE session_id = ? AND expires_at > ?", (session_id, now)
        )
        return Session(**orjson.loads(rows[0][0])) if rows else None

    async def replace(self, session: Session, expected_version: int) -> bool:
        sql = (
            "UPDATE sessions SET version = ?, expires_at = ?, body = ? "
            "WHERE session_id = ? AND version = ? AND expires_at > ?"
        )
        params = (
            session.version,
            session.expires_at,
            orjson.dumps(session),
            session.session_id,
            expected_version,
            time.time(),
        )
        return await self._db.write(lambda conn: conn.execute(sql, params).rowcount == 1)

    async def delete(self, session_id: str) -> bool:
        """Deletes the row; True only when the session was still live."""
        sql = "DELETE FROM sessions WHERE session_id = ? RETURNING expires_at"
        now = time.time()

        def delete(conn: sqlite3.Connection) -> bool:
            rows = conn.execute(sql, (session_id,)).fetchall()
            return bool(rows) and rows[0][0] > now

        return await self._db.write(delete)


class _Clients:
    def __init__(self, db: _Database) -> None:
        self._db = db

    async def add(self, client: Client) -> None:
        sql = "INSERT INTO clients (client_id, created_at, body) VALUES (?, ?, ?)"
        row = (client.client_id, client.created_at, orjson.dumps(client))
        await self._db.write(lambda conn: _insert(conn, sql, row, "client"))

    async def get(self, client_id: str) -> Client | None:
        rows = self._db.read("SELECT body FROM clients WHERE client_id = ?", (client_id,))
        return Client(**orjson.loads(rows[0][0])) if rows else None

    async def list(self) -> list[Client]:
        rows = self._db.read("SELECT body FROM clients ORDER BY created_at, client_id")
        return [Client(**orjson.loads(body)) for (body,) in rows]

    async def revoke(self, client_id: str, at: float) -> bool:
        """Sets `revoked_at` (kept when already revoked); False when the client is unknown."""

        def revoke(conn: sqlite3.Connection) -> bool:
            rows = conn.execute(
                "SELECT body FROM clients WHERE client_id = ?", (client_id,)
            ).fetchall()
            if not rows:
                return False
            data = orjson.loads(rows[0][0])
            if data["revoked_at"] is None:
                data["revoked_at"] = at
                conn.execute(
                    "UPDATE clients SET body = ? WHERE client_id = ?",
                    (orjson.dumps(data), client_id),
                )
            return True

        return await self._db.write(revoke)


class _Stats:
    _ROLLUP = (
        "INSERT INTO stats_rollups "
        "(bucket_start, function, count, successes, failures, duration_sum_ms) "
        "VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT (bucket_start, function) DO UPDATE SET "
        "count = count + 1, successes = successes + excluded.successes, "
        "failures = failures + excluded.failures, "
        "duration_sum_ms = duration_sum_ms + excluded.duration_sum_ms"
    )
    _SLOT = (
        "INSERT INTO stats_histogram (bucket_start, function, slot, n) VALUES (?, ?, ?, 1) "
        "ON CONFLICT (bucket_start, function, slot) DO UPDATE SET n = n + 1"
    )

    def __init__(self, db: _Database) -> None:
        self._db = db

    async def record(
        self,
        function: str,
        bucket_start: int,
        success: bool,
        duration_ms: float,
        histogram_slot: int,
    ) -> None:
        if not 0 <= histogram_slot < histogram.SLOT_COUNT:
            raise ValueError(f"histogram slot {histogram_slot} out of range")
        rollup = (bucket_start, function, int(success), int(not success), duration_ms)
        slot = (bucket_start, function, histogram_slot)

        def record(conn: sqlite3.Connection) -> None:
            conn.execute(self._ROLLUP, rollup)
            conn.execute(self._SLOT, slot)

        await self._db.write(record)

    async def read(
        self, bucket_starts: Collection[int], function: str | None = None
    ) -> list[StatsRollup]:
        """One statement (so one snapshot): each rollup joined with its histogram slots."""
        buckets = sorted(set(bucket_starts))
        if not buckets:
            return []
        sql = (
            "SELECT r.bucket_start, r.function, r.count, r.successes, r.failures, "
            "r.duration_sum_ms, h.slot, h.n FROM stats_rollups AS r "
            "LEFT JOIN stats_histogram AS h USING (bucket_start, function) "
            f"WHERE r.bucket_start IN ({', '.join('?' * len(buckets))})"
            f"{' AND r.function = ?' if function is not None else ''}"
            " ORDER BY r.bucket_start, r.function"
        )
        params = (*buckets, function) if function is not None else tuple(buckets)
        rollups: dict[tuple[int, str], StatsRollup] = {}
        for bucket, name, *counters, slot, n in self._db.read(sql, params):
            rollup = rollups.get((bucket, name))
            if rollup is None:
                rollup = StatsRollup(name, bucket, *counters, histogram=histogram.empty())
                rollups[(bucket, name)] = rollup
            if slot is not None:
                rollup.histogram[slot] = n
        return list(rollups.values())


class SqliteStore:
    """The `core.store.base.Store` port on one SQLite file."""

    def __init__(self, path: Path) -> None:
        self._db = _Database(Path(path))
        self.executions = _Executions(self._db)
        self.idempotency = _Idempotency(self._db)
        self.sessions = _Sessions(self._db)
        self.clients = _Clients(self._db)
        self.stats = _Stats(self._db)

    async def ping(self) -> None:
        self._db.check()

    async def close(self) -> None:
        await self._db.close()
