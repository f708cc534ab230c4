"""The answers of the native API as typed models: what the OpenAPI document declares for each
success body. Handlers build these answers as plain dicts (no model on the hot path); the
schema tests, the fuzzer and the generated client check that the two agree."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from core.deferred_model import DeferredModel
from core.registry.policy import FunctionPolicy

ExecutionStatus = Literal["queued", "running", "succeeded", "failed", "timed_out"]
ExecutionMode = Literal["sync", "async", "dry_run"]
Timestamp = str
"""ISO 8601 with milliseconds and a UTC offset, e.g. 2026-12-06T09:47:49.123+00:00."""


class ProviderFacts(DeferredModel):
    """Which provider ran the function, and what it reported (request ids, ARNs, versions)."""

    model_config = ConfigDict(extra="allow")
    name: str
    function: str


class InvocationEnvelope(DeferredModel):
    """The answer to a sync or dry-run invocation (also a batch item of kind `invocation`)."""

    execution_id: str
    status: ExecutionStatus
    success: bool | None
    status_code: int | None
    result: Any = None
    error: dict[str, Any] | None = None
    duration_ms: float | None = None
    attempts: int
    function_version: int | None = None
    """The registry version that ran (invocations of a registered function by name)."""
    provider: ProviderFacts

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "execution_id": "0193a1f2c4d5e6f708192a3b4c5d6e7f",
                    "status": "succeeded",
                    "success": True,
                    "status_code": 200,
                    "result": {"message": "Hello, you!"},
                    "error": None,
                    "duration_ms": 3.2,
                    "attempts": 1,
                    "function_version": None,
                    "provider": {"name": "local", "function": "hello"},
                }
            ]
        },
    )


class Accepted(DeferredModel):
    """An async invocation was queued; poll `Location` (GET /v1/invocations/{id})."""

    execution_id: str
    status: ExecutionStatus
    """`queued` when new; an idempotent replay answers the execution's status now."""


class BlobReference(DeferredModel):
    """Where a payload, result or log too large for the record is kept: its size, SHA-256
    (hex) and media type, and, when it is not given inline, a signed URL that reads it with a
    plain GET until `url_expires_at` (on the local backend, a route of fnproxy's own)."""

    size: int
    sha256: str
    content_type: str
    url: str | None = None
    url_expires_at: Timestamp | None = None


class ExecutionRecord(DeferredModel):
    """One execution in full, as recorded: target and callback URL redacted."""

    execution_id: str
    target: dict[str, Any]
    provider: str
    function: str
    mode: ExecutionMode
    status: ExecutionStatus
    caller: str
    created_at: Timestamp
    updated_at: Timestamp
    expires_at: Timestamp
    timeout_s: float
    payload: Any = None
    payload_truncated: bool
    payload_blob: BlobReference | None
    result: Any = None
    result_truncated: bool
    result_blob: BlobReference | None
    status_code: int | None
    success: bool | None
    error: dict[str, Any] | None
    logs: str | None
    logs_truncated: bool
    logs_blob: BlobReference | None
    started_at: Timestamp | None
    finished_at: Timestamp | None
    duration_ms: float | None
    attempts: int
    provider_info: dict[str, Any]
    session_id: str | None
    session_version: int | None
    callback_url: str | None
    callback_result: dict[str, Any] | None
    idempotency_key: str | None
    function_version: int | None
    retry_policy: dict[str, Any] | None
    lease_takeovers: int
    traceparent: str | None
    """The invocation's W3C trace context: its trace id and its own span id."""
    tracestate: str | None
    client_context: dict[str, Any] | None = None
    """The caller's client context (the Lambda front's X-Amz-Client-Context, decoded)."""


class InvocationPage(DeferredModel):
    invocations: list[ExecutionRecord]
    next_cursor: str | None


class BatchInvocation(InvocationEnvelope):
    kind: Literal["invocation"]


class BatchAccepted(Accepted):
    kind: Literal["accepted"]


class BatchRejection(DeferredModel):
    """Why an item was refused before it ran (the problem's code, status and detail)."""

    model_config = ConfigDict(extra="allow")
    code: str
    status: int
    detail: str


class BatchRejected(DeferredModel):
    kind: Literal["rejected"]
    success: Literal[False]
    status: Literal["rejected"]
    error: BatchRejection


BatchItem = Annotated[BatchInvocation | BatchAccepted | BatchRejected, Field(discriminator="kind")]


class BatchAnswer(DeferredModel):
    responses: list[BatchItem]
    """One item per invocation, in the order sent: `kind` tells which shape it has."""
    total_count: int
    success_count: int
    failure_count: int


class StatsFigures(DeferredModel):
    count: int
    successes: int
    failures: int
    success_rate: float | None
    avg_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class StatsSummary(StatsFigures):
    by_function: dict[str, StatsFigures]
    since: float
    """The first bucket's start, epoch seconds."""
    bucket_s: int


class StatsPoint(DeferredModel):
    start: int
    """The step's start, epoch seconds."""
    invocations: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    """Latency percentiles; null for a step without invocations."""


class StatsSeries(DeferredModel):
    function: str | None
    """The function key asked for; null: every function's counts summed."""
    since: int
    """The first step's start (the asked since, down to a whole step), epoch seconds."""
    until: float
    """The end of the series (the asked until, at most now), epoch seconds."""
    step_s: int
    buckets: list[StatsPoint]
    """Every step from since up to until, oldest first, empty ones included."""


class ClientView(DeferredModel):
    client_id: str
    name: str
    scopes: list[str]
    created_at: Timestamp
    created_by: str
    revoked_at: Timestamp | None
    uses: int
    """Requests its tokens authenticated, written by each instance at most once a minute."""
    last_used_at: Timestamp | None
    """Its latest use as last written (up to a minute behind); null: never used."""


