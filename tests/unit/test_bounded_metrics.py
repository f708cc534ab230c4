"""Every metrics sink sees bounded function and target labels: a caller chooses its http
targets, each URL a function key of its own, so unbounded labels would let one caller grow a
Prometheus registry (and every scrape), or the series CloudWatch and Cloud Monitoring bill,
without end."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.config import Settings
from core.metrics.base import OTHER, BoundedMetrics
from core.metrics.prometheus import PrometheusMetrics
from core.wiring import build_metrics


def values(sink: PrometheusMetrics, sample_name: str, label: str) -> dict[str, float]:
    """The samples called `sample_name` in a scrape, by the value of their `label`."""
    text = sink.exposition().body.decode()
    return {
        sample.labels[label]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == sample_name
    }


def test_functions_past_the_bound_count_together_under_other():
    sink = PrometheusMetrics()
    metrics = BoundedMetrics(sink, max_labelled=3)

    for n in range(10):
        metrics.invocation(f"http:host{n}.example/", "http", "succeeded", True, 5.0)
    metrics.invocation("http:host0.example/", "http", "succeeded", True, 5.0)

    assert values(sink, "fnproxy_invocations_total", "function") == {
        "http:host0.example/": 2.0,
        "http:host1.example/": 1.0,
        "http:host2.example/": 1.0,
        OTHER: 7.0,
    }


def test_retries_and_circuits_are_bounded_alike():
    sink = PrometheusMetrics()
    metrics = BoundedMetrics(sink, max_labelled=1)

    metrics.retry("local:a", "local")
    metrics.retry("local:b", "local")
    metrics.circuit("local:a", "open")
    metrics.circuit("local:b", "open")

    assert values(sink, "fnproxy_retries_total", "function") == {"local:a": 1.0, OTHER: 1.0}
    assert set(values(sink, "fnproxy_circuit_state", "target")) == {"local:a", OTHER}


@pytest.mark.parametrize("backend", ["prometheus", "emf", "log"])
def test_every_sink_the_wiring_builds_is_bounded(backend):
    assert isinstance(build_metrics(Settings(metrics_backend=backend)), BoundedMetrics)
