"""The embedded store: one SQLite file in WAL mode, safe for many tasks, threads and processes.

Writes commit on the event loop's own thread. The first write of a loop iteration schedules one
flush (`loop.call_soon`); the flush runs every write queued during that iteration in one
`BEGIN IMMEDIATE ... COMMIT` (group commit), at most MAX_GROUP ops per transaction, and then
sets the callers' futures, so a write's future is done once its transaction has committed. A
failing op fails alone: the group is then redone with one SAVEPOINT per op.

Why on the loop: in WAL mode with synchronous=NORMAL a commit does not fsync, it appends pages
to the WAL. A sync invocation's two writes (its execution row and its stats rollup) make one
transaction of ~10 WAL pages, ~65 us of CPU when warm, nearly all of it SQLite's own (six
b-trees for the execution, two for the rollup, ~26 system calls). The writer thread this
replaced spent more than that again on hand-offs: a queue put per op, thread wake-ups, the GIL
passed back and forth with the loop, a self-pipe wake-up to settle the futures. Batching the
hand-offs per loop iteration (one queue put, one wake-up each way) removed only ~10% of that.
Measured per sequential in-process /v1/invoke, against the same request without store writes
(median of 36 paired rounds): writer thread 318 us of process CPU (117 us on the loop thread),
loop commit 216 us (198 us on the loop thread). So the process spends a third less and answers
sooner, and concurrent writes are at least as fast (group commit is kept, and there is no GIL
contention with a writer thread); the price is that SQLite's own work now runs on the loop
thread instead of a second core (~80 us more there per sequential invocation; ~10 us per
write under load, where a commit carries many writes).

Nothing that can wait for another connection or fsync runs on the loop:
- the loops' connection has busy_timeout 0: when another connection (another process, or this
  store's worker) holds the write lock, BEGIN fails at once and the batch goes to the worker
  thread, whose connection waits for it. The loop's later writes wait until the worker has
  settled it, then commit on the loop as one group: writes commit in the order they were
  issued, and the loop is back to committing itself as soon as the lock is free;
- a held lock is waited for `busy_timeout_s` (STORE_BUSY_TIMEOUT_S) per stall, not per write
  (`_LockWait`): the writes queued behind the first one and the callers' retries of them fail
  at once when it is over, so every caller has its 503 within about that bound. A failed write
  leaves nothing behind: the next one tries the lock, and the disk, afresh;
- the loops' connection never checkpoints (wal_autocheckpoint 0). After about 1000 WAL pages of
  loop writing the worker copies the WAL into the database file while the loop goes on writing,
  then checkpoints with the loop's writes held back, so it can copy what was written meanwhile
  and restart the WAL (which bounds its size) and then be the first writer of the new WAL
  (which fsyncs its header): writes wait ~1.6 ms for that a few times a second under load,
  instead of the ~7 ms of the whole copy (`_Worker`);
- the worker purges expired rows: once as the store opens, then every PURGE_INTERVAL_S.

Reads run directly on the calling thread through a thread-local read connection: a WAL reader
never waits for the writer, and a point lookup is cheaper than a thread hop (measured: `get`
~27 us inline vs ~80-120 us through `asyncio.to_thread`), so offloading reads would only add
latency.

Rows are indexed columns plus the whole record as an orjson body.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import queue
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from core import histogram
from core.errors import Conflict, ServiceUnavailable, StoreUnavailable
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
    id_floor,
)
from core.store.base import StatsCount
from core.store.cursors import check_limit, decode_cursor, decode_version_cursor, page_of
from core.store.leases import (
    claimed,
    held_by,
    outbox_page,
    runnable,
    runnable_page,
    with_lease_of,
)
from core.store.rollups import Tally, tally_of

logger = logging.getLogger("fnproxy.store.sqlite")

Op = Callable[[sqlite3.Connection], Any]

DEFAULT_BUSY_TIMEOUT_S = 2.0  # STORE_BUSY_TIMEOUT_S: how long a stall may wait for a lock
MAX_GROUP = 1000  # ops per group commit, so one transaction never grows without bound
# The worker checkpoints the WAL after this much loop writing: every commit counts
# CHECKPOINT_COMMIT_WEIGHT plus one per op (about 1000 WAL pages, SQLite's own default).
CHECKPOINT_AFTER = 2048
CHECKPOINT_COMMIT_WEIGHT = 16
HOUSEKEEPING_BUSY_TIMEOUT_MS = 100  # how long a checkpoint or purge waits for other connections
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
    body BLOB NOT NULL,
    outbox INTEGER NOT NULL DEFAULT 0,
    announcing INTEGER NOT NULL DEFAULT 0,
    callback_owed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS executions_by_function ON executions (function, execution_id DESC);
CREATE INDEX IF NOT EXISTS executions_by_status ON executions (status, execution_id DESC);
CREATE INDEX IF NOT EXISTS executions_by_function_status
    ON executions (function, status, execution_id DESC);
CREATE INDEX IF NOT EXISTS executions_by_expiry ON executions (expires_at);
CREATE INDEX IF NOT EXISTS executions_open ON executions (execution_id)
    WHERE status IN ('queued', 'running');

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

CREATE TABLE IF NOT EXISTS api_keys (
    function TEXT NOT NULL,
    key_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (function, key_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS api_keys_by_creation ON api_keys (function, created_at, key_id);

CREATE TABLE IF NOT EXISTS stats_rollups (
    bucket_start INTEGER NOT NULL,
    function TEXT NOT NULL,
    count INTEGER NOT NULL,
    successes INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    duration_sum_ms REAL NOT NULL,
    PRIMARY KEY (bucket_start, function)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS functions (
    name TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    body BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS function_versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE IF NOT EXISTS function_changes (
    name TEXT NOT NULL,
    revision INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (name, revision)
);

CREATE TABLE IF NOT EXISTS rate_limits (
    key TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    n INTEGER NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (key, window_start)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rate_limits_by_expiry ON rate_limits (expires_at);

CREATE TABLE IF NOT EXISTS stats_histogram (
    bucket_start INTEGER NOT NULL,
    function TEXT NOT NULL,
    slot INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (bucket_start, function, slot)
) WITHOUT ROWID;
"""