class ClientCreated(ClientView):
    client_secret: str
    """Shown once, in this answer only."""
    sigv4_secret: str
    """The AWS secret access key of the Lambda Invoke API (docs/lambda-api.md), whose access
    key id is the client_id: shown once, in this answer only."""


class ClientSigV4(DeferredModel):
    client_id: str
    sigv4_secret: str
    """The client's new SigV4 secret, in place of its former one: shown once, in this answer
    only."""


class ClientList(DeferredModel):
    clients: list[ClientView]


class ApiKeyView(DeferredModel):
    """A function's API key for `/invoke/{name}` (docs/invoke-platform.md), without its
    secret."""

    key_id: str
    function: str
    created_at: Timestamp
    created_by: str
    revoked: bool
    revoked_at: Timestamp | None
    uses: int
    """Calls it authenticated, written by each instance at most once a minute."""
    last_used_at: Timestamp | None
    """Its latest use as last written (up to a minute behind); null: never used."""


class ApiKeyCreated(ApiKeyView):
    api_key: str
    """The key to send as X-API-Key (`fk_<key_id>_<secret>`): shown once, in this answer only;
    fnproxy keeps only its hash."""


class ApiKeyList(DeferredModel):
    api_keys: list[ApiKeyView]


class Canary(DeferredModel):
    version: int
    weight: int


class VersionView(DeferredModel):
    version: int
    target: dict[str, Any]
    """The clear target for admins; others see it redacted."""
    created_at: Timestamp
    created_by: str


class VersionCreated(VersionView):
    active: bool


class FunctionView(DeferredModel):
    name: str
    description: str
    active_version: int
    latest_version: int
    canary: Canary | None
    policy: FunctionPolicy
    created_at: Timestamp
    created_by: str
    updated_at: Timestamp
    revision: int
    enabled: bool
    """False: every invocation is refused with 409 function_disabled."""
    aliases: dict[str, int]
    """Alias name -> the version it names (PUT .../aliases/{alias})."""


class FunctionDetail(FunctionView):
    versions: list[VersionView]
    """The newest versions (up to 100); GET .../versions pages through all."""


class FunctionPage(DeferredModel):
    functions: list[FunctionView]
    next_cursor: str | None


class VersionPage(DeferredModel):
    versions: list[VersionView]
    next_cursor: str | None


class ChangeView(DeferredModel):
    revision: int
    action: Literal[
        "created",
        "version_added",
        "activated",
        "rolled_back",
        "version_deleted",
        "canary_set",
        "canary_cleared",
        "policy_updated",
        "enabled",
        "disabled",
        "alias_set",
        "alias_deleted",
    ]
    at: Timestamp
    by: str
    from_version: int | None
    to_version: int | None
    detail: dict[str, Any]


class ChangePage(DeferredModel):
    changes: list[ChangeView]
    next_cursor: str | None


class LogEntry(DeferredModel):
    """An execution as a line of a log or feed: everything but payload, result and logs."""

    execution_id: str
    function: str
    version: int | None
    status: ExecutionStatus
    success: bool | None
    status_code: int | None
    mode: ExecutionMode
    caller: str
    duration_ms: float | None
    error: dict[str, Any] | None
    created_at: Timestamp
    finished_at: Timestamp | None


class LogPage(DeferredModel):
    executions: list[LogEntry]
    next_cursor: str | None


class ActivityPage(DeferredModel):
    activity: list[LogEntry]
    next_cursor: str | None


class SessionView(DeferredModel):
    session_id: str
    data: dict[str, Any]
    version: int
    """Also the ETag: send it back as If-Match to update."""
    created_at: Timestamp
    updated_at: Timestamp
    expires_at: Timestamp


class ProviderFunction(DeferredModel):
    """A function as its provider describes it: the provider's own details beside these."""

    model_config = ConfigDict(extra="allow")
    name: str
    provider: str


class ProviderFunctionPage(DeferredModel):
    functions: list[ProviderFunction]
    next_cursor: str | None


class CircuitState(DeferredModel):
    state: Literal["closed", "open", "half_open"]
    consecutive_failures: int
    retry_after_s: float


class Health(DeferredModel):
    """Status and version for anyone; the rest for a `read` token only."""

    status: Literal["ok", "degraded"]
    version: str
    checks: dict[str, str] | None = None
    """Each port's check: `ok`, or what failed."""
    module: str | None = None
    timestamp: Timestamp | None = None
    circuits: dict[str, CircuitState] | None = None


class FieldProblem(DeferredModel):
    loc: str
    """Where in the body, dotted (e.g. `target.url`); empty for the body itself."""
    msg: str
    type: str


class Problem(DeferredModel):
    """RFC 9457 problem details, with fnproxy's extension members (each only where it
    applies) and any member a seed route's old clients read."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    code: str
    """Stable and machine-readable, e.g. `egress_denied`, `validation_failed`."""
    instance: str | None = None
    errors: list[FieldProblem] | None = None
    """422: each field that broke the schema."""
    execution_id: str | None = None
    """The execution the failure was recorded as."""
    attempts: int | None = None
    function: str | None = None
    required_scope: str | None = None
    """403: the scope the caller lacks."""
    retry_after_s: float | None = None
    """429, 503: also sent as Retry-After (rounded up to whole seconds)."""
    last_status_code: int | None = None
    """502, 429 from an upstream: the status it last answered."""
    circuit: CircuitState | None = None
    """503 circuit_open: the circuit's state."""
    header: str | None = None
    """400 header_not_allowed: the refused header."""
    error: str | None = None
    """Token routes: the OAuth2 error (invalid_client, ...); seed routes: the detail again."""
    success: bool | None = None
    """Seed routes: always false."""
    unknown_scopes: list[str] | None = None
