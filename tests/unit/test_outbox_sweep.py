"""The outbox sweep's pacing, over a fake repository that counts its queries (the sweep's
deliveries are tested against real stores in tests/contract, tests/aws and tests/faults)."""

from __future__ import annotations

from core.invoke.outbox import OutboxSweep
from core.models import Page


class CountingExecutions:
    def __init__(self) -> None:
        self.queries = 0

    async def list_outbox(self, updated_before, limit, cursor=None):
        self.queries += 1
        return Page(items=[], next_cursor=None)


async def nothing_owed(execution) -> None:
    raise AssertionError("an empty outbox owes nothing")


async def test_a_sweep_within_every_s_of_the_last_one_queries_nothing():
    executions = CountingExecutions()
    now = [1000.0]
    sweep = OutboxSweep(executions, recorder=None, call_back=nothing_owed, clock=lambda: now[0])

    await sweep.sweep(10, 5.0, every_s=30.0)
    await sweep.sweep(10, 5.0, every_s=30.0)
    now[0] += 29.0
    await sweep.sweep(10, 5.0, every_s=30.0)
    assert executions.queries == 1

    now[0] += 1.0
    await sweep.sweep(10, 5.0, every_s=30.0)
    await sweep.sweep(10, 5.0)  # the local queue's sweeps are paced by the queue itself
    assert executions.queries == 3
