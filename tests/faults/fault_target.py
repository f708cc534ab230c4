"""A fault-injecting HTTP target on loopback: each path is one way a function endpoint fails.

It speaks HTTP/1.1 on raw sockets (so it can break the protocol on purpose) and counts the
requests each path got, so a test can prove how many times one invocation reached it.

- `/ok`: 200 with a small JSON body.
- `/hang`: reads the request, then answers nothing until `release()` (or `HANG_LIMIT_S`).
- `/throttled`: 429 with `Retry-After: 1`.
- `/flaky`: 503 twice, then 200 (per target, not per connection).
- `/down`: 503 always.
- `/switch`: 503 while `down` is set, else 200.
- `/garbage`: a status line, then bytes that are no HTTP.
- `/truncated`: a chunked body that stops in the middle of a chunk, then the connection closes.
- `/cut`: announces 1,000 bytes, sends 10, closes.
- `/big?bytes=N`: 200 with a body of N bytes (JSON text).

A path ending in one of these names (`/api/v1/namespaces/_/actions/cut`) gets that fault too, so
the target can stand in for a platform's API. `refused_url()` names a loopback port nothing
listens on.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

HANG_LIMIT_S = 30.0
READ_LIMIT_BYTES = 1024 * 1024
FLAKY_FAILURES = 2


class FaultTarget:
    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._released = threading.Event()
        self.down = True
        """Whether `/switch` answers 503."""
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self._listener.getsockname()[1]
        self._routes: dict[str, Callable[[socket.socket, str], None]] = {
            "/ok": _ok,
            "/hang": self._hang,
            "/throttled": _throttled,
            "/flaky": self._flaky,
            "/down": _down,
            "/switch": self._switch,
            "/garbage": _garbage,
            "/truncated": _truncated,
            "/cut": _cut,
            "/big": _big,
        }

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> FaultTarget:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release()
        self._listener.close()

    def release(self) -> None:
        """Let every hanging request go (they then answer 200)."""
        self._released.set()

    def reset(self) -> None:
        with self._lock:
            self.hits.clear()
        self._released.clear()
        self.down = True

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed by stop()
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(HANG_LIMIT_S)
            try:
                while True:
                    target = _read_request(connection)
                    if target is None:
                        return
                    path = urlsplit(target).path
                    with self._lock:
                        self.hits[path] += 1
                    self._route(path)(connection, target)
            except OSError:
                return

    def _route(self, path: str) -> Callable[[socket.socket, str], None]:
        last = "/" + path.rsplit("/", 1)[-1]
        return self._routes.get(path) or self._routes.get(last) or _not_found

    def _hang(self, connection: socket.socket, target: str) -> None:
        self._released.wait(HANG_LIMIT_S)
        _answer(connection, 200, b'{"hung": true}')

    def _flaky(self, connection: socket.socket, target: str) -> None:
        with self._lock:
            failing = self.hits[urlsplit(target).path] <= FLAKY_FAILURES
        _answer(connection, 503 if failing else 200, b'{"flaky": true}')

    def _switch(self, connection: socket.socket, target: str) -> None:
        _answer(connection, 503 if self.down else 200, b'{"switch": true}')


def refused_url() -> str:
    """A loopback URL whose port refuses connections (bound, then closed: nothing listens)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/refused"


def _read_request(connection: socket.socket) -> str | None:
    """The request target of the next request on `connection` (its body read and dropped);
    None when the client closed the connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > READ_LIMIT_BYTES:
            return None
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return lines[0].split(" ")[1]


def _answer(
    connection: socket.socket, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    head = [f"HTTP/1.1 {status} X", "Content-Type: application/json"]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    head.append(f"Content-Length: {len(body)}")
    connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)


def _ok(connection: socket.socket, target: str) -> None:
    _answer(connection, 200, b'{"ok": true}')


def _not_found(connection: socket.socket, target: str) -> None:
    _answer(connection, 404, b'{"error": "no such fault"}')


def _throttled(connection: socket.socket, target: str) -> None:
    _answer(connection, 429, b'{"error": "slow down"}', {"Retry-After": "1"})


def _down(connection: socket.socket, target: str) -> None:
    _answer(connection, 503, b'{"error": "down"}')


def _garbage(connection: socket.socket, target: str) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\n\x00\x01 this is no header \xff\r\n\r\n")
    time.sleep(0.05)
    raise OSError("garbage sent: the connection ends here")


def _truncated(connection: socket.socket, target: str) -> None:
    connection.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"a\r\n{\"part\": 1\r\n40\r\n{\"the rest"
    )
    raise OSError("truncated: the connection ends here")


def _cut(connection: socket.socket, target: str) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
    raise OSError("cut: the connection ends here")


def _big(connection: socket.socket, target: str) -> None:
    size = int(parse_qs(urlsplit(target).query).get("bytes", ["0"])[0])
    body = b'"' + b"x" * max(size - 2, 0) + b'"'
    _answer(connection, 200, body)
