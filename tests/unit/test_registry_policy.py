"""Per-function policy, the store-backed rate limiter and the canary pick, each on its own."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.auth.principal import Principal
from core.errors import Forbidden, RateLimited
from core.models import RegisteredFunction
from core.registry.policy import FunctionPolicy, RateLimit
from core.registry.ratelimit import COUNTER_GRACE_S, RateLimiter
from core.registry.service import RegistryService


def principal(subject: str = "client:a", *scopes: str) -> Principal:
    return Principal(subject, frozenset(scopes or ("invoke",)), "t")


def test_policy_without_lists_lets_every_invoker_in() -> None:
    FunctionPolicy().check_caller(principal(), "orders")


def test_allowed_clients_keep_others_out_but_not_admins() -> None:
    policy = FunctionPolicy(allowed_clients=["client:a"])
    policy.check_caller(principal("client:a"), "orders")
    with pytest.raises(Forbidden):
        policy.check_caller(principal("client:b"), "orders")
    policy.check_caller(principal("client:b", "admin"), "orders")


def test_allowed_scopes_need_one_of_them() -> None:
    policy = FunctionPolicy(allowed_scopes=["invoke:orders", "team-orders"])
    policy.check_caller(principal("client:a", "invoke", "team-orders"), "orders")
    with pytest.raises(Forbidden):
        policy.check_caller(principal("client:a", "invoke"), "orders")


def test_the_policy_timeout_caps_the_callers() -> None:
    policy = FunctionPolicy(timeout_s=5)
    assert policy.timeout_for(None) == 5
    assert policy.timeout_for(2) == 2
    assert policy.timeout_for(30) == 5
    assert FunctionPolicy().timeout_for(None) is None


def test_retry_override_and_json_leave_out_what_is_unset() -> None:
    policy = FunctionPolicy.model_validate({"retry": {"max_retries": 0}})
    assert policy.retry_policy() == {"max_retries": 0}
    assert policy.to_json() == {"retry": {"max_retries": 0}}
    assert FunctionPolicy().retry_policy() is None


@pytest.mark.parametrize(
    "raw",
    [
        {"rate_limit": {"requests": 0, "per_s": 60}},
        {"rate_limit": {"requests": 5}},
        {"timeout_s": 0},
        {"retry": {"max_retries": 11}},
        {"unknown": 1},
    ],
)
def test_bad_policies_are_refused(raw: dict) -> None:
    with pytest.raises(ValidationError):
        FunctionPolicy.model_validate(raw)


class Counters:
    """An in-memory RateLimitRepository for the limiter's own logic."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}
        self.expiries: list[float] = []

    async def hit(self, key: str, window_start: int, limit: int, expires_at: float) -> bool:
        self.expiries.append(expires_at)
        count = self.counts.get((key, window_start), 0)
        if count >= limit:
            return False
        self.counts[(key, window_start)] = count + 1
        return True


async def test_limiter_refuses_in_a_full_window_with_the_time_left() -> None:
    now = [1000.0]
    counters = Counters()
    limiter = RateLimiter(counters, clock=lambda: now[0])
    limit = RateLimit(requests=2, per_s=60)
    await limiter.admit("orders", "client:a", limit)
    await limiter.admit("orders", "client:a", limit)
    now[0] = 1015.5
    with pytest.raises(RateLimited) as refused:
        await limiter.admit("orders", "client:a", limit)
    assert refused.value.extra["retry_after_s"] == pytest.approx(1020 - 1015.5)
    await limiter.admit("orders", "client:b", limit)  # per caller
    now[0] = 1020.0  # the next window
    await limiter.admit("orders", "client:a", limit)
    assert counters.expiries[-1] == 1080 + COUNTER_GRACE_S


def registry_with(chances: list[float]) -> RegistryService:
    rolls = iter(chances)
    return RegistryService(None, None, None, None, None, chance=lambda: next(rolls))


def function(canary: dict | None) -> RegisteredFunction:
    return RegisteredFunction("orders", "", 1, 2, {}, 0.0, "x", 0.0, canary=canary)


def test_canary_takes_its_weight_in_percent() -> None:
    registry = registry_with([0.0, 0.099, 0.1, 0.5, 0.99])
    split = function({"version": 2, "weight": 10})
    assert [registry.pick_version(split) for _ in range(5)] == [2, 2, 1, 1, 1]


def test_without_canary_the_active_version_runs() -> None:
    assert registry_with([]).pick_version(function(None)) == 1
