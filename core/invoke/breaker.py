"""A circuit breaker per target (function key), in front of the retry loop.

- **closed**: calls go through. Each transient failure of an attempt (refused, 429/502/503/504,
  a connection lost after sending) counts; a failure more than `cooldown_s` after the previous
  one starts the count again, and any answer (even the function's own failure) resets it.
  `threshold` consecutive failures open the circuit.
- **open**: every attempt fails fast with `CircuitOpen` (503, Retry-After: the rest of the
  cool-down) without reaching the target.
- **half-open**: once the cool-down is over, one attempt (the probe) goes through while the
  others still fail fast. Its success closes the circuit; its failure opens it for another
  cool-down; a probe that ends otherwise (timed out, cancelled, refused for the caller's own
  mistake) frees the place for the next one.

Each change of state is told to the metrics port (`circuit_state`): opened by a failure,
half-open when a probe goes, closed by an answer after it had opened.

Only targets with a failure on record are kept (at most `MAX_TRACKED` of them: the oldest
streak is forgotten first), so `states()` is short and memory stays bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import CircuitOpen
from core.metrics.base import NO_METRICS, Metrics

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
MAX_TRACKED = 10_000


@dataclass
class _Circuit:
    failures: int = 0
    last_failure: float = 0.0
    opened_at: float | None = None
    probing: bool = False

    def state(self, now: float, cooldown_s: float) -> str:
        if self.opened_at is None:
            return CLOSED
        return OPEN if now - self.opened_at < cooldown_s else HALF_OPEN


class CircuitBreakers:
    def __init__(
        self,
        threshold: int,
        cooldown_s: float,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._metrics = metrics
        self._circuits: dict[str, _Circuit] = {}

    def admit(self, key: str) -> None:
        """Let an attempt at `key` through, or raise `CircuitOpen` (with `retry_after_s`)."""
        circuit = self._circuits.get(key)
        if circuit is None or circuit.opened_at is None:
            return
        now = self._clock()
        if circuit.state(now, self.cooldown_s) == HALF_OPEN and not circuit.probing:
            circuit.probing = True
            self._metrics.circuit(key, HALF_OPEN)
            return
        raise CircuitOpen(
            f"{key} failed {circuit.failures} times in a row: calls fail fast until a probe "
            "succeeds",
            retry_after_s=self._retry_after(circuit, now),
            circuit=self._describe(circuit, now),
        )

    def succeeded(self, key: str) -> None:
        """The target answered: its circuit closes (and is forgotten)."""
        circuit = self._circuits.pop(key, None)
        if circuit is not None and circuit.opened_at is not None:
            self._metrics.circuit(key, CLOSED)

    def failed(self, key: str) -> None:
        """A transient failure of an attempt at `key`."""
        now = self._clock()
        circuit = self._circuits.pop(key, None) or _Circuit()
        before = circuit.state(now, self.cooldown_s)
        if circuit.opened_at is None and now - circuit.last_failure > self.cooldown_s:
            circuit.failures = 0  # an old streak: this one starts afresh
        circuit.failures += 1
        circuit.last_failure = now
        if circuit.probing or circuit.failures >= self.threshold:
            circuit.opened_at, circuit.probing = now, False
            if before != OPEN:
                self._metrics.circuit(key, OPEN)
        self._circuits[key] = circuit  # last: the most recently failing
        if len(self._circuits) > MAX_TRACKED:
            del self._circuits[next(iter(self._circuits))]

    def abandoned(self, key: str) -> None:
        """An attempt ended with neither an answer nor a transient failure: a probe's place
        goes to the next call."""
        circuit = self._circuits.get(key)
        if circuit is not None:
            circuit.probing = False

    def states(self) -> dict[str, dict[str, Any]]:
        """Each target with failures on record: its state, failures, and seconds until a
        probe may go (0 when one may now)."""
        now = self._clock()
        return {key: self._describe(circuit, now) for key, circuit in self._circuits.items()}

    def _describe(self, circuit: _Circuit, now: float) -> dict[str, Any]:
        return {
            "state": circuit.state(now, self.cooldown_s),
            "consecutive_failures": circuit.failures,
            "retry_after_s": round(self._retry_after(circuit, now), 3),
        }

    def _retry_after(self, circuit: _Circuit, now: float) -> float:
        if circuit.opened_at is None:
            return 0.0
        return max(circuit.opened_at + self.cooldown_s - now, 0.0)
