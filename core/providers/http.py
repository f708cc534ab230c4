"""The `http` provider: any HTTP endpoint is a function.

One pooled aiohttp session (created on first use, inside the running loop) serves every call.
The payload goes as the body (JSON unless it is already bytes or text); the answer's JSON, or
text, is the result. 429/502/503/504 and connection failures are transient (retried by the
invocation service, honouring Retry-After); any other non-2xx answer is the function's failure.
The request's own timeout is the call's deadline: if it fires before the service's, the
`TimeoutError` is the same one the service would raise.

What is recorded (`info`, error messages) names the URL without credentials or query string.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import SplitResult, urlsplit

import aiohttp
import orjson

from core.errors import InvalidRequest, NotSupported
from core.models import Page
from core.providers.base import CallContext, FunctionInfo, InvocationOutcome, TransientFailure
from core.targets import HttpTarget

TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
EXECUTION_ID_HEADER = "X-Fnproxy-Execution-Id"
KEEPALIVE_S = 30.0
NO_CONTENT_TYPE = ("Content-Type",)
"""Without a body, aiohttp would still announce application/octet-stream."""


class HttpProvider:
    name = "http"

    def __init__(self, pool_size: int) -> None:
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None

    def function_key(self, target: HttpTarget) -> str:
        parts = _split(target.url)
        return f"http:{_host(parts).lower()}{parts.path or '/'}"

    async def invoke(
        self, target: HttpTarget, payload: Any, context: CallContext
    ) -> InvocationOutcome:
        body, headers = _request_body(target, payload)
        headers[EXECUTION_ID_HEADER] = context.execution_id
        try:
            async with self._client().request(
                target.method,
                target.url,
                data=body,
                headers=headers,
                skip_auto_headers=NO_CONTENT_TYPE if body is None else None,
                timeout=aiohttp.ClientTimeout(total=context.timeout_s),
            ) as response:
                raw = await response.read()
        except aiohttp.InvalidURL as exc:
            raise InvalidRequest(f"invalid url {_public(target.url)!r}") from exc
        except aiohttp.ClientError as exc:  # connection refused or lost, garbled answer, ...
            reason = f"{_public(target.url)} unreachable: {type(exc).__name__}"
            raise TransientFailure(reason) from exc
        status = response.status
        if status in TRANSIENT_STATUSES:
            retry_after_s = retry_after_seconds(response.headers.get("Retry-After"))
            reason = f"{_public(target.url)} answered {status}"
            raise TransientFailure(reason, status_code=status, retry_after_s=retry_after_s)
        return _outcome(response, raw, {"url": _public(target.url), "method": target.method})

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
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._pool_size,
                limit_per_host=self._pool_size,
                keepalive_timeout=KEEPALIVE_S,
            )
            # No cookie jar: cookies set by one caller's function must not reach another's.
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session


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


def _request_body(target: HttpTarget, payload: Any) -> tuple[Any, dict[str, str]]:
    """The body to send (None, bytes or str) and the request headers (a new dict)."""
    headers = dict(target.headers)
    if payload is None or isinstance(payload, (bytes, str)):
        return payload, headers
    try:
        body = orjson.dumps(payload)
    except TypeError as exc:
        raise InvalidRequest(f"payload is not JSON-serializable: {exc}") from None
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    return body, headers


def _size(body: bytes | str | None) -> int:
    if body is None:
        return 0
    return len(body.encode() if isinstance(body, str) else body)


def _outcome(
    response: aiohttp.ClientResponse, raw: bytes, info: dict[str, Any]
) -> InvocationOutcome:
    status = response.status
    result = _decode(raw, response.content_type, response.charset)
    if 200 <= status < 300:
        return InvocationOutcome(success=True, status_code=status, result=result, info=info)
    error = {"type": "HttpError", "message": f"HTTP {status}"}
    return InvocationOutcome(
        success=False, status_code=status, result=result, error=error, info=info
    )


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
