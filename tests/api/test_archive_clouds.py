"""A 2 MB result archived in each cloud's blobs backend and read back whole through the signed
URL the record's reader gets: S3 on the session's moto server, Cloud Storage on the session's
gcp-storage-emulator (the local backend: tests/api/test_archive_api.py). The app runs the local
echo function with only BLOBS_BACKEND switched; the URL is fetched over the network, as a
caller would. Neither emulator checks a URL's signature (tests/aws/test_s3_presigned_urls.py and
tests/gcp/test_gcs_signed_urls.py do, as the clouds do)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import httpx
import orjson
import pytest

from tests.api.conftest import api_settings, token_for
from tests.api.test_invoke_api import ECHO

TWO_MB = {"rows": ["row " * 16] * 32768}  # 2 MiB and more of JSON


def _s3_settings(request: pytest.FixtureRequest, bucket: str) -> dict[str, str]:
    boto3 = pytest.importorskip("boto3")
    moto_url = request.getfixturevalue("moto_url")
    boto3.client("s3", region_name="us-east-1", endpoint_url=moto_url).create_bucket(Bucket=bucket)
    return {"BLOBS_BACKEND": "s3", "AWS_ENDPOINT_URL": moto_url, "AWS_REGION": "us-east-1"}


def _gcs_settings(request: pytest.FixtureRequest, bucket: str) -> dict[str, str]:
    pytest.importorskip("google.cloud.storage")
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from tests.gcp.fixtures.google_identity import GoogleIdentityServer

    request.getfixturevalue("gcs_host")
    storage.Client(project="demo-fnproxy", credentials=AnonymousCredentials()).create_bucket(bucket)
    key = GoogleIdentityServer().service_account_key()  # signs locally, never asks for a token
    return {
        "BLOBS_BACKEND": "gcs",
        "GCP_PROJECT_ID": "demo-fnproxy",
        "GCP_SERVICE_ACCOUNT_KEY": orjson.dumps(key).decode(),
    }


SETTINGS = {"s3": _s3_settings, "gcs": _gcs_settings}


@pytest.mark.parametrize("backend", list(SETTINGS))
async def test_a_2_mb_result_reads_back_whole_through_the_cloud_signed_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
):
    from core.api.app import create_app
    from core.wiring import build_services

    bucket = f"fnproxy-blobs-{uuid.uuid4().hex[:12]}"
    overrides = SETTINGS[backend](request, bucket)
    settings = api_settings(
        tmp_path, BLOBS_BUCKET=bucket, MAX_REQUEST_BYTES=str(4 * 1024 * 1024), **overrides
    )
    services = build_services(settings)
    transport = httpx.ASGITransport(app=create_app(services))
    try:
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://fnproxy.test") as app,
            httpx.AsyncClient() as network,
        ):
            admin = {"Authorization": f"Bearer {await token_for(app)}"}
            invoked = await app.post(
                "/v1/invoke", json={"target": ECHO, "payload": TWO_MB}, headers=admin
            )
            execution_id = invoked.json()["execution_id"]
            record = await app.get(f"/v1/invocations/{execution_id}", headers=admin)
            reference = record.json()["result_blob"]
            fetched = await network.get(reference["url"])
    finally:
        await services.close()

    assert invoked.json()["result"] == TWO_MB
    assert reference["size"] > 2 * 1024 * 1024 and record.json()["result"] is None
    assert reference["url"].startswith("http") and bucket in reference["url"]
    assert fetched.status_code == 200
    assert hashlib.sha256(fetched.content).hexdigest() == reference["sha256"]
    assert orjson.loads(fetched.content) == TWO_MB
