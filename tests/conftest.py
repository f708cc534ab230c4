"""Shared fixtures: real servers started once per test session (functions-framework, moto)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SERVER_START_TIMEOUT_S = 15.0


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (at the time of asking)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def ff_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of `functions-framework` serving tests/fixtures/ff_functions.py `router`."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("functions-framework") / "server.log"
    source = FIXTURES / "ff_functions.py"
    command = [sys.executable, "-m", "functions_framework", "--target=router", f"--source={source}"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_until_listening(server, port, log_path)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(server)


def _wait_until_listening(server: subprocess.Popen, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            time.sleep(0.05)
        else:
            return
    pytest.fail(f"{server.args[0]} did not start on port {port}:\n{log_path.read_text()}")


def _stop(server: subprocess.Popen) -> None:
    """Stop gunicorn's master and its workers (they share the session started for them)."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One moto server process per test session (the AWS emulator of ../shared/TESTING.md),
    with Lambda on its simple (no Docker) backend. Dummy credentials go into the environment so
    boto3 never looks for real ones. Tests keep apart by unique resource names."""
    os.environ.update(AWS_TEST_ENV)
    port = free_port()
    log_path = tmp_path_factory.mktemp("moto") / "server.log"
    command = [
        str(Path(sys.executable).with_name("moto_server")),
        "-H",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_listening(server, port, log_path)
        _post_json(f"{url}/moto-api/config", {"lambda": {"use_docker": False}})
        yield url
    finally:
        _stop(server)


def _post_json(url: str, body: dict) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=5).close()
