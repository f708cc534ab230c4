"""SQLite-only behaviour of the embedded store: WAL, sharing one file, committing on the event
loop (group commit, falling back to the worker thread, checkpoints, close), purge, query plans.

The port's behaviour itself is covered by tests/contract/.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import textwrap
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from core.errors import Conflict, ServiceUnavailable, StoreUnavailable
from core.models import Execution, IdempotencyRecord, Session, Status, new_id
from core.store import sqlite as sqlite_store
from core.store.sqlite import SqliteStore, list_query, purge_expired
from tests.store_support import count_outcome, outcome_count, pending_outcome

ROOT = Path(__file__).resolve().parents[2]
BUCKET = 1_700_000_000


def execution(expires_at: float) -> Execution:
    now = time.time()
    return Execution(
        execution_id=new_id(),
        target={"provider": "local", "function": "echo"},
        provider="local",
        function="echo",
        mode="sync",
        status=Status.SUCCEEDED,
        caller="client-1",
        created_at=now,
        updated_at=now,
        expires_at=expires_at,
    )


def session(expires_at: float) -> Session:
    return Session(new_id(), "client-1", {}, 1, time.time(), time.time(), expires_at)


def claim(expires_at: float) -> IdempotencyRecord:
    return IdempotencyRecord("client-1", new_id(), "fp", new_id(), expires_at)


def raw(path: Path) -> closing[sqlite3.Connection]:
    """A plain autocommit connection to the store's file, closed on exit."""
    return closing(sqlite3.connect(path, isolation_level=None))


