"""Size caps for what history keeps, and request fingerprints for idempotency keys."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

TRUNCATION_MARK = "...[truncated]"


def encoded_size(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, (bytes, str)):
        return len(value)
    return len(orjson.dumps(value))


def cap(value: Any, max_bytes: int) -> tuple[Any, bool]:
    """`value` itself when its JSON form fits in `max_bytes`, else a prefix of that form as a
    string ending in a truncation mark; the flag says whether it was cut."""
    if value is None:
        return None, False
    text = value if isinstance(value, str) else None
    encoded = text.encode() if text is not None else _as_bytes(value)
    if len(encoded) <= max_bytes:
        return value, False
    prefix = encoded[: max(0, max_bytes - len(TRUNCATION_MARK))].decode("utf-8", errors="ignore")
    return prefix + TRUNCATION_MARK, True


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return orjson.dumps(value)


def fingerprint(*parts: Any) -> str:
    """A stable digest of a request, so one Idempotency-Key cannot stand for two requests."""
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()
