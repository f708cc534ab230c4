"""Sessions owned by the caller, updated optimistically with If-Match."""

from __future__ import annotations

import re

from starlette.responses import Response

from core.api.endpoints import Call, Endpoint, HeaderParam
from core.api.responses import JSONResponse
from core.api.schemas import SessionCreate, SessionUpdate
from core.api.views import SessionView
from core.errors import InvalidRequest, PreconditionRequired
from core.models import Session, iso
from core.sessions.service import public_id


def session_response(session: Session, status_code: int = 200) -> Response:
    body = {
        "session_id": public_id(session),
        "data": session.data,
        "version": session.version,
        "created_at": iso(session.created_at),
        "updated_at": iso(session.updated_at),
        "expires_at": iso(session.expires_at),
    }
    return JSONResponse(body, status_code=status_code, headers={"ETag": session.etag})


IF_MATCH_PATTERN = r'^(W/)?"?[0-9]{1,18}"?$'
_is_session_etag = re.compile(IF_MATCH_PATTERN).match


def expected_version(if_match: str | None) -> int:
    """The version an If-Match names: 428 without one, 400 for one that is no session ETag
    (the document's pattern); whether it is the session's version is the update's 412."""
    if if_match is None:
        raise PreconditionRequired("updating a session needs If-Match: <ETag of the version read>")
    if not _is_session_etag(if_match.strip()):
        raise InvalidRequest(f"If-Match {if_match[:64]!r} is not a session ETag (e.g. \"3\")")
    return int(if_match.strip().removeprefix("W/").strip('"'))


async def create_session(call: Call) -> Response:
    body: SessionCreate = call.body
    session = await call.services.sessions.create(
        call.principal.subject, body.data, body.ttl_s, body.session_id
    )
    response = session_response(session, status_code=201)
    response.headers["Location"] = f"/v1/sessions/{public_id(session)}"
    return response


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


MAX_IF_MATCH_LENGTH = 64
IF_MATCH = HeaderParam(
    "If-Match",
    'The ETag of the version read (e.g. "3")',
    required=True,
    max_length=MAX_IF_MATCH_LENGTH,
    pattern=IF_MATCH_PATTERN,
)
UNKNOWN = {404: "Unknown or expired session, or another caller's"}
ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/sessions",
        create_session,
        "Create a session (with a new id, or one of your choosing)",
        "sessions",
        body=SessionCreate,
        response=SessionView,
        status=201,
        response_headers=("ETag", "Location"),
        extra_responses={409: "You already have a live session of that id (conflict)"},
    ),
    Endpoint(
        "GET",
        "/v1/sessions/{session_id}",
        get_session,
        "Read a session (and its ETag)",
        "sessions",
        response=SessionView,
        response_headers=("ETag",),
        extra_responses=UNKNOWN,
    ),
    Endpoint(
        "PATCH",
        "/v1/sessions/{session_id}",
        update_session,
        "Replace a session's data; needs If-Match",
        "sessions",
        body=SessionUpdate,
        response=SessionView,
        response_headers=("ETag",),
        headers=(IF_MATCH,),
        extra_responses={
            **UNKNOWN,
            412: "If-Match names a version the session is not at (precondition_failed)",
            428: "If-Match missing (precondition_required)",
        },
    ),
    Endpoint(
        "DELETE",
        "/v1/sessions/{session_id}",
        delete_session,
        "Delete a session",
        "sessions",
        status=204,
        extra_responses=UNKNOWN,
    ),
]
