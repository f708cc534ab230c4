"""The blobs port's contract: every backend (local files, S3 on the session's moto server,
Cloud Storage on the session's gcp-storage-emulator) passes these tests unchanged.

Each backend's case is a fresh, empty store and `fetch`, which GETs one of its signed URLs the
way a caller would: a cloud's absolute URL over the network, the local backend's fnproxy link
through the app itself (in process). The clouds' signatures are checked by the cloud, not by
its emulator: neither moto nor gcp-storage-emulator checks a signed URL's signature or expiry
(tests/aws/test_s3_presigned_urls.py and tests/gcp/test_gcs_signed_urls.py check the clouds'
signatures as the clouds do; tests/unit/test_blob_links.py the local links').
gcp-storage-emulator also drops a media type's parameters (`; charset=...`), which Cloud
Storage keeps, so no test here depends on them.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from core.blobs.base import BlobStore, BlobsUnavailable, InvalidBlobKey
from tests.api.conftest import api_settings

Fetch = Callable[[str], Awaitable[httpx.Response]]


@dataclass
class Case:
    blobs: BlobStore
    fetch: Fetch
    unreachable: BlobStore
    """The same backend where its storage is not: no bucket, or a file where the folder goes."""


async def _local(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Case]:
    """The local backend of services built for the local platform, its links read through
    the app."""
    from core.api.app import create_app
    from core.blobs.local import LocalBlobs
    from core.wiring import build_services

    services = build_services(api_settings(tmp_path))
    (tmp_path / "occupied").write_text("a file, not a folder")
    unreachable = LocalBlobs(tmp_path / "occupied", services.blob_links)
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://fnproxy.test") as http:
        yield Case(services.blobs, http.get, unreachable)
    await services.close()


async def _s3(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Case]:
    """A new bucket in the session's moto server."""
    boto3 = pytest.importorskip("boto3")
    from core.blobs.s3 import S3Blobs

    moto_url = request.getfixturevalue("moto_url")
    bucket = f"fnproxy-blobs-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", region_name="us-east-1", endpoint_url=moto_url).create_bucket(Bucket=bucket)
    blobs = S3Blobs(bucket, "fnproxy", "us-east-1", moto_url)
    unreachable = S3Blobs(f"{bucket}-missing", "fnproxy", "us-east-1", moto_url)
    async with httpx.AsyncClient() as http:
        yield Case(blobs, http.get, unreachable)
    await blobs.close()
    await unreachable.close()


async def _gcs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Case]:
    """A new bucket in the session's Cloud Storage emulator; URLs signed with a throwaway
    service account key (the emulator's clients are anonymous and cannot sign)."""
    pytest.importorskip("google.cloud.storage")
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from core.blobs.gcs import GcsBlobs
    from tests.gcp.fixtures.google_identity import GoogleIdentityServer

    request.getfixturevalue("gcs_host")
    bucket = f"fnproxy-blobs-{uuid.uuid4().hex[:12]}"
    storage.Client(project="demo-fnproxy", credentials=AnonymousCredentials()).create_bucket(bucket)
    key = GoogleIdentityServer().service_account_key()  # never reaches its token endpoint
    blobs = GcsBlobs(
        bucket, "fnproxy", "demo-fnproxy", service_account_key=orjson.dumps(key).decode()
    )
    unreachable = GcsBlobs(f"{bucket}-missing", "fnproxy", "demo-fnproxy")
    async with httpx.AsyncClient() as http:
        yield Case(blobs, http.get, unreachable)
    await blobs.close()


BUILDERS = {"local": _local, "s3": _s3, "gcs": _gcs}


@pytest.fixture(params=list(BUILDERS))
async def case(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Case]:
    async for built in BUILDERS[request.param](request, tmp_path):
        yield built


EVERY_BYTE = bytes(range(256)) * 1200  # 300 KiB: more than one read of any backend's stream


