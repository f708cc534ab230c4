"""S3 blobs' signed URLs: SigV4 presigned GETs of the object under the bucket's prefix, for the
lifetime asked, signed with the role's key. moto serves them without checking the signature or
the expiry, so both are checked here as S3 checks them (tests/fixtures/signed_urls.py)."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fixtures.signed_urls import s3_signature_holds

pytest.importorskip("boto3")


@pytest.fixture
async def blobs(moto_url: str):
    from core.blobs.s3 import S3Blobs

    store = S3Blobs("fnproxy-archive", "fnproxy", "us-east-1", moto_url)
    yield store
    await store.close()


async def test_a_presigned_url_is_signed_by_the_roles_key_for_the_lifetime_asked(blobs):
    url = await blobs.signed_url("executions/e1/result", 300)

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.path == "/fnproxy-archive/fnproxy/executions/e1/result"
    assert query["X-Amz-Expires"] == ["300"]
    assert query["X-Amz-Credential"][0].startswith(os.environ["AWS_ACCESS_KEY_ID"] + "/")
    assert s3_signature_holds(url, os.environ["AWS_SECRET_ACCESS_KEY"])


async def test_an_altered_presigned_url_no_longer_verifies(blobs):
    url = await blobs.signed_url("executions/e1/result", 300)

    assert not s3_signature_holds(url.replace("executions/e1", "executions/e2"), "testing")
    assert not s3_signature_holds(url.replace("X-Amz-Expires=300", "X-Amz-Expires=900"), "testing")
    assert not s3_signature_holds(url, "another secret key")
