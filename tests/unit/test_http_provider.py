"""HttpProvider against a real functions-framework server (tests/fixtures/ff_functions.py)."""

import asyncio
import gzip
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.utils import formatdate

import pytest
from pydantic import ValidationError

from core.config import Settings
from core.egress import EgressPolicy
from core.errors import (
    EgressDenied,
    Forbidden,
    HeaderNotAllowed,
    InvalidRequest,
    NotSupported,
    ResponseTooLarge,
    UpstreamUnreachable,
)
from core.invoke.archive import Archive
from core.invoke.callbacks import CallbackSender
from core.invoke.retry import RetryPolicy
from core.models import Execution
from core.providers.base import CallContext, TransientFailure
from core.providers.http import HttpProvider, retry_after_seconds
from core.providers.registry import ProviderRegistry
from core.targets import GcpFunctionsTarget, HttpTarget
from core.wiring import archive_limits
from tests.conftest import free_port
from tests.faults.fault_target import FaultTarget


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


@pytest.mark.parametrize("fault", ["/garbage", "/truncated", "/cut"])
async def test_a_connection_lost_after_sending_is_unreachable_not_transient(provider, fault):
    faulty = FaultTarget().start()
    try:
        with pytest.raises(UpstreamUnreachable, match="not retried") as raised:
            await provider.invoke(target(faulty.url(fault)), {"a": 1}, call())
    finally:
        faulty.stop()

    assert raised.value.status == 502 and raised.value.code == "upstream_unreachable"
    assert faulty.hits[fault] == 1


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


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        ("/public/../admin", "/admin"),
        ("/public/%2e%2e/admin", "/admin"),
        ("/public/%2E%2e/admin", "/admin"),
        ("/public/./a/./b", "/public/a/b"),
        ("/public/a/..", "/public/"),
        ("/../../etc", "/etc"),
        ("", "/"),
    ],
)
async def test_the_key_and_the_requested_path_are_the_canonical_path(provider, path, canonical):
    async with scripted(JSON_OK) as (url, seen):
        requested = target(f"{url}{path}?q=1")
        await provider.invoke(requested, None, call())

    host = url.removeprefix("http://")
    assert provider.function_key(requested) == f"http:{host}{canonical}"
    assert seen[0].startswith(f"POST {canonical}?q=1 HTTP/1.1".encode())


@pytest.mark.parametrize("path", ["/public/..%2fadmin", "/public/..%5Cadmin", "/public/..\\admin"])
def test_a_dot_segment_behind_an_encoded_slash_is_refused(path):
    with pytest.raises(InvalidRequest, match="ambiguous"):
        target(f"http://fn.example{path}")


@pytest.mark.parametrize(
    "name",
    [
        "Host",
        "connection",
        "Keep-Alive",
        "Proxy-Authorization",
        "Proxy-Connection",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Metadata-Flavor",
        "X-aws-ec2-metadata-token",
        "X-aws-ec2-metadata-token-ttl-seconds",
        "X-Google-Metadata-Request",
        "X-Serverless-Authorization",
        "Forwarded",
        "X-Forwarded-For",
        "x-forwarded-host",
    ],
)
@pytest.mark.parametrize("provider_name", ["http", "gcp_functions"])
def test_headers_that_steer_the_connection_or_reach_credentials_are_refused(name, provider_name):
    fields = {"provider": provider_name, "url": "https://fn.example/", "headers": {name: "x"}}
    with pytest.raises(HeaderNotAllowed) as refused:
        (HttpTarget if provider_name == "http" else GcpFunctionsTarget)(**fields)
    assert refused.value.status == 400 and refused.value.code == "header_not_allowed"


@pytest.mark.parametrize(
    "headers",
    [
        {f"X-H{i}": "v" for i in range(65)},
        {"X-" + "n" * 300: "v"},
        {"X-Long": "v" * 9000},
        {"Bad Name": "v"},
    ],
)
def test_header_maps_are_bounded(headers):
    with pytest.raises(ValidationError) as refused:  # a field error (422), not a bare 400
        target("https://fn.example/", headers=headers)
    assert refused.value.errors()[0]["loc"][0] == "headers"


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

    with pytest.raises(ValidationError, match="headers"):
        target(f"{ff_url}/headers", headers=headers)


