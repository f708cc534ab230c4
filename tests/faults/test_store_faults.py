"""A live `fnproxy serve` (platform local, SQLite) whose store fails under it, for real:

- another process holds the write lock (`BEGIN EXCLUSIVE` on the same file);
- every write the server makes fails at the disk: its file size limit is lowered to one byte
  (RLIMIT_FSIZE through prlimit), so SQLite's WAL append fails as on a full disk.

While the fault lasts, each call answers 503 with Retry-After within about STORE_BUSY_TIMEOUT_S
(the default, 2 s; before: 15.2 s each, p50 30 s at 16 clients) and /health reports the store
(before: "ok"), and so does gRPC health (NOT_SERVING). Once it passes, the very next calls
answer 200, stats count them again and /health is ok, gRPC health SERVING (before: `echo`
answered 503 for the rest of its stats bucket, up to an hour, and its stats stopped counting).
Run with `-s` to see the latencies.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import free_port
from tests.security.support import Server, start_server

pytestmark = pytest.mark.e2e

STORE_BUSY_TIMEOUT_S = 2.0  # the setting's default, which these tests hold the server to
MARGIN_S = 1.0  # the function's own run and a loaded machine
CLIENTS = 16
ECHO = {"provider": "local", "function": "echo"}
SERVER_ENV = {"FNPROXY_PLATFORM": "local", "HEALTH_CACHE_S": "0", "LOG_LEVEL": "WARNING"}
HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("held", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = start_server(
        tmp_path_factory.mktemp("store-faults") / "data",
        env=SERVER_ENV | {"GRPC_PORT": str(free_port())},
    )
    yield started
    started.stop()


@pytest.fixture(scope="module")
def caller(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=server.admin(), timeout=30) as client:
        yield client


@contextmanager
def lock_held_by_another_process(database: Path) -> Iterator[None]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield
    finally:
        holder.communicate("release\n", timeout=10)
    assert holder.returncode == 0


@contextmanager
def disk_refusing_writes(pid: int) -> Iterator[None]:
    """Every write of process `pid` past the first byte of a file fails (EFBIG)."""
    limits = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, limits[1]))
    try:
        yield
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, limits)


def invoke(caller: httpx.Client, mode: str = "sync") -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    answer = caller.post("/v1/invoke", json={"target": ECHO, "payload": {"n": 1}, "mode": mode})
    return answer, time.perf_counter() - started


def echo_count(caller: httpx.Client) -> int:
    answer = caller.get("/v1/stats", params={"function": "local:echo"})
    assert answer.status_code == 200, answer.text
    return answer.json()["count"]


def assert_fast_503s(caller: httpx.Client, what: str) -> None:
    """CLIENTS sync calls at once, then an async one: each a 503 with Retry-After in time."""
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(lambda _: invoke(caller), range(CLIENTS)))
    answers.append(invoke(caller, mode="async"))
    seconds = [took for _, took in answers]
    print(
        f"\n{what}: {len(answers)} calls, 503 after p50 {statistics.median(seconds):.2f} s, "
        f"max {max(seconds):.2f} s"
    )
    for answer, _ in answers:
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["retry-after"]) >= 1
    assert max(seconds) < STORE_BUSY_TIMEOUT_S + MARGIN_S


def grpc_health(server: Server) -> health_pb2.HealthCheckResponse.ServingStatus:
    with grpc.insecure_channel(f"127.0.0.1:{server.env['GRPC_PORT']}") as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
    return answer.status


def assert_store_reported(server: Server, caller: httpx.Client) -> None:
    answer = caller.get("/health")
    assert answer.status_code == 503, answer.text
    assert answer.json()["checks"]["store"] != "ok"
    assert int(answer.headers["retry-after"]) >= 1
    assert grpc_health(server) == health_pb2.HealthCheckResponse.NOT_SERVING


def assert_recovered(server: Server, caller: httpx.Client) -> None:
    """The next calls work and count, and health is ok again."""
    health = caller.get("/health")
    assert health.status_code == 200 and health.json()["checks"]["store"] == "ok", health.text
    assert grpc_health(server) == health_pb2.HealthCheckResponse.SERVING
    before = echo_count(caller)
    for _ in range(3):
        answer, _ = invoke(caller)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "succeeded"
    assert echo_count(caller) == before + 3


def test_a_lock_held_by_another_process_fails_fast_and_is_forgotten(
    server: Server, caller: httpx.Client
) -> None:
    assert invoke(caller)[0].status_code == 200
    with lock_held_by_another_process(server.data_dir / "fnproxy.db"):
        assert_fast_503s(caller, "lock held by another process")
        assert_store_reported(server, caller)
    assert_recovered(server, caller)


def test_writes_the_disk_refuses_fail_fast_and_are_forgotten(
    server: Server, caller: httpx.Client
) -> None:
    assert invoke(caller)[0].status_code == 200
    with disk_refusing_writes(server.process.pid):
        assert_fast_503s(caller, "disk refusing writes")
        assert_store_reported(server, caller)
    assert_recovered(server, caller)
