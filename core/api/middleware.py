"""Pure ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware): gives every request an
id (`X-Request-Id`, kept from the caller when sane), writes one audit line per request, and puts
the headers every answer needs on it: `X-Content-Type-Options: nosniff` always, and
`Cache-Control: no-store` on an answer to a request that carried credentials (an Authorization
header) unless the route chose its own. It also makes the request's trace headers the ones
invocations take their trace from (`core.tracing.incoming_headers`)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.auth.audit import AuditLog
from core.blobs.links import LINK_PATH
from core.models import new_id
from core.tracing import HEADERS as TRACE_HEADERS
from core.tracing import serving, trace_headers

MAX_REQUEST_ID_LENGTH = 128
TRACE_HEADER_NAMES = frozenset(name.encode() for name in TRACE_HEADERS)
DENIED = (401, 403)
NOSNIFF = (b"x-content-type-options", b"nosniff")
NO_STORE = (b"cache-control", b"no-store")
Headers = Sequence[tuple[bytes, bytes]]


class RequestHeaders:
    """What the middleware reads from a request's headers, in one pass over them (ASGI header
    names are lower case): the caller's request id when sane, whether it carries credentials,
    and its trace headers."""

    __slots__ = ("request_id", "credentials", "trace")

    def __init__(self, raw: Headers) -> None:
        self.request_id: str | None = None
        self.credentials = False
        trace: list[tuple[str, str]] = []
        for name, value in raw:
            if name == b"authorization":
                self.credentials = True
            elif name == b"x-request-id":
                candidate = value.decode("latin-1")
                if 0 < len(candidate) <= MAX_REQUEST_ID_LENGTH and candidate.isprintable():
                    self.request_id = candidate
            elif name in TRACE_HEADER_NAMES:
                trace.append((name.decode("latin-1"), value.decode("latin-1")))
        self.trace = trace_headers(trace) if trace else None


def edge_headers(headers: Headers, private: bool) -> list[tuple[bytes, bytes]]:
    """`headers` with nosniff, and no-store for a `private` answer without a Cache-Control."""
    added = [NOSNIFF]
    if private and not any(name.lower() == b"cache-control" for name, _ in headers):
        added.append(NO_STORE)
    return [*headers, *added]


def audited_path(path: str) -> str:
    """`path` as the audit line names it: a blob link's token is the grant to read the
    object (a signed URL), so it is never written."""
    return LINK_PATH + "{token}" if path.startswith(LINK_PATH) else path


class RequestContext:
    def __init__(self, app: ASGIApp, audit: AuditLog) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = RequestHeaders(scope["headers"])
        request_id = headers.request_id or new_id()
        private = headers.credentials
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *edge_headers(message.get("headers", ()), private),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            with serving(headers.trace):
                await self.app(scope, receive, send_with_id)
        finally:
            if self.audit.enabled:
                self._audit(scope, request_id, status, time.perf_counter() - started)

    def _audit(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        state = scope["state"]
        principal = state.get("principal")
        self.audit.record(
            request_id=request_id,
            principal=principal.subject if principal else "anonymous",
            action=state.get("action") or f"{scope['method']} (no route)",
            resource=audited_path(scope["path"]),
            decision="deny" if status in DENIED else "allow",
            outcome=status,
            duration_ms=seconds * 1000,
        )
