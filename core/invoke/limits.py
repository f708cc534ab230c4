"""A per-target concurrency cap (TARGET_MAX_CONCURRENCY): so a hanging target holds only its
own slots, never the capacity other targets need (connections, workers).

    async with limits.slot("http:example.com/f"):
        ...  # at most `max_concurrency` of these run at once per key; the others wait

A caller waits its turn in line (first come, first served) and gives up with its own deadline
(wrap the `async with` in `asyncio.timeout`). Keys are forgotten once nobody holds or waits for
a slot, so memory grows with the targets in use, not with every target ever called.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


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

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        """Hold one of `key`'s slots for the body of the `async with`."""
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = _Gate(self.max_concurrency)
        gate.users += 1
        try:
            async with gate.semaphore:
                yield
        finally:
            gate.users -= 1
            if not gate.users:
                del self._gates[key]
