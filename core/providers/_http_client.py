"""A small HTTP/1.1 client on `asyncio.Protocol` and httptools (llhttp, the parser uvicorn uses).

It does what the http provider needs and no more, at a fraction of aiohttp's CPU and import
cost: one request, the whole answer read into memory.

- **Pools.** One pool per origin (scheme, host, port): at most `max_connections` connections
  open (a semaphore slot per request in flight, a new connection only when no idle one is
  left); idle keep-alive connections are reused last-in first-out and closed once idle for
  `keepalive_s`, or as soon as the server closes them.
- **Connections** go to the addresses the optional `resolve` callable answers (the egress
  policy's checked addresses, core/egress.py), tried in order, with the URL's host kept for
  TLS (SNI, certificate) and `Host`: the name is never looked up a second time. Without
  `resolve`, asyncio looks the host up itself.
- **Requests.** `METHOD target HTTP/1.1`, `Host` (always the URL's), the caller's headers,
  `User-Agent: fnproxy`, `Connection: keep-alive` and `Content-Length` (also `0` for
  POST/PUT/PATCH without a body), in one write. Never `Accept-Encoding`, so answers come
  unencoded. `user:password@` in the URL becomes `Authorization: Basic` (unless the caller
  sends its own Authorization).
- **Answers.** Content-Length, chunked (de-chunked by llhttp) and close-delimited bodies;
  204/304 and HEAD answers have none; 1xx informational answers are skipped. Header names are
  lower-cased, repeated headers joined with ", ". A malformed answer drops the connection.
  A body is read up to `max_response_bytes` and a head up to about `MAX_HEAD_BYTES`, counted
  as they arrive: past either, the connection is dropped and `ResponseTooLarge` raised.
- **Failures** below HTTP (cannot resolve or connect, connection lost, malformed answer) raise
  `HttpConnectionError`; when the request provably never left (cannot resolve or connect, a
  new connection closed before it was written, the client closed) it is `HttpNotSentError`,
  the only failure a caller may safely send again whatever the method. A request that cannot
  be written (bad URL, CR/LF in a header, a `Host` header) raises `InvalidRequestError`;
  `timeout_s` raises `TimeoutError`; `resolve`'s own refusals (`core.errors.EgressDenied`)
  pass through. A cancelled or failed request
  always closes its connection, so a connection in the pool never holds a half-read answer.
- **Retry once, on a stale connection only.** A server may close an idle keep-alive
  connection just as a request is sent on it. When a *reused* connection fails before any
  byte of the answer arrived, the request is sent again on a *fresh* connection if it is
  replayable: an idempotent method (RFC 9110: GET, HEAD, OPTIONS, TRACE, PUT, DELETE) or an
  `Idempotency-Key` header. That is aiohttp's rule (which this replaces); Go's net/http and
  urllib3 also never replay a POST there: "nothing received" cannot tell "closed before
  reading the request" from "ran the function, then died". The invocation service, which
  counts attempts and backs off, retries only what was never sent (`HttpNotSentError`).
  A fresh connection, or one that already sent answer bytes, is never retried here.
- **A request that cannot be replayed takes only a connection idle under
  `UNREPLAYABLE_IDLE_S`.** Servers close idle connections after a few seconds (uvicorn and
  Node 5 s, gunicorn 2 s), and a POST written onto one just as it closes can be neither
  retried nor told apart from a run: so such a request reuses only a connection that has just
  answered, and opens a fresh one otherwise. Replayable requests reuse up to `keepalive_s`.
- **Memory.** A connection forgets an answer's buffers once it is handed over, so the idle
  connections of a pool never hold the last (up to `max_response_bytes`) answer.
- **TLS.** The default `ssl.create_default_context()` is created on the first https request,
  never at import; the host name is verified.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import quote, unquote, urlsplit

import httptools

from core.errors import ResponseTooLarge

__all__ = [
    "HttpClient",
    "HttpConnectionError",
    "HttpNotSentError",
    "HttpResponse",
    "InvalidRequestError",
]

KEEPALIVE_S = 30.0
UNREPLAYABLE_IDLE_S = 1.0
"""The longest a connection may have been idle to carry a request that cannot be replayed."""
EXPIRY_SLACK_S = 0.01
"""Idle connections this close to expiring are closed with the ones expired (timers may fire
a little early)."""
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_HEAD_BYTES = 64 * 1024
"""An answer's status line and headers are read up to this size (checked per chunk read)."""
REPLAYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
IDEMPOTENCY_HEADERS = frozenset({"idempotency-key", "x-idempotency-key"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
MANAGED_HEADERS = frozenset(
    ("host", "user-agent", "connection", "authorization")
    + ("content-length", "transfer-encoding", "accept-encoding")
)
"""Headers the client writes itself (a caller's User-Agent, Connection or Authorization replaces
the client's; its Content-Length, Transfer-Encoding and Accept-Encoding are dropped; a Host is
refused: it would name another server than the one connected to)."""
DEFAULT_HEADERS = {  # by (the caller sent its own User-Agent, its own Connection)
    (False, False): "User-Agent: fnproxy\r\nConnection: keep-alive\r\n",
    (False, True): "User-Agent: fnproxy\r\n",
    (True, False): "Connection: keep-alive\r\n",
    (True, True): "",
}
PATH_SAFE = "/%:@!$&'()*+,;=-._~"  # RFC 3986 pchar and "/"; "%" keeps existing escapes
QUERY_SAFE = PATH_SAFE + "?"
_is_token = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch
_has_control = re.compile(r"[\x00\r\n]").search
_valid_names: set[str] = {"GET", "POST", "Content-Type"}
"""Methods and header names already checked (at most 1024 of them)."""


class HttpConnectionError(OSError):
    """The exchange failed below HTTP: cannot connect, connection lost, malformed answer."""


class HttpNotSentError(HttpConnectionError):
    """The request never left: cannot resolve or connect, or a new connection closed before it
    was written. Nothing reached the server, so sending it again is safe for any method."""


class InvalidRequestError(ValueError):
    """The request cannot be written: an unusable URL or header."""


class HttpResponse:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        """Lower-cased names; a repeated header's values joined with ", "."""
        self.body = body

    def __repr__(self) -> str:
        return f"HttpResponse({self.status}, {self.headers!r}, {len(self.body)} bytes)"


class _Url:
    """What a request needs from its URL (plain classes: a dataclass costs ms at import)."""

    __slots__ = ("origin", "host", "port", "tls", "target", "line_and_host", "authorization")

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        target: str,
        host_header: str,
        authorization: str | None,
    ) -> None:
        self.origin = (scheme, host, port)
        self.host = host
        """The (IDNA-encoded) host name or address to connect to, without IPv6 brackets."""
        self.port = port
        self.tls = scheme == "https"
        self.target = target
        """The request target: the path (and query), percent-encoded."""
        self.line_and_host = f" {target} HTTP/1.1\r\nHost: {host_header}\r\n"
        """What follows the method in the request head."""
        self.authorization = authorization
        """Basic credentials from the URL's user:password@."""


@functools.lru_cache(maxsize=1024)
def parse_url(url: str) -> _Url:
    """Everything a request needs from its URL; raises InvalidRequestError."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a bad port or IPv6 address
        raise InvalidRequestError(str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidRequestError(f"unsupported scheme {scheme!r}")
    if not parts.hostname:
        raise InvalidRequestError("no host")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidRequestError(f"invalid host {parts.hostname!r}") from None
    default_port = DEFAULT_PORTS[scheme]
    port = default_port if port is None else port
    host_header = f"[{host}]" if ":" in host else host
    if port != default_port:
        host_header = f"{host_header}:{port}"
    target = quote(parts.path or "/", safe=PATH_SAFE)
    if parts.query:
        target = f"{target}?{quote(parts.query, safe=QUERY_SAFE)}"
    authorization = None
    if parts.username is not None or parts.password is not None:
        credentials = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        authorization = f"Basic {base64.b64encode(credentials.encode()).decode('ascii')}"
    return _Url(scheme, host, port, target, host_header, authorization)


def _serialize(
    method: str, url: _Url, headers: Mapping[str, str], body: bytes | None
) -> tuple[bytes, bool]:
    """The request's bytes, and whether the caller asked for `Connection: close`."""
    if method not in _valid_names:
        _check_token(method, "method")
    parts = [method, url.line_and_host]
    authorization = url.authorization
    own_agent = own_connection = close = False
    for name, value in headers.items():
        if name not in _valid_names:
            _check_token(name, "header")
        if _has_control(value):
            raise InvalidRequestError(f"invalid header {name!r}")
        lowered = name.lower()
        if lowered in MANAGED_HEADERS:
            if lowered == "host":
                raise InvalidRequestError("the Host header is the URL's host")
            if lowered == "authorization":
                authorization = value
            elif lowered == "user-agent":
                own_agent = True
                parts += (name, ": ", value, "\r\n")
            elif lowered == "connection":
                own_connection, close = True, "close" in value.lower()
                parts += (name, ": ", value, "\r\n")
            continue
        parts += (name, ": ", value, "\r\n")
    parts.append(DEFAULT_HEADERS[own_agent, own_connection])
    if authorization is not None:
        parts += ("Authorization: ", authorization, "\r\n")
    if body:
        parts += ("Content-Length: ", str(len(body)), "\r\n\r\n")
    elif method in BODY_METHODS:
        parts.append("Content-Length: 0\r\n\r\n")
    else:
        parts.append("\r\n")
    head = "".join(parts).encode()
    return (head + body if body else head), close


def _check_token(name: str, what: str) -> None:
    if not _is_token(name):
        raise InvalidRequestError(f"invalid {what} {name!r}")
    if len(_valid_names) < 1024:
        _valid_names.add(name)


Resolve = Callable[[str, int], Awaitable[list[str]]]
"""(host, port) -> the addresses to connect to; raises OSError when there are none."""


class HttpClient:
    def __init__(
        self,
        max_connections: int,
        *,
        keepalive_s: float = KEEPALIVE_S,
        ssl_context: ssl.SSLContext | None = None,
        resolve: Resolve | None = None,
        max_response_bytes: int | None = None,
    ) -> None:
        """`ssl_context` replaces the default context (made on the first https request);
        `resolve` chooses (and checks) the addresses connected to; `max_response_bytes`
        bounds an answer's body (None: unbounded)."""
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.max_connections = max_connections
        self.keepalive_s = keepalive_s
        self.resolve = resolve
        self.max_response_bytes = max_response_bytes
        self.closed = False
        self._ssl_context = ssl_context
        self._pools: dict[tuple[str, str, int], _Pool] = {}

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout_s: float | None = None,
    ) -> HttpResponse:
        """One exchange; raises HttpConnectionError, InvalidRequestError or TimeoutError."""
        if self.closed:
            raise HttpNotSentError("the client is closed")
        parsed = parse_url(url)
        data, close = _serialize(method, parsed, headers or {}, body)
        pool = self._pools.get(parsed.origin)
        if pool is None:
            pool = self._pools[parsed.origin] = _Pool(self, parsed)
        if timeout_s is None:
            return await pool.request(method, headers or {}, data, close)
        async with asyncio.timeout(timeout_s):
            return await pool.request(method, headers or {}, data, close)

    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    def close(self) -> None:
        """Close every connection (requests in flight fail with HttpConnectionError)."""
        self.closed = True
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.close()


