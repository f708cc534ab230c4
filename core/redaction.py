"""Redaction at the edge of the record: what a target carries to reach its function (header
values, URL userinfo, query values) is used for the call, and stored, returned, published and
logged only masked. Header names and query keys stay, so a record still says what was called.

Every function here is idempotent: redacting a redacted value changes nothing."""

from __future__ import annotations

import functools
import re
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

MASK = "***"
URL_FIELDS = ("url",)
"""Target fields that hold a URL (http and gcp_functions url targets)."""
_URL_IN_TEXT = re.compile(r"""https?://[^\s'"<>]+""", re.IGNORECASE)


def redact_target(target: dict[str, Any]) -> dict[str, Any]:
    """`target` (a `core.targets` target as JSON) with every header value masked and every
    URL field passed through `redact_url`; a new dict, `target` is left as it is."""
    redacted = dict(target)
    if isinstance(target.get("headers"), dict):
        redacted["headers"] = {name: MASK for name in target["headers"]}
    for name in URL_FIELDS:
        if isinstance(target.get(name), str):
            redacted[name] = redact_url(target[name])
    return redacted


@functools.lru_cache(maxsize=1024)  # callers repeat the same few URLs
def redact_url(url: str) -> str:
    """`url` with its userinfo (user and password), every query value and its fragment masked.
    A URL that does not parse is masked whole: it cannot be shown safely."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return MASK
    if not (parts.username or parts.password or parts.query or parts.fragment):
        return url
    return urlunsplit(
        (
            parts.scheme,
            _redacted_netloc(parts),
            parts.path,
            _redacted_query(parts.query),
            MASK if parts.fragment else "",
        )
    )


def redact_urls_in(text: str) -> str:
    """`text` (an error message, say) with every http(s) URL in it passed through `redact_url`."""
    return _URL_IN_TEXT.sub(lambda found: redact_url(found.group()), text)


def _redacted_netloc(parts: SplitResult) -> str:
    if parts.username is None and parts.password is None:
        return parts.netloc
    host = parts.netloc.rpartition("@")[2]
    userinfo = MASK if parts.password is None else f"{MASK}:{MASK}"
    return f"{userinfo}@{host}"


def _redacted_query(query: str) -> str:
    """Each `key=value` as `key=***`; a part without `=` (`?secret`) is all value."""
    if not query:
        return ""
    return "&".join(
        f"{part.partition('=')[0]}={MASK}" if "=" in part else MASK for part in query.split("&")
    )
