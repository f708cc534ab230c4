"""Two concurrency caps.

A per-target one (TARGET_MAX_CONCURRENCY): so a hanging target holds only its own slots, never
the capacity other targets need (connections, workers).

    async with limits.slot("http:example.com/f"):
        ...  # at most `max_concurrency` of these run at once per key; the others wait

A caller waits its turn in line (first come, first served) and gives up with its own deadline
(wrap the `async with` in `asyncio.timeout`). Keys are forgotten once nobody holds or waits for
a slot, so memory grows with the targets in use, not with every target ever called.

A per-instance one (MAX_CONCURRENT_REQUESTS), `InFlightLimit`: an invocation past it is refused
at once (429 `too_many_requests` with Retry-After) rather than queued, so a flood meets fast
back-pressure instead of growing the waiting lines (and memory) of one instance.
"""

from __future__ import annotations

import asyncio

from core.errors import TooManyRequests

BUSY_RETRY_AFTER_S = 1
"""The Retry-After of a refusal for MAX_CONCURRENT_REQUESTS: an invocation usually ends within
seconds, and nothing tells which slot frees first."""


class _Gate:
    __slots__ = ("semaphore", "users")

    def __init__(self, max_concurrency: int) -> None:
        self.semaphore = asyncio.Semaphore(max_concurrency)
        self.users = 0
        """Holding a slot or waiting for one."""


class TargetLimits:
    def __init__(self, max_concurrency: int) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.max_concurrency = max_concurrency
        self._gates: dict[str, _Gate] = {}

    def slot(self, key: str) -> _TargetSlot:
        """Hold one of `key`'s slots for the body of the `async with`."""
        return _TargetSlot(self, key)

    def _enter(self, key: str) -> _Gate:
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = _Gate(self.max_concurrency)
        gate.users += 1
        return gate

    def _leave(self, key: str, gate: _Gate) -> None:
        gate.users -= 1
        if not gate.users:
            del self._gates[key]


class _TargetSlot:
    """`TargetLimits.slot`'s context manager (a class: a third of `asynccontextmanager`'s cost,
    paid on every attempt)."""

    __slots__ = ("_limits", "_key", "_gate")

    def __init__(self, limits: TargetLimits, key: str) -> None:
        self._limits = limits
        self._key = key

    async def __aenter__(self) -> None:
        gate = self._gate = self._limits._enter(self._key)
        try:
            await gate.semaphore.acquire()
        except BaseException:  # cancelled (or timed out) while waiting in line
            self._limits._leave(self._key, gate)
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._gate.semaphore.release()
        self._limits._leave(self._key, self._gate)


class InFlightLimit:
    """At most `max_in_flight` invocations at once on this instance (one event loop)."""

    def __init__(self, max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    def slot(self) -> InFlightLimit:
        """Hold one slot for the body of the `with`; `TooManyRequests` when none is free."""
        return self

    def __enter__(self) -> None:
        if self.in_flight >= self.max_in_flight:
            raise TooManyRequests(
                f"{self.max_in_flight} invocations are in flight on this instance "
                "(MAX_CONCURRENT_REQUESTS); retry shortly",
                retry_after_s=BUSY_RETRY_AFTER_S,
            )
        self.in_flight += 1

    def __exit__(self, *exc_info: object) -> None:
        self.in_flight -= 1
