"""OpenTelemetry: one span per invocation and per attempt, with the ids of the execution's
trace context, exported through the SDK (an in-memory exporter here); and the SDK never
imported while OTEL_EXPORTER_OTLP_ENDPOINT is unset."""

from __future__ import annotations

import subprocess
import sys

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from core import wiring
from core.otel import OtelSpans
from core.tracing import parse_traceparent
from tests.api.conftest import REPO

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"


@pytest.fixture(autouse=True)
def exported(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """What the services built for the test export (build_spans as with an endpoint set)."""
    exporter = InMemorySpanExporter()
    spans = OtelSpans(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(wiring, "build_spans", lambda settings: spans)
    return exporter


def by_kind(exporter: InMemorySpanExporter) -> tuple[object, list]:
    spans = exporter.get_finished_spans()
    invocations = [s for s in spans if s.kind == SpanKind.SERVER]
    assert len(invocations) == 1
    return invocations[0], [s for s in spans if s.kind == SpanKind.CLIENT]


async def test_a_retried_invocation_is_one_span_with_a_child_per_attempt(
    client, admin, ff_url, exported
):
    body = {"target": {"provider": "http", "url": f"{ff_url}/status/503"}}
    answer = await client.post(
        "/v1/invoke", json=body, headers={**admin, "traceparent": TRACEPARENT}
    )
    assert answer.status_code == 502

    invocation, attempts = by_kind(exported)
    record = (
        await client.get(f"/v1/invocations/{answer.json()['execution_id']}", headers=admin)
    ).json()
    own = parse_traceparent(record["traceparent"])
    assert f"{invocation.context.span_id:016x}" == own.span_id
    assert f"{invocation.context.trace_id:032x}" == TRACE_ID
    assert f"{invocation.parent.span_id:016x}" == CALLER_SPAN and invocation.parent.is_remote
    assert invocation.status.status_code == StatusCode.ERROR
    assert invocation.attributes["fnproxy.provider"] == "http"
    assert invocation.attributes["fnproxy.function"] == record["function"]
    assert invocation.attributes["fnproxy.status"] == "failed"
    assert invocation.attributes["fnproxy.retry_count"] == 2
    assert [a.attributes["fnproxy.attempt"] for a in attempts] == [1, 2, 3]
    assert [a.attributes["fnproxy.retry_count"] for a in attempts] == [0, 1, 2]
    assert {a.attributes["fnproxy.error"] for a in attempts} == {"TransientFailure"}
    assert all(a.parent.span_id == invocation.context.span_id for a in attempts)
    assert all(a.context.trace_id == invocation.context.trace_id for a in attempts)
    assert len({a.context.span_id for a in attempts}) == 3


async def test_an_attempt_span_is_the_one_its_target_was_told_of(client, admin, ff_url, exported):
    body = {"target": {"provider": "http", "url": f"{ff_url}/headers"}}
    answer = await client.post("/v1/invoke", json=body, headers=admin)
    assert answer.status_code == 200

    invocation, [attempt] = by_kind(exported)
    sent = parse_traceparent(answer.json()["result"]["headers"]["traceparent"])
    assert f"{attempt.context.span_id:016x}" == sent.span_id
    assert attempt.attributes["fnproxy.status_code"] == 200
    assert attempt.status.status_code == invocation.status.status_code == StatusCode.OK
    assert invocation.parent is None  # a trace fnproxy started


PROBE = """
import asyncio, sys
from tests.api.conftest import api_settings
import handlers.aws_lambda
from core.invoke.service import InvocationRequest
from core.auth.principal import Principal
from core.targets import LocalTarget
from core.wiring import build_services

async def main():
    settings = dict(arg.split("=", 1) for arg in sys.argv[2:])
    services = build_services(api_settings(sys.argv[1], **settings))
    admin = Principal(subject="probe", scopes=frozenset({"admin"}), token_id="t")
    request = InvocationRequest(target=LocalTarget(provider="local", function="echo"), payload=1)
    invocation = await services.invocations.invoke(request, admin)
    assert invocation.execution.status == "succeeded", invocation.execution.error
    await services.close()

asyncio.run(main())
print(sorted({m.split(".")[1] for m in sys.modules if m.startswith("opentelemetry.")}))
"""


def loaded_otel_modules(tmp_path, *settings: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path), *settings],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]  # after the log lines


def test_the_sdk_is_never_imported_while_no_endpoint_is_set(tmp_path):
    assert loaded_otel_modules(tmp_path) == "[]"


def test_an_endpoint_setting_loads_the_sdk_and_exporter(tmp_path):
    loaded = loaded_otel_modules(tmp_path, "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9")

    assert "sdk" in loaded and "exporter" in loaded
