"""HTTP Basic client credentials (`Authorization: Basic base64(client_id:client_secret)`), as
the token route takes them (OAuth2 `client_secret_basic`) and the OpenWhisk front takes them on
every request."""

from __future__ import annotations

import base64
from urllib.parse import unquote_plus

from core.errors import Unauthorized

MAX_BASIC_HEADER = 1024
"""Longest Basic Authorization header read: the longest client_id and secret the token route
takes (128 + 256 characters) encode to about 520."""


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """The client id and secret of a Basic header (None: the header is not Basic). Each part is
    form-urlencoded first (RFC 6749 §2.3.1; fnproxy's ids and secrets are URL-safe, so a caller
    that does not encode them, Swagger UI or the OpenWhisk clients, is understood too). A
    malformed header is a failed authentication: 401."""
    if not header or not header.lower().startswith("basic "):
        return None
    if len(header) > MAX_BASIC_HEADER:
        raise Unauthorized("Basic authorization header too long")
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error and UnicodeDecodeError both are
        raise Unauthorized("malformed Basic authorization header") from None
    client_id, colon, client_secret = decoded.partition(":")
    if not (colon and client_id and client_secret):
        raise Unauthorized("Basic authorization needs client_id:client_secret")
    return unquote_plus(client_id), unquote_plus(client_secret)
