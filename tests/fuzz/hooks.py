"""Schemathesis hooks of the fuzz test (loaded through SCHEMATHESIS_HOOKS).

An Idempotency-Key is single-use: the same key with another request is a 422
`idempotency_key_reused` (as draft-ietf-httpapi-idempotency-key-header says). Generated cases
repeat key values (deterministic generation starts every operation from the same simple
values), so a valid request would meet a key an earlier, different request used; each case
gets its own key instead: the generated value with a number of its own appended (still within
the documented 255 characters). The replay of a key is tested in tests/api.
"""

from __future__ import annotations

import itertools

import schemathesis

IDEMPOTENCY_KEY = "idempotency-key"
MAX_KEY_CHARS = 255
_numbers = itertools.count(1)


@schemathesis.hook
def before_call(context, case, kwargs):
    """Every phase's requests pass here (the map_* hooks miss the coverage phase's)."""
    headers = case.headers or {}
    for name, value in list(headers.items()):
        if name.lower() == IDEMPOTENCY_KEY and isinstance(value, str):
            suffix = f"~{next(_numbers)}"
            headers[name] = value[: MAX_KEY_CHARS - len(suffix)] + suffix
