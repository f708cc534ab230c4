"""HttpProvider against a real functions-framework server (tests/fixtures/ff_functions.py)."""

import asyncio
import gzip
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.utils import formatdate

import pytest

from core.errors import InvalidRequest, NotSupported
from core.providers.base import CallContext, TransientFailure
from core.providers.http import HttpProvider, retry_after_seconds
from core.targets import HttpTarget
from tests.conftest import free_port


@pytest.fixture
async def provider() -> AsyncIterator[HttpProvider]:
    provider = HttpProvider(pool_size=8)
    yield provider
    await provider.close()


def call(timeout_s: float = 5.0) -> CallContext:
    return CallContext(execution_id="exec-1", caller="tester", timeout_s=timeout_s, attempt=1)


def target(url: str, **fields) -> HttpTarget:
    return HttpTarget(provider="http", url=url, **fields)


async def test_json_payload_and_result_round_trip(provider, ff_url):
    payload = {"name": "Ada", "tags": [1, 2.5, None, True]}

    outcome = await provider.invoke(target(f"{ff_url}/echo"), payload, call())

    assert outcome.success and outcome.status_code == 200
    assert outcome.result == payload
    headers = outcome.info.pop("response_headers")
    assert outcome.info == {"url": f"{ff_url}/echo", "method": "POST"}
    assert headers["content-type"] == "application/json"


async def test_private_response_headers_are_never_recorded():
    from core.providers._http_client import HttpResponse
    from core.providers.http import _outcome

    response = HttpResponse(
        status=200,
        headers={"set-cookie": "session=secret", "x-trace": "t1", "content-type": "text/plain"},
        body=b"ok",
    )
    recorded = _outcome(response, {})
    assert recorded.info["response_headers"] == {"x-trace": "t1", "content-type": "text/plain"}


async def test_sends_the_execution_id_and_json_content_type(provider, ff_url):
    outcome = await provider.invoke(target(f"{ff_url}/headers"), {"a": 1}, call())

    headers = outcome.result["headers"]
    assert headers["x-fnproxy-execution-id"] == "exec-1"
    assert headers["content-type"] == "application/json"


async def test_target_headers_are_sent_and_win_over_the_default_content_type(provider, ff_url):
    headers = {"X-Api-Key": "k1", "Content-Type": "application/vnd.test+json"}

    outcome = await provider.invoke(target(f"{ff_url}/headers", headers=headers), [1], call())

    assert outcome.result["headers"]["x-api-key"] == "k1"
    assert outcome.result["headers"]["content-type"] == "application/vnd.test+json"


async def test_no_payload_sends_no_body(provider, ff_url):
    outcome = await provider.invoke(target(f"{ff_url}/headers"), None, call())

    assert outcome.result["body_bytes"] == 0
    assert "content-type" not in outcome.result["headers"]


async def test_bytes_and_text_payloads_are_sent_as_they_are(provider, ff_url):
    for payload in (b"\x00raw", "caf\u00e9"):
        outcome = await provider.invoke(target(f"{ff_url}/headers"), payload, call())
        size = len(payload if isinstance(payload, bytes) else payload.encode())
        assert outcome.result["body_bytes"] == size


async def test_text_answer_is_the_result(provider, ff_url):
    outcome = await provider.invoke(target(f"{ff_url}/text", method="GET"), None, call())

    assert outcome.success and outcome.result == "plain hello"


async def test_a_4xx_answer_is_a_failed_outcome_not_an_exception(provider, ff_url):
    outcome = await provider.invoke(target(f"{ff_url}/status/404"), None, call())

    assert not outcome.success and outcome.status_code == 404
    assert outcome.result == {"status": 404}
    assert outcome.error == {"type": "HttpError", "message": "HTTP 404"}


async def test_a_500_answer_is_a_failed_outcome(provider, ff_url):
    outcome = await provider.invoke(target(f"{ff_url}/status/500"), None, call())

    assert not outcome.success and outcome.status_code == 500


@pytest.mark.parametrize(("status", "retry_after"), [(429, "0"), (503, "7")])
async def test_throttling_and_unavailability_are_transient(provider, ff_url, status, retry_after):
    url = f"{ff_url}/status/{status}?retry_after={retry_after}"

    with pytest.raises(TransientFailure) as raised:
        await provider.invoke(target(url), None, call())

    assert raised.value.status_code == status
    assert raised.value.retry_after_s == float(retry_after)


async def test_connection_refused_is_transient(provider):
    closed = f"http://127.0.0.1:{free_port()}/fn"

    with pytest.raises(TransientFailure) as raised:
        await provider.invoke(target(closed), {"a": 1}, call())

    assert raised.value.status_code is None


async def test_cancelled_call_leaves_the_provider_usable(provider, ff_url):
    slow = provider.invoke(target(f"{ff_url}/sleep?ms=2000"), None, call())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(slow, 0.2)

    outcome = await provider.invoke(target(f"{ff_url}/echo"), {"after": "timeout"}, call())

    assert outcome.result == {"after": "timeout"}


async def test_records_name_the_url_without_credentials_or_query(provider, ff_url):
    secret_url = ff_url.replace("http://", "http://user:secret@") + "/echo?key=secret"

    outcome = await provider.invoke(target(secret_url), {"a": 1}, call())

    assert outcome.success
    assert outcome.info["url"] == f"{ff_url}/echo"


