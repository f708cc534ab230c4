"""`fnproxy clients bootstrap`: the first admin client, written straight into the deployment's
store by the CLI (a real process) with no signing key and no running fnproxy, on SQLite, on
DynamoDB (moto) and on Firestore (the emulator); then fnproxy over that same store gives a token
for the printed credentials."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import orjson
import pytest

from core.api.app import create_app
from core.auth.clients import hash_secret
from core.store.dynamodb_schema import create_table
from core.wiring import Services, build_services
from tests.api.conftest import api_settings
from tests.conftest import GCP_PROJECT
from tests.e2e.test_serve import FNPROXY

pytestmark = pytest.mark.e2e
STORE_VARIABLES = ("FNPROXY_PLATFORM", "STORE_BACKEND", "FNPROXY_TABLE", "GCP_PROJECT_ID")
"""Left out of the environment the CLI inherits: each deployment below names its own."""


@dataclass
class Deployment:
    """A store as the function finds it: the CLI's flags and environment, and the same store
    in the settings of the fnproxy that then serves it."""

    flags: list[str]
    env: dict[str, str]
    settings: dict[str, str]


def sqlite(request: pytest.FixtureRequest) -> Deployment:
    data_dir = str(request.getfixturevalue("tmp_path") / "data")
    return Deployment([], {"FNPROXY_DATA_DIR": data_dir}, {"FNPROXY_DATA_DIR": data_dir})


def dynamodb(request: pytest.FixtureRequest) -> Deployment:
    moto_url = request.getfixturevalue("moto_url")
    table = f"fnproxy-bootstrap-{uuid.uuid4().hex}"
    create_table(boto3.client("dynamodb", endpoint_url=moto_url), table)
    where = {"AWS_ENDPOINT_URL": moto_url, "AWS_REGION": "us-east-1"}
    return Deployment(
        ["--table", table, "--region", "us-east-1"],
        {"FNPROXY_PLATFORM": "aws", "AWS_ENDPOINT_URL": moto_url},
        {"STORE_BACKEND": "dynamodb", "FNPROXY_TABLE": table, **where},
    )


def firestore(request: pytest.FixtureRequest) -> Deployment:
    request.getfixturevalue("firestore_host")
    prefix = f"boot{uuid.uuid4().hex[:12]}"
    return Deployment(
        ["--platform", "gcp", "--project", GCP_PROJECT, "--prefix", prefix],
        {},
        {
            "STORE_BACKEND": "firestore",
            "GCP_PROJECT_ID": GCP_PROJECT,
            "FIRESTORE_COLLECTION_PREFIX": prefix,
        },
    )


@pytest.fixture(params=[sqlite, dynamodb, firestore], ids=lambda store: store.__name__)
def deployment(request: pytest.FixtureRequest) -> Deployment:
    return request.param(request)


def bootstrap(deployment: Deployment, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in STORE_VARIABLES} | deployment.env
    return subprocess.run(
        [FNPROXY, "clients", "bootstrap", *args, *deployment.flags],
        env=env,
        cwd=cwd,  # no .env of the repository's
        capture_output=True,
        text=True,
        timeout=60,
    )


@dataclass
class Served:
    services: Services
    http: httpx.AsyncClient


@pytest.fixture
async def served(deployment: Deployment, tmp_path: Path) -> AsyncIterator[Served]:
    """fnproxy (in-process) over the deployment's store."""
    services = build_services(api_settings(tmp_path / "served", **deployment.settings))
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://fnproxy.test") as http:
        yield Served(services, http)
    await services.close()


async def test_the_printed_credentials_get_an_admin_token(deployment, served, tmp_path):
    run = bootstrap(deployment, tmp_path, "--name", "first-admin")

    assert run.returncode == 0, run.stderr
    printed = orjson.loads(run.stdout)
    client_id, secret = printed["client_id"], printed["client_secret"]
    assert (printed["name"], printed["scopes"]) == ("first-admin", ["admin"])
    assert run.stdout.count(secret) == 1 and secret not in run.stderr
    stored = await served.services.store.clients.get(client_id)
    assert stored is not None and stored.created_by == "cli"
    assert stored.secret_hash == hash_secret(secret) != secret

    grant = await served.http.post(
        "/v1/auth/token", json={"client_id": client_id, "client_secret": secret}
    )
    assert grant.status_code == 200, grant.text
    assert grant.json()["scope"] == "admin"
    admin = {"Authorization": f"Bearer {grant.json()['access_token']}"}
    listed = await served.http.get("/v1/clients", headers=admin)
    assert [c["client_id"] for c in listed.json()["clients"]] == [client_id]


def test_a_scope_list_is_taken_and_bad_input_is_one_line(request, tmp_path):
    local = sqlite(request)
    run = bootstrap(local, tmp_path, "--name", "reader", "--scope", "read", "--scope", "invoke")
    assert run.returncode == 0, run.stderr
    assert orjson.loads(run.stdout)["scopes"] == ["read", "invoke"]
    for args, message in (
        (["--name", "x", "--scope", "sudo"], "unknown scopes: sudo"),
        (["--name", "  "], "a client needs a name"),
    ):
        refused = bootstrap(local, tmp_path, *args)
        assert refused.returncode == 2 and refused.stdout == ""
        assert refused.stderr == f"fnproxy: clients bootstrap: {message}\n"


def test_a_store_that_cannot_be_reached_is_one_line(tmp_path):
    missing = Deployment(
        ["--platform", "aws", "--table", "never-created"],
        {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"},
        {},
    )
    run = bootstrap(missing, tmp_path, "--name", "x")
    assert run.returncode == 3 and run.stdout == ""
    assert len(run.stderr.splitlines()) == 1 and run.stderr.startswith("fnproxy: ")
