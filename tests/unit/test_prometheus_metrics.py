"""The Prometheus sink's series stay bounded whatever targets callers choose: each http URL is
a function key of its own, so an unbounded label would let one caller grow the registry and
every scrape."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from core.metrics.prometheus import OTHER, PrometheusMetrics


def values(metrics: PrometheusMetrics, sample_name: str, label: str) -> dict[str, float]:
    """The samples called `sample_name` in a scrape, by the value of their `label`."""
    text = metrics.exposition().body.decode()
    return {
        sample.labels[label]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == sample_name
    }


def test_functions_past_the_bound_count_together_under_other():
    metrics = PrometheusMetrics(max_labelled=3)

    for n in range(10):
        metrics.invocation(f"http:host{n}.example/", "http", "succeeded", True, 5.0)
    metrics.invocation("http:host0.example/", "http", "succeeded", True, 5.0)

    assert values(metrics, "fnproxy_invocations_total", "function") == {
        "http:host0.example/": 2.0,
        "http:host1.example/": 1.0,
        "http:host2.example/": 1.0,
        OTHER: 7.0,
    }


def test_retries_and_circuits_share_the_bound():
    metrics = PrometheusMetrics(max_labelled=1)

    metrics.retry("local:a", "local")
    metrics.retry("local:b", "local")
    metrics.circuit("local:a", "open")
    metrics.circuit("local:b", "open")

    assert values(metrics, "fnproxy_retries_total", "function") == {"local:a": 1.0, OTHER: 1.0}
    assert set(values(metrics, "fnproxy_circuit_state", "target")) == {"local:a", OTHER}
