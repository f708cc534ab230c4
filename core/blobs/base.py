"""The blobs port: large payloads, results and logs kept as objects, read back whole or through
a short-lived signed URL.

A key is a relative path of URL-safe segments (`executions/<id>/result`); a backend puts it under
its own prefix (BLOBS_PREFIX) in its bucket or folder. Deleting works by key prefix, so a
record's or a function's objects go with one call. Every backend (local files, S3, Cloud
Storage) implements `BlobStore` and passes the contract suite
`tests/contract/test_blobs_contract.py`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from core.errors import ServiceUnavailable

T = TypeVar("T")

MAX_KEY_LENGTH = 512
_SEGMENT = re.compile(r"[A-Za-z0-9_=-][A-Za-z0-9._=-]*")


class BlobsUnavailable(ServiceUnavailable):
    """The bucket or folder could not be reached or refused the request (a missing bucket, no
    permission, a network failure): what the backend's own library raised, by kind only."""

    code, title = "blobs_unavailable", "Blob storage unavailable"


async def reported(work: Awaitable[T], errors: tuple[type[BaseException], ...], action: str) -> T:
    """`work`'s result; any of `errors` it raises becomes `BlobsUnavailable` naming `action`
    and the error's kind (never its text, which may carry a URL or a token)."""
    try:
        return await work
    except errors as error:
        raise BlobsUnavailable(
            f"blob storage failed to {action}: {type(error).__name__}"
        ) from error


class InvalidBlobKey(ValueError):
    """A key that is empty, too long, absolute, or has a segment of other characters (`..`
    included): refused before it reaches a backend."""


def checked_key(key: str, *, prefix: bool = False) -> str:
    """`key` when it is one or more `/`-separated segments of letters, digits and `. _ = -`
    (base64url fits), none starting with `.` (so no `..`, no hidden file); a `prefix` may also
    end with `/`."""
    body = key[:-1] if prefix and key.endswith("/") else key
    if not body or len(key) > MAX_KEY_LENGTH:
        raise InvalidBlobKey(f"blob key must be 1 to {MAX_KEY_LENGTH} characters")
    if not all(_SEGMENT.fullmatch(segment) for segment in body.split("/")):
        raise InvalidBlobKey(f"blob key {key[:64]!r} has a segment that is not URL-safe")
    return key


MAX_CONTENT_TYPE_LENGTH = 255
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(;[ -~]*)?")


def checked_content_type(content_type: str) -> str:
    """`content_type` when it is a `type/subtype` media type (parameters allowed) on one line of
    printable ASCII; `ValueError` otherwise."""
    if len(content_type) > MAX_CONTENT_TYPE_LENGTH or not _CONTENT_TYPE.fullmatch(content_type):
        raise ValueError(f"not a media type: {content_type[:64]!r}")
    return content_type


@dataclass(frozen=True)
class Blob:
    data: bytes
    content_type: str


class BlobStore(Protocol):
    """Every method but `ping` raises `BlobsUnavailable` when the storage fails, and
    `InvalidBlobKey` (or `ValueError` for a content type) before it reaches it."""

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key` (replacing what was there)."""

    async def get(self, key: str) -> Blob | None:
        """The object under `key`, or None when there is none."""

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with `prefix`; how many there were."""

    async def signed_url(self, key: str, expires_in_s: int) -> str:
        """A URL that reads the object with a plain GET, without credentials, for
        `expires_in_s` seconds. The local backend's is a reference relative to fnproxy's own
        base URL (`/v1/blobs/<token>`); the clouds' are absolute."""

    async def ping(self) -> None:
        """Raise if the bucket or folder cannot be reached."""

    async def close(self) -> None: ...
