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
from core.tracing import serving, trace_headers

MAX_REQUEST_ID_LENGTH = 128
DENIED = (401, 403)
NOSNIFF = (b"x-content-type-options", b"nosniff")
NO_STORE = (b"cache-control", b"no-store")
Headers = Sequence[tuple[bytes, bytes]]


def request_id_from(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if 0 < len(candidate) <= MAX_REQUEST_ID_LENGTH and candidate.isprintable():
                return candidate
    return new_id()


def carries_credentials(scope: Scope) -> bool:
    return any(name == b"authorization" for name, _ in scope["headers"])


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
        request_id = request_id_from(scope)
        private = carries_credentials(scope)
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

        headers = ((n.decode("latin-1"), v.decode("latin-1")) for n, v in scope["headers"])
        try:
            with serving(trace_headers(headers)):
                await self.app(scope, receive, send_with_id)
        finally:
            principal = state.get("principal")
            self.audit.record(
                request_id=request_id,
                principal=principal.subject if principal else "anonymous",
                action=state.get("action") or f"{scope['method']} (no route)",
                resource=audited_path(scope["path"]),
                decision="deny" if status in DENIED else "allow",
                outcome=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
            )
