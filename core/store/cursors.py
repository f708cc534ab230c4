"""The opaque cursor every store backend pages executions with: the last execution id
returned, urlsafe base64 without padding."""

from __future__ import annotations

import base64

from core.errors import InvalidRequest


def encode_cursor(execution_id: str) -> str:
    return base64.urlsafe_b64encode(execution_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The execution id a cursor names; `InvalidRequest` for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        execution_id = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError included
        raise InvalidRequest("invalid cursor") from None
    if not execution_id:
        raise InvalidRequest("invalid cursor")
    return execution_id
