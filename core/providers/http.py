"""The `http` provider: any HTTP endpoint is a function.

One pooled `HttpClient` (core/providers/_http_client.py, created on first use) serves every
call. The payload goes as the body (JSON unless it is already bytes or text); the answer's JSON,
or text, is the result. Redirects are followed (at most 10, as aiohttp did: 303, and 301/302
after a POST, go on as a GET without a body; credentials do not follow to another origin).
429/502/503/504 and connection failures are transient (retried by the invocation service,
honouring Retry-After); any other non-2xx answer is the function's failure.
The request's own timeout is the call's deadline: if it fires before the service's, the
`TimeoutError` is the same one the service would raise.

What is recorded (`info`, error messages) names the URL without credentials or query string.
"""

from __future__ import annotations

import functools
import math
import time
import zlib
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import orjson

from core.errors import InvalidRequest, NotSupported
from core.models import Page
from core.providers._http_client import (
    HttpClient,
    HttpConnectionError,
    HttpResponse,
    InvalidRequestError,
    parse_url,
)
from core.providers.base import CallContext, FunctionInfo, InvocationOutcome, TransientFailure
from core.targets import HttpTarget

TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
EXECUTION_ID_HEADER = "X-Fnproxy-Execution-Id"
KEEPALIVE_S = 30.0
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
BYTES_CONTENT_TYPE = "application/octet-stream"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
"""What an answer without a Content-Type is taken for."""


