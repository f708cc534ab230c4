"""Domain records shared by services and store backends (plain dataclasses: cheap to build)."""

from __future__ import annotations

import random
import re
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from core.redaction import redact_target, redact_url

T = TypeVar("T")


class Status:
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"

    ALL = (QUEUED, RUNNING, SUCCEEDED, FAILED, TIMED_OUT)
    TERMINAL = frozenset({SUCCEEDED, FAILED, TIMED_OUT})
    OPEN = frozenset({QUEUED, RUNNING})


class Mode:
    SYNC = "sync"
    ASYNC = "async"
    DRY_RUN = "dry_run"

    ALL = (SYNC, ASYNC, DRY_RUN)


def new_id() -> str:
    """A 32-hex-digit id that sorts by creation time (48-bit ms clock + 80 random bits).

    The random part comes from `random` (seeded from the OS at start), not a system call per
    id: ids are unique, not secret - every record they name is access-checked."""
    millis = int(time.time() * 1000)
    return f"{millis:012x}{random.getrandbits(80):020x}"


ID_CLOCK_AHEAD_S = 86400.0
"""How far ahead of this instance's clock the clock of the instance that made an id may be."""
_ID = re.compile(r"[0-9a-f]{32}")


def id_time(value: str) -> float:
    """When `new_id` made the id `value` (epoch seconds). ValueError, saying why, for any
    string `new_id` cannot have given: not 32 lowercase hex digits, or a clock later than this
    instance's by more than ID_CLOCK_AHEAD_S (about 99% of uuid4 hex strings)."""
    if not _ID.fullmatch(value):
        raise ValueError("an fnproxy id is 32 lowercase hex digits")
    created = int(value[:12], 16) / 1000
    if created > time.time() + ID_CLOCK_AHEAD_S:
        raise ValueError("not an fnproxy id: its clock (the first 12 hex digits) is in the future")
    return created


def id_floor(epoch: float) -> str:
    """The smallest id `new_id` can give at `epoch`: ids at or after `epoch` sort at or above
    it, so a time range of records keyed by id is a range of ids."""
    return f"{max(int(epoch * 1000), 0):012x}{0:020x}"


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds")


INTERNAL_FIELDS = (
    "invoke_scopes",
    "sealed_target",
    "lease_owner",
    "lease_until",
    "announcement_pending",
    "parent_span_id",
)
"""Execution fields kept in the store but never shown to callers."""
BLOB_FIELDS = ("payload_blob", "result_blob", "logs_blob")


