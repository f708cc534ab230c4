"""The `http` provider: any HTTP endpoint is a function.

One pooled `HttpClient` (core/providers/_http_client.py, created on first use) serves every
call. Its connections go only to addresses the egress policy (core/egress.py) checked, and its
answers are read up to `max_response_bytes` (past it: 502 `response_too_large`, not retried).
The payload goes as the body (JSON unless it is already bytes or text), with the execution id
and the attempt's `traceparent` (and `tracestate`) headers; the answer's JSON, or text, is the
result.

Redirects are followed only within the origin (scheme, host, port), at most 10 (303, and 301/302
after a POST, go on as a GET without a body); a redirect to another origin is not followed: the
3xx is the function's answer, so no header or credential ever reaches another origin. A
followed hop's URL is made canonical and must be one the caller's scopes
(`CallContext.invoke_scopes`) allow invoking, else 403; a new connection it needs passes the
egress policy again. An attempt is transient (retried by the invocation service, honouring
Retry-After) only when it provably never reached the function: a 429/502/503/504 answer, or a
request that was never sent (cannot resolve or connect). A connection lost or a garbled answer
after the request was sent is `UpstreamUnreachable` (502), never retried: the function may have
run. Any other non-2xx answer is the function's failure.
The request's own timeout is the call's deadline: if it fires before the service's, the
`TimeoutError` is the same one the service would raise.

What is recorded (`info`, error messages) names the URL without credentials or query string.
"""

from __future__ import annotations

import base64
import functools
import math
import time
import zlib
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import orjson

from core.auth.scopes import scopes_allow_invoking
from core.egress import EgressPolicy
from core.errors import (
    Forbidden,
    InvalidRequest,
    NotSupported,
    ResponseTooLarge,
    UpstreamUnreachable,
)
from core.models import Page
from core.providers._http_client import (
    HttpClient,
    HttpConnectionError,
    HttpNotSentError,
    HttpResponse,
    InvalidRequestError,
    parse_url,
)
from core.providers.base import CallContext, FunctionInfo, InvocationOutcome, TransientFailure
from core.targets import HttpTarget, canonical_url

TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
EXECUTION_ID_HEADER = "X-Fnproxy-Execution-Id"
CLIENT_CONTEXT_HEADER = "X-Fnproxy-Client-Context"
"""The caller's client context (`CallContext.client_context`), base64 of its JSON as Lambda's
X-Amz-Client-Context is; absent when the caller gave none."""
TRACE_HEADERS = ("traceparent", "tracestate")
"""The attempt's W3C trace context headers; they replace a target's own of the same name."""
KEEPALIVE_S = 30.0
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
"""An answer's body is read up to this size unless told otherwise (Lambda's own limit)."""
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
BYTES_CONTENT_TYPE = "application/octet-stream"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
"""What an answer without a Content-Type is taken for."""


