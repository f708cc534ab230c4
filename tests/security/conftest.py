"""Fixtures of the security tests: one loopback listener and one live fnproxy per module
(cloud egress rules over the embedded backends), see support.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security.support import Listener, Server, start_server


@pytest.fixture(scope="session")
def listener() -> Iterator[Listener]:
    started = Listener().start()
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def _fresh_listener_log(listener: Listener) -> None:
    listener.clear()
    listener.routes.clear()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """fnproxy as deployed on a cloud: loopback, private and metadata destinations closed."""
    started = start_server(tmp_path_factory.mktemp("security") / "data")
    yield started
    started.stop()