OUTBOX_COLUMNS = ("outbox", "announcing", "callback_owed")
"""The outbox, kept beside the record's body:
- `outbox`: the ended execution owes its announcement or its callback (`in_outbox`);
- `announcing`: its `announcement_pending`. This column is the flag: `settle_announcement`
  clears it here alone, without rewriting the body, whose copy of the flag is what the last
  full save wrote; every read takes the column's (`_execution_from`);
- `callback_owed`: its `callback_pending`, what `outbox` becomes once the announcement is
  settled."""
OUTBOX_INDEX = (
    "CREATE INDEX IF NOT EXISTS executions_outbox ON executions (execution_id) WHERE outbox = 1"
)

# Tables whose rows the store deletes once `expires_at` has passed, with their keys.
EXPIRING_TABLES = {
    "executions": "execution_id",
    "sessions": "session_id",
    "idempotency": "caller, key",
    "rate_limits": "key, window_start",
}


def _make_private(path: Path) -> None:
    """The database's folder 0700 and its files 0600, readable by no other user: the folder is
    created so or tightened (unless it is a shared one such as /tmp: sticky, or another user's);
    the database file is created 0600 before SQLite opens it, and SQLite gives its -wal and -shm
    the database file's mode."""
    folder = path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    status = folder.stat()
    if status.st_uid == os.geteuid() and not status.st_mode & stat.S_ISVTX:
        folder.chmod(0o700)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT, 0o600))
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm", f"{path.name}-journal"):
        with contextlib.suppress(FileNotFoundError, PermissionError):  # absent, another user's
            (folder / name).chmod(0o600)


