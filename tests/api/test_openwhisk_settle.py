"""An OpenWhisk activation that outlives the blocking wait is recorded as running, then settled
from the activation, once: on read of the execution and by the async worker. Real services
over SQLite, the openwhisk provider pointing at the OpenWhisk-protocol test server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from core import wiring
from core.api.app import create_app
from core.events.base import CloudEvent, InvocationMessage
from core.invoke.recorder import Recorder
from core.invoke.settle import Settler
from core.models import Execution, new_id
from core.otel import OtelSpans
from core.providers.openwhisk import OpenWhiskProvider
from tests.api.conftest import api_settings, token_for
from tests.fixtures.openwhisk_fixture import (  # noqa: F401 - fixtures
    RunningOpenWhisk,
    openwhisk_server,
    openwhisk_session,
)

BLOCKING_WAIT_MS = 150
"""The provider's longest blocking wait: a 500 ms activation outlives it."""
SLOW = {"provider": "openwhisk", "action": "slow"}


@pytest.fixture
def ow(openwhisk_server: RunningOpenWhisk) -> RunningOpenWhisk:  # noqa: F811
    return openwhisk_server


@pytest.fixture
async def services(tmp_path, ow, monkeypatch) -> AsyncIterator[wiring.Services]:
    factories = wiring.provider_factories
    openwhisk = {
        "openwhisk": lambda: OpenWhiskProvider(
            ow.url, "guest", ow.server.auth_key, 4, blocking_timeout_ms=BLOCKING_WAIT_MS
        )
    }
    monkeypatch.setattr(wiring, "provider_factories", lambda s: {**factories(s), **openwhisk})
    built = wiring.build_services(api_settings(tmp_path))
    built.queue.start(built.worker.handle)
    yield built
    await built.close()


@pytest.fixture
async def client(services) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://fnproxy.test") as http:
        http.headers["Authorization"] = f"Bearer {await token_for(http)}"
        yield http


@pytest.fixture
def events(services) -> list[CloudEvent]:
    published: list[CloudEvent] = []

    async def keep(event: CloudEvent) -> None:
        published.append(event)

    services.events.subscribe(keep)
    return published


async def invoke(client: httpx.AsyncClient, payload: dict, **more) -> dict:
    response = await client.post("/v1/invoke", json={"target": SLOW, "payload": payload, **more})
    assert response.status_code in (200, 202), response.text
    return response.json()


