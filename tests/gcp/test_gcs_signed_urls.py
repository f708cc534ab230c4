"""Cloud Storage blobs' signed URLs: V4 signed GETs of the object under the bucket's prefix, for
the lifetime asked, checked as Cloud Storage checks them (tests/fixtures/signed_urls.py; the
emulator checks no signature):

- with a service account key (GCP_SERVICE_ACCOUNT_KEY), signed locally with it;
- without one, as on Cloud Functions: the metadata server's credentials hold no private key, so
  the string to sign goes to IAM's signBlob (`IamCredentialsServer`, at its real address through
  a local proxy) as the account itself, which needs the Token Creator role on itself. That runs
  in a fresh process: google-auth reads GCE_METADATA_HOST when it is imported.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fixtures.signed_urls import gcs_signature_holds
from tests.gcp.fixtures.google_identity import SERVICE_ACCOUNT_EMAIL, python_on_metadata
from tests.gcp.fixtures.iam_credentials import (
    IAM_HOST,
    ConnectProxy,
    IamCredentialsServer,
    write_iam_certificate,
)

pytest.importorskip("google.cloud.storage")

BUCKET = "fnproxy-archive"
KEY = "executions/e1/result"


@pytest.fixture(autouse=True)
def real_endpoint(monkeypatch) -> None:
    """Signed URLs for storage.googleapis.com, whichever emulator this session started."""
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)


def the_url_asks_for(url: str, lifetime_s: int) -> None:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert (parts.scheme, parts.netloc) == ("https", "storage.googleapis.com")
    assert parts.path == f"/{BUCKET}/fnproxy/{KEY}"
    assert query["X-Goog-Expires"] == [str(lifetime_s)]
    assert query["X-Goog-Credential"][0].startswith(f"{SERVICE_ACCOUNT_EMAIL}/")


async def test_a_key_signs_the_url_itself(google_identity):
    from core.blobs.gcs import GcsBlobs

    key = json.dumps(google_identity.service_account_key())
    blobs = GcsBlobs(BUCKET, "fnproxy", "demo-fnproxy", service_account_key=key)

    url = await blobs.signed_url(KEY, 300)

    the_url_asks_for(url, 300)
    assert gcs_signature_holds(url, google_identity.public_key())
    assert not gcs_signature_holds(
        url.replace("X-Goog-Expires=300", "X-Goog-Expires=900"), google_identity.public_key()
    )
    assert google_identity.access_tokens == {}  # signing asked Google for nothing


@pytest.fixture
async def iam(google_identity, tmp_path) -> AsyncIterator[IamCredentialsServer]:
    """The IAM Credentials API; the metadata server's account may sign as itself."""
    server = IamCredentialsServer(google_identity, write_iam_certificate(tmp_path))
    server.token_creators[SERVICE_ACCOUNT_EMAIL] = {SERVICE_ACCOUNT_EMAIL}
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def proxy(iam) -> AsyncIterator[ConnectProxy]:
    server = ConnectProxy({f"{IAM_HOST}:443": iam.port})
    await server.start()
    yield server
    await server.stop()


SIGN_WITHOUT_A_KEY = """
import asyncio, sys
from core.blobs.gcs import GcsBlobs
blobs = GcsBlobs(sys.argv[1], "fnproxy", "demo-fnproxy")
print(asyncio.run(blobs.signed_url(sys.argv[2], 600)))
"""


async def sign_in_a_metadata_process(google_identity, iam, proxy) -> tuple[int, str, str]:
    """Run SIGN_WITHOUT_A_KEY where the metadata server is `google_identity` and IAM is
    reached through `proxy`: (exit code, stdout, stderr)."""
    return await python_on_metadata(
        google_identity,
        SIGN_WITHOUT_A_KEY,
        BUCKET,
        KEY,
        unset=("STORAGE_EMULATOR",),
        HTTPS_PROXY=proxy.url,
        NO_PROXY="127.0.0.1,localhost",
        REQUESTS_CA_BUNDLE=str(iam.certificate),
    )


async def test_without_a_key_iam_signs_as_the_metadata_servers_account(google_identity, iam, proxy):
    code, url, errors = await sign_in_a_metadata_process(google_identity, iam, proxy)

    assert code == 0, errors
    the_url_asks_for(url, 600)
    assert gcs_signature_holds(url, google_identity.public_key())
    assert [(i.caller, i.account, i.method) for i in iam.issued] == [
        (SERVICE_ACCOUNT_EMAIL, SERVICE_ACCOUNT_EMAIL, "signBlob")
    ]
    assert proxy.connects == [f"{IAM_HOST}:443"]


async def test_without_the_token_creator_role_signing_fails_and_names_no_token(
    google_identity, iam, proxy
):
    iam.token_creators.clear()

    code, url, errors = await sign_in_a_metadata_process(google_identity, iam, proxy)

    assert code != 0 and not url
    assert "signBlob" in errors or "signBytes" in errors
    assert not any(token in errors for token in google_identity.access_tokens)