def _connect(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """A connection in autocommit mode: transactions are opened explicitly."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _add_outbox(conn: sqlite3.Connection) -> None:
    """The outbox columns and index, in one transaction. A database made before them gets the
    missing columns added: without `outbox` every record in it counts as announced; without
    `announcing`, the records in the outbox or still open take theirs from their body."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(executions)")}
        for column in OUTBOX_COLUMNS:
            if column not in columns:
                conn.execute(f"ALTER TABLE executions ADD COLUMN {column} INTEGER NOT NULL "
                             "DEFAULT 0")
        conn.execute(OUTBOX_INDEX)
        if "outbox" in columns and "announcing" not in columns:
            _fill_announcing(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _fill_announcing(conn: sqlite3.Connection) -> None:
    """`announcing` and `callback_owed` from the bodies of the records that may have them set:
    those in the outbox and those not ended yet."""
    rows = conn.execute(
        "SELECT body FROM executions INDEXED BY executions_outbox WHERE outbox = 1 UNION ALL "
        "SELECT body FROM executions INDEXED BY executions_open "
        "WHERE status IN ('queued', 'running')"
    ).fetchall()
    for (body,) in rows:
        execution = Execution.from_record(orjson.loads(body))
        conn.execute(
            "UPDATE executions SET announcing = ?, callback_owed = ? WHERE execution_id = ?",
            (int(execution.announcement_pending), int(execution.callback_pending),
             execution.execution_id),
        )


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


Outcome = tuple[Any, BaseException | None]
Pending = list[tuple[Op, "asyncio.Future[Any]"]]
Settle = Callable[[Any, Pending, list[Outcome]], None]


class _Busy(Exception):
    """Another connection holds the write lock (the loop's connection never waits for it)."""


def _is_busy(error: BaseException) -> bool:
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _unavailable(error: BaseException) -> StoreUnavailable:
    cause = error.__cause__ if isinstance(error, _Busy) else error
    return StoreUnavailable(f"store write failed: {cause}")


class _LockWait:
    """How long a write may still wait for another connection's write lock. A stall starts when
    a write first finds the lock held and ends when any write commits; the writes of one stall
    (the first, those queued behind it, the callers' retries) wait only until it is `timeout_s`
    old and then try once. So a held lock answers within about `timeout_s` however many writes
    and retry layers wait for it. Set and read by the loops and the worker without a lock: a
    race only moves the start of a stall by the length of the race."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_ms = round(timeout_s * 1000)
        self._since: float | None = None

    def stalled(self) -> None:
        if self._since is None:
            self._since = time.monotonic()

    def ended(self) -> None:
        self._since = None

    def remaining_ms(self) -> int:
        since = self._since
        waited_ms = 0.0 if since is None else (time.monotonic() - since) * 1000
        return max(0, round(self.timeout_ms - waited_ms))


def _wait_for_lock(conn: sqlite3.Connection, timeout_ms: int) -> None:
    conn.execute(f"PRAGMA busy_timeout = {timeout_ms}")


def _touch(conn: sqlite3.Connection) -> None:
    """The least write: user_version rewritten unchanged (it still appends a page to the WAL)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.execute(f"PRAGMA user_version = {int(version)}")


def _run_group(conn: sqlite3.Connection, ops: list[Op]) -> list[Outcome]:
    """All ops in one transaction. When one fails, roll back and redo each op in its own
    savepoint, so only that op fails (savepoints on every op would cost ~25% throughput).
    Raises `_Busy` (with nothing written) when the write lock could not be taken at once, and
    `sqlite3.Error` (rolled back) when the transaction itself failed."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            outcomes: list[Outcome] = [(op(conn), None) for op in ops]
        except Exception as exc:  # noqa: BLE001 - an op failed: take the slow, isolating path
            if _is_busy(exc):
                raise
            _rollback(conn)
            conn.execute("BEGIN IMMEDIATE")
            outcomes = [_run_isolated(conn, op) for op in ops]
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        _rollback(conn)
        if _is_busy(exc):
            raise _Busy from exc
        raise
    return outcomes


def _run_isolated(conn: sqlite3.Connection, op: Op) -> Outcome:
    conn.execute("SAVEPOINT op")
    try:
        result = op(conn)
    except Exception as exc:  # noqa: BLE001 - the op's own failure: undo it alone
        if _is_busy(exc):
            raise
        conn.execute("ROLLBACK TO op")
        conn.execute("RELEASE op")
        return None, exc
    conn.execute("RELEASE op")
    return result, None


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _resolve(pending: Pending, outcomes: list[Outcome]) -> None:
    """Settle the callers' futures; runs on their event loop."""
    for (_, future), (result, error) in zip(pending, outcomes, strict=True):
        if future.done():  # the caller was cancelled
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


def _failed(pending: Pending, error: BaseException) -> list[Outcome]:
    return [(None, error)] * len(pending)


class _Worker(threading.Thread):
    """The store's own thread, with a connection that waits (busy_timeout) for the write lock.
    It commits the batches handed over by the loop, checkpoints the WAL and purges expired
    rows: everything that may wait for another connection or fsync stays off the loop.

    Its queue holds `(writes, pending)` batches, `(writes, None)` checkpoint requests,
    `(loop, _COPY)` requests to copy the WAL ahead of a checkpoint, and _STOP, in the order they
    were handed over; each batch and checkpoint request is settled back on its loop with one
    wake-up.

    A checkpoint is in two steps, so that the loop's writes are held only for the second: the
    loop asks for a copy (PASSIVE: what the WAL holds goes into the database file while the
    loop goes on writing), and once it is done the worker asks the loop (`hold`) for the
    checkpoint proper (RESTART), during which the loop holds its writes: it copies only what
    was written meanwhile, then rewinds the WAL. Held for the whole copy, writes waited about
    7 ms each time, a few times a second under load: the p99 of every request then in flight."""

    _STOP = object()
    _COPY = object()

    def __init__(
        self,
        conn: sqlite3.Connection,
        settle: Settle,
        hold: Callable[[asyncio.AbstractEventLoop], None],
        next_purge: float,
        lock_wait: _LockWait,
    ) -> None:
        super().__init__(name="fnproxy-sqlite-worker", daemon=True)
        self._conn = conn
        self._settle = settle
        self._hold = hold
        self._lock_wait = lock_wait
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._next_purge = next_purge

    def hand_over(self, writes: Any, pending: Pending | None) -> None:
        self._queue.put((writes, pending))

    def copy_wal(self, loop: asyncio.AbstractEventLoop) -> None:
        """Copy the WAL into the database file without holding `loop`'s writes, then ask it
        for the checkpoint proper."""
        self._queue.put((loop, self._COPY))

    def stop(self) -> None:
        """Let everything handed over so far run, then end the thread."""
        self._queue.put(self._STOP)

    def run(self) -> None:
        running = True
        while running:
            batches, request, running = self._next_items()
            if batches:
                self._commit(batches)
            if request is not None:
                self._serve(request)
            if time.monotonic() >= self._next_purge:
                _wait_for_lock(self._conn, HOUSEKEEPING_BUSY_TIMEOUT_MS)
                self._next_purge = time.monotonic() + _purge(self._conn)
        self._fail_leftovers()
        self._conn.close()

    def _next_items(self) -> tuple[list[Any], Any, bool]:
        """The batches queued before the next checkpoint or copy request (up to about
        MAX_GROUP ops), that request (or None) and whether to keep running."""
        try:
            item = self._queue.get(timeout=max(0.0, self._next_purge - time.monotonic()))
        except queue.Empty:
            return [], None, True
        batches: list[Any] = []
        ops = 0
        while item is not self._STOP:
            if item[1] is None or item[1] is self._COPY:
                return batches, item, True
            batches.append(item)
            ops += len(item[1])
            if ops >= MAX_GROUP:
                break
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
        else:
            return batches, None, False
        return batches, None, True

    def _commit(self, batches: list[Any]) -> None:
        ops = [op for _, pending in batches for op, _ in pending]
        _wait_for_lock(self._conn, self._lock_wait.remaining_ms())
        try:
            outcomes = _run_group(self._conn, ops)
        except (_Busy, sqlite3.Error) as exc:
            outcomes = [(None, _unavailable(exc))] * len(ops)
        else:
            self._lock_wait.ended()
        at = 0
        for writes, pending in batches:
            self._settle(writes, pending, outcomes[at : at + len(pending)])
            at += len(pending)

    def _serve(self, request: tuple[Any, Any]) -> None:
        """A copy request (`(loop, _COPY)`), then the loop is asked to hold its writes; or a
        checkpoint request (`(writes, None)`), settled on its loop once done."""
        if request[1] is self._COPY:
            self._copy_wal()
            self._hold(request[0])
        else:
            self._checkpoint()
            self._settle(request[0], [], [])

    def _copy_wal(self) -> None:
        """Copy what the WAL holds into the database file (and fsync it), waiting for nobody:
        what another connection is writing meanwhile is left for the checkpoint."""
        try:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            logger.exception("copying the WAL failed; the checkpoint will copy it all")

    def _checkpoint(self) -> None:
        """Copy the WAL into the database file and have it start over; both fsync. The loop
        that asked for it holds its writes back meanwhile, so no writer of this process is in
        the way; the copy waits at most HOUSEKEEPING_BUSY_TIMEOUT_MS for other processes'
        writers and readers, and otherwise copies what it can (the next request retries)."""
        try:
            _wait_for_lock(self._conn, HOUSEKEEPING_BUSY_TIMEOUT_MS)
            busy, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            if not busy and 0 < copied == frames and self._queue.empty():
                self._restart_wal()
        except sqlite3.Error:
            _rollback(self._conn)
            logger.exception("WAL checkpoint failed; the next one will retry")

    def _restart_wal(self) -> None:
        """Be the first writer after the checkpoint, which rewinds the WAL and fsyncs its
        header (else a loop commit would)."""
        self._conn.execute("BEGIN IMMEDIATE")
        _touch(self._conn)
        self._conn.execute("COMMIT")

    def _fail_leftovers(self) -> None:
        """Items that raced with stop(): tell their callers instead of leaving them waiting."""
        closed = ServiceUnavailable("the store is closed")
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not self._STOP and item[1] is not self._COPY:  # a copy has no caller
                writes, pending = item
                pending = pending or []
                self._settle(writes, pending, _failed(pending, closed))


def _purge(conn: sqlite3.Connection) -> float:
    """One bounded purge run; seconds until the next one."""
    more = False
    try:
        conn.execute("BEGIN IMMEDIATE")
        more = purge_expired(conn, time.time())
        conn.execute("COMMIT")
    except sqlite3.Error:
        _rollback(conn)
        logger.exception("purge of expired rows failed; retrying later")
    return PURGE_BACKLOG_INTERVAL_S if more else PURGE_INTERVAL_S


_IDLE, _COPYING, _HELD = "idle", "copying", "held"
"""A checkpoint's steps (`_Database._checkpoint_step`)."""


class _LoopWrites:
    """One event loop's writes: those queued since its last flush, and how many of its items
    the worker has not settled yet (while it has one, they wait: writes commit in order)."""

    __slots__ = ("loop", "pending", "scheduled", "handed_over")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: Pending = []
        self.scheduled = False  # a flush is scheduled with call_soon
        self.handed_over = 0


class _Database:
    """One file: a write connection used on the event loops, the worker thread with its own
    connection, and one read connection per reading thread."""

    def __init__(self, path: Path, busy_timeout_s: float) -> None:
        _make_private(path)
        self._path = path
        self._lock_wait = _LockWait(busy_timeout_s)
        worker_conn = _connect(path, self._lock_wait.timeout_ms)
        worker_conn.execute("PRAGMA journal_mode = WAL")
        worker_conn.executescript(f"BEGIN IMMEDIATE; {SCHEMA} COMMIT;")
        _add_outbox(worker_conn)
        next_purge = time.monotonic() + _purge(worker_conn)  # once as it opens
        # The loops' connection never waits for the write lock and never checkpoints.
        self._conn = _connect(path, busy_timeout_ms=0)
        self._conn.execute("PRAGMA wal_autocheckpoint = 0")
        self._lock = threading.Lock()  # the loops' connection (loops of several threads)
        self._writes: dict[asyncio.AbstractEventLoop, _LoopWrites] = {}
        self._written = 0  # loop writing since the last checkpoint; guarded by _lock
        self._checkpoint_state = _IDLE  # _IDLE, _COPYING or _HELD; guarded by _lock
        self._closed = False
        self._stopped = False  # the worker takes no more items; guarded by _lock
        self._worker = _Worker(
            worker_conn, self._settle_handed_over, self._hold_soon, next_purge, self._lock_wait
        )
        self._worker.start()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    def write(self, op: Op) -> asyncio.Future[Any]:
        """Run `op` in a write transaction; the future is done once that has committed.
        Every write issued during one loop iteration commits in one transaction."""
        if self._closed:
            raise ServiceUnavailable("the store is closed")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        writes = self._writes_of(loop)
        writes.pending.append((op, future))
        if not (writes.scheduled or writes.handed_over):
            writes.scheduled = True
            loop.call_soon(self._flush, writes)
        return future

    def _flush(self, writes: _LoopWrites) -> None:
        """Commit a loop's queued writes, on that loop, at most MAX_GROUP per transaction."""
        writes.scheduled = False
        if writes.handed_over or not writes.pending:
            self._forget_if_idle(writes)
            return
        pending = writes.pending
        if len(pending) > MAX_GROUP:  # one group now, the rest after the loop's other work
            pending, writes.pending = pending[:MAX_GROUP], pending[MAX_GROUP:]
            writes.scheduled = True
            writes.loop.call_soon(self._flush, writes)
        else:
            writes.pending = []
        with self._lock:
            if self._stopped:
                outcomes = _failed(pending, ServiceUnavailable("the store is closed"))
            else:
                try:
                    outcomes = _run_group(self._conn, [op for op, _ in pending])
                except _Busy:  # another connection is writing: the worker waits for it
                    self._lock_wait.stalled()
                    self._hand_over(writes, pending)
                    return
                except sqlite3.Error as exc:
                    outcomes = _failed(pending, _unavailable(exc))
                else:
                    self._lock_wait.ended()
                    self._written += CHECKPOINT_COMMIT_WEIGHT + len(pending)
                    if self._written >= CHECKPOINT_AFTER:
                        self._checkpoint_step(writes)
        _resolve(pending, outcomes)
        self._forget_if_idle(writes)

    def _hand_over(self, writes: _LoopWrites, pending: Pending | None) -> None:
        """Queue a batch (or, with None, a checkpoint) for the worker; called with _lock."""
        writes.handed_over += 1
        self._worker.hand_over(writes, pending)

    def _hold_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        """Runs on the worker, once it has copied the WAL: `loop` holds its writes for the
        checkpoint proper."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to hold
            loop.call_soon_threadsafe(self._hold_for_checkpoint, loop)

    def _hold_for_checkpoint(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hand the worker a checkpoint request: this loop's later writes wait for it."""
        with self._lock:
            if self._stopped:
                self._checkpoint_state = _IDLE
            elif self._checkpoint_state == _COPYING:
                self._hold_writes(self._writes_of(loop))

    def _writes_of(self, loop: asyncio.AbstractEventLoop) -> _LoopWrites:
        """`loop`'s writes, made on its first write (and forgotten when idle)."""
        writes = self._writes.get(loop)
        if writes is None:
            writes = self._writes[loop] = _LoopWrites(loop)
        return writes

    def _checkpoint_step(self, writes: _LoopWrites) -> None:
        """A checkpoint's worth of writing since the last step (called with _lock): ask for a
        copy of the WAL; if one is still running, a whole interval was written meanwhile, so
        hold the writes now (the checkpoint queues behind the copy): the WAL stays within
        about two intervals however slow the disk."""
        self._written = 0
        if self._checkpoint_state == _IDLE:
            self._checkpoint_state = _COPYING
            self._worker.copy_wal(writes.loop)  # then `_hold_for_checkpoint`
        elif self._checkpoint_state == _COPYING:
            self._hold_writes(writes)

    def _hold_writes(self, writes: _LoopWrites) -> None:
        """Hand the worker the checkpoint request: `writes`' loop holds its later writes until
        it is done (called with _lock)."""
        self._checkpoint_state = _HELD
        self._hand_over(writes, None)

    def _settle_handed_over(
        self, writes: _LoopWrites, pending: Pending, outcomes: list[Outcome]
    ) -> None:
        """Runs on the worker: settle one handed-over item with one wake-up of its loop."""
        try:
            writes.loop.call_soon_threadsafe(self._settled, writes, pending, outcomes)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    def _settled(self, writes: _LoopWrites, pending: Pending, outcomes: list[Outcome]) -> None:
        writes.handed_over -= 1
        if not pending:  # a checkpoint request (a batch is never empty): the next may come
            with self._lock:
                self._checkpoint_state = _IDLE
        _resolve(pending, outcomes)
        if not (writes.handed_over or writes.scheduled):
            self._flush(writes)  # what was queued meanwhile, in one group

    def _forget_if_idle(self, writes: _LoopWrites) -> None:
        if not (writes.pending or writes.scheduled or writes.handed_over):
            if self._writes.get(writes.loop) is writes:
                del self._writes[writes.loop]

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        if self._closed:
            raise ServiceUnavailable("the store is closed")
        return self._reader().execute(sql, params).fetchall()

    async def check(self) -> None:
        """Reads and writes work: the write is the least one, so a held lock, a full disk or a
        read-only file fails it (with StoreUnavailable) as it would fail the next request's."""
        if not self._worker.is_alive():
            raise ServiceUnavailable("the store's worker thread is not running")
        self.read("SELECT 1")
        await self.write(_touch)

    async def close(self) -> None:
        """Commit every write issued so far (this loop's on the worker, behind whatever it
        has of them), then close every connection, off the loop: the last one to close
        checkpoints the WAL."""
        if self._closed:
            return
        self._closed = True
        writes = self._writes.get(asyncio.get_running_loop())
        with self._lock:
            self._stopped = True
            if writes is not None:
                pending, writes.pending = writes.pending, []
                for start in range(0, len(pending), MAX_GROUP):
                    self._hand_over(writes, pending[start : start + MAX_GROUP])
            self._worker.stop()
        await asyncio.to_thread(self._shut_down)

    def _shut_down(self) -> None:
        self._worker.join()
        with self._lock:
            self._conn.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self._path, self._lock_wait.timeout_ms)
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


