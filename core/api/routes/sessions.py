"""Sessions owned by the caller, updated optimistically with If-Match."""

from __future__ import annotations

from starlette.responses import Response

from core.api.endpoints import Call, Endpoint
from core.api.responses import JSONResponse
from core.api.schemas import SessionCreate, SessionUpdate
from core.errors import PreconditionFailed, PreconditionRequired
from core.models import Session, iso


def session_response(session: Session, status_code: int = 200) -> Response:
    body = {
        "session_id": session.session_id,
        "data": session.data,
        "version": session.version,
        "created_at": iso(session.created_at),
        "updated_at": iso(session.updated_at),
        "expires_at": iso(session.expires_at),
    }
    return JSONResponse(body, status_code=status_code, headers={"ETag": session.etag})


def expected_version(if_match: str | None) -> int:
    if if_match is None:
        raise PreconditionRequired("updating a session needs If-Match: <ETag of the version read>")
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise PreconditionFailed(f"If-Match {if_match!r} is not a session ETag")
    return int(tag)


async def create_session(call: Call) -> Response:
    body: SessionCreate = call.body
    session = await call.services.sessions.create(call.principal.subject, body.data, body.ttl_s)
    return session_response(session, status_code=201)


async def get_session(call: Call) -> Response:
    session = await call.services.sessions.get(call.principal.subject, call.path("session_id"))
    return session_response(session)


async def update_session(call: Call) -> Response:
    body: SessionUpdate = call.body
    session = await call.services.sessions.update(
        call.principal.subject,
        call.path("session_id"),
        expected_version(call.request.headers.get("if-match")),
        body.data,
        body.ttl_s,
    )
    return session_response(session)


async def delete_session(call: Call) -> Response:
    await call.services.sessions.delete(call.principal.subject, call.path("session_id"))
    return Response(status_code=204)


ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/sessions",
        create_session,
        "Create a session",
        "sessions",
        body=SessionCreate,
        status=201,
    ),
    Endpoint(
        "GET",
        "/v1/sessions/{session_id}",
        get_session,
        "Read a session (and its ETag)",
        "sessions",
        extra_responses={404: "Unknown or expired session"},
    ),
    Endpoint(
        "PATCH",
        "/v1/sessions/{session_id}",
        update_session,
        "Replace a session's data; needs If-Match",
        "sessions",
        body=SessionUpdate,
        extra_responses={412: "Stale If-Match", 428: "If-Match missing"},
    ),
    Endpoint(
        "DELETE",
        "/v1/sessions/{session_id}",
        delete_session,
        "Delete a session",
        "sessions",
        status=204,
    ),
]
