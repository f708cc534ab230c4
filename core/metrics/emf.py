"""The metrics on AWS: CloudWatch's Embedded Metric Format (EMF), one record per observation.

Each record is a powertools `EphemeralMetrics` set of its own, so its dimensions belong to that
data point alone; Lambda's log agent turns the line into CloudWatch metrics in the namespace
POWERTOOLS_METRICS_NAMESPACE (default `fnproxy`), dimensioned by `service` and:
- `invocations` (Count), `errors` (Count, when the outcome did not succeed) and `duration`
  (Milliseconds) by `provider` and `function`;
- `retries` (Count) by `provider` and `function`;
- `circuit_state` (None: 0 closed, 1 half-open, 2 open) by `target`;
- `store_errors` (Count) by `operation`.
The queue depth is SQS's own (ApproximateNumberOfMessagesVisible), so it is not written here.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from core.metrics import base

SERVICE = "fnproxy"


class EmfMetrics:
    def __init__(self, namespace: str | None = None) -> None:
        self._namespace = namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE", SERVICE)

    def _point(self, **dimensions: str) -> EphemeralMetrics:
        point = EphemeralMetrics(namespace=self._namespace, service=SERVICE)
        for name, value in dimensions.items():
            point.add_dimension(name=name, value=value)
        return point

    def invocation(
        self, function: str, provider: str, status: str, success: bool, duration_ms: float
    ) -> None:
        point = self._point(provider=provider, function=function)
        point.add_metric(name=base.INVOCATIONS, unit=MetricUnit.Count, value=1)
        if not success:
            point.add_metric(name=base.ERRORS, unit=MetricUnit.Count, value=1)
        point.add_metric(name=base.DURATION, unit=MetricUnit.Milliseconds, value=duration_ms)
        point.flush_metrics()

    def retry(self, function: str, provider: str) -> None:
        point = self._point(provider=provider, function=function)
        point.add_metric(name=base.RETRIES, unit=MetricUnit.Count, value=1)
        point.flush_metrics()

    def circuit(self, target: str, state: str) -> None:
        point = self._point(target=target)
        code = base.CIRCUIT_STATES.index(state)
        point.add_metric(name=base.CIRCUIT_STATE, unit=MetricUnit.NoUnit, value=code)
        point.flush_metrics()

    def store_error(self, operation: str) -> None:
        point = self._point(operation=operation)
        point.add_metric(name=base.STORE_ERRORS, unit=MetricUnit.Count, value=1)
        point.flush_metrics()

    def watch_queue(self, depth: Callable[[], int]) -> None:
        return None  # SQS reports its own depth

    def exposition(self) -> base.Exposition | None:
        return None  # pushed through the logs
