"""Fixtures of the GCP tests. The Firestore and Pub/Sub emulators are session fixtures of
tests/conftest.py; Secret Manager, which has no emulator, is served by a test server here, and
so is an https front of functions-framework (Cloud Functions URLs are https)."""

import os
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import ClientSession, web

from tests.fixtures.tls import write_loopback_certificate
from tests.gcp.fixtures.functions_api import RecordedFunctionsApi
from tests.gcp.fixtures.google_identity import GoogleIdentityServer
from tests.gcp.secret_manager_server import SecretManagerServer


@pytest.fixture(scope="session")
def secret_manager() -> Iterator[SecretManagerServer]:
    """One Secret Manager test server per session; SECRETMANAGER_EMULATOR_HOST points at it.
    It has no reset: tests use unique secret names."""
    server = SecretManagerServer()
    server.start()
    os.environ["SECRETMANAGER_EMULATOR_HOST"] = server.host
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def loopback_certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate (and its key) for 127.0.0.1 and localhost."""
    return write_loopback_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
async def tls_front(ff_url: str, loopback_certificate) -> AsyncIterator[str]:
    """`https://127.0.0.1:PORT`: functions-framework's routes behind TLS (a forwarding proxy)."""
    session = ClientSession()

    async def forward(request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with session.request(
            request.method, f"{ff_url}{request.path_qs}", headers=headers, data=await request.read()
        ) as answer:
            body = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() == "retry-after"}
            return web.Response(
                status=answer.status, body=body, headers=kept, content_type=answer.content_type
            )

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*loopback_certificate)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    yield f"https://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()
    await session.close()


@pytest.fixture
def tls_url(tls_front: str, loopback_certificate, monkeypatch) -> str:
    """`tls_front`, trusted by the default TLS context (SSL_CERT_FILE)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(loopback_certificate[0]))
    return tls_front


@pytest.fixture
async def google_identity() -> AsyncIterator[GoogleIdentityServer]:
    """Google's token endpoint and metadata server (tests/gcp/fixtures/google_identity.py)."""
    server = GoogleIdentityServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def api(ff_url: str) -> AsyncIterator[RecordedFunctionsApi]:
    """A fake Cloud Functions admin API that records each request (the functions are
    functions-framework's)."""
    server = RecordedFunctionsApi(ff_url)
    await server.start()
    yield server
    await server.stop()
