"""A registered function's policy: who may invoke it, its timeout, its retries and its rate limit
per caller. Stored with the function as JSON; validated here, on the way in."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from core.auth.principal import Principal
from core.deferred_model import DeferredModel
from core.errors import Forbidden
from core.json_types import whole_number

MAX_TIMEOUT_S = 900.0
MAX_WINDOW_S = 86400


class _Strict(DeferredModel):
    """Unknown fields refused, and no value coerced (`false` is no number, `0` no boolean)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class RetryOverride(_Strict):
    """Replaces the service's MAX_RETRIES / RETRY_DELAY for this function's invocations."""

    max_retries: whole_number(ge=0, le=10)
    base_delay_s: float | None = Field(default=None, ge=0, le=60)


class RateLimit(_Strict):
    """At most `requests` invocations per caller in each fixed window of `per_s` seconds,
    counted in the store, so every instance serving fnproxy shares the count."""

    requests: whole_number(ge=1, le=1_000_000)
    per_s: whole_number(ge=1, le=MAX_WINDOW_S)


class FunctionPolicy(_Strict):
    allowed_clients: list[str] | None = Field(default=None, max_length=100)
    """Subjects (`client:<id>`, `module`) that may invoke it; None: anyone allowed to invoke."""
    allowed_scopes: list[str] | None = Field(default=None, max_length=100)
    """The caller must hold one of these scopes; None: no such requirement."""
    timeout_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S)
    """The longest an invocation may run; a caller's `timeout_s` can only shorten it."""
    retry: RetryOverride | None = None
    rate_limit: RateLimit | None = None
    public_invoke: Literal["open", "api_key"] | None = None
    """Whether `/invoke/{name}` (the Invoke platform's front) answers: to anyone (`open`), to
    holders of one of the function's API keys (`api_key`), or not at all (None: the route
    answers 404, as for no function, until the owner opts in)."""

    def check_caller(self, principal: Principal, name: str) -> None:
        """Forbidden unless the policy lets `principal` invoke `name` (admins always may)."""
        if principal.is_admin:
            return
        if self.allowed_clients is not None and principal.subject not in self.allowed_clients:
            raise Forbidden(f"{principal.subject} may not invoke {name!r}", function=name)
        if self.allowed_scopes is not None and not principal.scopes & set(self.allowed_scopes):
            raise Forbidden(
                f"invoking {name!r} needs one of the scopes {', '.join(self.allowed_scopes)}",
                function=name,
            )

    def timeout_for(self, requested_s: float | None) -> float | None:
        limits = [t for t in (requested_s, self.timeout_s) if t is not None]
        return min(limits) if limits else None

    def retry_policy(self) -> dict[str, Any] | None:
        return self.retry.model_dump(exclude_none=True) if self.retry is not None else None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)
