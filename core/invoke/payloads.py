"""Size caps for what history keeps, and request fingerprints for idempotency keys."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

TRUNCATION_MARK = "...[truncated]"


def cap(value: Any, max_bytes: int) -> tuple[Any, bool]:
    """`value` itself when its JSON form fits in `max_bytes`, else a prefix of that form as a
    string ending in a truncation mark; the flag says whether it was cut."""
    if value is None:
        return None, False
    encoded = value.encode() if isinstance(value, str) else orjson.dumps(value)
    if len(encoded) <= max_bytes:
        return value, False
    prefix = encoded[: max(0, max_bytes - len(TRUNCATION_MARK))].decode("utf-8", errors="ignore")
    return prefix + TRUNCATION_MARK, True


def fingerprint(*parts: Any) -> str:
    """A stable digest of a request, so one Idempotency-Key cannot stand for two requests."""
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()
