"""fnproxy's Google identity for Cloud Functions, through google-auth's real code paths and the
wiring (GCP_SERVICE_ACCOUNT_KEY, GCP_SERVICE_ACCOUNT_EMAIL):

- a service account key alone (no application default credentials) gets the admin API its
  access token from the key's token endpoint (`GoogleIdentityServer`, the OAuth2 JWT-bearer
  grant), as well as the functions their ID tokens;
- with an account to impersonate, the key's (or the default) identity asks the IAM Credentials
  API (`IamCredentialsServer`, reached at its real address through a local proxy) for that
  account's access tokens and ID tokens.

The admin API is the recorded Cloud Functions v2 API; functions run on functions-framework.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from core.errors import UpstreamUnavailable
from core.providers.base import CallContext
from core.providers.gcp_functions import CLOUD_PLATFORM_SCOPE, GcpFunctionsProvider
from core.targets import GcpFunctionsTarget
from core.wiring import provider_factories
from tests.api.conftest import api_settings
from tests.conftest import GCP_PROJECT
from tests.gcp.fixtures.functions_api import RecordedFunctionsApi
from tests.gcp.fixtures.google_identity import (
    SERVICE_ACCOUNT_EMAIL,
    AccessGrant,
)
from tests.gcp.fixtures.iam_credentials import (
    IAM_HOST,
    ConnectProxy,
    IamCredentialsServer,
    Impersonation,
    write_iam_certificate,
)

pytest.importorskip("google.auth")

REGION = "us-central1"
INVOKER = "fn-invoker@demo-fnproxy.iam.gserviceaccount.com"
"""The account fnproxy impersonates (GCP_SERVICE_ACCOUNT_EMAIL)."""
IAM_SCOPE = "https://www.googleapis.com/auth/iam"


@pytest.fixture
def key_file(google_identity, tmp_path, monkeypatch) -> Path:
    """The key of `google_identity`'s service account in a file, and no other credentials:
    no GOOGLE_APPLICATION_CREDENTIALS, an empty gcloud configuration."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    (tmp_path / "gcloud").mkdir()
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    path = tmp_path / "key.json"
    path.write_text(json.dumps(google_identity.service_account_key()))
    return path


@pytest.fixture
async def iam(google_identity, tmp_path) -> AsyncIterator[IamCredentialsServer]:
    """The IAM Credentials API; `INVOKER` lets the key's account impersonate it."""
    (tmp_path / "iam").mkdir()
    server = IamCredentialsServer(google_identity, write_iam_certificate(tmp_path / "iam"))
    server.token_creators[INVOKER] = {SERVICE_ACCOUNT_EMAIL}
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def proxy(iam, monkeypatch) -> AsyncIterator[ConnectProxy]:
    """requests (google-auth's transport) reaches https://iamcredentials.googleapis.com through
    this proxy, which takes it to `iam`, and trusts `iam`'s certificate."""
    server = ConnectProxy({f"{IAM_HOST}:443": iam.port})
    await server.start()
    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, server.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(iam.certificate))
    yield server
    await server.stop()


def wired_provider(tmp_path: Path, api: RecordedFunctionsApi, **settings: str):
    """The gcp_functions provider as the composition root builds it from `settings`."""
    environ = {
        "GCP_PROJECT_ID": GCP_PROJECT,
        "GCP_REGION": REGION,
        "GCP_FUNCTIONS_API_URL": api.url,
        **settings,
    }
    return provider_factories(api_settings(tmp_path, **environ))["gcp_functions"]()


def call() -> CallContext:
    return CallContext(execution_id="exec-1", caller="tester", timeout_s=10.0, attempt=1)


def by_name(function: str) -> GcpFunctionsTarget:
    return GcpFunctionsTarget(provider="gcp_functions", function=function)


def by_url(url: str) -> GcpFunctionsTarget:
    return GcpFunctionsTarget(provider="gcp_functions", url=url)


async def use_the_admin_api(provider: GcpFunctionsProvider) -> None:
    """List, describe and call by name: every admin API request of a deployment."""
    listed = await provider.list_functions(limit=2, cursor=None)
    details = await provider.get_function("echo")
    outcome = await provider.invoke(by_name("echo"), {"hello": "gen2"}, call())
    await provider.close()

    assert [info.name for info in listed.items] == ["echo", "resize-image"]
    assert details.details["state"] == "ACTIVE"
    assert outcome.success and outcome.result == {"hello": "gen2"}


def impersonating_provider(tmp_path: Path, api: RecordedFunctionsApi, key_file: Path):
    """The wired provider whose key's account impersonates INVOKER, with ID tokens for
    functions on 127.0.0.1."""
    return wired_provider(
        tmp_path,
        api,
        GCP_SERVICE_ACCOUNT_KEY=str(key_file),
        GCP_SERVICE_ACCOUNT_EMAIL=INVOKER,
        GCP_ID_TOKEN_AUDIENCES="127.0.0.1",
    )


