"""The metrics port: what fnproxy observes, under one set of names on every platform.

- `invocations` (function, provider, status): an execution's outcome, counted once, when its
  stats count is written (so it counts what /v1/stats counts);
- `errors` (function, provider): an outcome that did not succeed;
- `duration` (function, provider): the execution's duration, in milliseconds;
- `retries` (function, provider): an attempt retried after a transient failure;
- `circuit_state` (target: the function key): a circuit breaker's new state;
- `queue_depth`: the executions the in-process async queue holds;
- `store_errors` (operation): a failed attempt of a store write recording an outcome.

The sinks (`core.wiring.build_metrics`, METRICS_BACKEND, by platform): `prometheus` (local and
container: GET /metrics), `emf` (AWS: CloudWatch's Embedded Metric Format), `log` (GCP: one
structured log line per observation, read by the log-based metrics of
terraform/modules/gcp/monitoring.tf). The queue depth is fnproxy's own on the local queue only:
SQS and Pub/Sub report theirs (ApproximateNumberOfMessagesVisible, num_undelivered_messages).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

INVOCATIONS = "invocations"
ERRORS = "errors"
DURATION = "duration"
RETRIES = "retries"
CIRCUIT_STATE = "circuit_state"
QUEUE_DEPTH = "queue_depth"
STORE_ERRORS = "store_errors"

MAX_LABELLED = 1000
"""Functions (and circuit targets) with series of their own, per process; the rest share OTHER."""
OTHER = "_other"

CIRCUIT_STATES = ("closed", "half_open", "open")
"""A circuit's states (`core.invoke.breaker`); a sink with numbers only writes the index."""


@dataclass(frozen=True)
class Exposition:
    """A scrape's answer: the body and its content type."""

    body: bytes
    content_type: str


class Metrics(Protocol):
    def invocation(
        self, function: str, provider: str, status: str, success: bool, duration_ms: float
    ) -> None:
        """One execution's outcome, once (when its stats count is written)."""

    def retry(self, function: str, provider: str) -> None:
        """An attempt at `function` is retried after a transient failure."""

    def circuit(self, target: str, state: str) -> None:
        """The circuit breaker of `target` is now in `state` (one of CIRCUIT_STATES)."""

    def store_error(self, operation: str) -> None:
        """An attempt of the store write `operation` failed (it may be retried)."""

    def watch_queue(self, depth: Callable[[], int]) -> None:
        """`depth()` tells the queue's depth whenever the sink reads it."""

    def exposition(self) -> Exposition | None:
        """The metrics to answer a scrape with; None for a sink that pushes them instead."""


class NoMetrics:
    """Observes nothing: the default of the components built outside `core.wiring` (tests)."""

    def invocation(
        self, function: str, provider: str, status: str, success: bool, duration_ms: float
    ) -> None:
        return None

    def retry(self, function: str, provider: str) -> None:
        return None

    def circuit(self, target: str, state: str) -> None:
        return None

    def store_error(self, operation: str) -> None:
        return None

    def watch_queue(self, depth: Callable[[], int]) -> None:
        return None

    def exposition(self) -> Exposition | None:
        return None


NO_METRICS = NoMetrics()


class BoundedLabels:
    """Label values as given, up to `most` distinct ones; OTHER for any value after those."""

    def __init__(self, most: int) -> None:
        self._most = most
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._most:
            return OTHER
        self._seen.add(value)
        return value


class BoundedMetrics:
    """A sink whose function and target labels are bounded (`BoundedLabels`): a caller chooses
    its http targets, each URL a function key of its own, so unbounded labels would let one
    caller grow a Prometheus registry (and every scrape), or the custom metrics CloudWatch and
    Cloud Monitoring bill per series, without end. Every sink `core.wiring` builds is one."""

    def __init__(self, sink: Metrics, max_labelled: int = MAX_LABELLED) -> None:
        self._sink = sink
        self._function = BoundedLabels(max_labelled)
        self._target = BoundedLabels(max_labelled)

    def invocation(
        self, function: str, provider: str, status: str, success: bool, duration_ms: float
    ) -> None:
        self._sink.invocation(self._function(function), provider, status, success, duration_ms)

    def retry(self, function: str, provider: str) -> None:
        self._sink.retry(self._function(function), provider)

    def circuit(self, target: str, state: str) -> None:
        self._sink.circuit(self._target(target), state)

    def store_error(self, operation: str) -> None:
        self._sink.store_error(operation)

    def watch_queue(self, depth: Callable[[], int]) -> None:
        self._sink.watch_queue(depth)

    def exposition(self) -> Exposition | None:
        return self._sink.exposition()
