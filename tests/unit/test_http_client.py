"""HttpClient (core/providers/_http_client.py) against small raw asyncio servers that write
exact bytes, so every framing, reuse and failure case is under the test's control."""

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from core.errors import EgressDenied, ResponseTooLarge
from core.providers import _http_client as http_client
from core.providers._http_client import (
    MAX_HEAD_BYTES,
    HttpClient,
    HttpConnectionError,
    HttpNotSentError,
    InvalidRequestError,
    parse_url,
)
from tests.conftest import free_port

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
Script = Callable[["RawServer", int, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """(head, body) of the next request, None once the client closed the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    return head, await reader.readexactly(length)


class RawServer:
    """Runs `script(server, connection_index, reader, writer)` for each accepted connection;
    counts connections (`accepted`, `open`, `max_open`), records requests, notes EOFs."""

    def __init__(self, script: Script, ssl_context: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.ssl_context = ssl_context
        self.accepted = self.open = self.max_open = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.got_request = asyncio.Event()
        self.client_closed = asyncio.Event()
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> "RawServer":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info) -> None:
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = self.accepted
        self.accepted += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        self._writers.append(writer)
        try:
            await self.script(self, index, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            writer.close()

    async def next_request(self, reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
        request = await read_request(reader)
        if request is not None:
            self.requests.append(request)
            self.got_request.set()
        return request

    async def wait_for_eof(self, reader: asyncio.StreamReader) -> None:
        """Until the client closes the connection."""
        await reader.read()
        self.client_closed.set()


async def eventually(condition: Callable[[], bool]) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the condition stayed false")


def answering(*answers: bytes, close: bool = False) -> Script:
    """A script answering each request of a connection with the next answer (the last one
    repeats), then closing the connection if `close`."""

    async def script(server, index, reader, writer):
        count = 0
        while await server.next_request(reader) is not None:
            writer.write(answers[min(count, len(answers) - 1)])
            await writer.drain()
            count += 1
            if close:
                return

    return script


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    client = HttpClient(max_connections=4)
    yield client
    client.close()


async def test_content_length_body_and_headers(client):
    answer = b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-Tag: a\r\nx-tag: b\r\n\r\nhello"
    async with RawServer(answering(answer)) as server:
        response = await client.request("POST", f"{server.url}/fn", {"X-Key": "k"}, b"{}", 2)

    assert response.status == 201 and response.body == b"hello"
    assert response.headers == {"content-length": "5", "x-tag": "a, b"}
    head, body = server.requests[0]
    port = server.url.rsplit(":", 1)[1]
    assert head == (
        b"POST /fn HTTP/1.1\r\nHost: 127.0.0.1:" + port.encode() + b"\r\nX-Key: k\r\n"
        b"User-Agent: fnproxy\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n"
    )
    assert body == b"{}"


async def test_chunked_body_arriving_in_pieces(client):
    async def script(server, index, reader, writer):
        await server.next_request(reader)
        for piece in (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            b"lo\r\n6\r\n world\r\n",
            b"0\r\n\r\n",
        ):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.01)
        await server.next_request(reader)
        writer.write(OK)
        await server.wait_for_eof(reader)

    async with RawServer(script) as server:
        response = await client.request("GET", server.url, {}, None, 2)
        again = await client.request("GET", server.url, {}, None, 2)

    assert response.body == b"hello world" and again.body == b"ok"
    assert server.accepted == 1


@pytest.mark.parametrize("version", [b"1.1", b"1.0"])
async def test_body_delimited_by_the_connection_close(client, version):
    async def script(server, index, reader, writer):
        await server.next_request(reader)
        writer.write(b"HTTP/" + version + b" 200 OK\r\nContent-Type: text/plain\r\n\r\npart 1, ")
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"part 2")

    async with RawServer(script) as server:
        response = await client.request("GET", server.url, {}, None, 2)
        await client.request("GET", server.url, {}, None, 2)

    assert response.status == 200 and response.body == b"part 1, part 2"
    assert server.accepted == 2


async def test_a_body_cut_short_is_an_error(client):
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf"
    async with RawServer(answering(answer, close=True)) as server:
        with pytest.raises(HttpConnectionError, match="in the middle of the answer"):
            await client.request("GET", server.url, {}, None, 2)


async def test_keep_alive_connection_is_reused(client):
    async with RawServer(answering(OK)) as server:
        for _ in range(3):
            assert (await client.request("POST", server.url, {}, b"x", 2)).body == b"ok"

    assert server.accepted == 1 and len(server.requests) == 3


async def test_a_post_reuses_only_a_connection_that_just_answered(client, monkeypatch):
    """A server may close an idle connection as a POST is written onto it, and a POST cannot be
    replayed: past UNREPLAYABLE_IDLE_S it takes a fresh connection, while a GET still reuses."""
    monkeypatch.setattr(http_client, "UNREPLAYABLE_IDLE_S", 0.05)
    async with RawServer(answering(OK)) as server:
        await client.request("POST", server.url, {}, b"x", 2)
        await client.request("POST", server.url, {}, b"x", 2)  # at once: reused
        await asyncio.sleep(0.1)
        await client.request("POST", server.url, {}, b"x", 2)  # idle too long: fresh
        await client.request("GET", server.url, {}, None, 2)  # reused

    assert server.accepted == 2 and len(server.requests) == 4


async def test_idle_connections_are_reused_last_in_first_out():
    client = HttpClient(max_connections=2)
    slow_ok = answering(OK)

    async def script(server, index, reader, writer):
        await asyncio.sleep(0.02)  # both requests open their own connection
        await slow_ok(server, index, reader, writer)

    async with RawServer(script) as server:
        await asyncio.gather(*(client.request("GET", server.url, {}, None, 2) for _ in range(2)))
        pool = next(iter(client._pools.values()))
        newest = pool.idle[-1]
        await client.request("GET", server.url, {}, None, 2)
        assert pool.idle[-1] is newest
        client.close()
    assert server.accepted == 2


async def test_connection_close_answer_is_not_reused(client):
    answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    async with RawServer(answering(answer)) as server:
        await client.request("GET", server.url, {}, None, 2)
        await client.request("GET", server.url, {}, None, 2)

    assert server.accepted == 2
    await eventually(lambda: client._pools == {})  # an origin without connections is forgotten


async def test_connection_close_request_is_not_reused(client):
    async with RawServer(answering(OK)) as server:
        await client.request("GET", server.url, {"Connection": "close"}, None, 2)
        await client.request("GET", server.url, {}, None, 2)

    assert server.accepted == 2
    assert b"Connection: close\r\n" in server.requests[0][0]
    assert b"keep-alive" not in server.requests[0][0]


async def test_idle_connection_closed_by_the_server_is_replaced(client):
    async with RawServer(answering(OK, close=True)) as server:
        await client.request("POST", server.url, {}, b"1", 2)
        await asyncio.sleep(0.02)  # the server's FIN arrives while the connection is idle
        response = await client.request("POST", server.url, {}, b"2", 2)

    assert response.body == b"ok" and server.accepted == 2 and len(server.requests) == 2


def stale_after_first_answer(partial: bytes = b"") -> Script:
    """The first connection answers once, then takes the next request and closes (after
    writing `partial`), as a server closing an idle connection just as a request comes in
    would; later connections answer normally."""
    answer = answering(OK)

    async def script(server, index, reader, writer):
        if index > 0:
            return await answer(server, index, reader, writer)
        await server.next_request(reader)
        writer.write(OK)
        await server.next_request(reader)
        writer.write(partial)
        await writer.drain()

    return script


@pytest.mark.parametrize(
    ("method", "headers"),
    [("GET", {}), ("PUT", {}), ("DELETE", {}), ("POST", {"Idempotency-Key": "k-1"})],
)
async def test_replayable_request_is_retried_once_on_a_fresh_connection(client, method, headers):
    async with RawServer(stale_after_first_answer()) as server:
        await client.request(method, server.url, headers, None, 2)
        response = await client.request(method, server.url, headers, None, 2)

    assert response.body == b"ok"
    assert server.accepted == 2 and len(server.requests) == 3


async def test_post_on_a_stale_connection_is_not_retried(client):
    async with RawServer(stale_after_first_answer()) as server:
        await client.request("POST", server.url, {}, b"1", 2)
        with pytest.raises(HttpConnectionError, match="before answering") as raised:
            await client.request("POST", server.url, {}, b"2", 2)

    assert server.accepted == 1 and len(server.requests) == 2
    assert not isinstance(raised.value, HttpNotSentError)  # it was sent: it may have run


async def test_no_retry_once_answer_bytes_arrived(client):
    async with RawServer(stale_after_first_answer(partial=b"HTTP/1.1 200")) as server:
        await client.request("GET", server.url, {}, None, 2)
        with pytest.raises(HttpConnectionError, match="in the middle of the answer"):
            await client.request("GET", server.url, {}, None, 2)

    assert server.accepted == 1


async def test_no_retry_on_a_fresh_connection(client):
    async def script(server, index, reader, writer):
        await server.next_request(reader)  # then close without answering

    async with RawServer(script) as server:
        with pytest.raises(HttpConnectionError, match="before answering"):
            await client.request("GET", server.url, {}, None, 2)

    assert server.accepted == 1


async def test_head_answer_has_no_body_and_the_connection_stays_usable(client):
    head_answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: text/plain\r\n\r\n"
    async with RawServer(answering(head_answer, OK)) as server:
        head = await client.request("HEAD", server.url, {}, None, 2)
        after = await client.request("GET", server.url, {}, None, 2)

    assert head.status == 200 and head.body == b"" and head.headers["content-length"] == "100"
    assert after.body == b"ok" and server.accepted == 1


@pytest.mark.parametrize(
    ("answer", "status", "headers"),
    [
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204, {}),
        (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 12\r\n\r\n", 304, {"content-length": "12"}),
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 OK\r\nX-Final: 1\r\n\r\n",
            204,
            {"x-final": "1"},
        ),
    ],
    ids=["204", "304", "100-then-204"],
)
async def test_answers_without_body_keep_the_connection_usable(client, answer, status, headers):
    async with RawServer(answering(answer, OK)) as server:
        first = await client.request("GET", server.url, {}, None, 2)
        after = await client.request("GET", server.url, {}, None, 2)

    assert (first.status, first.headers, first.body) == (status, headers, b"")
    assert after.body == b"ok" and server.accepted == 1


async def test_informational_answer_is_skipped(client):
    answer = b"HTTP/1.1 100 Continue\r\nX-Early: 1\r\n\r\n" + OK
    async with RawServer(answering(answer)) as server:
        response = await client.request("POST", server.url, {}, b"x", 2)

    assert response.status == 200 and response.body == b"ok"
    assert response.headers == {"content-length": "2"}


async def test_malformed_answer_is_an_error_and_drops_the_connection(client):
    async def script(server, index, reader, writer):
        if index > 0:
            return await answering(OK)(server, index, reader, writer)
        await server.next_request(reader)
        writer.write(b"HTTP/1.1 2OO OK\r\n\r\n")
        await server.wait_for_eof(reader)

    async with RawServer(script) as server:
        with pytest.raises(HttpConnectionError, match="malformed answer"):
            await client.request("GET", server.url, {}, None, 2)
        await asyncio.wait_for(server.client_closed.wait(), 1)
        assert (await client.request("GET", server.url, {}, None, 2)).body == b"ok"

    assert server.accepted == 2


@pytest.mark.parametrize("pause", [True, False], ids=["later", "same-write"])
async def test_unsolicited_bytes_drop_the_connection(client, pause):
    async def script(server, index, reader, writer):
        await server.next_request(reader)
        writer.write(OK)
        if pause:
            await asyncio.sleep(0.01)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nxy")  # nobody asked
        await server.wait_for_eof(reader)

    async with RawServer(script) as server:
        assert (await client.request("GET", server.url, {}, None, 2)).body == b"ok"
        await asyncio.wait_for(server.client_closed.wait(), 1)


async def test_cancelled_request_closes_its_connection_and_frees_its_slot():
    client = HttpClient(max_connections=1)

    async def script(server, index, reader, writer):
        if index > 0:
            return await answering(OK)(server, index, reader, writer)
        await server.next_request(reader)  # and never answer
        await server.wait_for_eof(reader)

    async with RawServer(script) as server:
        stuck = asyncio.create_task(client.request("GET", server.url, {}, None, 5))
        await server.got_request.wait()
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stuck
        response = await client.request("GET", server.url, {}, None, 2)
        await asyncio.wait_for(server.client_closed.wait(), 1)
        pool = next(iter(client._pools.values()))
        assert len(pool.connections) == 1 and len(pool.idle) == 1
        client.close()

    assert response.body == b"ok" and server.accepted == 2


async def test_timeout_raises_timeout_error_and_frees_the_slot():
    client = HttpClient(max_connections=1)

    async def script(server, index, reader, writer):
        if index > 0:
            return await answering(OK)(server, index, reader, writer)
        await server.next_request(reader)
        await server.wait_for_eof(reader)

    async with RawServer(script) as server:
        with pytest.raises(TimeoutError):
            await client.request("GET", server.url, {}, None, 0.05)
        assert (await client.request("GET", server.url, {}, None, 2)).body == b"ok"
        await asyncio.wait_for(server.client_closed.wait(), 1)
        client.close()


async def test_pool_limit_is_respected():
    client = HttpClient(max_connections=2)

    async def script(server, index, reader, writer):
        while await server.next_request(reader) is not None:
            await asyncio.sleep(0.03)
            writer.write(OK)

    async with RawServer(script) as server:
        responses = await asyncio.gather(
            *(client.request("GET", server.url, {}, None, 2) for _ in range(5))
        )
        client.close()

    assert [response.body for response in responses] == [b"ok"] * 5
    assert server.accepted == 2 and server.max_open == 2


async def test_idle_connections_expire():
    client = HttpClient(max_connections=2, keepalive_s=0.03)

    async def script(server, index, reader, writer):
        await answering(OK)(server, index, reader, writer)
        server.client_closed.set()

    async with RawServer(script) as server:
        await client.request("GET", server.url, {}, None, 2)
        await asyncio.sleep(0.01)
        await client.request("GET", server.url, {}, None, 2)  # reused: not expired yet
        await asyncio.wait_for(server.client_closed.wait(), 1)  # closed by the expiry timer
        await eventually(lambda: client._pools == {})
        await client.request("GET", server.url, {}, None, 2)
        client.close()

    assert server.accepted == 2


async def test_close_closes_idle_connections_and_refuses_requests():
    client = HttpClient(max_connections=2)

    async def script(server, index, reader, writer):
        await server.next_request(reader)
        writer.write(OK)
        await server.wait_for_eof(reader)

    async with RawServer(script) as server:
        await client.request("GET", server.url, {}, None, 2)
        client.close()
        await asyncio.wait_for(server.client_closed.wait(), 1)
        with pytest.raises(HttpConnectionError, match="closed"):
            await client.request("GET", server.url, {}, None, 2)


async def test_connection_refused(client):
    with pytest.raises(HttpNotSentError, match="cannot connect to 127.0.0.1"):
        await client.request("POST", f"http://127.0.0.1:{free_port()}/", {}, b"x", 2)


async def test_a_closed_client_sends_nothing(client):
    client.close()
    with pytest.raises(HttpNotSentError, match="closed"):
        await client.request("POST", "http://127.0.0.1:9/", {}, b"x", 2)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nhalf",
        b"HTTP/1.1 200 OK\r\n\x00garbage\r\n\r\n",
    ],
)
async def test_an_answer_lost_after_sending_is_not_a_request_never_sent(client, answer):
    async with RawServer(answering(answer, close=True)) as server:
        with pytest.raises(HttpConnectionError) as raised:
            await client.request("POST", server.url, {}, b"x", 2)

    assert not isinstance(raised.value, HttpNotSentError)


async def test_an_idle_connection_keeps_no_answer(client):
    body = b"x" * 100_000
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + body
    async with RawServer(answering(answer)) as server:
        response = await client.request("GET", server.url, {}, None, 2)
        (pool,) = client._pools.values()
        (idle,) = pool.idle

        assert response.body == body
        assert idle._body == [] and idle._headers == []


async def test_request_serialization(client):
    async with RawServer(answering(OK)) as server:
        base = server.url.replace("http://", "http://us%40r:p%3Ass@")
        await client.request("POST", f"{base}/a b/é?q=1 2#frag", {}, None, 2)
        await client.request("GET", server.url, {}, None, 2)
        headers = {
            "User-Agent": "mine",
            "Accept-Encoding": "gzip",
            "Content-Length": "99",
            "Authorization": "Bearer t",
        }
        await client.request("PUT", base, headers, b"abc", 2)

    post, get, put = (head for head, _ in server.requests)
    port = server.url.rsplit(":", 1)[1].encode()
    assert post.startswith(b"POST /a%20b/%C3%A9?q=1%202 HTTP/1.1\r\nHost: 127.0.0.1:" + port)
    assert b"Authorization: Basic dXNAcjpwOnNz\r\n" in post  # base64("us@r:p:ss")
    assert b"Content-Length: 0\r\n" in post
    assert b"Content-Length" not in get and b"Authorization" not in get
    assert put == (
        b"PUT / HTTP/1.1\r\nHost: 127.0.0.1:" + port + b"\r\nUser-Agent: mine\r\n"
        b"Connection: keep-alive\r\nAuthorization: Bearer t\r\nContent-Length: 3\r\n\r\n"
    )
    assert all(b"accept-encoding" not in head.lower() for head, _ in server.requests)


@pytest.mark.parametrize(
    "headers",
    [{"X-Evil": "a\r\nInjected: 1"}, {"Bad Name": "x"}, {"X-Nul": "a\x00"}],
)
async def test_unsafe_headers_are_refused(client, headers):
    with pytest.raises(InvalidRequestError, match="invalid header"):
        await client.request("GET", "http://127.0.0.1:9/", headers, None, 2)


@pytest.mark.parametrize("name", ["Host", "host"])
async def test_a_host_header_is_refused(client, name):
    """Host always names the server connected to: a caller cannot point it elsewhere."""
    with pytest.raises(InvalidRequestError, match="Host"):
        await client.request("GET", "http://127.0.0.1:9/", {name: "metadata.google.internal"})


async def test_unsafe_method_is_refused(client):
    with pytest.raises(InvalidRequestError, match="invalid method"):
        await client.request("GET / HTTP/1.1\r\nX:", "http://127.0.0.1:9/", {}, None, 2)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "http:///path", "http://example.com:99999/", "http://[::1/"]
)
async def test_unusable_urls_are_refused(client, url):
    with pytest.raises(InvalidRequestError):
        await client.request("GET", url, {}, None, 2)


def test_urls_are_parsed_once_and_hosts_normalized():
    parsed = parse_url("https://Bücher.Example:443/x")
    assert parse_url("https://Bücher.Example:443/x") is parsed
    assert parsed.origin == ("https", "xn--bcher-kva.example", 443) and parsed.tls
    assert parsed.line_and_host == " /x HTTP/1.1\r\nHost: xn--bcher-kva.example\r\n"
    assert parse_url("http://[::1]:8080").line_and_host.endswith("Host: [::1]:8080\r\n")


# TLS: a throw-away self-signed certificate made with the openssl CLI


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_https_with_a_trusted_certificate(certificate):
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client = HttpClient(max_connections=2, ssl_context=ssl.create_default_context(cafile=cert))
    async with RawServer(answering(OK), ssl_context=server_context) as server:
        first = await client.request("GET", server.url, {}, None, 2)
        second = await client.request("GET", server.url, {}, None, 2)
        client.close()

    assert first.body == second.body == b"ok" and server.accepted == 1


async def test_default_tls_context_is_made_on_the_first_https_request_only(certificate):
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client = HttpClient(max_connections=2)
    async with RawServer(answering(OK)) as plain:
        await client.request("GET", plain.url, {}, None, 2)
    assert client._ssl_context is None

    async with RawServer(answering(OK), ssl_context=server_context) as server:
        with pytest.raises(HttpConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.request("GET", server.url, {}, None, 2)
        client.close()
    assert isinstance(client._ssl_context, ssl.SSLContext)


# Connections to the checked address (the egress policy's `resolve`), and the answer size cap


class CountingResolver:
    """Answers `addresses` for any host, counting lookups (a second lookup could rebind)."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.lookups: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        return self.addresses


async def test_connects_to_the_resolved_address_and_looks_the_name_up_once():
    resolver = CountingResolver("127.0.0.1")
    client = HttpClient(max_connections=2, resolve=resolver)
    async with RawServer(answering(OK)) as server:
        port = int(server.url.rsplit(":", 1)[1])
        url = f"http://rebind.invalid:{port}/fn"  # .invalid never resolves: only `resolve` can
        first = await client.request("GET", url, {}, None, 2)
        second = await client.request("GET", url, {}, None, 2)
        client.close()

    assert first.body == second.body == b"ok"
    assert resolver.lookups == [("rebind.invalid", port)]
    assert server.requests[0][0].startswith(b"GET /fn HTTP/1.1\r\nHost: rebind.invalid:")


async def test_the_next_checked_address_is_tried_when_one_refuses():
    async with RawServer(answering(OK)) as server:
        port = int(server.url.rsplit(":", 1)[1])
        client = HttpClient(max_connections=1, resolve=CountingResolver("127.0.0.2", "127.0.0.1"))
        response = await client.request("GET", f"http://fn.invalid:{port}/", {}, None, 2)
        client.close()

    assert response.body == b"ok"


async def test_tls_names_the_original_host_while_connecting_to_the_checked_address(certificate):
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    resolver = CountingResolver("127.0.0.1")
    client = HttpClient(
        max_connections=1, ssl_context=ssl.create_default_context(cafile=cert), resolve=resolver
    )
    async with RawServer(answering(OK), ssl_context=server_context) as server:
        port = int(server.url.rsplit(":", 1)[1])
        response = await client.request("GET", f"https://localhost:{port}/", {}, None, 2)
        client.close()

    assert response.body == b"ok" and resolver.lookups == [("localhost", port)]


async def test_a_refusal_of_resolve_passes_through_and_nothing_is_sent():
    async def refuse(host: str, port: int) -> list[str]:
        raise EgressDenied(f"egress to {host!r} is refused (loopback destination)")

    client = HttpClient(max_connections=1, resolve=refuse)
    async with RawServer(answering(OK)) as server:
        with pytest.raises(EgressDenied):
            await client.request("GET", server.url, {}, None, 2)
        client.close()

    assert server.accepted == 0


async def test_a_name_that_does_not_resolve_is_a_connection_error():
    async def unknown(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    client = HttpClient(max_connections=1, resolve=unknown)
    with pytest.raises(HttpConnectionError, match="cannot resolve nowhere.invalid"):
        await client.request("GET", "http://nowhere.invalid/", {}, None, 2)
    client.close()


def sized(body: bytes, chunked: bool = False) -> bytes:
    if chunked:
        return (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"".join(
                b"%x\r\n%s\r\n" % (len(body[i : i + 10]), body[i : i + 10])
                for i in range(0, len(body), 10)
            )
            + b"0\r\n\r\n"
        )
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_answer_up_to_the_cap_is_read_whole(chunked):
    client = HttpClient(max_connections=1, max_response_bytes=100)
    async with RawServer(answering(sized(b"x" * 100, chunked))) as server:
        response = await client.request("GET", server.url, {}, None, 2)
        client.close()

    assert response.body == b"x" * 100


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_answer_past_the_cap_is_refused_and_its_connection_dropped(chunked):
    client = HttpClient(max_connections=1, max_response_bytes=100)
    too_large, ok = answering(sized(b"x" * 101, chunked)), answering(OK)

    async def script(server, index, reader, writer):
        await (too_large if index == 0 else ok)(server, index, reader, writer)

    async with RawServer(script) as server:
        with pytest.raises(ResponseTooLarge, match="larger than 100 bytes"):
            await client.request("GET", server.url, {}, None, 2)
        again = await client.request("GET", server.url, {}, None, 2)
        client.close()

    assert again.body == b"ok" and server.accepted == 2


async def test_an_endless_body_is_cut_off_as_it_arrives():
    async def script(server, index, reader, writer):
        await server.next_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        while True:  # close-delimited, never ending
            writer.write(b"x" * 65536)
            await writer.drain()

    client = HttpClient(max_connections=1, max_response_bytes=1024 * 1024)
    async with RawServer(script) as server:
        with pytest.raises(ResponseTooLarge):
            await client.request("GET", server.url, {}, None, 5)
        client.close()
        await eventually(lambda: server.open == 0)


async def test_an_endless_head_is_cut_off():
    async def script(server, index, reader, writer):
        await server.next_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        while True:
            writer.write(b"X-Pad: " + b"p" * 8000 + b"\r\n")
            await writer.drain()

    client = HttpClient(max_connections=1)
    async with RawServer(script) as server:
        with pytest.raises(ResponseTooLarge, match=f"head larger than {MAX_HEAD_BYTES}"):
            await client.request("GET", server.url, {}, None, 5)
        client.close()