async def test_dry_run_sends_nothing(provider):
    nowhere = target(f"http://127.0.0.1:{free_port()}/fn", method="PUT")

    outcome = await provider.dry_run(nowhere, {"a": 1}, call())

    assert outcome.success and outcome.status_code == 204
    assert outcome.info == {"url": nowhere.url, "method": "PUT", "body_bytes": len(b'{"a":1}')}


def test_function_key_is_host_and_path_without_credentials_or_query():
    provider = HttpProvider(pool_size=1)
    url = "https://user:secret@Fn.Example.com:8443/api/run?token=abc#top"

    assert provider.function_key(target(url)) == "http:fn.example.com:8443/api/run"
    assert provider.function_key(target("http://fn.example.com")) == "http:fn.example.com/"


async def test_functions_cannot_be_listed(provider):
    with pytest.raises(NotSupported):
        await provider.list_functions(limit=10, cursor=None)
    with pytest.raises(NotSupported):
        await provider.get_function("anything")


def test_retry_after_accepts_seconds_and_http_dates():
    assert retry_after_seconds("12") == 12.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert 55 <= retry_after_seconds(formatdate(time.time() + 60, usegmt=True)) <= 60
    assert retry_after_seconds(formatdate(time.time() - 60, usegmt=True)) == 0.0


async def test_own_timeout_is_a_timeout_error_not_a_transient_failure(provider, ff_url):
    with pytest.raises(TimeoutError):
        await provider.invoke(target(f"{ff_url}/sleep?ms=2000"), None, call(timeout_s=0.2))


async def test_unsafe_target_header_is_the_callers_mistake(provider, ff_url):
    headers = {"X-Evil": "a\r\nInjected: 1"}

    with pytest.raises(InvalidRequest):
        await provider.invoke(target(f"{ff_url}/headers", headers=headers), None, call())


# Behaviour aiohttp gave implicitly, checked against a raw server answering scripted bytes.


@asynccontextmanager
async def scripted(*answers: bytes):
    """A server answering its n-th request with answers[n]; yields (base url, request heads
    and bodies)."""
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                _, found, rest = head.lower().partition(b"\r\ncontent-length:")
                length = int(rest.split(b"\r\n", 1)[0]) if found else 0
                seen.append(head + await reader.readexactly(length))
                writer.write(answers[len(seen) - 1])
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", seen
    finally:
        server.close()


def answer(status: str, headers: str = "", body: bytes = b"") -> bytes:
    return f"HTTP/1.1 {status}\r\n{headers}Content-Length: {len(body)}\r\n\r\n".encode() + body


JSON_OK = answer("200 OK", "Content-Type: application/json\r\n", b'{"ok": true}')


async def test_text_and_bytes_payloads_announce_their_content_type(provider):
    async with scripted(JSON_OK, JSON_OK) as (url, seen):
        await provider.invoke(target(url), "caf\u00e9", call())
        await provider.invoke(target(url), b"\x00", call())

    assert b"Content-Type: text/plain; charset=utf-8\r\n" in seen[0]
    assert seen[0].endswith("caf\u00e9".encode())
    assert b"Content-Type: application/octet-stream\r\n" in seen[1]


async def test_307_redirect_is_followed_with_method_and_body(provider):
    moved = answer("307 Temporary Redirect", "Location: /next\r\n")
    async with scripted(moved, JSON_OK) as (url, seen):
        outcome = await provider.invoke(target(f"{url}/first"), {"a": 1}, call())

    assert outcome.success and outcome.result == {"ok": True}
    assert outcome.info["url"] == f"{url}/first"
    assert seen[1].startswith(b"POST /next HTTP/1.1") and seen[1].endswith(b'{"a":1}')


async def test_303_redirect_goes_on_as_a_get_without_body(provider):
    async with scripted(answer("303 See Other", "Location: /done\r\n"), JSON_OK) as (url, seen):
        outcome = await provider.invoke(target(url), {"a": 1}, call())

    assert outcome.result == {"ok": True}
    assert seen[1].startswith(b"GET /done HTTP/1.1")
    assert b"Content-Length" not in seen[1] and b"Content-Type" not in seen[1]


async def test_redirect_to_another_origin_drops_credentials(provider):
    async with scripted(JSON_OK) as (other, seen_there):
        moved = answer("308 Permanent Redirect", f"Location: {other}/fn\r\n")
        async with scripted(moved) as (url, seen_here):
            secret = url.replace("http://", "http://user:pw@")
            headers = {"Authorization": "Bearer t"}
            outcome = await provider.invoke(target(secret, headers=headers), None, call())

    assert outcome.result == {"ok": True}
    assert b"Authorization: Bearer t" in seen_here[0]
    assert b"Authorization" not in seen_there[0]


async def test_compressed_answer_is_decompressed(provider):
    body = gzip.compress(b'{"zipped": true}')
    headers = "Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
    async with scripted(answer("200 OK", headers, body)) as (url, _):
        outcome = await provider.invoke(target(url), None, call())

    assert outcome.result == {"zipped": True}


async def test_answer_charset_is_honoured(provider):
    body = "caf\u00e9".encode("latin-1")
    headers = 'Content-Type: Text/Plain; Charset="ISO-8859-1"\r\n'
    async with scripted(answer("200 OK", headers, body)) as (url, _):
        outcome = await provider.invoke(target(url), None, call())

    assert outcome.result == "caf\u00e9"