async def read(client: httpx.AsyncClient, execution_id: str) -> dict:
    response = await client.get(f"/v1/invocations/{execution_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def count(client: httpx.AsyncClient) -> dict:
    return (await client.get("/v1/stats", params={"function": "openwhisk:guest/slow"})).json()


async def test_blocking_invoke_that_outlives_the_wait_is_running_not_a_success(client):
    envelope = await invoke(client, {"sleep_ms": 500})

    assert envelope["status"] == "running"
    assert envelope["success"] is None and envelope["result"] is None
    assert envelope["status_code"] == 202
    assert envelope["provider"]["activation_id"]
    record = await read(client, envelope["execution_id"])
    assert record["status"] == "running" and record["finished_at"] is None
    assert (await count(client))["count"] == 0


async def test_reading_it_after_the_activation_ended_settles_it_once(client, ow, events):
    envelope = await invoke(client, {"sleep_ms": 300})
    await ow.server.ended(envelope["provider"]["activation_id"])

    first, second = await asyncio.gather(
        read(client, envelope["execution_id"]), read(client, envelope["execution_id"])
    )
    again = await read(client, envelope["execution_id"])

    for record in (first, second, again):
        assert record["status"] == "succeeded" and record["success"] is True
        assert record["result"] == {"slept_ms": 300}
        assert record["status_code"] == 200
        assert record["finished_at"] is not None
        assert record["provider_info"]["activation_id"] == envelope["provider"]["activation_id"]
        assert record["provider_info"]["status"] == "success"
        assert record["duration_ms"] >= 300
        assert record["logs"] == "2026-01-01T00:00:00.000Z stdout: slow ran"
    stats = await count(client)
    assert stats["count"] == 1 and stats["successes"] == 1
    assert [event.type for event in events] == ["dev.fnproxy.invocation.succeeded"]


@pytest.fixture
def exported(monkeypatch) -> InMemorySpanExporter:
    """What the services built after it export (as with OTEL_EXPORTER_OTLP_ENDPOINT set)."""
    exporter = InMemorySpanExporter()
    spans = OtelSpans(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(wiring, "build_spans", lambda settings: spans)
    return exporter


async def test_a_settled_invocation_ends_its_span_when_it_settles(exported, client, ow):
    envelope = await invoke(client, {"sleep_ms": 300})
    assert [span.kind for span in exported.get_finished_spans()] == [SpanKind.CLIENT]
    await ow.server.ended(envelope["provider"]["activation_id"])

    record = await read(client, envelope["execution_id"])

    attempt, invocation = exported.get_finished_spans()
    assert invocation.kind == SpanKind.SERVER
    assert invocation.attributes["fnproxy.status"] == record["status"] == "succeeded"
    assert f"{invocation.context.span_id:016x}" == record["traceparent"].split("-")[2]
    assert attempt.parent.span_id == invocation.context.span_id


async def test_a_failed_activation_settles_as_failed_with_its_error(client, ow):
    target = {"provider": "openwhisk", "action": "fail"}
    answer = await client.post(
        "/v1/invoke", json={"target": target, "payload": {"sleep_ms": 300, "error": "late"}}
    )
    assert answer.json()["status"] == "running"
    await ow.server.ended(answer.json()["provider"]["activation_id"])

    record = await read(client, answer.json()["execution_id"])

    assert record["status"] == "failed" and record["success"] is False
    assert record["status_code"] == 502
    assert record["error"] == {
        "type": "ApplicationError",
        "message": "late",
        "activation_status": "application error",
    }
    stats = await client.get("/v1/stats", params={"function": "openwhisk:guest/fail"})
    assert stats.json()["failures"] == 1


async def test_a_read_while_openwhisk_is_down_answers_with_the_running_record(client, ow):
    envelope = await invoke(client, {"sleep_ms": 250})
    assert envelope["status"] == "running"
    activation_id = envelope["provider"]["activation_id"]
    path = f"/api/v1/namespaces/guest/activations/{activation_id}"
    ow.server.answer_next(path, 503, {"error": "down"})
    await ow.server.ended(activation_id)

    assert (await read(client, envelope["execution_id"]))["status"] == "running"
    assert (await read(client, envelope["execution_id"]))["status"] == "succeeded"


async def test_the_async_worker_settles_what_it_left_running(client, services):
    accepted = await invoke(client, {"sleep_ms": 400}, mode="async")
    assert accepted["status"] == "queued"

    await services.queue.drain()

    stored = await services.store.executions.get(accepted["execution_id"])
    assert stored.status == "succeeded" and stored.result == {"slept_ms": 400}
    assert stored.provider_info["activation_id"]
    assert (await count(client))["count"] == 1


@pytest.mark.parametrize(("status", "duration_ms"), [("running", None), ("succeeded", 5.0)])
async def test_only_executions_left_running_by_their_provider_are_asked_about(
    services,
    ow,
    status,
    duration_ms,
):
    """A running record without a duration is a call still in flight (the async worker's)."""
    recorder = Recorder(services.store, services.events, services.settings.stats_bucket_s)
    settler = Settler(services.store.executions, services.providers, recorder, services.archive)
    execution = Execution(
        execution_id=new_id(),
        target=SLOW,
        provider="openwhisk",
        function="openwhisk:guest/slow",
        mode="async",
        status=status,
        caller="tester",
        created_at=0.0,
        updated_at=0.0,
        expires_at=0.0,
        duration_ms=duration_ms,
        provider_info={"activation_id": "0" * 32, "namespace": "guest"},
    )

    assert await settler.settle(execution) is execution
    assert ow.server.requests == []


async def test_the_queue_never_runs_again_what_openwhisk_still_runs(client, services):
    envelope = await invoke(client, {"sleep_ms": 300})
    execution_id = envelope["execution_id"]

    runnable = await services.store.executions.list_runnable(time.time(), 100)
    assert execution_id not in [execution.execution_id for execution in runnable.items]
    assert await services.worker.handle(InvocationMessage(execution_id, {})) is None

    stored = await services.store.executions.get(execution_id)
    assert stored.status == "running" and stored.error is None
