"""Domain errors. Each carries the HTTP status and a stable problem `code` the API renders as
RFC 9457 problem+json; services raise them, the API never inspects anything else."""

from __future__ import annotations

from typing import Any


class FnproxyError(Exception):
    status = 500
    code = "internal_error"
    title = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidRequest(FnproxyError):
    status, code, title = 400, "invalid_request", "Invalid request"


class ValidationFailed(FnproxyError):
    status, code, title = 422, "validation_failed", "Request body failed validation"


class Unauthorized(FnproxyError):
    status, code, title = 401, "unauthorized", "Authentication required"


class Forbidden(FnproxyError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(FnproxyError):
    status, code, title = 404, "not_found", "Not found"


class FunctionNotFound(NotFound):
    code, title = "function_not_found", "Function not found"


class CursorNotFound(NotFound):
    """A listing's cursor that names no page of it (it did not give it): the page after it is
    as unknown as an execution id it never gave."""

    code, title = "cursor_not_found", "No such page"


class UnknownProvider(ValidationFailed):
    """A target names no provider fnproxy has: the body breaks the schema's union (422)."""

    code, title = "unknown_provider", "Unknown provider"


class Conflict(FnproxyError):
    status, code, title = 409, "conflict", "Conflict"


class FunctionDisabled(Conflict):
    """A registered function an admin disabled: it refuses invocations until enabled."""

    code, title = "function_disabled", "Function disabled"


class PreconditionFailed(FnproxyError):
    status, code, title = 412, "precondition_failed", "Precondition failed"


class PreconditionRequired(FnproxyError):
    status, code, title = 428, "precondition_required", "Precondition required"


class PayloadTooLarge(FnproxyError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class IdempotencyKeyReused(FnproxyError):
    status, code, title = (
        422,
        "idempotency_key_reused",
        "Idempotency key reused with another request",
    )


class RateLimited(FnproxyError):
    status, code, title = 429, "rate_limited", "Too many requests"


class TooManyRequests(RateLimited):
    """MAX_CONCURRENT_REQUESTS invocations are already in flight on this instance: refused at
    once, before anything was recorded or sent."""

    code, title = "too_many_requests", "Too many invocations in flight"


class FunctionFailed(FnproxyError):
    """The function ran and failed: for the seed routes, whose clients expect a failure status."""

    status, code, title = 502, "function_failed", "The function failed"


class UpstreamUnavailable(FnproxyError):
    status, code, title = 502, "upstream_unavailable", "Function unreachable"


class UpstreamTimeout(FnproxyError):
    status, code, title = 504, "upstream_timeout", "Function timed out"


class ServiceUnavailable(FnproxyError):
    status, code, title = 503, "service_unavailable", "Service unavailable"


class NotSupported(FnproxyError):
    status, code, title = 400, "not_supported", "Not supported by this provider"


class EgressDenied(Forbidden):
    """The egress policy (core/egress.py) refuses the destination: nothing was sent."""

    code, title = "egress_denied", "Destination not allowed"


class HeaderNotAllowed(InvalidRequest):
    """A caller header that steers the connection or reaches credentials (Host, hop-by-hop,
    metadata and forwarding headers)."""

    code, title = "header_not_allowed", "Header not allowed"


class ResponseTooLarge(FnproxyError):
    """The target's answer outgrew MAX_RESPONSE_BYTES: it was dropped, not retried."""

    status, code, title = 502, "response_too_large", "Function answer too large"


class UpstreamUnreachable(UpstreamUnavailable):
    """The connection was lost after the request was sent: the function may have run, so the
    attempt is not repeated (a caller retrying must know the function tolerates it)."""

    code, title = "upstream_unreachable", "Function unreachable after the request was sent"


class UpstreamThrottled(FnproxyError):
    """The target still answered 429 after the retries: its Retry-After is passed on."""

    status, code, title = 429, "upstream_throttled", "The function is throttled"


class CircuitOpen(FnproxyError):
    """The target's circuit breaker is open: the call failed fast, nothing was sent."""

    status, code, title = 503, "circuit_open", "The function's circuit is open"


class StoreUnavailable(ServiceUnavailable):
    """A store write did not commit: another connection held the lock past STORE_BUSY_TIMEOUT_S,
    or the disk refused it. Nothing of it was written; the same request may be sent again."""

    code, title = "store_unavailable", "Store unavailable"