def count(path: Path, table: str) -> int:
    with raw(path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


async def record_many(store: SqliteStore, times: int, chunk: int = 50) -> None:
    for start in range(0, times, chunk):
        await asyncio.gather(
            *(
                count_outcome(store, "f", BUCKET, True, 1.0, 3)
                for _ in range(min(chunk, times - start))
            )
        )


async def recorded(store: SqliteStore) -> int:
    [rollup] = await store.stats.read([BUCKET], function="f")
    assert rollup.histogram[3] == rollup.count
    return rollup.count


@pytest.fixture
async def store(tmp_path: Path):
    opened = SqliteStore(tmp_path / "nested" / "store.db")
    yield opened
    await opened.close()


async def test_file_is_in_wal_mode(store: SqliteStore, tmp_path: Path) -> None:
    with raw(tmp_path / "nested" / "store.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_two_instances_on_one_file_lose_nothing(tmp_path: Path) -> None:
    first, second = SqliteStore(tmp_path / "s.db"), SqliteStore(tmp_path / "s.db")
    try:
        added = [execution(time.time() + 3600) for _ in range(100)]
        await asyncio.gather(
            record_many(first, 500),
            record_many(second, 500),
            *(s.executions.add(e) for s, e in zip([first, second] * 50, added, strict=True)),
        )
        assert await recorded(first) == 1000
        page = await second.executions.list(function="echo", limit=200)
        assert {e.execution_id for e in page.items} == {e.execution_id for e in added}
    finally:
        await first.close()
        await second.close()


WRITER_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from core.store.sqlite import SqliteStore
    from tests.store_support import count_outcome

    async def main():
        store = SqliteStore(Path(sys.argv[1]))
        print("ready", flush=True)
        for _ in range(int(sys.argv[2]) // 50):
            await asyncio.gather(
                *(count_outcome(store, "f", int(sys.argv[3]), True, 1.0, 3) for _ in range(50))
            )
        await store.close()

    asyncio.run(main())
    """
)


async def test_another_process_writing_the_same_file_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    store = SqliteStore(path)
    other = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WRITER_SCRIPT,
        str(path),
        "2000",
        str(BUCKET),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert await asyncio.wait_for(other.stdout.readline(), 10) == b"ready\n"
        await record_many(store, 2000)
        assert await asyncio.wait_for(other.wait(), 30) == 0
        assert await recorded(store) == 4000
    finally:
        await store.close()


async def test_writes_of_one_loop_iteration_commit_together(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups: list[int] = []
    run_group = sqlite_store._run_group

    def counted(conn: sqlite3.Connection, ops: list) -> list:
        groups.append(len(ops))
        return run_group(conn, ops)

    monkeypatch.setattr(sqlite_store, "_run_group", counted)
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_AFTER", 10**9)

    await asyncio.gather(*(store.executions.add(execution(time.time() + 60)) for _ in range(200)))
    await asyncio.gather(*(store.executions.add(execution(time.time() + 60)) for _ in range(2500)))

    # one transaction per loop iteration, split at MAX_GROUP ops
    assert groups == [200, 1000, 1000, 500]
    assert len((await store.executions.list(limit=500)).items) == 500


async def test_a_write_lock_held_elsewhere_never_blocks_the_loop(
    store: SqliteStore, tmp_path: Path
) -> None:
    existing = execution(time.time() + 3600)
    await store.executions.add(existing)
    fresh = [execution(time.time() + 3600) for _ in range(3)]
    duplicate = execution(time.time() + 3600)
    duplicate.execution_id = existing.execution_id

    with raw(tmp_path / "nested" / "store.db") as other:
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        first = asyncio.gather(
            store.executions.add(fresh[0]),
            store.executions.add(duplicate),
            store.executions.add(fresh[1]),
            return_exceptions=True,
        )
        started = time.perf_counter()
        await asyncio.sleep(0.2)
        later = asyncio.ensure_future(store.executions.add(fresh[2]))  # queues behind `first`
        await asyncio.sleep(0.05)
        # the loop kept running (its connection never waits for the lock) and nothing committed
        assert time.perf_counter() - started < 2
        assert not first.done() and not later.done()
        other.execute("COMMIT")

    outcomes = await asyncio.wait_for(first, 10)
    await asyncio.wait_for(later, 10)
    assert outcomes[0] is None and outcomes[2] is None and isinstance(outcomes[1], Conflict)
    for item in (existing, *fresh):
        assert await store.executions.get(item.execution_id) == item
    await record_many(store, 10)  # and the loop commits on its own again
    assert await recorded(store) == 10


@pytest.fixture
def other_writer(tmp_path: Path):
    """Another connection to the fixture store's file; `BEGIN EXCLUSIVE` on it holds the lock."""
    (tmp_path / "nested").mkdir(exist_ok=True)
    with raw(tmp_path / "nested" / "store.db") as conn:
        yield conn
        if conn.in_transaction:
            conn.execute("ROLLBACK")


async def failed_within(seconds: float, write) -> float:
    """Seconds a write took to fail with StoreUnavailable; at most `seconds`."""
    started = time.perf_counter()
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(write, 10)
    took = time.perf_counter() - started
    assert took < seconds, took
    return took


async def test_a_held_lock_fails_every_write_within_one_wait(
    tmp_path: Path, other_writer: sqlite3.Connection
) -> None:
    """The store waits busy_timeout_s (STORE_BUSY_TIMEOUT_S) per stall, not per write: writes
    queued behind the first one and retries after it fail at once; the first commit ends the
    stall, and the next one gets the whole wait again."""
    wait_s = 0.5
    store = SqliteStore(tmp_path / "nested" / "store.db", busy_timeout_s=wait_s)
    try:
        other_writer.execute("BEGIN EXCLUSIVE")
        first = asyncio.ensure_future(
            failed_within(2 * wait_s, store.executions.add(execution(1e10)))
        )
        await asyncio.sleep(wait_s / 2)
        assert await failed_within(wait_s, store.sessions.add(session(1e10))) < wait_s * 0.8
        assert await first > wait_s * 0.9
        for _ in range(3):  # retries
            await failed_within(wait_s / 2, store.executions.add(execution(1e10)))
        other_writer.execute("COMMIT")

        kept = execution(1e10)
        await asyncio.wait_for(store.executions.add(kept), 1)
        assert await store.executions.get(kept.execution_id) == kept
        other_writer.execute("BEGIN EXCLUSIVE")
        assert await failed_within(2 * wait_s, store.executions.add(execution(1e10))) > wait_s * 0.9
    finally:
        await store.close()


async def test_a_write_the_disk_refuses_is_store_unavailable_and_the_next_one_works(
    store: SqliteStore,
) -> None:
    """SQLite's own "database or disk is full", from the loop connection's page limit."""
    conn = store._db._conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    big = session(1e10)
    big.data = {"blob": "x" * 200_000}
    await failed_within(0.5, store.sessions.add(big))
    conn.execute("PRAGMA max_page_count = 1073741823")

    await store.sessions.add(big)
    assert (await store.sessions.get(big.session_id, time.time())) == big


async def test_ping_fails_while_the_store_cannot_write(
    tmp_path: Path, other_writer: sqlite3.Connection
) -> None:
    store = SqliteStore(tmp_path / "nested" / "store.db", busy_timeout_s=0.2)
    try:
        await store.ping()
        other_writer.execute("BEGIN EXCLUSIVE")
        await failed_within(1.0, store.ping())
        other_writer.execute("COMMIT")
        await store.ping()
    finally:
        await store.close()


async def test_checkpoints_keep_the_wal_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_AFTER", 200)  # every dozen commits
    path = tmp_path / "wal.db"
    store = SqliteStore(path)
    try:
        for _ in range(200):  # one commit each, about 40 KB of WAL without checkpoints
            await store.executions.add(execution(time.time() + 3600))
        assert path.with_name("wal.db-wal").stat().st_size < 2_000_000
        assert len((await store.executions.list(limit=300)).items) == 200
    finally:
        await store.close()


async def test_writes_go_on_while_the_wal_is_copied_and_wait_only_a_whole_interval_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_AFTER", 200)  # every dozen commits
    copying = asyncio.Event()
    copy_wal = sqlite_store._Worker._copy_wal
    loop = asyncio.get_running_loop()

    def slow_copy(worker) -> None:  # a disk slow to sync
        loop.call_soon_threadsafe(copying.set)
        time.sleep(0.5)
        copy_wal(worker)

    monkeypatch.setattr(sqlite_store._Worker, "_copy_wal", slow_copy)
    store = SqliteStore(tmp_path / "copy.db")
    try:
        while not copying.is_set():
            await store.executions.add(execution(time.time() + 3600))
        started = time.monotonic()
        for _ in range(5):  # within the interval: not held by the copy
            await store.executions.add(execution(time.time() + 3600))
        assert time.monotonic() - started < 0.3
        for _ in range(20):  # a whole interval more while it copies: held for the checkpoint
            await store.executions.add(execution(time.time() + 3600))
        assert time.monotonic() - started >= 0.4
    finally:
        await store.close()


async def test_close_commits_every_write_issued_before_it(tmp_path: Path) -> None:
    path = tmp_path / "close.db"
    store = SqliteStore(path)
    owed = [pending_outcome("f", True, 1.0) for _ in range(30)]
    await asyncio.gather(*(store.executions.save(execution) for execution in owed))
    count = outcome_count("f", BUCKET, True, 1.0, 3)
    tasks = [
        asyncio.create_task(store.executions.settle_announcement(e.execution_id, count))
        for e in owed
    ]
    await asyncio.sleep(0)  # the tasks have issued their writes; none has committed yet
    assert not any(task.done() for task in tasks)

    await store.close()

    await asyncio.gather(*tasks)
    with pytest.raises(ServiceUnavailable):
        await count_outcome(store, "f", BUCKET, True, 1.0, 3)
    reopened = SqliteStore(path)
    try:
        assert await recorded(reopened) == 30
    finally:
        await reopened.close()


async def test_event_loops_of_two_threads_share_one_store(store: SqliteStore) -> None:
    await asyncio.gather(
        record_many(store, 500), asyncio.to_thread(asyncio.run, record_many(store, 500))
    )
    assert await recorded(store) == 1000


async def test_reopening_purges_expired_rows_only(tmp_path: Path) -> None:
    path = tmp_path / "purge.db"
    past, future = time.time() - 1, time.time() + 3600
    store = SqliteStore(path)
    live = execution(future)
    for item in (execution(past), execution(past), live):
        await store.executions.add(item)
    await store.sessions.add(session(past))
    await store.sessions.add(session(future))
    await store.idempotency.claim(claim(past), past - 1)
    await store.idempotency.claim(claim(future), time.time())
    await store.close()

    await SqliteStore(path).close()  # the store purges once as it opens

    assert [count(path, t) for t in ("executions", "sessions", "idempotency")] == [1, 1, 1]
    with raw(path) as conn:
        assert (
            conn.execute("SELECT execution_id FROM executions").fetchone()[0] == live.execution_id
        )


async def test_purge_is_bounded_per_run(store: SqliteStore, tmp_path: Path) -> None:
    past = time.time() - 1
    for _ in range(5):
        await store.executions.add(execution(past))
        await store.sessions.add(session(past))
    path = tmp_path / "nested" / "store.db"

    with raw(path) as conn:
        assert purge_expired(conn, time.time(), limit=3) is True
        assert (count(path, "executions"), count(path, "sessions")) == (2, 2)
        assert purge_expired(conn, time.time(), limit=3) is False
        assert (count(path, "executions"), count(path, "sessions")) == (0, 0)


INDEX_FOR = {
    (False, False): "sqlite_autoindex_executions_1",  # the primary key
    (True, False): "executions_by_function",
    (False, True): "executions_by_status",
    (True, True): "executions_by_function_status",
}


@pytest.mark.parametrize("function", [None, "echo"])
@pytest.mark.parametrize("status", [None, Status.FAILED])
@pytest.mark.parametrize("before", [None, "0" * 32])
async def test_listing_reads_one_index_in_order(
    store: SqliteStore, tmp_path: Path, function: str | None, status: str | None, before: str | None
) -> None:
    sql, params = list_query(function, status, before, 51)
    with raw(tmp_path / "nested" / "store.db") as conn:
        plan = [row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]

    # One step, no temp b-tree for ORDER BY; only the unfiltered first page walks the primary
    # key from its end (stopping after LIMIT rows), everything else is an index SEARCH.
    access = "SCAN" if (function, status, before) == (None, None, None) else "SEARCH"
    index = INDEX_FOR[(function is not None, status is not None)]
    assert len(plan) == 1 and plan[0].startswith(f"{access} executions USING INDEX {index}"), plan


async def test_runnable_listing_reads_only_open_records_in_order(
    store: SqliteStore, tmp_path: Path
) -> None:
    sql = sqlite_store._Executions._OPEN
    with raw(tmp_path / "nested" / "store.db") as conn:
        plan = [row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", ("", 51))]

    # The partial index of open records, in id order (no temp b-tree for ORDER BY): a page
    # reads at most its own rows, however many ended executions the history holds.
    assert plan == ["SEARCH executions USING INDEX executions_open (execution_id>?)"], plan


OUTBOX_BEFORE_ANNOUNCING = """
CREATE TABLE executions (
    execution_id TEXT PRIMARY KEY,
    function TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    body BLOB NOT NULL,
    outbox INTEGER NOT NULL DEFAULT 0
);
"""
"""The executions table as stores made it before the `announcing` and `callback_owed` columns,
when the body held the announcement flag alone."""


def insert_as_before_announcing(conn: sqlite3.Connection, record: Execution) -> None:
    conn.execute(
        "INSERT INTO executions VALUES (?, ?, ?, ?, ?, ?, ?)",
        (record.execution_id, record.function, record.status, record.created_at,
         record.expires_at, orjson.dumps(record), int(record.in_outbox)),
    )


async def test_a_database_made_before_the_announcing_column_keeps_its_outbox(
    tmp_path: Path,
) -> None:
    """Opening it adds the columns and takes the flags of the records in the outbox or still
    open from their bodies: what was pending is listed and settles once; what was announced
    stays so."""
    path = tmp_path / "fnproxy.db"
    pending = pending_outcome("echo", True, 5.0)
    owing = replace(pending_outcome("echo", True, 5.0), callback_url="https://hooks.example/c")
    announced = execution(time.time() + 3600)
    with raw(path) as conn:
        conn.executescript(OUTBOX_BEFORE_ANNOUNCING)
        for record in (pending, owing, announced):
            insert_as_before_announcing(conn, record)

    store = SqliteStore(path)
    try:
        listed = (await store.executions.list_outbox(time.time() + 1, 10)).items
        assert {e.execution_id for e in listed} == {pending.execution_id, owing.execution_id}
        assert all(e.announcement_pending for e in listed)
        for record in (pending, owing):
            count = outcome_count("echo", BUCKET, True, 5.0)
            assert await store.executions.settle_announcement(record.execution_id, count)
            assert not await store.executions.settle_announcement(record.execution_id, count)
        assert not await store.executions.settle_announcement(
            announced.execution_id, outcome_count("echo", BUCKET, True, 5.0)
        )
        [still_owed] = (await store.executions.list_outbox(time.time() + 1, 10)).items
        assert still_owed.execution_id == owing.execution_id and still_owed.callback_pending
        [rollup] = await store.stats.read([BUCKET], function="echo")
        assert rollup.count == 2
    finally:
        await store.close()
