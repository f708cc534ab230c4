"""GET /v1/blobs/{token}: the local backend's signed URLs, read through the app with no
Bearer token; the bytes as stored, as a sandboxed attachment; refused when the link is altered or
expired, 404 once the object is gone, 503 when the storage fails."""

from __future__ import annotations

import time

from core.auth.keys import KeyRing
from core.blobs.links import BlobLinks
from core.blobs.local import LocalBlobs
from core.secrets.env import EnvSecretSource
from tests.api.conftest import MODULE_KEY

PAGE = b"<html><script>alert(document.cookie)</script></html>"


async def test_a_link_reads_the_bytes_as_a_sandboxed_attachment(client, services):
    await services.blobs.put("executions/e1/result", PAGE, "text/html")
    link = await services.blobs.signed_url("executions/e1/result", 60)

    answer = await client.get(link)

    assert answer.status_code == 200
    assert answer.content == PAGE
    assert answer.headers["content-type"] == "text/html"
    assert answer.headers["content-disposition"] == "attachment"
    assert answer.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "private, no-store"


async def test_an_altered_link_is_refused_as_problem_json(client, services):
    await services.blobs.put("executions/e1/result", b"1", "text/plain")
    await services.blobs.put("executions/e2/result", b"2", "text/plain")
    link = await services.blobs.signed_url("executions/e1/result", 60)
    other = await services.blobs.signed_url("executions/e2/result", 60)
    spliced = ".".join(link.split(".")[:4] + other.split(".")[4:])

    answer = await client.get(spliced)

    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "link_refused"


async def test_an_expired_link_is_refused(client, services):
    await services.blobs.put("executions/e1/result", b"1", "text/plain")
    keys = KeyRing(EnvSecretSource({"MODULE_SECRET_KEY": MODULE_KEY}))
    made_earlier = BlobLinks(keys, clock=lambda: time.time() - 120)
    expired = await made_earlier.link("executions/e1/result", 60)
    still_valid = await made_earlier.link("executions/e1/result", 600)

    assert (await client.get(still_valid)).status_code == 200  # the deployment's key signed it
    answer = await client.get(expired)
    assert answer.status_code == 403
    assert "expired" in answer.json()["detail"]


async def test_a_link_to_a_deleted_object_is_not_found(client, services):
    await services.blobs.put("executions/e1/result", b"1", "text/plain")
    link = await services.blobs.signed_url("executions/e1/result", 60)
    await services.blobs.delete_prefix("executions/e1/")

    answer = await client.get(link)

    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"


async def test_storage_that_fails_is_503_with_retry_after(client, services, tmp_path):
    link = await services.blobs.signed_url("executions/e1/result", 60)
    (tmp_path / "occupied").write_text("a file where the blobs folder goes")
    services.blobs = LocalBlobs(tmp_path / "occupied", services.blob_links)

    answer = await client.get(link)

    assert answer.status_code == 503
    assert answer.json()["code"] == "blobs_unavailable"
    assert int(answer.headers["retry-after"]) >= 1