def list_query(
    function: str | None,
    status: str | None,
    before: str | None,
    limit: int,
    at_or_after: str | None = None,
) -> tuple[str, tuple[Any, ...]]:
    """Newest-first page query of ids in [at_or_after, before); every filter combination is
    served by an index."""
    conditions, params = [], []
    for column, value in (("function", function), ("status", status)):
        if value is not None:
            conditions.append(f"{column} = ?")
            params.append(value)
    if before is not None:
        conditions.append("execution_id < ?")
        params.append(before)
    if at_or_after is not None:
        conditions.append("execution_id >= ?")
        params.append(at_or_after)
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    sql = f"SELECT body, announcing FROM executions {where}ORDER BY execution_id DESC LIMIT ?"
    return sql, (*params, limit)


class _Executions:
    _INSERT = (
        "INSERT INTO executions (execution_id, function, status, created_at, expires_at, body, "
        "outbox, announcing, callback_owed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    _UPSERT = (
        f"{_INSERT} ON CONFLICT (execution_id) DO UPDATE SET "
        "function = excluded.function, status = excluded.status, "
        "created_at = excluded.created_at, expires_at = excluded.expires_at, "
        "body = excluded.body, outbox = excluded.outbox, announcing = excluded.announcing, "
        "callback_owed = excluded.callback_owed"
    )
    _SET_ALL = (
        "UPDATE executions SET function = ?, status = ?, created_at = ?, expires_at = ?, "
        "body = ?, outbox = ?, announcing = ?, callback_owed = ? WHERE execution_id = ?"
    )
    _SETTLE = (
        "UPDATE executions SET announcing = 0, outbox = callback_owed "
        "WHERE execution_id = ? AND announcing = 1"
    )
    _STORED = "SELECT body, announcing FROM executions WHERE execution_id = ?"
    _OUTBOX = (
        "SELECT body, announcing FROM executions INDEXED BY executions_outbox "
        "WHERE outbox = 1 AND execution_id > ? ORDER BY execution_id LIMIT ?"
    )
    # The partial index of open records, in id order (the planner would rather sort the
    # matches of executions_by_status, every open record of both statuses).
    _OPEN = (
        "SELECT body, announcing FROM executions INDEXED BY executions_open "
        "WHERE status IN ('queued', 'running') AND execution_id > ? "
        "ORDER BY execution_id LIMIT ?"
    )

    def __init__(self, db: _Database) -> None:
        self._db = db

    async def add(self, execution: Execution) -> None:
        row = _execution_row(execution)
        await self._db.write(lambda conn: _insert(conn, self._INSERT, row, "execution"))

    async def save(
        self,
        execution: Execution,
        *,
        only_if_status: Collection[str] | None = None,
        only_if_owner: str | None = None,
    ) -> bool:
        if only_if_owner is not None:
            return await self._save_leased(execution, only_if_owner, only_if_status)
        row = _execution_row(execution)
        if only_if_status is None:
            return await self._db.write(lambda conn: conn.execute(self._UPSERT, row).rowcount == 1)
        statuses = tuple(only_if_status)
        sql = f"{self._SET_ALL} AND status IN ({', '.join('?' * len(statuses))})"
        params = (*row[1:], row[0], *statuses)
        return await self._db.write(lambda conn: conn.execute(sql, params).rowcount == 1)

    async def _save_leased(
        self, execution: Execution, owner: str, statuses: Collection[str] | None
    ) -> bool:
        def save(conn: sqlite3.Connection) -> bool:
            stored = self._stored(conn, execution.execution_id)
            if stored is None or not held_by(stored, owner):
                return False
            if statuses is not None and stored.status not in statuses:
                return False
            self._update(conn, with_lease_of(execution, stored))
            return True

        return await self._db.write(save)

    async def claim(
        self, execution_id: str, owner: str, lease_until: float, now: float
    ) -> Execution | None:
        def claim(conn: sqlite3.Connection) -> Execution | None:
            stored = self._stored(conn, execution_id)
            if stored is None or not runnable(stored, now):
                return None
            taken = claimed(stored, owner, lease_until, now)
            self._update(conn, taken)
            return taken

        return await self._db.write(claim)

    async def renew(self, execution_id: str, owner: str, lease_until: float) -> bool:
        def renew(conn: sqlite3.Connection) -> bool:
            stored = self._stored(conn, execution_id)
            if stored is None or not held_by(stored, owner):
                return False
            self._update(conn, replace(stored, lease_until=lease_until))
            return True

        return await self._db.write(renew)

    async def list_runnable(
        self, now: float, limit: int, cursor: str | None = None
    ) -> Page[Execution]:
        check_limit(limit)
        after = decode_cursor(cursor) if cursor is not None else ""
        rows = self._db.read(self._OPEN, (after, limit + 1))
        return runnable_page([_execution_from(*row) for row in rows], limit, now)

    async def settle_announcement(self, execution_id: str, count: StatsCount) -> bool:
        def settle(conn: sqlite3.Connection) -> bool:
            if conn.execute(self._SETTLE, (execution_id,)).rowcount != 1:
                return False
            _add_to_rollups(conn, count.buckets, count.function, tally_of(count))
            return True

        return await self._db.write(settle)

    async def list_outbox(
        self, updated_before: float, limit: int, cursor: str | None = None
    ) -> Page[Execution]:
        check_limit(limit)
        after = decode_cursor(cursor) if cursor is not None else ""
        rows = self._db.read(self._OUTBOX, (after, limit + 1))
        executions = [_execution_from(*row) for row in rows]
        return outbox_page(executions, limit, updated_before)

    def _stored(self, conn: sqlite3.Connection, execution_id: str) -> Execution | None:
        """The record as the write transaction sees it."""
        rows = conn.execute(self._STORED, (execution_id,)).fetchall()
        return _execution_from(*rows[0]) if rows else None

    def _update(self, conn: sqlite3.Connection, execution: Execution) -> None:
        row = _execution_row(execution)
        conn.execute(self._SET_ALL, (*row[1:], row[0]))

    async def get(self, execution_id: str) -> Execution | None:
        rows = self._db.read(self._STORED, (execution_id,))
        return _execution_from(*rows[0]) if rows else None

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
        check_limit(limit)
        before = decode_cursor(cursor) if cursor is not None else None
        if until is not None:
            before = min(before or "~", id_floor(until))
        at_or_after = id_floor(since) if since is not None else None
        rows = self._db.read(*list_query(function, status, before, limit + 1, at_or_after))
        executions = [_execution_from(*row) for row in rows]
        return page_of(executions, limit, lambda execution: execution.execution_id)


