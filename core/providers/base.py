"""The provider port: one small interface per target platform.

A provider turns one attempt at an invocation into an `InvocationOutcome`, or raises:

- `TransientFailure`  - the attempt may succeed if repeated (connection error, 429, 502/503/504,
  throttling); the invocation service retries it with backoff, honouring `retry_after_s`;
- `core.errors.FunctionNotFound` / `PayloadTooLarge` / `InvalidRequest` - the caller's mistake;
- `core.errors.EgressDenied` / `ResponseTooLarge` - refused by policy: recorded, never retried;
- `asyncio.TimeoutError` is never raised by providers: the service enforces the deadline.

A function that was reached and failed (its own error, a 4xx/500 answer) is an outcome with
`success=False`, never an exception: it is not retried.

A provider whose platform may take a call before its result is known (an outcome with
`settled=False`) can also be a `SettlingProvider`: asked later, it tells the outcome.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from core.errors import RateLimited, UpstreamUnavailable
from core.models import Execution, Page

T = TypeVar("T")


class TransientFailure(Exception):
    def __init__(
        self, reason: str, *, status_code: int | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.retry_after_s = retry_after_s


@dataclass
class InvocationOutcome:
    success: bool | None
    """None only while not settled: nobody knows yet."""
    status_code: int
    result: Any = None
    error: dict[str, Any] | None = None
    logs: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    """Provider facts worth recording (executed_version, url, activation_id, ...)."""
    settled: bool = True
    """False when the platform accepted the call but the result is not known yet (an
    OpenWhisk activation that outlived the blocking wait). A Lambda Event invocation is
    settled: handing the call to Lambda's queue is all fnproxy will ever learn of it."""


@dataclass
class FunctionInfo:
    name: str
    provider: str
    details: dict[str, Any] = field(default_factory=dict)


MAX_CLIENT_CONTEXT_LENGTH = 3583
"""Lambda's bound on a client context: base64 text of at most this many characters."""


@dataclass
class CallContext:
    """What a provider may use from the invocation around the attempt."""

    execution_id: str
    caller: str
    timeout_s: float
    attempt: int
    mode: str = "sync"
    invoke_scopes: list[str] | None = None
    """The caller's invoke scopes, which a followed redirect must satisfy too; None when the
    target is not the caller's choice (a registered function, a callback)."""
    traceparent: str | None = None
    """The attempt's W3C trace context (`core.tracing`), which the target gets; None for a
    dry run."""
    tracestate: str | None = None
    client_context: dict[str, Any] | None = None
    """The caller's client context (`Execution.client_context`): Lambda gets it as its
    ClientContext, a local function as `context.client_context`, an http (and Cloud Run)
    target base64 in CLIENT_CONTEXT_HEADER; OpenWhisk actions do not get it."""

    def trace_fields(self) -> dict[str, str]:
        """`traceparent` and `tracestate` as the target gets them (headers, parameters or
        the client context), those that are set."""
        fields = {"traceparent": self.traceparent, "tracestate": self.tracestate}
        return {name: value for name, value in fields.items() if value}


class Provider(Protocol):
    name: str

    def function_key(self, target: Any) -> str:
        """A stable name of the target's function for history and stats, e.g. `local:echo`."""

    async def invoke(
        self, target: Any, payload: Any, context: CallContext
    ) -> InvocationOutcome: ...

    async def dry_run(self, target: Any, payload: Any, context: CallContext) -> InvocationOutcome:
        """Validate and resolve without executing (the platform's own dry run where it has one)."""

    async def list_functions(self, limit: int, cursor: str | None) -> Page[FunctionInfo]: ...

    async def get_function(self, name: str) -> FunctionInfo:
        """Raises `core.errors.FunctionNotFound`."""

    async def close(self) -> None: ...


@runtime_checkable
class SettlingProvider(Protocol):
    """A provider that can settle what it left running (an outcome with `settled=False`)."""

    async def settle(self, execution: Execution) -> InvocationOutcome | None:
        """The outcome of `execution`, recorded as running with this provider's
        `provider_info`; None while it is still running. `info["duration_ms"]`, when present,
        is the function's own run time. Raises a `core.errors.FnproxyError` when the platform
        cannot be asked now."""


async def answered_at_once(awaitable: Awaitable[T], platform: str) -> T:
    """For calls nobody retries (listing, describing, dry runs): a transient failure is
    answered at once, 429 with Retry-After when throttled, else 502."""
    try:
        return await awaitable
    except TransientFailure as failure:
        if failure.status_code == 429:
            raise RateLimited(failure.reason, retry_after_s=failure.retry_after_s) from failure
        raise UpstreamUnavailable(failure.reason) from failure
    except TimeoutError:
        raise UpstreamUnavailable(f"{platform} did not answer in time") from None