# Behaviour aiohttp gave implicitly, checked against a raw server answering scripted bytes.


@asynccontextmanager
async def scripted(*answers: bytes, port: int = 0):
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

    server = await asyncio.start_server(serve, "127.0.0.1", port)
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


@pytest.mark.parametrize("status", ["301 Moved Permanently", "302 Found", "307 Temporary", "308 P"])
async def test_a_redirect_to_another_origin_is_the_answer_not_followed(provider, status):
    async with scripted(JSON_OK) as (other, seen_there):
        moved = answer(status, f"Location: {other}/fn\r\n", b'{"moved": true}')
        async with scripted(moved) as (url, seen_here):
            secret = url.replace("http://", "http://user:pw@")
            headers = {"Authorization": "Bearer t"}
            outcome = await provider.invoke(target(secret, headers=headers), None, call())

    assert not outcome.success and outcome.status_code == int(status[:3])
    assert outcome.info["response_headers"]["location"] == f"{other}/fn"
    assert b"Authorization: Bearer t" in seen_here[0]
    assert seen_there == []  # no connection, so no header or credential, reached it


@pytest.mark.parametrize(
    "location",
    ["http://localhost:{port}/x", "https://127.0.0.1:{port}/x", "http://127.0.0.1:1/x", "//a.b/"],
)
async def test_scheme_host_and_port_each_make_another_origin(provider, location):
    port = free_port()
    moved = answer("302 Found", f"Location: {location.format(port=port)}\r\n")
    async with scripted(moved, JSON_OK, port=port) as (url, seen):
        outcome = await provider.invoke(target(url), None, call())

    assert outcome.status_code == 302 and len(seen) == 1


def scoped(*scopes: str) -> CallContext:
    return CallContext("exec-1", "tester", 5.0, 1, invoke_scopes=list(scopes))


async def test_a_same_origin_redirect_is_followed_within_the_callers_scope(provider):
    moved = answer("307 Temporary Redirect", "Location: /public/next\r\n")
    async with scripted(moved, JSON_OK) as (url, seen):
        scope = f"invoke:http:{url.removeprefix('http://')}/public/*"
        outcome = await provider.invoke(target(f"{url}/public/first"), None, scoped(scope))

    assert outcome.result == {"ok": True}
    assert seen[1].startswith(b"POST /public/next HTTP/1.1")


@pytest.mark.parametrize("location", ["/admin", "/public/../admin", "/public/%2e%2E/admin"])
async def test_a_same_origin_redirect_outside_the_callers_scope_is_refused(provider, location):
    moved = answer("302 Found", f"Location: {location}\r\n")
    async with scripted(moved, JSON_OK) as (url, seen):
        scope = f"invoke:http:{url.removeprefix('http://')}/public/*"
        with pytest.raises(Forbidden, match="/admin"):
            await provider.invoke(target(f"{url}/public/first"), None, scoped(scope))

    assert len(seen) == 1


async def test_a_registered_functions_same_origin_redirect_needs_no_scope(provider):
    async with scripted(answer("302 Found", "Location: /admin\r\n"), JSON_OK) as (url, seen):
        outcome = await provider.invoke(target(f"{url}/public/first"), None, call())

    assert outcome.result == {"ok": True} and len(seen) == 2


async def test_a_same_origin_hop_on_a_new_connection_passes_the_policy_again():
    """The first connection closes after the redirect: the hop needs a new one, and the name
    now resolves to the metadata address (DNS rebinding between hops)."""
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    policy = EgressPolicy("aws", ["127.0.0.1/32"], rebinding)
    provider = HttpProvider(pool_size=2, egress=policy)
    moved = answer("302 Found", "Connection: close\r\nLocation: /next\r\n")
    async with scripted(moved, JSON_OK) as (url, seen):
        named = url.replace("127.0.0.1", "fn.invalid")
        with pytest.raises(EgressDenied, match="metadata"):
            await provider.invoke(target(named), None, call())
    await provider.close()

    assert len(seen) == 1