def _execution_row(execution: Execution) -> tuple[Any, ...]:
    return (
        execution.execution_id,
        execution.function,
        execution.status,
        execution.created_at,
        execution.expires_at,
        orjson.dumps(execution),
        int(execution.in_outbox),
        int(execution.announcement_pending),
        int(execution.callback_pending),
    )


def _execution_from(body: bytes, announcing: int) -> Execution:
    """A stored execution: its body, with the flag its `announcing` column holds."""
    execution = Execution.from_record(orjson.loads(body))
    execution.announcement_pending = bool(announcing)
    return execution


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

    async def extend(self, caller: str, key: str, execution_id: str, expires_at: float) -> bool:
        sql = (
            "UPDATE idempotency SET expires_at = ? "
            "WHERE caller = ? AND key = ? AND execution_id = ?"
        )
        params = (expires_at, caller, key, execution_id)
        return await self._db.write(lambda conn: conn.execute(sql, params).rowcount == 1)


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

        return await self._change(client_id, revoked_fields(at))

    async def set_sigv4(self, client_id: str, sealed: str) -> bool:
        return await self._change(client_id, lambda data: {"sigv4_sealed": sealed})

    async def record_use(self, client_id: str, uses: int, last_used_at: float) -> bool:
        return await self._change(client_id, used_fields(uses, last_used_at))

    async def _change(
        self, client_id: str, fields_of: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> bool:
        """Update the client's record with `fields_of(stored)`; False when it is unknown."""
        return await _change_body(self._db, "clients", {"client_id": client_id}, fields_of)


async def _change_body(
    db: _Database,
    table: str,
    key: dict[str, str],
    fields_of: Callable[[dict[str, Any]], dict[str, Any]],
) -> bool:
    """Update the `body` of the `table` row of `key` (column: value) with `fields_of(stored)`
    in one write transaction; False when there is no such row."""
    where = " AND ".join(f"{column} = ?" for column in key)
    params = tuple(key.values())

    def change(conn: sqlite3.Connection) -> bool:
        rows = conn.execute(f"SELECT body FROM {table} WHERE {where}", params).fetchall()
        if not rows:
            return False
        data = orjson.loads(rows[0][0])
        body = orjson.dumps({**data, **fields_of(data)})
        conn.execute(f"UPDATE {table} SET body = ? WHERE {where}", (body, *params))
        return True

    return await db.write(change)


class _ApiKeys:
    _ROW = "SELECT body FROM api_keys WHERE function = ? AND key_id = ?"

    def __init__(self, db: _Database) -> None:
        self._db = db

    async def add(self, key: ApiKey) -> None:
        sql = "INSERT INTO api_keys (function, key_id, created_at, body) VALUES (?, ?, ?, ?)"
        row = (key.function, key.key_id, key.created_at, orjson.dumps(key))
        await self._db.write(lambda conn: _insert(conn, sql, row, "API key"))

    async def get(self, function: str, key_id: str) -> ApiKey | None:
        rows = self._db.read(self._ROW, (function, key_id))
        return ApiKey(**orjson.loads(rows[0][0])) if rows else None

    async def list(self, function: str, limit: int) -> list[ApiKey]:
        sql = "SELECT body FROM api_keys WHERE function = ? ORDER BY created_at, key_id LIMIT ?"
        return [ApiKey(**orjson.loads(body)) for (body,) in self._db.read(sql, (function, limit))]

    async def revoke(self, function: str, key_id: str, at: float) -> bool:
        return await self._change(function, key_id, revoked_fields(at))

    async def record_use(self, function: str, key_id: str, uses: int, last_used_at: float) -> bool:
        return await self._change(function, key_id, used_fields(uses, last_used_at))

    async def _change(
        self, function: str, key_id: str, fields_of: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> bool:
        key = {"function": function, "key_id": key_id}
        return await _change_body(self._db, "api_keys", key, fields_of)


def revoked_fields(at: float) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A stored record's `revoked_at` once revoked at `at` (a former revocation's kept)."""

    def revoked(data: dict[str, Any]) -> dict[str, Any]:
        return {"revoked_at": at if data["revoked_at"] is None else data["revoked_at"]}

    return revoked


def used_fields(uses: int, last_used_at: float) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A stored record's `uses` and `last_used_at` after `uses` more, the latest at
    `last_used_at` (an earlier time leaves the stored one)."""

    def used(data: dict[str, Any]) -> dict[str, Any]:
        latest = max(data.get("last_used_at") or last_used_at, last_used_at)
        return {"uses": data.get("uses", 0) + uses, "last_used_at": latest}

    return used


class _Functions:
    _UPDATE = "UPDATE functions SET revision = ?, body = ? WHERE name = ? AND revision = ?"
    _ADD_VERSION = "INSERT INTO function_versions (name, version, body) VALUES (?, ?, ?)"
    _ADD_CHANGE = "INSERT INTO function_changes (name, revision, body) VALUES (?, ?, ?)"

    def __init__(self, db: _Database) -> None:
        self._db = db

    async def create(
        self, function: RegisteredFunction, first: FunctionVersion, change: VersionChange
    ) -> None:
        def create(conn: sqlite3.Connection) -> None:
            _insert(
                conn,
                "INSERT INTO functions (name, revision, body) VALUES (?, ?, ?)",
                (function.name, function.revision, orjson.dumps(function)),
                f"function {function.name!r}",
            )
            self._add_version(conn, first)
            self._add_change(conn, change)

        await self._db.write(create)

    async def get(self, name: str) -> RegisteredFunction | None:
        rows = self._db.read("SELECT body FROM functions WHERE name = ?", (name,))
        return RegisteredFunction(**orjson.loads(rows[0][0])) if rows else None

    async def list(self, *, limit: int = 50, cursor: str | None = None) -> Page[RegisteredFunction]:
        after = decode_cursor(cursor) if cursor is not None else ""
        rows = self._db.read(
            "SELECT body FROM functions WHERE name > ? ORDER BY name LIMIT ?", (after, limit + 1)
        )
        functions = [RegisteredFunction(**orjson.loads(body)) for (body,) in rows]
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
        params = (function.revision, orjson.dumps(function), function.name, expected_revision)

        def update(conn: sqlite3.Connection) -> bool:
            if conn.execute(self._UPDATE, params).rowcount != 1:
                return False
            if add_version is not None:
                self._add_version(conn, add_version)
            if delete_version is not None:
                conn.execute(
                    "DELETE FROM function_versions WHERE name = ? AND version = ?",
                    (function.name, delete_version),
                )
            self._add_change(conn, change)
            return True

        return await self._db.write(update)

    async def delete(self, name: str) -> bool:
        def delete(conn: sqlite3.Connection) -> bool:
            if conn.execute("DELETE FROM functions WHERE name = ?", (name,)).rowcount != 1:
                return False
            conn.execute("DELETE FROM function_versions WHERE name = ?", (name,))
            conn.execute("DELETE FROM function_changes WHERE name = ?", (name,))
            return True

        return await self._db.write(delete)

    async def get_version(self, name: str, version: int) -> FunctionVersion | None:
        rows = self._db.read(
            "SELECT body FROM function_versions WHERE name = ? AND version = ?", (name, version)
        )
        return FunctionVersion(**orjson.loads(rows[0][0])) if rows else None

    async def list_versions(
        self, name: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[FunctionVersion]:
        below = decode_version_cursor(cursor) if cursor is not None else 2**62
        rows = self._db.read(
            "SELECT body FROM function_versions WHERE name = ? AND version < ? "
            "ORDER BY version DESC LIMIT ?",
            (name, below, limit + 1),
        )
        versions = [FunctionVersion(**orjson.loads(body)) for (body,) in rows]
        return page_of(versions, limit, lambda version: version.version)

    async def list_changes(
        self, name: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[VersionChange]:
        below = decode_version_cursor(cursor) if cursor is not None else 2**62
        rows = self._db.read(
            "SELECT body FROM function_changes WHERE name = ? AND revision < ? "
            "ORDER BY revision DESC LIMIT ?",
            (name, below, limit + 1),
        )
        changes = [VersionChange(**orjson.loads(body)) for (body,) in rows]
        return page_of(changes, limit, lambda change: change.revision)

    def _add_version(self, conn: sqlite3.Connection, version: FunctionVersion) -> None:
        row = (version.name, version.version, orjson.dumps(version))
        _insert(conn, self._ADD_VERSION, row, f"version {version.version} of {version.name!r}")

    def _add_change(self, conn: sqlite3.Connection, change: VersionChange) -> None:
        row = (change.name, change.revision, orjson.dumps(change))
        _insert(conn, self._ADD_CHANGE, row, f"revision {change.revision} of {change.name!r}")


class _RateLimits:
    _HIT = (
        "INSERT INTO rate_limits (key, window_start, n, expires_at) VALUES (?, ?, 1, ?) "
        "ON CONFLICT (key, window_start) DO UPDATE SET n = n + 1 WHERE rate_limits.n < ?"
    )
    _COUNT = "SELECT n FROM rate_limits WHERE key = ? AND window_start = ?"

    def __init__(self, db: _Database) -> None:
        self._db = db

    async def hit(self, key: str, window_start: int, limit: int, expires_at: float) -> bool:
        params = (key, window_start, expires_at, limit)
        return await self._db.write(lambda conn: conn.execute(self._HIT, params).rowcount == 1)

    async def count(self, key: str, window_start: int) -> int:
        rows = self._db.read(self._COUNT, (key, window_start))
        return rows[0][0] if rows else 0


@functools.cache
def _rollup_upsert(buckets: int) -> str:
    """The upsert adding one tally to `buckets` rollups of a function, in one statement."""
    return (
        "INSERT INTO stats_rollups "
        "(bucket_start, function, count, successes, failures, duration_sum_ms) VALUES "
        + ", ".join(["(?, ?, ?, ?, ?, ?)"] * buckets)
        + " ON CONFLICT (bucket_start, function) DO UPDATE SET "
        "count = count + excluded.count, successes = successes + excluded.successes, "
        "failures = failures + excluded.failures, "
        "duration_sum_ms = duration_sum_ms + excluded.duration_sum_ms"
    )


@functools.cache
def _slots_upsert(slots: int) -> str:
    """The upsert adding `slots` histogram slot counts, in one statement."""
    return (
        "INSERT INTO stats_histogram (bucket_start, function, slot, n) VALUES "
        + ", ".join(["(?, ?, ?, ?)"] * slots)
        + " ON CONFLICT (bucket_start, function, slot) DO UPDATE SET n = n + excluded.n"
    )


def _add_to_rollups(
    conn: sqlite3.Connection, buckets: Sequence[int], function: str, tally: Tally
) -> None:
    """Add a tally of outcomes to the rollups of (bucket_start, function) of each of
    `buckets`, and to their histograms: one statement per table."""
    counters = (tally.count, tally.successes, tally.failures, tally.duration_sum_ms)
    rollups = [value for bucket in buckets for value in (bucket, function, *counters)]
    conn.execute(_rollup_upsert(len(buckets)), rollups)
    slots = [
        value
        for bucket in buckets
        for slot, n in tally.slots.items()
        for value in (bucket, function, slot, n)
    ]
    if slots:
        conn.execute(_slots_upsert(len(slots) // 4), slots)


class _Stats:
    """Rollups kept at write time: `settle_announcement` adds each outcome (`_add_to_rollups`)."""

    def __init__(self, db: _Database) -> None:
        self._db = db

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

    def __init__(self, path: Path, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
        self._db = _Database(Path(path), busy_timeout_s)
        self.executions = _Executions(self._db)
        self.idempotency = _Idempotency(self._db)
        self.sessions = _Sessions(self._db)
        self.clients = _Clients(self._db)
        self.api_keys = _ApiKeys(self._db)
        self.stats = _Stats(self._db)
        self.functions = _Functions(self._db)
        self.rate_limits = _RateLimits(self._db)

    async def ping(self) -> None:
        await self._db.check()

    async def close(self) -> None:
        await self._db.close()
