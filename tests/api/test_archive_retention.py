"""The archive's retention and deletion through the app, on the local blobs backend and on S3
(the session's moto server): with BLOBS_RETENTION_DAYS above HISTORY_RETENTION_DAYS every part
is archived, however small; deleting a registered function deletes its objects, and only its
own. (The settings' refusals: tests/unit/test_blobs_wiring.py.)"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import orjson
import pytest

from tests.api.conftest import api_settings, token_for
from tests.api.test_archive_clouds import _s3_settings
from tests.api.test_invoke_api import ECHO

OUTLIVING = {"HISTORY_RETENTION_DAYS": "30", "BLOBS_RETENTION_DAYS": "31"}


def _backend_settings(backend: str, request: pytest.FixtureRequest) -> dict[str, str]:
    if backend == "local":
        return {}
    bucket = f"fnproxy-blobs-{uuid.uuid4().hex[:12]}"
    return {"BLOBS_BUCKET": bucket, **_s3_settings(request, bucket)}


@asynccontextmanager
async def running(
    backend: str, request: pytest.FixtureRequest, data_dir: Path, **overrides: str
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str], object]]:
    """The app over `backend`'s blobs: its client, an admin's headers and its services."""
    from core.api.app import create_app
    from core.wiring import build_services

    settings = api_settings(data_dir, **_backend_settings(backend, request), **overrides)
    services = build_services(settings)
    transport = httpx.ASGITransport(app=create_app(services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://fnproxy.test") as app:
            admin = {"Authorization": f"Bearer {await token_for(app)}"}
            yield app, admin, services
    finally:
        await services.close()


BACKENDS = pytest.mark.parametrize("backend", ["local", "s3"])


@BACKENDS
async def test_an_archive_outliving_the_records_takes_every_part(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
):
    async with running(backend, request, tmp_path, **OUTLIVING) as (app, admin, services):
        invoked = await app.post(
            "/v1/invoke", json={"target": ECHO, "payload": {"n": 1}}, headers=admin
        )
        execution_id = invoked.json()["execution_id"]
        stored = await services.store.executions.get(execution_id)
        shown = await app.get(f"/v1/invocations/{execution_id}", headers=admin)
        archived = {
            part: await services.blobs.get(getattr(stored, f"{part}_blob")["key"])
            for part in ("payload", "result")
        }

    assert invoked.json()["result"] == {"n": 1}  # the sync answer is whole, as ever
    assert stored.payload is None and stored.result is None
    for part, blob in archived.items():
        reference = getattr(stored, f"{part}_blob")
        assert reference["size"] == len(b'{"n":1}')
        assert hashlib.sha256(blob.data).hexdigest() == reference["sha256"]
        assert orjson.loads(blob.data) == {"n": 1}
    assert shown.json()["payload"] == shown.json()["result"] == {"n": 1}


async def test_without_an_archive_retention_a_small_part_stays_in_the_record(
    request: pytest.FixtureRequest, tmp_path: Path
):
    async with running("local", request, tmp_path) as (app, admin, services):
        invoked = await app.post(
            "/v1/invoke", json={"target": ECHO, "payload": {"n": 1}}, headers=admin
        )
        stored = await services.store.executions.get(invoked.json()["execution_id"])

    assert stored.payload == {"n": 1} and stored.payload_blob is None


async def _run(app: httpx.AsyncClient, admin: dict[str, str], name: str) -> str:
    """Register `name` (the echo function) and run it once; the execution's id."""
    created = await app.post("/v1/functions", json={"name": name, "target": ECHO}, headers=admin)
    assert created.status_code == 201, created.text
    ran = await app.post(f"/v1/functions/{name}/invoke", json={"payload": name}, headers=admin)
    assert ran.status_code == 200, ran.text
    return ran.json()["execution_id"]


@BACKENDS
async def test_deleting_a_function_deletes_its_objects_and_no_others(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
):
    async with running(backend, request, tmp_path, **OUTLIVING) as (app, admin, services):
        doomed, kept = await _run(app, admin, "doomed"), await _run(app, admin, "kept")
        records = {e: await services.store.executions.get(e) for e in (doomed, kept)}
        deleted = await app.delete("/v1/functions/doomed", headers=admin)
        left = {e: await services.blobs.get(r.payload_blob["key"]) for e, r in records.items()}
        shown = await app.get(f"/v1/invocations/{doomed}", headers=admin)
        gone = await app.get("/v1/functions/doomed", headers=admin)

    assert deleted.status_code == 204 and gone.status_code == 404
    assert left[doomed] is None
    assert left[kept] is not None and orjson.loads(left[kept].data) == "kept"
    # The record stays until its TTL; its archived part is gone, so it shows only its link.
    assert shown.status_code == 200
    assert shown.json()["payload"] is None and "url" in shown.json()["payload_blob"]


async def test_deleting_a_function_that_is_not_there_deletes_nothing(
    request: pytest.FixtureRequest, tmp_path: Path
):
    async with running("local", request, tmp_path, **OUTLIVING) as (app, admin, services):
        execution_id = await _run(app, admin, "kept")
        key = (await services.store.executions.get(execution_id)).payload_blob["key"]
        missing = await app.delete("/v1/functions/absent", headers=admin)
        left = await services.blobs.get(key)

    assert missing.status_code == 404 and left is not None


async def test_a_function_whose_objects_cannot_be_deleted_stays_to_be_deleted_again(
    request: pytest.FixtureRequest, tmp_path: Path
):
    missing_bucket = {  # S3 on moto, over the local column, in a bucket never created
        "BLOBS_BACKEND": "s3",
        "BLOBS_BUCKET": f"fnproxy-missing-{uuid.uuid4().hex[:12]}",
        "AWS_ENDPOINT_URL": request.getfixturevalue("moto_url"),
        "AWS_REGION": "us-east-1",
    }
    async with running("local", request, tmp_path, **missing_bucket) as (app, admin, _):
        created = await app.post(
            "/v1/functions", json={"name": "stuck", "target": ECHO}, headers=admin
        )
        refused = await app.delete("/v1/functions/stuck", headers=admin)
        still = await app.get("/v1/functions/stuck", headers=admin)

    assert created.status_code == 201
    assert refused.status_code == 503 and refused.json()["code"] == "blobs_unavailable"
    assert still.status_code == 200
