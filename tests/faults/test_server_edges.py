"""The local server's edges (issue 11 §8), against a live `fnproxy serve`: idle connections never
shut a new client out, not even under a low file limit, and a client that leaves mid-body is a
499 audit line, not an unhandled 500 with a traceback."""

from __future__ import annotations

import json
import os
import resource
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import urlsplit

import pytest

from tests.security.support import LOCAL_PLATFORM, Server, start_server

LOW_FILE_LIMIT = 256
IDLE_CONNECTIONS = 300
CAP = 4
HELLO = {"provider": "local", "function": "hello"}


def low_file_limit() -> None:
    """In the server's child process, before exec: a soft limit of LOW_FILE_LIMIT files."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (LOW_FILE_LIMIT, hard))


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """fnproxy holding at most CAP connections, with a head timeout longer than any test."""
    env = LOCAL_PLATFORM | {"REST_MAX_CONNECTIONS": str(CAP), "REST_HEADER_TIMEOUT_S": "60"}
    started = start_server(tmp_path_factory.mktemp("edges") / "data", env=env)
    yield started
    started.stop()


def connect(server: Server, timeout: float = 5) -> socket.socket:
    return socket.create_connection(("127.0.0.1", urlsplit(server.url).port), timeout=timeout)


def read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def is_closed(sock: socket.socket, within_s: float = 1.0) -> bool:
    sock.settimeout(within_s)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def health_over(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: fnproxy\r\nConnection: close\r\n\r\n")
    return read_until_closed(sock)


def open_files(server: Server) -> int:
    return len(os.listdir(f"/proc/{server.process.pid}/fd"))


def audit_lines(server: Server, resource_path: str) -> list[dict]:
    lines = [line for line in server.log.splitlines() if line.startswith('{"ts"')]
    return [entry for entry in map(json.loads, lines) if entry["resource"] == resource_path]


# --- idle connections and the file limit -----------------------------------------------------


def test_idle_connections_under_a_low_file_limit_leave_a_new_client_served(tmp_path) -> None:
    server = start_server(tmp_path / "data", env=LOCAL_PLATFORM, preexec_fn=low_file_limit)
    try:
        auth = server.admin()
        with ExitStack() as idle:
            for _ in range(IDLE_CONNECTIONS):
                idle.enter_context(connect(server))
            time.sleep(0.5)  # let the server accept them all
            with server.http() as http:
                assert http.get("/health").status_code == 200
                sync = http.post("/v1/invoke", json={"target": HELLO, "payload": {}}, headers=auth)
                assert sync.status_code == 200 and sync.json()["success"] is True, sync.text
                queued = http.post(
                    "/v1/invoke", json={"target": HELLO, "mode": "async"}, headers=auth
                )
                assert queued.status_code == 202, queued.text
                record = f"/v1/invocations/{queued.json()['execution_id']}"
                assert http.get(record, headers=auth).status_code == 200
            assert open_files(server) < LOW_FILE_LIMIT
    finally:
        server.stop()
    assert "Too many open files" not in server.log


def test_the_longest_idle_connection_makes_room_for_a_new_one(capped: Server) -> None:
    with ExitStack() as held:
        idle = [held.enter_context(connect(capped)) for _ in range(CAP)]
        time.sleep(0.2)
        with connect(capped) as newcomer:
            assert health_over(newcomer).startswith(b"HTTP/1.1 200 ")
        assert is_closed(idle[0])
        assert not any(is_closed(sock, within_s=0.2) for sock in idle[1:])


def test_connections_in_a_request_are_never_evicted(capped: Server) -> None:
    with ExitStack() as held:
        busy = [held.enter_context(connect(capped)) for _ in range(CAP)]
        for sock in busy:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: fnproxy\r\n")
        time.sleep(0.2)
        with connect(capped) as newcomer:
            assert is_closed(newcomer, within_s=0.5)
        for sock in busy:
            sock.sendall(b"Connection: close\r\n\r\n")
            assert read_until_closed(sock).startswith(b"HTTP/1.1 200 ")


# --- a client that leaves mid-body -----------------------------------------------------------


def test_a_client_gone_mid_body_is_a_499_audit_line_without_traceback(capped: Server) -> None:
    token = capped.admin()["Authorization"]
    with connect(capped) as sock:
        head = (
            "POST /v1/invoke HTTP/1.1\r\nHost: fnproxy\r\n"
            f"Authorization: {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {1024 * 1024}\r\n\r\n"
        )
        sock.sendall(head.encode() + b'{"payload": "' + b"x" * 64 * 1024)
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while not audit_lines(capped, "/v1/invoke") and time.monotonic() < deadline:
        time.sleep(0.05)
    [entry] = audit_lines(capped, "/v1/invoke")
    assert entry["outcome"] == 499 and entry["principal"] == "module", entry
    assert "Traceback" not in capped.log and "unhandled error" not in capped.log
    with capped.http() as http:
        assert http.get("/health").status_code == 200
