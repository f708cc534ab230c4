"""GET /metrics: Prometheus' text format, read by prometheus-client's own parser after a scripted
load, its counts matching /v1/stats'; only for a `read` token."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.metrics.cloud_logging import LogMetrics
from tests.api.conftest import new_client

SUCCESSES = 3


def families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples(family, name: str) -> dict[tuple, float]:
    """The family's samples called `name`, by their labels (sorted pairs) without `le`."""
    return {
        tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le")): sample.value
        for sample in family.samples
        if sample.name == name
    }


async def scripted_load(client, admin, ff_url) -> None:
    """Three successes, a function's own failure, and a target failing with 503 (retried
    twice, MAX_RETRIES=2, then failed: its circuit opens)."""
    for n in range(SUCCESSES):
        echo = {"target": {"provider": "local", "function": "echo"}, "payload": {"n": n}}
        assert (await client.post("/v1/invoke", json=echo, headers=admin)).status_code == 200
    fail = {"target": {"provider": "local", "function": "fail"}, "payload": {"message": "x"}}
    assert (await client.post("/v1/invoke", json=fail, headers=admin)).json()["success"] is False
    unavailable = {"target": {"provider": "http", "url": f"{ff_url}/status/503"}}
    assert (await client.post("/v1/invoke", json=unavailable, headers=admin)).status_code == 502


async def test_metrics_after_a_scripted_load_match_stats(client, admin, ff_url):
    await scripted_load(client, admin, ff_url)

    response = await client.get("/metrics", headers=admin)
    stats = (await client.get("/v1/stats", headers=admin)).json()

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    found = families(response.text)
    invocations = samples(found["fnproxy_invocations"], "fnproxy_invocations_total")
    assert sum(invocations.values()) == stats["count"] == SUCCESSES + 2
    by_function: dict[str, float] = {}
    for labels, value in invocations.items():
        function = dict(labels)["function"]
        by_function[function] = by_function.get(function, 0) + value
    assert by_function == {name: row["count"] for name, row in stats["by_function"].items()}
    assert (
        invocations[(("function", "local:echo"), ("provider", "local"), ("status", "succeeded"))]
        == SUCCESSES
    )
    errors = samples(found["fnproxy_errors"], "fnproxy_errors_total")
    assert sum(errors.values()) == stats["failures"] == 2
    [(http_labels, retries)] = samples(found["fnproxy_retries"], "fnproxy_retries_total").items()
    assert retries == 2 and dict(http_labels)["provider"] == "http"
    counts = samples(found["fnproxy_duration_milliseconds"], "fnproxy_duration_milliseconds_count")
    assert sum(counts.values()) == stats["count"]
    assert samples(found["fnproxy_queue_depth"], "fnproxy_queue_depth") == {(): 0.0}
    assert samples(found["fnproxy_store_errors"], "fnproxy_store_errors_total") == {}
    circuits = samples(found["fnproxy_circuit_state"], "fnproxy_circuit_state")
    target = dict(http_labels)["function"]
    assert circuits[(("fnproxy_circuit_state", "open"), ("target", target))] == 1.0
    assert circuits[(("fnproxy_circuit_state", "closed"), ("target", target))] == 0.0


@pytest.fixture
def setting_overrides() -> dict[str, str]:
    """The 503 target's three failed attempts open its circuit."""
    return {"CIRCUIT_FAILURE_THRESHOLD": "3"}


async def test_metrics_need_the_read_scope(client, admin):
    assert (await client.get("/metrics")).status_code == 401
    invoker = await new_client(client, admin, "invoke")

    refused = await client.get("/metrics", headers=invoker)

    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["required_scope"] == "read"
    reader = await new_client(client, admin, "read")
    assert (await client.get("/metrics", headers=reader)).status_code == 200


async def test_a_failed_store_write_is_a_store_error_and_the_outcome_counts_once(
    client, admin, services, monkeypatch
):
    settle = services.store.executions.settle_announcement
    failures = ["database is locked"]

    async def settle_after_a_failure(*args, **kwargs):
        if failures:
            raise RuntimeError(failures.pop())
        return await settle(*args, **kwargs)

    monkeypatch.setattr(services.store.executions, "settle_announcement", settle_after_a_failure)
    echo = {"target": {"provider": "local", "function": "echo"}, "payload": {}}
    assert (await client.post("/v1/invoke", json=echo, headers=admin)).status_code == 200

    found = families((await client.get("/metrics", headers=admin)).text)

    store_errors = samples(found["fnproxy_store_errors"], "fnproxy_store_errors_total")
    assert store_errors == {(("operation", "count in stats"),): 1.0}
    invocations = samples(found["fnproxy_invocations"], "fnproxy_invocations_total")
    assert sum(invocations.values()) == 1


async def test_a_sink_that_pushes_its_metrics_answers_404(client, admin, services, monkeypatch):
    monkeypatch.setattr(services, "metrics", LogMetrics())

    answer = await client.get("/metrics", headers=admin)

    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert "cloud's monitoring" in answer.json()["detail"]
