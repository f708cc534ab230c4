"""The token throttle over an in-memory counter store: failures counted per identity in fixed
windows, a throttled identity refused before its secret is looked at, until its window ends."""

from __future__ import annotations

import pytest

from core.auth.throttle import TokenThrottle
from core.errors import InvalidRequest, RateLimited, Unauthorized


class InMemoryCounters:
    """A RateLimitRepository kept in a dict, as the store's counters behave."""

    def __init__(self) -> None:
        self.windows: dict[tuple[str, int], int] = {}

    async def hit(self, key: str, window_start: int, limit: int, expires_at: float) -> bool:
        n = self.windows.get((key, window_start), 0)
        if n >= limit:
            return False
        self.windows[(key, window_start)] = n + 1
        return True

    async def count(self, key: str, window_start: int) -> int:
        return self.windows.get((key, window_start), 0)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(1_000_000.0)


@pytest.fixture
def throttle(clock: Clock) -> TokenThrottle:
    return TokenThrottle(InMemoryCounters(), max_failures=3, window_s=300, clock=clock)


async def fail(throttle: TokenThrottle, *identities: str) -> None:
    with pytest.raises(Unauthorized):
        async with throttle.attempt(*identities):
            raise Unauthorized("invalid client credentials")


async def succeed(throttle: TokenThrottle, *identities: str) -> None:
    async with throttle.attempt(*identities):
        pass


async def test_failures_up_to_the_limit_are_answered_then_refused(throttle, clock) -> None:
    for _ in range(3):
        await fail(throttle, "client:a", "address:1")
    clock.now += 100
    with pytest.raises(RateLimited) as refused:
        await succeed(throttle, "client:a", "address:1")
    # The window is [999900, 1000200): 100 s of it are left.
    assert refused.value.status == 429
    assert refused.value.extra["retry_after_s"] == pytest.approx(100)


async def test_a_throttled_identity_is_refused_whatever_the_other(throttle) -> None:
    for address in ("address:1", "address:2", "address:3"):
        await fail(throttle, "client:a", address)
    with pytest.raises(RateLimited):
        await succeed(throttle, "client:a", "address:4")
    await succeed(throttle, "client:b", "address:1")  # one failure of three there
    for _ in range(2):
        await fail(throttle, "client:c", "address:1")
    with pytest.raises(RateLimited):
        await succeed(throttle, "client:b", "address:1")
    await succeed(throttle, "client:b", "address:4")


async def test_successes_and_other_errors_count_nothing(throttle) -> None:
    for _ in range(5):
        await succeed(throttle, "client:a", "address:1")
        with pytest.raises(InvalidRequest):
            async with throttle.attempt("client:a", "address:1"):
                raise InvalidRequest("malformed")
    await fail(throttle, "client:a", "address:1")
    await succeed(throttle, "client:a", "address:1")


async def test_the_next_window_starts_afresh(throttle, clock) -> None:
    for _ in range(3):
        await fail(throttle, "address:1")
    clock.now += 200  # the next window
    await succeed(throttle, "address:1")
