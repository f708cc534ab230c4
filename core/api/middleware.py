"""Pure ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware): gives every request an
id (`X-Request-Id`, kept from the caller when sane) and writes one audit line per request."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.auth.audit import AuditLog
from core.models import new_id

MAX_REQUEST_ID_LENGTH = 128
DENIED = (401, 403)


def request_id_from(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if 0 < len(candidate) <= MAX_REQUEST_ID_LENGTH and candidate.isprintable():
                return candidate
    return new_id()


class RequestContext:
    def __init__(self, app: ASGIApp, audit: AuditLog) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            principal = state.get("principal")
            self.audit.record(
                request_id=request_id,
                principal=principal.subject if principal else "anonymous",
                action=state.get("action") or f"{scope['method']} (no route)",
                resource=scope["path"],
                decision="deny" if status in DENIED else "allow",
                outcome=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
            )