async def test_an_object_reads_back_whole_with_its_content_type(case: Case):
    await case.blobs.put("executions/e1/result", EVERY_BYTE, "application/octet-stream")
    await case.blobs.put("executions/e1/payload", b'{"a": 1}', "application/json")

    result = await case.blobs.get("executions/e1/result")
    payload = await case.blobs.get("executions/e1/payload")

    assert hashlib.sha256(result.data).digest() == hashlib.sha256(EVERY_BYTE).digest()
    assert result.content_type == "application/octet-stream"
    assert (payload.data, payload.content_type) == (b'{"a": 1}', "application/json")


async def test_a_missing_object_is_none_and_a_put_replaces(case: Case):
    assert await case.blobs.get("executions/none/result") is None

    await case.blobs.put("k/v", b"first", "text/plain")
    await case.blobs.put("k/v", b"second", "text/csv")

    blob = await case.blobs.get("k/v")
    assert (blob.data, blob.content_type) == (b"second", "text/csv")


async def test_a_base64url_segment_is_a_key(case: Case):
    await case.blobs.put("functions/-_bG9jYWw6ZWNobw==/e1", b"x", "text/plain")

    assert (await case.blobs.get("functions/-_bG9jYWw6ZWNobw==/e1")).data == b"x"
    assert await case.blobs.delete_prefix("functions/-_bG9jYWw6ZWNobw==/") == 1


async def test_an_empty_object_is_an_object(case: Case):
    await case.blobs.put("empty", b"", "application/octet-stream")

    assert (await case.blobs.get("empty")).data == b""


async def test_deleting_a_prefix_deletes_exactly_the_objects_under_it(case: Case):
    for key in ("functions/f/e1/result", "functions/f/e2/log", "functions/fa/e3/result", "x"):
        await case.blobs.put(key, key.encode(), "text/plain")

    assert await case.blobs.delete_prefix("functions/f/") == 2

    assert await case.blobs.get("functions/f/e1/result") is None
    assert await case.blobs.get("functions/f/e2/log") is None
    assert (await case.blobs.get("functions/fa/e3/result")).data == b"functions/fa/e3/result"
    assert (await case.blobs.get("x")).data == b"x"
    assert await case.blobs.delete_prefix("functions/f/") == 0


async def test_a_prefix_without_a_slash_matches_longer_names(case: Case):
    await case.blobs.put("e/abc/result", b"1", "text/plain")
    await case.blobs.put("e/abd/result", b"2", "text/plain")

    assert await case.blobs.delete_prefix("e/ab") == 2


async def test_a_signed_url_reads_the_object_without_credentials(case: Case):
    await case.blobs.put("executions/e2/result", EVERY_BYTE, "application/octet-stream")

    url = await case.blobs.signed_url("executions/e2/result", 60)
    answer = await case.fetch(url)

    assert answer.status_code == 200, answer.text
    assert answer.content == EVERY_BYTE
    assert "Authorization" not in answer.request.headers


@pytest.mark.parametrize(
    "key", ["", "/abs", "a//b", "../x", "a/../b", "a/.x", "a/b/", "a b", "a:b", "é", "x" * 513]
)
async def test_a_key_that_is_not_url_safe_segments_is_refused(case: Case, key: str):
    with pytest.raises(InvalidBlobKey):
        await case.blobs.put(key, b"x", "text/plain")
    with pytest.raises(InvalidBlobKey):
        await case.blobs.get(key)


async def test_a_content_type_that_is_not_a_media_type_is_refused(case: Case):
    for content_type in ("", "text", "text/plain\nX-Injected: 1"):
        with pytest.raises(ValueError):
            await case.blobs.put("k", b"x", content_type)


async def test_ping_answers(case: Case):
    await case.blobs.ping()


async def test_storage_that_is_not_there_is_unavailable_never_a_library_error(case: Case):
    with pytest.raises(BlobsUnavailable, match="failed to store: "):
        await case.unreachable.put("executions/e1/result", b"x", "text/plain")
    with pytest.raises(Exception):  # noqa: B017 - /health reports whatever a ping raises
        await case.unreachable.ping()