@dataclass
class Execution:
    """One invocation and everything recorded about it."""

    execution_id: str
    target: dict[str, Any]
    provider: str
    function: str
    mode: str
    status: str
    caller: str
    created_at: float
    updated_at: float
    expires_at: float
    timeout_s: float = 60.0
    payload: Any = None
    payload_truncated: bool = False
    result: Any = None
    result_truncated: bool = False
    status_code: int | None = None
    success: bool | None = None
    error: dict[str, Any] | None = None
    logs: str | None = None
    logs_truncated: bool = False
    payload_blob: dict[str, Any] | None = None
    """Where the payload is kept when the record is not (`core.invoke.archive`): the object's
    `key`, `size` in bytes, `sha256` (hex) and `content_type`; None when inline."""
    result_blob: dict[str, Any] | None = None
    logs_blob: dict[str, Any] | None = None
    started_at: float | None = None
    finished_at: float | None = None
    duration_ms: float | None = None
    attempts: int = 0
    provider_info: dict[str, Any] = field(default_factory=dict)
    session_id: str | None = None
    session_version: int | None = None
    callback_url: str | None = None
    callback_result: dict[str, Any] | None = None
    idempotency_key: str | None = None
    function_version: int | None = None
    """The registry version that ran, for an invocation of a registered function by name."""
    retry_policy: dict[str, Any] | None = None
    """A registered function's own retry policy (`max_retries`, `base_delay_s`), which
    replaces the service's default for this execution."""
    invoke_scopes: list[str] | None = None
    """The caller's invoke scopes when it named the target itself (None for a registered
    function): a same-origin redirect must still be within them."""
    sealed_target: str | None = None
    """The clear target and callback URL, sealed (`core.sealing`), when redaction masked
    anything in them: an async run needs them, and `target` and `callback_url` are only
    their redacted forms (`core.redaction`)."""
    lease_owner: str | None = None
    """The runner that holds the execution while it is `running` from the queue (an async run);
    None for a run inside the request that recorded it (sync) and before the first claim."""
    lease_until: float | None = None
    """When the lease of `lease_owner` ends unless renewed: after it, another runner may take
    the execution over (`ExecutionRepository.claim`). The store sets it: claim and renew."""
    lease_takeovers: int = 0
    """How often a runner took the execution over from one whose lease had expired (a runner
    that died or stalled mid-run): a count callers see, as each one may have run it again."""
    traceparent: str | None = None
    """The invocation's own W3C trace context (`core.tracing`): the trace it belongs to and
    its span id; each attempt's span is a child of that span."""
    tracestate: str | None = None
    """The caller's `tracestate`, passed on to the target unchanged."""
    parent_span_id: str | None = None
    """The caller's span id (None for a trace fnproxy started): the invocation span's parent."""
    client_context: dict[str, Any] | None = None
    """The caller's client context (Lambda's X-Amz-Client-Context, decoded: `client`,
    `custom`, `env`), which the function gets (`CallContext.client_context`). The caller's
    own data, kept and shown like the payload; at most 3583 characters as sent."""
    announcement_pending: bool = False
    """The outbox: set by the save that stores the outcome, cleared (with the stats count, in
    one atomic step) once its event went out (`ExecutionRepository.settle_announcement`)."""

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Execution:
        """The execution a stored record holds (its decoded JSON): `Execution(**record)` at a
        quarter of the CPU. CPython matches keyword arguments to parameters by identity, then
        by comparing strings; a decoded record's keys are never the parameters' own strings, so
        45 of them took about 10 us. A record with a field missing or unknown takes the
        constructor, which refuses it as before."""
        names = record.keys()
        if not (_EXECUTION_REQUIRED <= names and names <= _EXECUTION_FIELDS):
            return cls(**record)
        execution = object.__new__(cls)
        attributes = execution.__dict__
        attributes.update(_EXECUTION_DEFAULTS)
        for name, make in _EXECUTION_FACTORIES.items():
            attributes[name] = make()
        attributes.update(record)
        return execution

    @property
    def is_terminal(self) -> bool:
        return self.status in Status.TERMINAL

    @property
    def callback_pending(self) -> bool:
        """Whether the ended execution's callback has not been sent (nor given up on) yet."""
        return self.is_terminal and bool(self.callback_url) and self.callback_result is None

    @property
    def in_outbox(self) -> bool:
        """Whether the ended execution still owes its announcement or its callback."""
        return self.is_terminal and (self.announcement_pending or self.callback_pending)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_public_dict(self) -> dict[str, Any]:
        """The record as callers see it (API answers, callbacks): times in ISO 8601, target
        and callback URL redacted (records are stored redacted; this covers any older one).

        A new dict of the public fields, in declaration order. The values it changes (target,
        blob references, times) are new; the others are the record's own objects, not copies
        (`asdict` deep-copied every payload and result: ~190 us a record, most of a history
        page's time): read them, replace them, never change them in place."""
        attributes = self.__dict__
        record = {name: attributes[name] for name in _PUBLIC_FIELDS}
        record["target"] = redact_target(self.target)
        if self.callback_url is not None:
            record["callback_url"] = redact_url(self.callback_url)
        for name in BLOB_FIELDS:
            reference = record[name]
            if reference is not None:  # where it is stored is fnproxy's business alone
                record[name] = {key: value for key, value in reference.items() if key != "key"}
        for name in _TIME_FIELDS:
            record[name] = iso(record[name])
        return record


_EXECUTION_FIELDS = frozenset(f.name for f in fields(Execution))
_PUBLIC_FIELDS = tuple(f.name for f in fields(Execution) if f.name not in INTERNAL_FIELDS)
_TIME_FIELDS = ("created_at", "updated_at", "expires_at", "started_at", "finished_at")
_EXECUTION_REQUIRED = frozenset(
    f.name for f in fields(Execution) if f.default is MISSING and f.default_factory is MISSING
)
_EXECUTION_DEFAULTS = {f.name: f.default for f in fields(Execution) if f.default is not MISSING}
_EXECUTION_FACTORIES = {
    f.name: f.default_factory for f in fields(Execution) if f.default_factory is not MISSING
}


