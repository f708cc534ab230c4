"""Shared fixtures: real servers started once per test session (functions-framework, moto)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.queue_support"]  # the `events` fixture of the queue delivery tests

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
    its DynamoDB requests handled one at a time (see moto_serialized.py), with Lambda on its
    simple (no Docker) backend. Dummy credentials go into the environment so
    boto3 never looks for real ones. Tests keep apart by unique resource names."""
    os.environ.update(AWS_TEST_ENV)
    port = free_port()
    log_path = tmp_path_factory.mktemp("moto") / "server.log"
    command = [
        sys.executable,
        str(Path(__file__).with_name("moto_serialized.py")),
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


GCP_PROJECT = "demo-fnproxy"


def _google_sdk() -> Path:
    """The Google Cloud SDK's folder (its emulators), or skip the test when it is missing."""
    gcloud = shutil.which("gcloud")
    if gcloud is None or shutil.which("java") is None:
        pytest.skip("the Google Cloud SDK emulators (gcloud + java) are not installed")
    root = subprocess.run(
        [gcloud, "info", "--format=value(installation.sdk_root)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    return Path(root)


def _start_server(command: list[str], log_path: Path) -> subprocess.Popen:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def _emulator(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    command: list[str],
    port: int,
    variable: str,
    address: str,
) -> Iterator[str]:
    """Run a Google emulator's `command` until it listens on `port`, point `variable` (and the
    default project) at it, yield its `address`, and stop it after."""
    log_path = tmp_path_factory.mktemp(name) / "emulator.log"
    server = _start_server(command, log_path)
    try:
        _wait_until_listening(server, port, log_path)
        os.environ[variable] = address
        os.environ.setdefault("GOOGLE_CLOUD_PROJECT", GCP_PROJECT)
        yield address
    finally:
        _stop(server)


@pytest.fixture(scope="session")
def firestore_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Firestore emulator per test session (`host:port`); FIRESTORE_EMULATOR_HOST is set
    so the official client connects to it without credentials. Wipe with `wipe_firestore`."""
    jar = _google_sdk() / "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"
    port = free_port()
    main = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
    command = ["java", "-cp", str(jar), main, "start", "--host=127.0.0.1", f"--port={port}"]
    address = f"127.0.0.1:{port}"
    yield from _emulator(
        tmp_path_factory, "firestore", command, port, "FIRESTORE_EMULATOR_HOST", address
    )


def wipe_firestore(host: str, project: str = GCP_PROJECT) -> None:
    url = f"http://{host}/emulator/v1/projects/{project}/databases/(default)/documents"
    urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10).close()


@pytest.fixture(scope="session")
def pubsub_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Pub/Sub emulator per test session (`host:port`); PUBSUB_EMULATOR_HOST is set.
    It has no reset: tests use unique topic and subscription names."""
    jars = sorted(
        (_google_sdk() / "platform/pubsub-emulator/lib").glob("cloud-pubsub-emulator-*-all.jar")
    )
    port = free_port()
    command = ["java", "-jar", str(jars[-1]), "--host=127.0.0.1", f"--port={port}"]
    address = f"127.0.0.1:{port}"
    yield from _emulator(tmp_path_factory, "pubsub", command, port, "PUBSUB_EMULATOR_HOST", address)


@pytest.fixture(scope="session")
def gcs_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One `gcp-storage-emulator` (PyPI) per test session, in memory (`http://host:port`);
    STORAGE_EMULATOR_HOST is set so google-cloud-storage talks to it anonymously. Tests keep
    apart by unique bucket names."""
    port = free_port()
    command = [sys.executable, "-m", "gcp_storage_emulator", "start", "--host=127.0.0.1"]
    command += [f"--port={port}", "--in-memory"]
    address = f"http://127.0.0.1:{port}"
    yield from _emulator(tmp_path_factory, "gcs", command, port, "STORAGE_EMULATOR_HOST", address)


def wait_until_healthy(
    url: str, process: subprocess.Popen, log: Path, timeout_s: float = 20
) -> None:
    """Until `process` (a fnproxy serve) answers 200 on /health; its log in the failure."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"fnproxy exited: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"fnproxy did not become healthy: {log.read_text()}")
