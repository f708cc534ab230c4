"""Where an execution's payload, result and logs are kept: in the record up to
BLOBS_INLINE_BYTES each, above it whole in the blobs port, the record keeping a reference
(`<part>_blob`: key, size, SHA-256, content type). So every record fits its store's item
(DynamoDB's 400 KB with three parts at the default 64 KiB) and nothing is cut. When the
archive keeps its objects longer than the store keeps records (BLOBS_RETENTION_DAYS above
HISTORY_RETENTION_DAYS), every part goes to blobs, so the content outlives its record. A deployment
without blobs (a cloud one without BLOBS_BUCKET) cuts each part to MAX_STORED_BYTES as before
and marks it `<part>_truncated`.

An object's key is `functions/<function key>/<execution id>/<part>`, the function key as
base64url (its SHA-256 when that would be too long), so one prefix holds a function's objects
and one a record's. Deleting a registered function removes its objects (`forget`); its records
stay until their TTL, their archived parts then answering 404. A record's expiry leaves its
objects to the bucket's lifecycle rule (locally, nothing expires them).

Reading back (`shown`): a part up to BLOBS_READ_INLINE_BYTES comes inline, a larger one (or any
with `inline=False`) as a signed URL that lives BLOBS_URL_TTL_S, only in the answer to a caller
who may read the record, and never logged."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson

from core.blobs.base import Blob, BlobStore, BlobsUnavailable
from core.errors import NotFound
from core.invoke.payloads import cap
from core.models import Execution, iso

logger = logging.getLogger("fnproxy.archive")

PARTS = ("payload", "result", "logs")
JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
MAX_FUNCTION_SEGMENT = 256
"""A base64url function key longer than this is named by its SHA-256 instead (a blob key has
at most 512 characters; a padded base64 form is never 71 characters long, so never a digest)."""


@dataclass(frozen=True)
class ArchiveLimits:
    inline_bytes: int
    """BLOBS_INLINE_BYTES: a part's encoded size up to which the record keeps it itself."""
    max_stored_bytes: int
    """MAX_STORED_BYTES: where a part is cut when there are no blobs."""
    read_inline_bytes: int
    """BLOBS_READ_INLINE_BYTES: an archived part up to this size is read back inline."""
    url_ttl_s: int
    """BLOBS_URL_TTL_S: how long a signed URL handed to a reader works."""
    archive_all: bool = False
    """Every part is archived, whatever its size: the archive keeps its objects longer than
    the store keeps records (BLOBS_RETENTION_DAYS above HISTORY_RETENTION_DAYS)."""


def function_segment(function: str) -> str:
    """The key segment naming `function`'s objects."""
    encoded = base64.urlsafe_b64encode(function.encode()).decode()
    if len(encoded) <= MAX_FUNCTION_SEGMENT:
        return encoded
    return "sha256-" + hashlib.sha256(function.encode()).hexdigest()


def function_prefix(function: str) -> str:
    """The prefix of every object of `function`'s executions."""
    return f"functions/{function_segment(function)}/"


def part_key(execution: Execution, part: str) -> str:
    return f"{function_prefix(execution.function)}{execution.execution_id}/{part}"


def _encoded(part: str, value: Any) -> tuple[bytes, str]:
    """A part's bytes and media type: logs as UTF-8 text, payload and result as JSON."""
    if part == "logs":
        return value.encode(), TEXT_TYPE
    return orjson.dumps(value), JSON_TYPE


def _decoded(data: bytes, content_type: str) -> Any:
    return orjson.loads(data) if content_type == JSON_TYPE else data.decode()


class Archive:
    def __init__(self, blobs: BlobStore | None, limits: ArchiveLimits) -> None:
        self._blobs = blobs
        self._limits = limits

    async def keep(self, execution: Execution, part: str, value: Any) -> None:
        """Set `execution`'s `part` to `value`: inline when small enough, else archived (the
        record keeps the reference), or cut when there are no blobs. When the archive fails,
        the record keeps a cut copy and a warning says so: a run's outcome is recorded all
        the same."""
        setattr(execution, f"{part}_blob", None)
        setattr(execution, f"{part}_truncated", False)
        setattr(execution, part, value)
        if self._blobs is None or value is None:
            self._cut(execution, part, value)
            return
        data, content_type = _encoded(part, value)
        if len(data) <= self._limits.inline_bytes and not self._limits.archive_all:
            return
        key = part_key(execution, part)
        try:
            await self._blobs.put(key, data, content_type)
        except BlobsUnavailable as failed:
            logger.warning("%s of %s kept cut: %s", part, execution.execution_id, failed.detail)
            self._cut(execution, part, value)
            return
        setattr(execution, part, None)
        setattr(execution, f"{part}_blob", _reference(key, data, content_type))

    def _cut(self, execution: Execution, part: str, value: Any) -> None:
        kept, truncated = cap(value, self._limits.max_stored_bytes)
        setattr(execution, part, kept)
        setattr(execution, f"{part}_truncated", truncated)

    async def full(self, execution: Execution, part: str) -> Any:
        """`part` of `execution` whole: the record's, or read back from the archive.
        `NotFound` when its object is gone (or the deployment lost its blobs)."""
        reference = getattr(execution, f"{part}_blob")
        if reference is None:
            return getattr(execution, part)
        blob = await self._read(reference)
        if blob is None:
            raise NotFound(f"the archived {part} of execution {execution.execution_id} is gone")
        return _decoded(blob.data, reference["content_type"])

    async def restored(self, execution: Execution) -> Execution:
        """A copy of `execution` with every archived part read back into the record."""
        parts = {part: await self.full(execution, part) for part in PARTS}
        return dataclasses.replace(execution, **parts)

    async def shown(self, execution: Execution, *, inline: bool = True) -> dict[str, Any]:
        """The record as a reader sees it: each archived part inline (up to
        BLOBS_READ_INLINE_BYTES, when `inline`), else its reference with a signed URL (also
        when its object is gone: the URL then answers 404)."""
        record = execution.to_public_dict()
        for part in PARTS:
            reference = getattr(execution, f"{part}_blob")
            if reference is None or self._blobs is None:
                continue
            if inline and reference["size"] <= self._limits.read_inline_bytes:
                blob = await self._read(reference)
                if blob is not None:
                    record[part] = _decoded(blob.data, reference["content_type"])
                    continue
            ttl_s = self._limits.url_ttl_s
            record[f"{part}_blob"] |= {
                "url": await self._blobs.signed_url(reference["key"], ttl_s),
                "url_expires_at": iso(time.time() + ttl_s),
            }
        return record

    async def forget(self, function: str) -> int:
        """Delete every object of `function`'s executions; how many there were.
        `BlobsUnavailable` when the storage fails (nothing is then known to be gone)."""
        if self._blobs is None:
            return 0
        deleted = await self._blobs.delete_prefix(function_prefix(function))
        logger.info("deleted %d archived objects of function %s", deleted, function)
        return deleted

    async def _read(self, reference: dict[str, Any]) -> Blob | None:
        return await self._blobs.get(reference["key"]) if self._blobs is not None else None


def _reference(key: str, data: bytes, content_type: str) -> dict[str, Any]:
    return {
        "key": key,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "content_type": content_type,
    }
