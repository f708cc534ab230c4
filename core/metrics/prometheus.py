"""The metrics in Prometheus' text format (`prometheus-client`), for GET /metrics.

Each sink has a registry of its own (never the library's global one), so two apps in one process
(the tests) count apart. The names are the port's (`core.metrics.base`) under the `fnproxy_`
namespace, with the exposition's suffixes: `fnproxy_invocations_total`, `fnproxy_errors_total`,
`fnproxy_duration_milliseconds` (a histogram), `fnproxy_retries_total`, `fnproxy_circuit_state`
(an enum: one series per state, 1 for the current one), `fnproxy_queue_depth`,
`fnproxy_store_errors_total`. A registry counts what its own process saw: `fnproxy serve` with
several worker processes answers a scrape from one of them.

The labels come bounded (`core.metrics.base.BoundedMetrics`, around every sink), so the
outcome series found once per labels (`_outcome_series`) are bounded too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from core.metrics import base

NAMESPACE = "fnproxy"
DURATION_BUCKETS_MS = (
    1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000,
)  # fmt: skip
"""Upper bounds, up to the 15-minute ceiling of a Lambda target (+Inf is added)."""
TARGET_LABELS = ("function", "provider")


@dataclass(frozen=True)
class OutcomeSeries:
    """The series one outcome of a function, provider and status counts in."""

    invocations: Counter
    errors: Counter
    duration: Histogram


class PrometheusMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._outcome_series: dict[tuple[str, str, str], OutcomeSeries] = {}
        """The children of one outcome's labels, found once (`labels()` takes a lock and
        builds its key on every call)."""
        known = {"namespace": NAMESPACE, "registry": self.registry}
        self._invocations = Counter(
            base.INVOCATIONS, "Invocation outcomes", (*TARGET_LABELS, "status"), **known
        )
        self._errors = Counter(base.ERRORS, "Outcomes that did not succeed", TARGET_LABELS, **known)
        self._duration = Histogram(
            base.DURATION,
            "Invocation duration",
            TARGET_LABELS,
            unit="milliseconds",
            buckets=DURATION_BUCKETS_MS,
            **known,
        )
        self._retries = Counter(base.RETRIES, "Attempts retried", TARGET_LABELS, **known)
        self._circuits = Enum(
            base.CIRCUIT_STATE,
            "Circuit breaker state",
            ("target",),
            states=list(base.CIRCUIT_STATES),
            **known,
        )
        self._queue_depth = Gauge(base.QUEUE_DEPTH, "Executions the queue holds", **known)
        self._store_errors = Counter(
            base.STORE_ERRORS, "Failed store write attempts", ("operation",), **known
        )

    def invocation(
        self, function: str, provider: str, status: str, success: bool, duration_ms: float
    ) -> None:
        counted = self._outcome_series.get((function, provider, status))
        if counted is None:
            counted = self._outcome_series[function, provider, status] = OutcomeSeries(
                self._invocations.labels(function, provider, status),
                self._errors.labels(function, provider),
                self._duration.labels(function, provider),
            )
        counted.invocations.inc()
        if not success:
            counted.errors.inc()
        counted.duration.observe(duration_ms)

    def retry(self, function: str, provider: str) -> None:
        self._retries.labels(function, provider).inc()

    def circuit(self, target: str, state: str) -> None:
        self._circuits.labels(target).state(state)

    def store_error(self, operation: str) -> None:
        self._store_errors.labels(operation).inc()

    def watch_queue(self, depth: Callable[[], int]) -> None:
        self._queue_depth.set_function(depth)

    def exposition(self) -> base.Exposition:
        return base.Exposition(generate_latest(self.registry), CONTENT_TYPE_LATEST)