@dataclass
class Session:
    session_id: str
    owner: str
    data: dict[str, Any]
    version: int
    created_at: float
    updated_at: float
    expires_at: float

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Client:
    client_id: str
    name: str
    scopes: list[str]
    secret_hash: str
    created_at: float
    created_by: str
    revoked_at: float | None = None
    uses: int = 0
    """Requests its tokens authenticated, as flushed so far (`core.auth.usage`)."""
    last_used_at: float | None = None
    sigv4_sealed: str | None = None
    """Its SigV4 secret, sealed (`core.auth.clients`); None for a client created without one."""

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ApiKey:
    """A key that lets its holder invoke one registered function on the Invoke platform's
    front (`/invoke/{name}`, core.api.invoke_platform); only its hash is stored."""

    function: str
    key_id: str
    secret_hash: str
    created_at: float
    created_by: str
    function_created_at: float
    """When the function it was made for was registered: a function deleted and registered
    again under the name is another function, whose keys these are not."""
    revoked_at: float | None = None
    uses: int = 0
    """Calls it authenticated, as flushed so far (`core.auth.usage`)."""
    last_used_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IdempotencyRecord:
    caller: str
    key: str
    fingerprint: str
    execution_id: str
    expires_at: float


@dataclass
class StatsRollup:
    """Counters for one function in one time bucket, kept at write time."""

    function: str
    bucket_start: int
    count: int = 0
    successes: int = 0
    failures: int = 0
    duration_sum_ms: float = 0.0
    histogram: list[int] = field(default_factory=list)


@dataclass
class FunctionVersion:
    """One immutable version of a registered function: where it runs."""

    name: str
    version: int
    target: dict[str, Any]
    """A `core.targets` target as JSON (provider plus its fields)."""
    created_at: float
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


FUNCTION_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
"""A registered function's name: 1-128 letters, digits, '_', '-' or '.', starting with a letter
or digit (the document states it; the registry checks it)."""


@dataclass
class RegisteredFunction:
    """A logical function of the registry: its active version, canary split and policy.

    Exactly one version is active at any time: it is this record's one `active_version`
    field, and every change to the record is a conditional write on `revision`."""

    name: str
    description: str
    active_version: int
    latest_version: int
    """The highest version number ever given out; numbers are never reused."""
    policy: dict[str, Any]
    """A `core.registry.policy.FunctionPolicy` as JSON."""
    created_at: float
    created_by: str
    updated_at: float
    revision: int = 1
    """Bumped by every change; the store writes a change only over the revision it read."""
    canary: dict[str, int] | None = None
    """`{"version": n, "weight": percent}`: that share of invocations runs version n."""
    enabled: bool = True
    """False refuses every invocation (409 `function_disabled`). A record stored before the
    field existed reads as enabled."""
    aliases: dict[str, int] = field(default_factory=dict)
    """Alias name -> the version it names (`core.registry.aliases`). Kept in the record, so
    every alias change is a conditional write with its history entry; a record stored before
    the field existed reads as having none."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ChangeAction:
    CREATED = "created"
    VERSION_ADDED = "version_added"
    ACTIVATED = "activated"
    ROLLED_BACK = "rolled_back"
    VERSION_DELETED = "version_deleted"
    CANARY_SET = "canary_set"
    CANARY_CLEARED = "canary_cleared"
    POLICY_UPDATED = "policy_updated"
    ENABLED = "enabled"
    DISABLED = "disabled"
    ALIAS_SET = "alias_set"
    ALIAS_DELETED = "alias_deleted"


@dataclass
class VersionChange:
    """One entry of a registered function's change history (who, when, from, to)."""

    name: str
    revision: int
    """The function's revision this change made: one change per revision, so the history is
    gapless and sorts by it, newest first."""
    action: str
    at: float
    by: str
    from_version: int | None = None
    to_version: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None = None
