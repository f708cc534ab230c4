"""W3C trace context (`traceparent`, `tracestate`) for every invocation.

Where an invocation's trace comes from, first found wins:

1. the caller's `traceparent` (and `tracestate`) request header or gRPC metadata;
2. the platform's header: AWS X-Ray `X-Amzn-Trace-Id` (`Root=1-{8 hex}-{24 hex};Parent={16
   hex};Sampled=1`) or Google Cloud Trace `X-Cloud-Trace-Context` (`{32 hex}/{decimal span
   id};o=1`), converted;
3. the Lambda runtime's `_X_AMZN_TRACE_ID` environment variable (same format as the header);
4. a fresh trace.

A header that is too long or malformed is ignored (the next source is tried), never an error:
trace context is a hint, not part of the request. The invocation gets a span id of its own,
a child of the caller's span (`TraceContext.child`); each attempt gets another, a child of the
invocation's, and that is the `traceparent` its target sees. Ids come from `random` (seeded
from the OS), as execution ids do: they are unique, not secret.

The request's headers reach the invocation service through a context variable
(`incoming_headers`), set by the API middleware and the gRPC calls for the request's task, and
by the SQS, SNS and Pub/Sub deliveries from a message's attributes of the same names (an
invocation request another system queued).
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.models import Execution

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
AMZN_HEADER = "x-amzn-trace-id"
CLOUD_TRACE_HEADER = "x-cloud-trace-context"
AMZN_ENV = "_X_AMZN_TRACE_ID"
HEADERS = (TRACEPARENT, TRACESTATE, AMZN_HEADER, CLOUD_TRACE_HEADER)
"""The request headers (lower case) a trace is taken from."""

MAX_TRACEPARENT_LENGTH = 256
"""A future version's traceparent may be longer than version 00's 55 characters; past this it
is not one."""
MAX_TRACESTATE_LENGTH = 512
"""What the W3C recommends every vendor propagate at least; a longer tracestate is dropped
whole (cutting members could keep a half of some vendor's state)."""
MAX_TRACESTATE_MEMBERS = 32
MAX_PLATFORM_HEADER_LENGTH = 256
SAMPLED = "01"
NOT_SAMPLED = "00"

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_TRACESTATE_MEMBER = re.compile(
    r"(?:[a-z0-9][_0-9a-z*/-]{0,240}@[a-z][_0-9a-z*/-]{0,13}|[a-z][_0-9a-z*/-]{0,255})"
    r"=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
)
_AMZN_ROOT = re.compile(r"1-([0-9a-f]{8})-([0-9a-f]{24})")
_SPAN = re.compile(r"[0-9a-f]{16}")
_CLOUD_TRACE = re.compile(r"([0-9a-fA-F]{32})(?:/([0-9]{1,20}))?(?:;o=([01]))?")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16

Lookup = Callable[[str], str | None]
"""A header's value by its lower-case name, or None."""

incoming_headers: ContextVar[dict[str, str] | None] = ContextVar(
    "fnproxy_trace_headers", default=None
)
"""The trace headers (`HEADERS`, lower case) of the request being served, when it sent any."""


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    """32 lowercase hex digits, not all zero."""
    span_id: str
    """16 lowercase hex digits, not all zero: the span this context names."""
    flags: str = SAMPLED
    state: str | None = None
    """The `tracestate` header's value, passed on unchanged."""

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    @property
    def sampled(self) -> bool:
        return int(self.flags, 16) & 1 == 1

    def child(self) -> TraceContext:
        """The same trace, with a new span id (a span this one is the parent of)."""
        return TraceContext(self.trace_id, new_span_id(), self.flags, self.state)


def new_span_id() -> str:
    return f"{random.getrandbits(64) or 1:016x}"


def fresh() -> TraceContext:
    return TraceContext(f"{random.getrandbits(128) or 1:032x}", new_span_id())


def parse_traceparent(value: str, state: str | None = None) -> TraceContext | None:
    """The context a `traceparent` (and `tracestate`) header names; None when malformed. A
    tracestate that is malformed or too long is dropped, the traceparent kept."""
    if len(value) > MAX_TRACEPARENT_LENGTH:
        return None
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return TraceContext(trace_id, span_id, flags, checked_tracestate(state))


def checked_tracestate(value: str | None) -> str | None:
    """`value` when it is a well-formed tracestate within the bounds, else None."""
    if not value or len(value) > MAX_TRACESTATE_LENGTH:
        return None
    members = [member.strip() for member in value.split(",") if member.strip()]
    if not members or len(members) > MAX_TRACESTATE_MEMBERS:
        return None
    if not all(_TRACESTATE_MEMBER.fullmatch(member) for member in members):
        return None
    return ",".join(members)


def parse_amzn(value: str) -> TraceContext | None:
    """An X-Ray trace header (`Root=...;Parent=...;Sampled=...`) as a context; None when it
    has no well-formed Root. Without a Parent the span id is new."""
    if len(value) > MAX_PLATFORM_HEADER_LENGTH:
        return None
    fields = dict(part.strip().partition("=")[::2] for part in value.split(";"))
    root = _AMZN_ROOT.fullmatch(fields.get("Root", ""))
    if root is None or root.group(1) + root.group(2) == _ZERO_TRACE:
        return None
    parent = fields.get("Parent", "")
    valid_parent = _SPAN.fullmatch(parent) and parent != _ZERO_SPAN
    span_id = parent if valid_parent else new_span_id()
    flags = SAMPLED if fields.get("Sampled") == "1" else NOT_SAMPLED
    return TraceContext(root.group(1) + root.group(2), span_id, flags)


def parse_cloud_trace(value: str) -> TraceContext | None:
    """A Cloud Trace header (`TRACE_ID/SPAN_ID;o=1`, the span id in decimal) as a context;
    None when malformed. A missing or out-of-range span id is replaced by a new one."""
    if len(value) > MAX_PLATFORM_HEADER_LENGTH:
        return None
    match = _CLOUD_TRACE.fullmatch(value.strip())
    if match is None or match.group(1) == _ZERO_TRACE:
        return None
    trace_id, span, sampled = match.group(1).lower(), match.group(2), match.group(3)
    span_number = int(span) if span else 0
    span_id = f"{span_number:016x}" if 0 < span_number < 2**64 else new_span_id()
    return TraceContext(trace_id, span_id, SAMPLED if sampled == "1" else NOT_SAMPLED)


def from_lookup(lookup: Lookup) -> TraceContext | None:
    """The caller's context from its headers (see the module docstring), or None."""
    traceparent = lookup(TRACEPARENT)
    if traceparent:
        found = parse_traceparent(traceparent, lookup(TRACESTATE))
        if found is not None:
            return found
    amzn = lookup(AMZN_HEADER)
    if amzn and (found := parse_amzn(amzn)) is not None:
        return found
    cloud = lookup(CLOUD_TRACE_HEADER)
    if cloud and (found := parse_cloud_trace(cloud)) is not None:
        return found
    return None


def caller_context() -> TraceContext | None:
    """The context of the request being served (`incoming_headers`), else the Lambda
    runtime's, else None."""
    headers = incoming_headers.get()
    if headers:
        found = from_lookup(headers.get)
        if found is not None:
            return found
    amzn = os.environ.get(AMZN_ENV)
    return parse_amzn(amzn) if amzn else None


def for_invocation() -> tuple[TraceContext, str | None]:
    """A new invocation's own context, and its parent's span id (None for a fresh trace)."""
    caller = caller_context()
    if caller is None:
        return fresh(), None
    return caller.child(), caller.span_id


def recorded_trace(execution: Execution) -> TraceContext:
    """The context `execution` recorded; a record from before tracing gets a fresh one."""
    if execution.traceparent is not None:
        found = parse_traceparent(execution.traceparent, execution.tracestate)
        if found is not None:
            return found
    trace = fresh()
    execution.traceparent = trace.traceparent
    return trace


def trace_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str] | None:
    """The trace headers among `pairs` (name, value; any case), or None when there are none."""
    found = {name.lower(): value for name, value in pairs if name.lower() in HEADERS}
    return found or None


def message_trace_headers(attributes: Mapping[str, Any] | None) -> dict[str, str] | None:
    """The trace headers among a queue message's attributes, whose values are plain strings
    (Pub/Sub), `{"stringValue": ...}` (an SQS record) or `{"Value": ...}` (an SNS record)."""
    pairs = ((name, _attribute_text(value)) for name, value in (attributes or {}).items())
    return trace_headers((name, value) for name, value in pairs if value is not None)


def _attribute_text(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("stringValue", value.get("Value"))
    return value if isinstance(value, str) else None


class serving:  # lower case, as contextlib.suppress: it is used as a function
    """Within the block, `caller_context` reads `headers`."""

    __slots__ = ("_headers", "_token")

    def __init__(self, headers: dict[str, str] | None) -> None:
        self._headers = headers

    def __enter__(self) -> None:
        self._token = incoming_headers.set(self._headers)

    def __exit__(self, *exc_info: object) -> None:
        incoming_headers.reset(self._token)
