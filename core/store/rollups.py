"""The counters one stats count adds to a rollup: `settle_announcement` turns an outcome's
`StatsCount` into a `Tally` (`tally_of`) and each backend writes it as one atomic add, in the
same step that clears the execution's announcement flag (SQLite `_add_to_rollup`, DynamoDB
`dynamodb_stats.stats_update`, Firestore `_increments`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from core.store.base import StatsCount


@dataclass
class Tally:
    """Outcomes to add to one rollup: counters and histogram slots."""

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
