"""The OpenWhisk REST fake (tests/fixtures/openwhisk_server.py) on its own event loop in a
thread, for synchronous tests that drive a separate `fnproxy serve` process: the fake keeps
answering while the test blocks on its HTTP calls."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import free_port
from tests.fixtures.openwhisk_fixture import _self_signed_tls
from tests.fixtures.openwhisk_server import OpenWhiskServer

START_TIMEOUT_S = 10.0


@contextmanager
def threaded_openwhisk(server: OpenWhiskServer, tls_folder: Path) -> Iterator[str]:
    """Serve `server` on 127.0.0.1 until the block ends; yields its http:// base URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="openwhisk-fake", daemon=True)
    thread.start()
    port, tls_port = free_port(), free_port()
    tls = _self_signed_tls(tls_folder)
    try:
        _run(loop, server.start(port, tls_port, tls))
        yield f"http://127.0.0.1:{port}"
    finally:
        _run(loop, server.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT_S)
        loop.close()


def _run(loop: asyncio.AbstractEventLoop, coroutine) -> None:
    asyncio.run_coroutine_threadsafe(coroutine, loop).result(START_TIMEOUT_S)
