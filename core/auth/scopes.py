"""Scopes and the checks made on every request.

- `admin`: everything (it implies every other scope);
- `read`: history, stats, sessions and provider listings;
- `invoke`: any function;
- `invoke:<glob>`: functions whose key (`local:echo`, `http:example.com/fn`,
  `aws_lambda:my-fn`) matches the fnmatch glob, case-sensitively.

A token carries its scopes as one space-separated string (OAuth2 style).
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable

from core.auth.principal import Principal
from core.errors import Forbidden, ValidationFailed

ADMIN = "admin"
READ = "read"
INVOKE = "invoke"
INVOKE_PREFIX = "invoke:"
PLAIN_SCOPES = frozenset({ADMIN, READ, INVOKE})
MAX_SCOPE_CHARS = 256
"""The longest scope a client may be given: 32 of them (a client's most) keep its token well
under REST_MAX_HEADER_BYTES."""
WHITESPACE_CLASS = (
    r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""What Python's `str.isspace` calls whitespace (the separators of a `scope` claim), spelled out:
`\\s` is another set in each regex dialect (Python's, the Rust one pydantic uses, ECMA's)."""
SCOPE_PATTERN = rf"^(?:{ADMIN}|{READ}|{INVOKE}|{INVOKE_PREFIX}[^{WHITESPACE_CLASS}]+)$"
"""A known scope: admin, read, invoke, or `invoke:` and a glob without whitespace; the request
bodies' pattern, and the check itself (`is_known_scope`)."""
_is_scope = re.compile(SCOPE_PATTERN).fullmatch


def is_known_scope(scope: object) -> bool:
    return isinstance(scope, str) and _is_scope(scope) is not None


def validate_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes without duplicates, in order; `ValidationFailed` when empty or unknown."""
    scopes = list(scopes)
    unknown = [str(scope) for scope in scopes if not is_known_scope(scope)]
    if unknown:
        raise ValidationFailed(f"unknown scopes: {', '.join(unknown)}", unknown_scopes=unknown)
    if not scopes:
        raise ValidationFailed("at least one scope is required")
    return list(dict.fromkeys(scopes))


def format_scope(scopes: Iterable[str]) -> str:
    """The `scope` claim: scopes separated by spaces."""
    return " ".join(scopes)


@functools.lru_cache(maxsize=1024)
def parse_scope(scope: str) -> frozenset[str]:
    """The scopes of a `scope` claim (cached: tokens repeat the same few strings)."""
    return frozenset(scope.split())


def has_scope(principal: Principal, scope: str) -> bool:
    return ADMIN in principal.scopes or scope in principal.scopes


def require(principal: Principal, scope: str) -> None:
    if not has_scope(principal, scope):
        raise Forbidden(f"requires the {scope!r} scope", required_scope=scope)


def can_invoke(principal: Principal, function_key: str) -> bool:
    return scopes_allow_invoking(principal.scopes, function_key)


def scopes_allow_invoking(scopes: Iterable[str], function_key: str) -> bool:
    """Whether `scopes` (a principal's, or the `invoke_scopes` an execution kept) allow
    invoking `function_key`."""
    scopes = frozenset(scopes)
    if ADMIN in scopes or INVOKE in scopes:
        return True
    pattern = _invoke_pattern(scopes)
    return pattern is not None and pattern.match(function_key) is not None


def invoke_scopes(principal: Principal) -> list[str]:
    """The scopes that decide what `principal` may invoke, to check again later (a redirect)."""
    return sorted(
        scope
        for scope in principal.scopes
        if scope in (ADMIN, INVOKE) or scope.startswith(INVOKE_PREFIX)
    )


def require_invoke(principal: Principal, function_key: str) -> None:
    if not can_invoke(principal, function_key):
        raise Forbidden(f"not allowed to invoke {function_key!r}", function=function_key)


@functools.lru_cache(maxsize=1024)
def _invoke_pattern(scopes: frozenset[str]) -> re.Pattern[str] | None:
    """One compiled regex for all `invoke:<glob>` scopes of a scope set, or None."""
    globs = sorted(
        scope.removeprefix(INVOKE_PREFIX) for scope in scopes if scope.startswith(INVOKE_PREFIX)
    )
    if not globs:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(glob)})" for glob in globs))
