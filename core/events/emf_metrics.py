"""CloudWatch metrics for every invocation outcome, in the Embedded Metric Format (EMF).

`MetricsEventBus` decorates an event bus: for each invocation-outcome CloudEvent it writes one
EMF record (a powertools `EphemeralMetrics` set of its own, so the dimensions belong to that
data point alone) with `invocations` (Count), `errors` (Count, when the invocation failed) and
`duration` (Milliseconds), dimensioned by `service`, `provider` and `function`; then it hands
the event to the bus it wraps. The recorder retries a failed publish with a new event each
time: an outcome already counted (same execution and type) is not counted again.
"""

from __future__ import annotations

from collections import OrderedDict

from aws_lambda_powertools.metrics import EphemeralMetrics, Metrics, MetricUnit

from core.events.base import EVENT_TYPE_PREFIX, CloudEvent, EventBus

RECENT_OUTCOMES = 4096
"""How many counted outcomes are remembered to recognise a retried publish."""


class MetricsEventBus:
    def __init__(self, inner: EventBus, metrics: Metrics) -> None:
        self._inner = inner
        self._namespace = metrics.namespace
        self._service = metrics.service
        self._counted: OrderedDict[tuple[str, str], None] = OrderedDict()

    async def publish(self, event: CloudEvent) -> None:
        if event.type.startswith(EVENT_TYPE_PREFIX) and self._first_time(event):
            self._write_metrics(event)
        await self._inner.publish(event)

    def _first_time(self, event: CloudEvent) -> bool:
        key = (str(event.data.get("execution_id")), event.type)
        if key in self._counted:
            return False
        self._counted[key] = None
        if len(self._counted) > RECENT_OUTCOMES:
            self._counted.popitem(last=False)
        return True

    def _write_metrics(self, event: CloudEvent) -> None:
        point = EphemeralMetrics(namespace=self._namespace, service=self._service)
        point.add_dimension(name="provider", value=str(event.data.get("provider") or "unknown"))
        point.add_dimension(name="function", value=str(event.data.get("function") or "unknown"))
        point.add_metric(name="invocations", unit=MetricUnit.Count, value=1)
        if event.data.get("success") is not True:
            point.add_metric(name="errors", unit=MetricUnit.Count, value=1)
        duration_ms = event.data.get("duration_ms")
        if duration_ms is not None:
            point.add_metric(name="duration", unit=MetricUnit.Milliseconds, value=duration_ms)
        point.flush_metrics()

    async def ping(self) -> None:
        await self._inner.ping()

    async def close(self) -> None:
        await self._inner.close()
