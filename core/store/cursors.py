"""The opaque cursor every store backend pages with: the last key returned (an execution id, a
function name, a version number, a change id), urlsafe base64 without padding."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TypeVar

from core.errors import CursorNotFound, InvalidRequest
from core.models import Page

T = TypeVar("T")
NO_SUCH_PAGE = "no such page: a cursor is the next_cursor of this listing's previous page"


def encode_cursor(key: str | int) -> str:
    return base64.urlsafe_b64encode(str(key).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The key a cursor names; `CursorNotFound` for one no listing gave."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError included
        raise CursorNotFound(NO_SUCH_PAGE) from None
    if not key:
        raise CursorNotFound(NO_SUCH_PAGE)
    return key


def decode_version_cursor(cursor: str) -> int:
    """The number a cursor of a version or revision listing names."""
    key = decode_cursor(cursor)
    if not key.isdigit():
        raise CursorNotFound(NO_SUCH_PAGE)
    return int(key)


def check_limit(limit: int) -> None:
    """A page holds at least one item."""
    if limit < 1:
        raise InvalidRequest("limit must be at least 1")


def page_of(fetched: list[T], limit: int, key: Callable[[T], str | int]) -> Page[T]:
    """The page of a query that fetched up to `limit + 1` items: the first `limit`, with a
    cursor after the last of them when there was one more."""
    items = fetched[:limit]
    return Page(items, encode_cursor(key(items[-1])) if len(fetched) > limit else None)
