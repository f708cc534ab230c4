"""Blob links: `GET /v1/blobs/{token}` reads a large payload, result or log through a signed,
expiring token (core/blobs/links.py), the local backend's signed URL. The token is the
authorization, as a cloud's signed URL is: no Bearer token is asked for.

The bytes come with the content type they were stored with, as an attachment, under a
sandboxing Content-Security-Policy and nosniff, so a function's HTML or script is never run
as fnproxy's own page; and never cached past the link's life."""

from __future__ import annotations

from starlette.responses import Response

from core.api.endpoints import PUBLIC, Call, Endpoint
from core.errors import NotFound

BLOB_HEADERS = {
    "Content-Disposition": "attachment",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-store",
}


async def read_blob(call: Call) -> Response:
    key = await call.services.blob_links.key_of(call.path("token"))
    blobs = call.services.blobs
    blob = await blobs.get(key) if blobs is not None else None
    if blob is None:
        raise NotFound("the object of this link no longer exists")
    # the stored type as it is (Starlette's media_type would add a charset to text types)
    return Response(blob.data, headers={**BLOB_HEADERS, "Content-Type": blob.content_type})


ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/blobs/{token}",
        read_blob,
        "Read a large payload, result or log through a signed, expiring link",
        "blobs",
        scope=PUBLIC,
        raw_response="The object's bytes, in the content type it was stored with",
        response_headers=("Content-Type", "Content-Disposition", "Content-Security-Policy"),
        extra_responses={
            403: "The link is malformed, altered or expired (link_refused)",
            404: "The link is valid but its object was deleted (not_found)",
        },
    ),
]