class HttpProvider:
    name = "http"

    def __init__(
        self,
        pool_size: int,
        *,
        egress: EgressPolicy | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        """`egress`: the policy every destination passes (None: any destination, for tests
        and emulators)."""
        self._pool_size = pool_size
        self.egress = egress
        self._max_response_bytes = max_response_bytes
        self._http: HttpClient | None = None

    def function_key(self, target: HttpTarget) -> str:
        return url_key(target.url)

    def check_callback_url(self, url: str) -> None:
        """Refuse at once a callback URL the policy would refuse by its name or scheme."""
        if self.egress is not None:
            self.egress.check_callback_url(url)

    async def invoke(
        self, target: HttpTarget, payload: Any, context: CallContext
    ) -> InvocationOutcome:
        body, headers = _request_body(target, payload)
        headers = _without(headers, TRACE_HEADERS)
        headers[EXECUTION_ID_HEADER] = context.execution_id
        headers.update(context.trace_fields())
        if context.client_context is not None:
            headers[CLIENT_CONTEXT_HEADER] = encoded_client_context(context.client_context)
        try:
            response = await self._send(target.method, target.url, headers, body, context)
        except InvalidRequestError as exc:
            raise InvalidRequest(f"invalid request to {_public(target.url)!r}: {exc}") from exc
        except HttpNotSentError as exc:  # nothing left: safe to send again
            raise TransientFailure(f"{_public(target.url)} unreachable: {exc}") from exc
        except HttpConnectionError as exc:  # sent, then lost or garbled: it may have run
            raise UpstreamUnreachable(
                f"{_public(target.url)}: {exc}; not retried, the request had been sent"
            ) from exc
        status = response.status
        if status in TRANSIENT_STATUSES:
            retry_after_s = retry_after_seconds(response.headers.get("retry-after"))
            reason = f"{_public(target.url)} answered {status}"
            raise TransientFailure(reason, status_code=status, retry_after_s=retry_after_s)
        info = {"url": _public(target.url), "method": target.method}
        return _outcome(response, info, self._max_response_bytes)

    async def dry_run(
        self, target: HttpTarget, payload: Any, context: CallContext
    ) -> InvocationOutcome:
        host = _split(target.url).hostname or ""
        if self.egress is not None:  # by name only: a dry run sends nothing, not even a lookup
            self.egress.check_name(host)
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
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        context: CallContext,
    ) -> HttpResponse:
        """The answer, after following same-origin redirects, all within the call's timeout."""
        http = self._client()
        deadline = time.monotonic() + context.timeout_s
        for _ in range(MAX_REDIRECTS):
            response = await http.request(method, url, headers, body, deadline - time.monotonic())
            next_url = _same_origin_redirect(response, url)
            if next_url is None:
                return response
            _check_scopes(next_url, context)
            if (
                response.status == 303
                and method != "HEAD"
                or (response.status in (301, 302) and method == "POST")
            ):
                method, body = "GET", None
                headers = _without(headers, ("content-type",))
            url = next_url
        return await http.request(method, url, headers, body, deadline - time.monotonic())

    def _client(self) -> HttpClient:
        if self._http is None:
            self._http = HttpClient(
                self._pool_size,
                keepalive_s=KEEPALIVE_S,
                resolve=None if self.egress is None else self.egress.addresses,
                max_response_bytes=self._max_response_bytes,
            )
        return self._http


@functools.lru_cache(maxsize=1024)  # callers repeat the same few URLs
def url_key(url: str) -> str:
    """The function key of a (canonical) URL: `http:<host[:port]><path>`, never credentials or
    the query."""
    parts = _split(url)
    return f"http:{_host(parts).lower()}{parts.path or '/'}"


def _same_origin_redirect(response: HttpResponse, url: str) -> str | None:
    """The canonical URL a redirect answer leads to within `url`'s origin; None when the
    answer is not a redirect, or leads elsewhere (then it is the function's answer)."""
    location = response.headers.get("location")
    if response.status not in REDIRECT_STATUSES or not location:
        return None
    try:
        next_url = canonical_url(urljoin(url, location))
        if parse_url(next_url).origin != parse_url(url).origin:
            return None
    except (InvalidRequest, InvalidRequestError, ValueError):  # unusable: not followed
        return None
    return next_url


def _check_scopes(url: str, context: CallContext) -> None:
    """A redirect the caller could not have asked for directly is refused (403)."""
    if context.invoke_scopes is None:
        return
    key = url_key(url)
    if not scopes_allow_invoking(context.invoke_scopes, key):
        raise Forbidden(f"redirected to {key!r}, which the caller may not invoke", function=key)


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


def _outcome(
    response: HttpResponse, info: dict[str, Any], max_bytes: int = MAX_RESPONSE_BYTES
) -> InvocationOutcome:
    status = response.status
    headers = response.headers
    info["response_headers"] = {
        name: value for name, value in headers.items() if name not in PRIVATE_RESPONSE_HEADERS
    }
    content_type, charset = _media_type(headers.get("content-type", DEFAULT_CONTENT_TYPE))
    raw = _decompressed(response.body, headers.get("content-encoding"), max_bytes)
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


def _decompressed(raw: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """No Accept-Encoding is sent, but a server may still compress (RFC 9110 allows it).
    Inflated up to `max_bytes` (`ResponseTooLarge` past it); an incomplete stream is left as
    it came."""
    if not content_encoding or not raw:
        return raw
    if content_encoding.strip().lower() in ("gzip", "x-gzip", "deflate"):
        for wbits in (47, -15):  # a gzip or zlib stream (detected), else raw deflate
            inflater = zlib.decompressobj(wbits)
            try:
                inflated = inflater.decompress(raw, max_bytes + 1)
            except zlib.error:
                continue
            if len(inflated) > max_bytes:
                raise ResponseTooLarge(f"the answer inflates to more than {max_bytes} bytes")
            if inflater.eof:
                return inflated
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


def encoded_client_context(client_context: dict[str, Any]) -> str:
    return base64.b64encode(orjson.dumps(client_context)).decode("ascii")
