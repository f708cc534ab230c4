"""A live `fnproxy serve --grpc-port` for the module, its backends real or standing in as the
other tests have them: Lambda on the session's moto server, the OpenWhisk protocol server, and
GCP through the recorded Cloud Functions v2 API (names resolve to functions-framework's
functions) with a service account key whose token endpoint is the Google identity test server.
Clients are the seeds' own stubs (seed_stubs.py) over `grpc.aio` channels: the tests are async,
so the in-process servers keep answering while a call waits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import status_pb2

from tests.conftest import AWS_TEST_ENV, free_port, wait_until_healthy
from tests.fixtures.openwhisk_fixture import RunningOpenWhisk, openwhisk_session  # noqa: F401
from tests.gcp.fixtures.functions_api import RecordedFunctionsApi
from tests.gcp.fixtures.google_identity import GoogleIdentityServer
from tests.grpc.seed_stubs import Stubs, generate

REPO = Path(__file__).resolve().parents[2]
FNPROXY = str(Path(sys.executable).with_name("fnproxy"))
MODULE_KEY = "grpc-tests-module-key-" + "k" * 64
GCP_PROJECT = "demo-fnproxy"
GCP_REGION = "us-central1"
LEFT_OUT = ("MODULE_SECRET_KEY", "GRPC_PORT", "REST_PORT", "FNPROXY_URL", "FNPROXY_TOKEN")
"""Variables of the test environment the server must not inherit."""


@pytest.fixture(scope="session")
def seed(tmp_path_factory) -> dict[str, Stubs]:
    """The seeds' stubs by package: lambda_action, gcp_functions_action, openwhisk_action."""
    return generate(tmp_path_factory.mktemp("seed-stubs"))


@dataclass
class GoogleApis:
    identity: GoogleIdentityServer
    functions_api: RecordedFunctionsApi


@pytest.fixture(scope="module")
async def google_apis(ff_url) -> AsyncIterator[GoogleApis]:
    identity = GoogleIdentityServer()
    functions_api = RecordedFunctionsApi(ff_url)
    await identity.start()
    await functions_api.start()
    yield GoogleApis(identity, functions_api)
    await functions_api.stop()
    await identity.stop()


def server_env(data_dir: Path, ports: tuple[int, int], backends: dict[str, str]) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in LEFT_OUT}
    return env | {
        "FNPROXY_DATA_DIR": str(data_dir),
        "REST_PORT": str(ports[0]),
        "MODULE_SECRET_KEY": MODULE_KEY,
        "LOCAL_FUNCTIONS_DIR": str(REPO / "functions"),
        "LOG_LEVEL": "INFO",
        "MAX_RETRIES": "0",
        "FUNCTION_TIMEOUT": "10",
        **backends,
    }


@dataclass
class Fnproxy:
    url: str
    """REST: http://127.0.0.1:PORT"""
    address: str
    """gRPC: 127.0.0.1:PORT"""
    log: Path
    process: subprocess.Popen

    def token(self, scopes: list[str] | None = None) -> str:
        """An admin token for the module key; with `scopes`, a new client's token."""
        admin = post(f"{self.url}/v1/auth/token", {"api_key": MODULE_KEY})["access_token"]
        if scopes is None:
            return admin
        client = post(f"{self.url}/v1/clients", {"name": "grpc-test", "scopes": scopes}, admin)
        credentials = {"client_id": client["client_id"], "client_secret": client["client_secret"]}
        return post(f"{self.url}/v1/auth/token", credentials)["access_token"]

    def get(self, path: str, token: str) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())


def post(url: str, body: dict, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def start_fnproxy(data_dir: Path, backends: dict[str, str], *options: str) -> Fnproxy:
    """`fnproxy serve --grpc-port P [options]` on `backends`, once it answers /health."""
    ports = (free_port(), free_port())
    log = data_dir / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [FNPROXY, "serve", "--grpc-port", str(ports[1]), *options],
            cwd=data_dir,
            env=server_env(data_dir, ports, backends),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{ports[0]}"
    wait_until_healthy(url, process, log)
    return Fnproxy(url, f"127.0.0.1:{ports[1]}", log, process)


def stop_fnproxy(server: Fnproxy) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def fnproxy(
    tmp_path_factory,
    moto_url,
    openwhisk_session: RunningOpenWhisk,  # noqa: F811
    google_apis,
) -> Iterator[Fnproxy]:
    backends = {
        **AWS_TEST_ENV,
        "AWS_ENDPOINT_URL": moto_url,
        "OPENWHISK_API_HOST": openwhisk_session.url,
        "OPENWHISK_NAMESPACE": openwhisk_session.server.namespace,
        "OPENWHISK_AUTH_KEY": openwhisk_session.server.auth_key,
        "GCP_PROJECT_ID": GCP_PROJECT,
        "GCP_REGION": GCP_REGION,
        "GCP_FUNCTIONS_API_URL": google_apis.functions_api.url,
        "GCP_ID_TOKENS": "false",
        "GCP_SERVICE_ACCOUNT_KEY": json.dumps(google_apis.identity.service_account_key()),
        "NO_GCE_CHECK": "true",
    }
    server = start_fnproxy(tmp_path_factory.mktemp("fnproxy-grpc"), backends)
    yield server
    stop_fnproxy(server)


@pytest.fixture(scope="module")
def admin_token(fnproxy: Fnproxy) -> str:
    return fnproxy.token()


@pytest.fixture
async def channel(fnproxy: Fnproxy) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(fnproxy.address) as opened:
        yield opened


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def refused(call: Any, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    """The error `call` (an awaitable RPC) ends with, which must be `code`."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    assert raised.value.code() == code, raised.value.details()
    return raised.value


def failure_answer(error: grpc.aio.AioRpcError, response_class: type) -> Any:
    """The RPC's response message the error's google.rpc.Status details carry."""
    trailer = dict(error.trailing_metadata() or ())
    status = status_pb2.Status.FromString(trailer["grpc-status-details-bin"])
    assert (status.code, status.message) == (error.code().value[0], error.details())
    answer = response_class()
    assert status.details[0].Unpack(answer)
    return answer