async def test_egress_refused_makes_no_connection_and_is_not_transient():
    provider = HttpProvider(pool_size=2, egress=EgressPolicy("aws"))
    async with scripted(JSON_OK) as (url, seen):
        for spelled in ("127.0.0.1", "2130706433", "0x7f000001", "127.1", "localhost"):
            with pytest.raises(EgressDenied):
                await provider.invoke(target(url.replace("127.0.0.1", spelled)), None, call())
    await provider.close()

    assert seen == []


async def test_a_dry_run_judges_the_destination_by_name_without_a_lookup():
    async def no_lookup(host: str, port: int) -> list[str]:
        raise AssertionError("a dry run looked a name up")

    provider = HttpProvider(pool_size=1, egress=EgressPolicy("aws", (), no_lookup))
    with pytest.raises(EgressDenied):
        await provider.dry_run(target("http://169.254.169.254/latest/"), None, call())
    outcome = await provider.dry_run(target("https://fn.example/run"), None, call())

    assert outcome.success and outcome.status_code == 204


async def test_loopback_is_open_on_the_local_platform():
    provider = HttpProvider(pool_size=2, egress=EgressPolicy("local"))
    async with scripted(JSON_OK) as (url, _):
        outcome = await provider.invoke(target(url), None, call())
    await provider.close()

    assert outcome.result == {"ok": True}


async def test_callback_urls_are_checked_by_the_providers_policy():
    HttpProvider(pool_size=1).check_callback_url("http://169.254.169.254/")  # no policy
    with pytest.raises(EgressDenied):
        HttpProvider(pool_size=1, egress=EgressPolicy("local")).check_callback_url(
            "http://169.254.169.254/"
        )


async def test_an_answer_past_the_cap_is_a_502_response_too_large():
    provider = HttpProvider(pool_size=1, max_response_bytes=64)
    big = answer("200 OK", "Content-Type: text/plain\r\n", b"x" * 65)
    async with scripted(big) as (url, _):
        with pytest.raises(ResponseTooLarge) as refused:
            await provider.invoke(target(url), None, call())
    await provider.close()

    assert refused.value.status == 502 and refused.value.code == "response_too_large"


async def test_a_compressed_answer_is_inflated_up_to_the_cap_only():
    provider = HttpProvider(pool_size=1, max_response_bytes=4096)
    bomb = gzip.compress(b"0" * 1_000_000)  # about 1 KiB
    headers = "Content-Type: text/plain\r\nContent-Encoding: gzip\r\n"
    async with scripted(answer("200 OK", headers, bomb)) as (url, _):
        with pytest.raises(ResponseTooLarge, match="inflates"):
            await provider.invoke(target(url), None, call())
    await provider.close()


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


def finished(callback_url: str) -> Execution:
    return Execution(
        execution_id="exec-1",
        target={"provider": "local", "function": "hello"},
        provider="local",
        function="local:hello",
        mode="async",
        status="succeeded",
        caller="tester",
        created_at=0.0,
        updated_at=0.0,
        expires_at=0.0,
        callback_url=callback_url,
    )


async def test_a_callback_resolving_to_a_refused_address_is_not_sent_nor_retried():
    """The request-time check sees only the name: the address is checked when it is sent."""

    async def to_loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    provider = HttpProvider(pool_size=1, egress=EgressPolicy("aws", (), to_loopback))
    registry = ProviderRegistry({"http": lambda: provider})
    sender = CallbackSender(
        registry, RetryPolicy(3, 0, 0), Archive(None, archive_limits(Settings()))
    )
    async with scripted(JSON_OK) as (url, seen):
        named = url.replace("http://127.0.0.1", "https://hooks.invalid")
        provider.check_callback_url(named)  # passes at request time
        result = await sender.send(finished(f"{named}/cb"))
    await provider.close()

    assert result == {"delivered": False, "error": "egress_denied", "attempts": 1}
    assert seen == []