def the_bearer_token(api: RecordedFunctionsApi) -> str:
    """The one access token every admin API request carried."""
    authorizations = {request.authorization for request in api.requests}
    assert len(authorizations) == 1, authorizations
    return authorizations.pop().removeprefix("Bearer ")


# --- a service account key alone -------------------------------------------------------------


@pytest.mark.parametrize("given_as", ["file", "json"])
async def test_a_key_alone_gives_the_admin_api_an_access_token_minted_from_it(
    google_identity, api, key_file, ff_url, tmp_path, given_as, caplog
):
    caplog.set_level(logging.DEBUG)
    key = str(key_file) if given_as == "file" else key_file.read_text()
    provider = wired_provider(tmp_path, api, GCP_SERVICE_ACCOUNT_KEY=key)

    await use_the_admin_api(provider)

    token = the_bearer_token(api)
    assert len(api.requests) == 3  # list, details, the name resolved
    # the key's assertion (checked against its public key) got that token, with Google's scope
    assert google_identity.access_tokens == {
        token: AccessGrant(SERVICE_ACCOUNT_EMAIL, CLOUD_PLATFORM_SCOPE)
    }
    assert google_identity.audiences == [ff_url]  # and the function's ID token
    private_key = json.loads(key_file.read_text())["private_key"]
    assert token not in caplog.text and private_key.splitlines()[1] not in caplog.text


async def test_a_key_google_refuses_is_fnproxys_upstream_problem(api, key_file, tmp_path):
    key = json.loads(key_file.read_text())
    key["private_key"] = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )  # not the account's key: its assertion does not verify
    provider = wired_provider(tmp_path, api, GCP_SERVICE_ACCOUNT_KEY=json.dumps(key))

    with pytest.raises(UpstreamUnavailable, match="access token.*invalid_grant") as raised:
        await provider.list_functions(limit=2, cursor=None)
    await provider.close()

    assert api.requests == []
    assert key["private_key"].splitlines()[1] not in str(raised.value)


# --- impersonation of GCP_SERVICE_ACCOUNT_EMAIL ----------------------------------------------


@pytest.mark.parametrize("source", ["key", "default credentials"])
async def test_impersonation_gives_the_admin_api_the_accounts_access_token(
    google_identity, iam, proxy, api, key_file, ff_url, tmp_path, monkeypatch, source
):
    if source == "key":
        settings = {"GCP_SERVICE_ACCOUNT_KEY": str(key_file)}
    else:
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
        settings = {}
    provider = wired_provider(tmp_path, api, GCP_SERVICE_ACCOUNT_EMAIL=INVOKER, **settings)

    await use_the_admin_api(provider)

    token = the_bearer_token(api)
    assert iam.access_tokens == {token: INVOKER}
    assert iam.issued == [
        Impersonation(SERVICE_ACCOUNT_EMAIL, INVOKER, "generateAccessToken", CLOUD_PLATFORM_SCOPE),
        Impersonation(SERVICE_ACCOUNT_EMAIL, INVOKER, "generateIdToken", ff_url),
    ]
    # the source identity's own tokens only ever asked IAM (scope iam), at its real address
    assert set(google_identity.access_tokens.values()) == {
        AccessGrant(SERVICE_ACCOUNT_EMAIL, IAM_SCOPE)
    }
    assert google_identity.audiences == []
    assert set(proxy.connects) == {f"{IAM_HOST}:443"}


async def test_impersonation_gives_functions_the_accounts_id_token(
    iam, proxy, api, key_file, tls_url, tmp_path
):
    provider = impersonating_provider(tmp_path, api, key_file)

    outcome = await provider.invoke(by_url(f"{tls_url}/headers"), None, call())
    again = await provider.invoke(by_url(f"{tls_url}/headers"), None, call())
    await provider.close()

    authorization = outcome.result["headers"]["authorization"]
    claims = jwt.decode(authorization.removeprefix("Bearer "), options={"verify_signature": False})
    assert claims["aud"] == tls_url and claims["email"] == INVOKER
    assert again.result["headers"]["authorization"] == authorization  # cached
    assert [issued.method for issued in iam.issued] == ["generateIdToken"]
    assert api.requests == []  # a URL target needs no admin API


async def test_impersonation_refused_by_iam_is_fnproxys_upstream_problem(
    iam, proxy, api, key_file, tls_url, tmp_path
):
    iam.token_creators.clear()  # the key's account lost the Token Creator role
    provider = impersonating_provider(tmp_path, api, key_file)

    with pytest.raises(UpstreamUnavailable, match="access token.*impersonated"):
        await provider.list_functions(limit=2, cursor=None)
    with pytest.raises(UpstreamUnavailable, match="ID token"):
        await provider.invoke(by_url(f"{tls_url}/headers"), None, call())
    await provider.close()

    assert api.requests == [] and iam.issued == []
