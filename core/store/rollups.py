"""Stats rollups written through a network store, coalesced per (bucket, function): outcomes
that arrive while a rollup's previous write is in flight are summed into its next write, so a
busy rollup costs one write per round trip instead of one per outcome, and one process never
sends racing updates of one item."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from core import histogram
from core.store.base import StatsCount


@dataclass
class Tally:
    """Outcomes of one rollup waiting for their common write (`written`)."""

    written: asyncio.Task[None] | None = None
    count: int = 0
    successes: int = 0
    duration_sum_ms: float = 0.0
    slots: Counter[int] = field(default_factory=Counter)

    @property
    def failures(self) -> int:
        return self.count - self.successes

    def add(self, success: bool, duration_ms: float, slot: int) -> None:
        self.count += 1
        self.successes += int(success)
        self.duration_sum_ms += float(duration_ms)
        self.slots[slot] += 1


def tally_of(count: StatsCount) -> Tally:
    """A tally of one outcome."""
    tally = Tally()
    tally.add(count.success, count.duration_ms, count.histogram_slot)
    return tally


WriteTally = Callable[[int, str, Tally], Awaitable[None]]
"""Adds a closed tally to the rollup of (bucket_start, function), atomically."""


class CoalescedRollups:
    def __init__(self, write: WriteTally) -> None:
        self._write_tally = write
        self._open: dict[tuple[int, str], Tally] = {}
        self._writing: dict[tuple[int, str], asyncio.Task[None]] = {}

    async def record(
        self, function: str, bucket_start: int, success: bool, duration_ms: float, slot: int
    ) -> None:
        if not 0 <= slot < histogram.SLOT_COUNT:
            raise ValueError(f"histogram slot {slot} out of range")
        key = (bucket_start, function)
        tally = self._open.get(key)
        if tally is None:
            tally = self._open[key] = Tally()
            tally.written = asyncio.create_task(self._write(key, tally, self._writing.get(key)))
            self._writing[key] = tally.written
        tally.add(success, duration_ms, slot)
        await asyncio.shield(tally.written)

    async def _write(
        self, key: tuple[int, str], tally: Tally, previous: asyncio.Task[None] | None
    ) -> None:
        """Once the rollup's previous write is done, close the tally and write it."""
        try:
            if previous is not None:
                await asyncio.wait([previous])
            del self._open[key]
            await self._write_tally(*key, tally)
        finally:  # also when cancelled before the tally was closed
            if self._open.get(key) is tally:
                del self._open[key]
            if self._writing.get(key) is tally.written:
                del self._writing[key]
