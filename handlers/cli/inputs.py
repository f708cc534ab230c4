"""The CLI's input, parsed before anything is sent: JSON payloads (inline, a file or stdin),
targets, batch files, times. Every mistake is a `UsageError` naming where it is."""

from __future__ import annotations

import json
import math
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from handlers.cli.errors import UsageError

TARGET_FIELDS = {
    "local": "function",
    "http": "url",
    "aws_lambda": "function",
    "gcp_functions": "function",
    "openwhisk": "action",
}
"""Each provider's field that `PROVIDER:NAME` fills."""

DATA_HELP = (
    'JSON: inline when it starts with { [ " or a number, or is true, false or null; '
    "@FILE or a FILE path for a file; - for stdin"
)


def parse_json(text: str, where: str, line_offset: int = 0) -> Any:
    """`text` as JSON; `where` says what it is ("of batch.jsonl") and `line_offset` where its
    first line sits in that file."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        at = f"line {error.lineno + line_offset} column {error.colno}"
        raise UsageError(f"payload: invalid JSON at {at} {where}: {error.msg}") from None


def read_source(source: str, what: str) -> tuple[str, str]:
    """The text of `-` (stdin) or a file, with how a message names it."""
    if source == "-":
        return sys.stdin.read(), "of stdin"
    try:
        return Path(source).read_text(encoding="utf-8"), f"of {source}"
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise UsageError(f"{what}: cannot read {source}: {reason}") from None


INLINE_JSON = re.compile(r'\s*(?:[{\["\d]|-\d|(?:true|false|null)\s*$)')


def read_data(source: str | None, what: str = "payload") -> Any:
    """DATA_HELP's rule, which looks only at the value, never at which files exist: None when
    nothing is given (or the input is blank)."""
    if source is None:
        return None
    if source.startswith("@"):
        text, where = read_source(source[1:], what)
    elif source == "-" or not INLINE_JSON.match(source):
        text, where = read_source(source, what)
    else:
        text, where = source, "of the inline value"
    return parse_json(text, where) if text.strip() else None


def read_object(source: str | None, what: str) -> dict[str, Any] | None:
    """`read_data` that must be a JSON object (a session's data, a policy)."""
    value = read_data(source, what)
    if value is not None and not isinstance(value, dict):
        raise UsageError(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


def parse_target(text: str) -> dict[str, Any] | str:
    """`local:echo`, `http:https://host/fn`, `aws_lambda:name`, ... or a JSON target object;
    a bare NAME (no colon) is a registered function's name, returned as the string."""
    if text.lstrip().startswith("{"):
        target = parse_json(text, "of the target")
        if not isinstance(target, dict):
            raise UsageError("target: expected a JSON object")
        return target
    provider, sep, name = text.partition(":")
    if not sep:
        return text
    if provider not in TARGET_FIELDS or not name:
        raise UsageError(
            f"target {text!r}: expected a registered function's NAME or PROVIDER:NAME with "
            f"PROVIDER one of {', '.join(TARGET_FIELDS)}"
        )
    field = "url" if provider == "gcp_functions" and "://" in name else TARGET_FIELDS[provider]
    return {"provider": provider, field: name}


def provider_target(text: str) -> dict[str, Any]:
    """A target a version runs: `parse_target` that refuses a bare name."""
    target = parse_target(text)
    if isinstance(target, str):
        raise UsageError(f"target {text!r}: expected PROVIDER:NAME (e.g. local:echo) or JSON")
    return target


def read_invocations(source: str) -> tuple[list[dict[str, Any]], list[str]]:
    """A JSON document (`{"invocations": [...]}`, a list, or one invocation) or JSON lines;
    with each item's place ("line 3 of batch.jsonl", "item 3 of batch.json") for messages."""
    text, where = read_source(source, "batch")
    name = where.removeprefix("of ")
    try:
        document = json.loads(text) if text.strip() else []
    except json.JSONDecodeError:
        if text.lstrip().startswith("["):
            parse_json(text, where)  # names the error in the document
        items, places = json_lines(text, where)
    else:
        items = document.get("invocations", [document]) if isinstance(document, dict) else document
        if not isinstance(items, list):
            raise UsageError(f'batch: {name} is neither a list nor {{"invocations": [...]}}')
        places = [f"item {n} of {name}" for n in range(1, len(items) + 1)]
    for item, place in zip(items, places, strict=True):
        if not isinstance(item, dict):
            raise UsageError(f"batch: {place} is not a JSON object")
    if not items:
        raise UsageError(f"batch: nothing to run, {name} has no invocations")
    return items, places


def json_lines(text: str, where: str) -> tuple[list[Any], list[str]]:
    """Each non-blank line's JSON value, and its place."""
    items, places = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            items.append(parse_json(line, where, line_offset=number - 1))
            places.append(f"line {number} {where}")
    return items, places


DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float | None = None) -> str:
    """A `--since` as the API takes it: `30m`, `1h`, `2d` (that long ago) become epoch seconds;
    epoch seconds or an ISO 8601 time pass as they are, for the server to judge their range."""
    found = DURATION.match(text)
    if not found:
        return checked_time(text.strip())
    seconds = float(found.group(1)) * UNIT_SECONDS[found.group(2).lower()]
    moment = (time.time() if now is None else now) - seconds
    if not math.isfinite(moment) or moment < 0:
        raise UsageError(f"--since {text!r} reaches back before 1970")
    return str(int(moment))


def checked_time(text: str) -> str:
    """`text` if it is epoch seconds or an ISO 8601 time (the forms GET /v1/stats reads)."""
    for parse in (float, lambda t: datetime.fromisoformat(t.upper().replace("Z", "+00:00"))):
        try:
            parse(text)
            return text
        except ValueError:
            continue
    raise UsageError(
        f"--since {text!r}: expected 30m, 1h, 2d (ago), epoch seconds or an ISO 8601 time"
    )


def positive_seconds(text: str) -> float:
    """A number of seconds above 0 (and finite), for `--timeout` and its FNPROXY_TIMEOUT."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or not math.isfinite(seconds):
        raise UsageError(f"--timeout: expected a positive number of seconds, got {text!r}")
    return seconds