def _replayable(method: str, headers: Mapping[str, str]) -> bool:
    return method in REPLAYABLE_METHODS or any(
        name.lower() in IDEMPOTENCY_HEADERS for name in headers
    )


class _Pool:
    """The connections to one origin."""

    def __init__(self, client: HttpClient, url: _Url) -> None:
        self.client = client
        self.url = url
        self.name = f"{url.host}:{url.port}"
        self.slots = asyncio.Semaphore(client.max_connections)
        self.idle: list[_Connection] = []
        """Most recently used last."""
        self.connections: set[_Connection] = set()
        self.requests = 0
        """Requests in flight or waiting for a slot."""
        self._expiry: asyncio.TimerHandle | None = None
        """Scheduled to close idle connections once they expire."""

    async def request(
        self, method: str, headers: Mapping[str, str], data: bytes, close: bool
    ) -> HttpResponse:
        """Send `data` on an idle connection, else a new one, within a slot of the pool."""
        self.requests += 1
        try:
            async with self.slots:
                head_only = method == "HEAD"
                replayable = _replayable(method, headers)
                connection = self.take_idle(
                    self.client.keepalive_s if replayable else UNREPLAYABLE_IDLE_S
                )
                if connection is not None:
                    try:
                        return await self.exchange(connection, data, head_only, close)
                    except HttpConnectionError:
                        if connection.received or not replayable:
                            raise
                        # the reused connection was stale: once more, on a fresh one
                connection = await self.connect()
                return await self.exchange(connection, data, head_only, close)
        finally:
            self.requests -= 1
            if not self.connections:
                self._forget()

    def take_idle(self, max_idle_s: float) -> _Connection | None:
        """The most recently used idle connection if it has been idle under `max_idle_s`.
        Expired or broken ones are closed on the way; younger-than-keepalive ones too old for
        `max_idle_s` stay for requests that may use them."""
        idle = self.idle
        now = time.monotonic()
        while idle:
            connection = idle[-1]
            if not connection.reusable or connection.idle_since <= now - self.client.keepalive_s:
                idle.pop().close()
            elif connection.idle_since <= now - max_idle_s:
                return None
            else:
                return idle.pop()
        return None

    async def connect(self) -> _Connection:
        """A new connection to the first of the origin's addresses that accepts one."""
        url = self.url
        loop = asyncio.get_running_loop()
        failure: OSError = OSError("no address")
        for address in await self.addresses():
            try:
                _, connection = await loop.create_connection(
                    lambda: _Connection(self),
                    address,
                    url.port,
                    ssl=self.client.ssl_context() if url.tls else None,
                    server_hostname=url.host if url.tls else None,
                )
            except OSError as exc:
                failure = exc
            else:
                return connection
        reason = f"cannot connect to {self.name}: {_describe(failure)}"
        raise HttpNotSentError(reason) from failure

    async def addresses(self) -> list[str]:
        """The client's `resolve` answer for the origin, else its host (asyncio resolves it)."""
        resolve = self.client.resolve
        if resolve is None:
            return [self.url.host]
        try:
            return await resolve(self.url.host, self.url.port)
        except OSError as exc:
            raise HttpNotSentError(f"cannot resolve {self.name}: {_describe(exc)}") from exc

    async def exchange(
        self, connection: _Connection, data: bytes, head_only: bool, close: bool
    ) -> HttpResponse:
        response = await connection.exchange(data, head_only)
        if close or self.client.closed or not connection.reusable:
            connection.close()
        else:
            connection.idle_since = time.monotonic()
            self.idle.append(connection)
            if self._expiry is None:
                self._expire_idle()
        return response

    def _expire_idle(self) -> None:
        """Close the connections idle for keepalive_s; run again when the next one expires
        (one timer per pool, not one per request)."""
        idle = self.idle
        keepalive_s = self.client.keepalive_s
        now = time.monotonic()
        while idle and idle[0].idle_since <= now - keepalive_s + EXPIRY_SLACK_S:
            idle.pop(0).close()
        self._expiry = None
        if idle:
            delay = idle[0].idle_since + keepalive_s - now
            self._expiry = asyncio.get_running_loop().call_later(delay, self._expire_idle)

    def opened(self, connection: _Connection) -> None:
        self.connections.add(connection)

    def lost(self, connection: _Connection) -> None:
        self.connections.discard(connection)
        if connection in self.idle:
            self.idle.remove(connection)
        if not self.connections:
            self._forget()

    def _forget(self) -> None:
        """Drop this pool from the client once nothing uses it (so origins seen once do not
        accumulate)."""
        pools = self.client._pools
        if self.requests == 0 and pools.get(self.url.origin) is self:
            del pools[self.url.origin]
            if self._expiry is not None:
                self._expiry.cancel()
                self._expiry = None

    def close(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        self.idle.clear()
        for connection in list(self.connections):
            connection.close()


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one exchange at a time, answers parsed by httptools."""

    def __init__(self, pool: _Pool) -> None:
        self._pool = pool
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[HttpResponse] | None = None
        """Set while an exchange waits for its answer."""
        self._lost = False
        self._head_only = False
        self._status = 0
        """The final answer's status, 0 until its headers are complete."""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._head_bytes = 0
        """Bytes received before the final answer's headers were complete."""
        self.received = False
        """Whether any byte of the current exchange's answer arrived."""
        self.keep_alive = False
        self.idle_since = 0.0

    @property
    def reusable(self) -> bool:
        """Open, answered in full with keep-alive, and the request written in full (a server
        may answer before reading the whole body)."""
        transport = self._transport
        return (
            self.keep_alive
            and not self._lost
            and not transport.is_closing()
            and not transport.get_write_buffer_size()
        )

    async def exchange(self, data: bytes, head_only: bool) -> HttpResponse:
        if self._lost:  # closed by the server before the first request was written
            raise HttpNotSentError(f"{self._pool.name} closed the connection")
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        self._head_only = head_only
        self._status = 0
        self._headers = []
        self._body = []
        self._body_bytes = self._head_bytes = 0
        self.received = False
        self.keep_alive = False
        try:
            self._transport.write(data)
            return await waiter
        except BaseException:  # failed, cancelled or timed out: the answer cannot be trusted
            self.close()
            raise

    def close(self) -> None:
        self.keep_alive = False
        if self._transport is not None:
            self._transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._pool.opened(self)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # bytes nobody asked for: the connection cannot be trusted
            self.close()
            return
        self.received = True
        if not self._status:
            if self._head_bytes > MAX_HEAD_BYTES:
                self._too_large(f"a head larger than {MAX_HEAD_BYTES} bytes")
                return
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(HttpConnectionError(f"malformed answer from {self._pool.name}: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._pool.lost(self)
        if self._waiter is None:
            return
        if self._status and not self.keep_alive and not self._framed():
            self._complete()  # the body was delimited by the connection's end
            return
        where = "in the middle of the answer" if self.received else "before answering"
        reason = f" ({_describe(exc)})" if exc is not None else ""
        error = HttpConnectionError(f"{self._pool.name} closed the connection {where}{reason}")
        error.__cause__ = exc
        self._fail(error)

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self._waiter is None:  # a second answer right after the first: nobody asked for it
            self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:  # 1xx informational: wait for the final answer
            self._headers = []
            return
        self._status = status
        self.keep_alive = self._parser.should_keep_alive()
        limit = self._pool.client.max_response_bytes
        if limit is not None and self._announced_length() > limit:
            self._too_large(f"a body larger than {limit} bytes")
            return
        if self._head_only:  # the answer has no body, whatever its headers say
            self._parser = httptools.HttpResponseParser(self)  # a fresh one for the next answer
            self._complete()

    def on_body(self, body: bytes) -> None:
        if self._waiter is None:  # given up on (too large): the rest is not kept
            return
        self._body_bytes += len(body)
        limit = self._pool.client.max_response_bytes
        if limit is not None and self._body_bytes > limit:
            self._too_large(f"a body larger than {limit} bytes")
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._status and not self._head_only:
            self._complete()

    # helpers

    def _framed(self) -> bool:
        """Whether the answer's length was announced (so an early end truncated it)."""
        return any(
            name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self._headers
        )

    def _complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():
            return
        headers: dict[str, str] = {}
        for raw_name, raw_value in self._headers:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            previous = headers.get(name)
            headers[name] = value if previous is None else f"{previous}, {value}"
        body, self._body, self._headers = self._body, [], []  # an idle connection keeps none
        waiter.set_result(
            HttpResponse(self._status, headers, body[0] if len(body) == 1 else b"".join(body))
        )

    def _announced_length(self) -> int:
        """The length of the body to come as the answer's Content-Length announces it; 0 when
        it has none, a malformed one, or no body to follow (HEAD, 204, 304)."""
        if self._head_only or self._status in (204, 304):
            return 0
        for name, value in self._headers:
            if name.lower() == b"content-length":
                value = value.strip()
                return int(value) if value.isdigit() and len(value) < 20 else 0
        return 0

    def _too_large(self, what: str) -> None:
        """Give up on the answer and drop the connection: the rest is never read."""
        self._body = []
        self._fail(ResponseTooLarge(f"{self._pool.name} answered {what}"))
        self.close()

    def _fail(self, error: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        self.keep_alive = False
        self._body = []
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