class HttpProvider:
    name = "http"

    def __init__(self, pool_size: int) -> None:
        self._pool_size = pool_size
        self._http: HttpClient | None = None

    def function_key(self, target: HttpTarget) -> str:
        parts = _split(target.url)
        return f"http:{_host(parts).lower()}{parts.path or '/'}"

    async def invoke(
        self, target: HttpTarget, payload: Any, context: CallContext
    ) -> InvocationOutcome:
        body, headers = _request_body(target, payload)
        headers[EXECUTION_ID_HEADER] = context.execution_id
        try:
            response = await self._send(target.method, target.url, headers, body, context.timeout_s)
        except InvalidRequestError as exc:
            raise InvalidRequest(f"invalid request to {_public(target.url)!r}: {exc}") from exc
        except HttpConnectionError as exc:  # connection refused or lost, garbled answer, ...
            raise TransientFailure(f"{_public(target.url)} unreachable: {exc}") from exc
        status = response.status
        if status in TRANSIENT_STATUSES:
            retry_after_s = retry_after_seconds(response.headers.get("retry-after"))
            reason = f"{_public(target.url)} answered {status}"
            raise TransientFailure(reason, status_code=status, retry_after_s=retry_after_s)
        return _outcome(response, {"url": _public(target.url), "method": target.method})

    async def dry_run(
        self, target: HttpTarget, payload: Any, context: CallContext
    ) -> InvocationOutcome:
        _split(target.url)
        body, _ = _request_body(target, payload)
        info = {"url": _public(target.url), "method": target.method, "body_bytes": _size(body)}
        return InvocationOutcome(success=True, status_code=204, info=info)

    async def list_functions(self, limit: int, cursor: str | None) -> Page[FunctionInfo]:
        raise NotSupported("an HTTP endpoint cannot be listed")

    async def get_function(self, name: str) -> FunctionInfo:
        raise NotSupported("an HTTP endpoint cannot be described")

    async def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    async def _send(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, timeout_s: float
    ) -> HttpResponse:
        """The answer, after following redirects as aiohttp did, all within `timeout_s`."""
        if self._http is None:
            self._http = HttpClient(self._pool_size, keepalive_s=KEEPALIVE_S)
        deadline = time.monotonic() + timeout_s
        for _ in range(MAX_REDIRECTS):
            response = await self._http.request(method, url, headers, body, timeout_s)
            location = response.headers.get("location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response
            next_url = urljoin(url, location)
            if not next_url.startswith(("http://", "https://")):
                return response
            if (
                response.status == 303
                and method != "HEAD"
                or (response.status in (301, 302) and method == "POST")
            ):
                method, body = "GET", None
                headers = _without(headers, ("content-type",))
            if parse_url(next_url).origin != parse_url(url).origin:
                headers = _without(headers, ("authorization",))
            url = next_url
            timeout_s = deadline - time.monotonic()  # <= 0 times out at once
        return await self._http.request(method, url, headers, body, timeout_s)


def _without(headers: dict[str, str], names: tuple[str, ...]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.lower() not in names}


def _split(url: str) -> SplitResult:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise InvalidRequest(f"invalid url {_public(url)!r}: {exc}") from None
    if not parts.hostname:
        raise InvalidRequest(f"invalid url {_public(url)!r}: no host")
    return parts


def _host(parts: SplitResult) -> str:
    """host[:port], never the user:password@ in front."""
    return parts.netloc.rpartition("@")[2]


def _public(url: str) -> str:
    """The URL without credentials, query string or fragment (they may carry secrets)."""
    if "@" not in url and "?" not in url and "#" not in url:
        return url
    parts = urlsplit(url)
    return f"{parts.scheme}://{_host(parts)}{parts.path}"


def _request_body(target: HttpTarget, payload: Any) -> tuple[bytes | None, dict[str, str]]:
    """The body to send and the request headers (a new dict). Content-Type, unless the target
    sets one: JSON, or as aiohttp announced text and bytes; none without a body."""
    headers = dict(target.headers)
    if payload is None:
        return None, headers
    if isinstance(payload, bytes):
        body, content_type = payload, BYTES_CONTENT_TYPE
    elif isinstance(payload, str):
        body, content_type = payload.encode(), TEXT_CONTENT_TYPE
    else:
        try:
            body = orjson.dumps(payload)
        except TypeError as exc:
            raise InvalidRequest(f"payload is not JSON-serializable: {exc}") from None
        content_type = "application/json"
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = content_type
    return body, headers


def _size(body: bytes | str | None) -> int:
    if body is None:
        return 0
    return len(body.encode() if isinstance(body, str) else body)


PRIVATE_RESPONSE_HEADERS = frozenset({"set-cookie", "www-authenticate", "proxy-authenticate"})
"""Never recorded: they can carry one caller's credentials or session."""


def _outcome(response: HttpResponse, info: dict[str, Any]) -> InvocationOutcome:
    status = response.status
    headers = response.headers
    info["response_headers"] = {
        name: value for name, value in headers.items() if name not in PRIVATE_RESPONSE_HEADERS
    }
    content_type, charset = _media_type(headers.get("content-type", DEFAULT_CONTENT_TYPE))
    raw = _decompressed(response.body, headers.get("content-encoding"))
    result = _decode(raw, content_type, charset)
    if 200 <= status < 300:
        return InvocationOutcome(success=True, status_code=status, result=result, info=info)
    error = {"type": "HttpError", "message": f"HTTP {status}"}
    return InvocationOutcome(
        success=False, status_code=status, result=result, error=error, info=info
    )


@functools.lru_cache(maxsize=128)
def _media_type(content_type: str) -> tuple[str, str | None]:
    """("type/subtype" lower-cased, the charset parameter or None) of a Content-Type value."""
    media_type, _, parameters = content_type.partition(";")
    charset = None
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return media_type.strip().lower(), charset


def _decompressed(raw: bytes, content_encoding: str | None) -> bytes:
    """No Accept-Encoding is sent, but a server may still compress (RFC 9110 allows it)."""
    if not content_encoding or not raw:
        return raw
    if content_encoding.strip().lower() in ("gzip", "x-gzip", "deflate"):
        for wbits in (47, -15):  # a gzip or zlib stream (detected), else raw deflate
            try:
                return zlib.decompress(raw, wbits)
            except zlib.error:
                pass
    return raw


def _decode(raw: bytes, content_type: str, charset: str | None) -> Any:
    """JSON for a JSON content type (text if it does not parse), text otherwise, None if empty."""
    if not raw:
        return None
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    try:
        return raw.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return raw.decode("utf-8", errors="replace")


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now: delay-seconds or an HTTP-date; None if absent or bad."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return _seconds_until(value)
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _seconds_until(http_date: str) -> float | None:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)
