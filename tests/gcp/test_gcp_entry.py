"""End to end through `handlers/gcp_function.py`, served by real functions-framework processes
as the Cloud Functions Python runtime serves it, configured by their environment only: a token
from the module key in Secret Manager (the test server) -> a second functions-framework
function invoked as a `gcp_functions` target -> the record in the Firestore emulator -> its
CloudEvent on a subscription of the events topic (Pub/Sub emulator); and async invocations
that go through the async topic into the `worker` entry (the CloudEvent Eventarc delivers,
POSTed to a functions-framework process serving `worker`) and complete; Google's own samples
of what a push brings (tests/gcp/fixtures/pubsub_push/README.md): a plain push subscription's
body, binary and structured CloudEvents. Also: Cloud Logging's structured JSON with the
request's trace, and an entry that never imports the AWS SDK."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.cloud import pubsub_v1

from core.config import ConfigError
from core.models import Execution, new_id
from core.store.firestore import FirestoreStore
from core.wiring import build_services, load_gcp_settings
from tests.conftest import GCP_PROJECT
from tests.gcp.gcp_stack import (
    MAX_DELIVERY_ATTEMPTS,
    REPO,
    EventInbox,
    FunctionProcess,
    GcpStack,
    create_secret,
    create_stack,
    pubsub_cloud_event,
    received_cloud_event,
    start_function,
)
from tests.gcp.secret_manager_server import SecretManagerServer

pytestmark = pytest.mark.e2e

LOG_WAIT_S = 5.0
READY_TIMEOUT_S = 30.0
MESSAGE_FUNCTION = "queue:message"
PUSHES = Path(__file__).resolve().parent / "fixtures" / "pubsub_push"


@pytest.fixture(scope="module")
def stack(firestore_host: str, pubsub_host: str, secret_manager: SecretManagerServer) -> GcpStack:
    return create_stack(secret_manager)


@pytest.fixture(scope="module")
def inbox(stack: GcpStack) -> EventInbox:
    return EventInbox(stack)


@pytest.fixture(scope="module")
def api(stack: GcpStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FunctionProcess]:
    """fnproxy's HTTP entry, `--target=http`, once its /health says every port answers (the
    first request builds the instance: on a busy machine its first pings may time out)."""
    function = start_function("http", stack.environment(), tmp_path_factory.mktemp("gcp-http"))
    try:
        wait_until_healthy(function)
        yield function
    finally:
        function.stop()


def wait_until_healthy(function: FunctionProcess) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while (answer := httpx.get(f"{function.url}/health", timeout=30)).status_code != 200:
        assert time.monotonic() < deadline, f"never healthy: {answer.text}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def dead_letters(stack: GcpStack) -> tuple[str, str]:
    """A dead-letter topic for the worker's malformed messages, and a pull subscription."""
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    try:
        topic = publisher.create_topic(name=f"{stack.async_topic}-dead").name
        subscription = subscriber.create_subscription(
            name=f"{stack.async_subscription}-dead", topic=topic
        ).name
    finally:
        subscriber.close()
    return topic, subscription


@pytest.fixture(scope="module")
def worker(
    stack: GcpStack, dead_letters: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FunctionProcess]:
    """fnproxy's Pub/Sub entry, `--target=worker --signature-type=cloudevent`, the signature
    type Cloud Functions gives an event-triggered function (the entry's decorator makes it an
    HTTP function all the same)."""
    environment = stack.environment(ASYNC_DEAD_LETTER_TOPIC=dead_letters[0])
    function = start_function(
        "worker", environment, tmp_path_factory.mktemp("gcp-worker"), "cloudevent"
    )
    try:
        yield function
    finally:
        function.stop()


@pytest.fixture
async def client(api: FunctionProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as http_client:
        yield http_client


@pytest.fixture(scope="module")
def bearer(stack: GcpStack, api: FunctionProcess) -> dict[str, str]:
    answer = httpx.post(f"{api.url}/v1/auth/token", json={"api_key": stack.module_key}, timeout=30)
    assert answer.status_code == 200, answer.text
    grant = answer.json()
    assert grant["token_type"] == "Bearer" and grant["scope"] == "admin"
    return {"authorization": f"Bearer {grant['access_token']}"}


def echo_target(ff_url: str) -> dict[str, str]:
    return {"provider": "gcp_functions", "url": f"{ff_url}/echo"}


async def read_from_firestore(stack: GcpStack, execution_id: str) -> Execution | None:
    """The execution as a store of its own reads it from the Firestore emulator."""
    store = FirestoreStore(stack.project, prefix=stack.collection_prefix)
    try:
        return await store.executions.get(execution_id)
    finally:
        await store.close()


async def deliver(worker: FunctionProcess, request: tuple[dict[str, str], bytes]) -> int:
    """POST a CloudEvent to the worker as Eventarc does; the HTTP status it answers."""
    headers, body = request
    async with httpx.AsyncClient(timeout=60) as http_client:
        answer = await http_client.post(worker.url, headers=headers, content=body)
    return answer.status_code


async def pull_one(stack: GcpStack, subscription: str) -> Any:
    [received] = await asyncio.to_thread(stack.pull, subscription)
    return received


async def wait_for_events(inbox: EventInbox, **data: Any) -> list[tuple[dict, dict]]:
    return await asyncio.to_thread(inbox.wait_for, **data)


async def succeeded_as(
    caller: str, inbox: EventInbox, client: httpx.AsyncClient, bearer: dict[str, str]
) -> dict[str, Any]:
    """The record of the one execution `caller` ran that succeeded (found by its event)."""
    [(event, _)] = await wait_for_events(inbox, caller=caller, status="succeeded")
    answer = await client.get(f"/v1/invocations/{event['data']['execution_id']}", headers=bearer)
    return answer.json()


def json_log_lines(function: FunctionProcess) -> list[dict[str, Any]]:
    """Every line the function wrote on stdout, each parsed (each must be JSON)."""
    return [json.loads(line) for line in function.log_lines() if line.strip()]


async def log_entry_of(function: FunctionProcess, request_id: str) -> dict[str, Any]:
    """The audit line of one request (written once the answer is sent: waited for)."""
    deadline = time.monotonic() + LOG_WAIT_S
    while True:
        found = [e for e in json_log_lines(function) if e.get("request_id") == request_id]
        if found or time.monotonic() > deadline:
            assert len(found) == 1, f"audit lines of {request_id}: {found}"
            return found[0]
        await asyncio.sleep(0.05)


# --- the HTTP entry -----------------------------------------------------------------------------


async def test_the_app_answers_through_functions_framework_untouched(
    client: httpx.AsyncClient, bearer: dict[str, str]
) -> None:
    health = await client.get("/health", headers=bearer)
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "ok"
    assert set(health.json()["checks"]) == {"store", "secrets", "events", "queue"}
    assert health.headers["x-request-id"]

    refused = await client.post("/v1/invoke", json={"target": {"provider": "local"}})
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "unauthorized"

    missing = await client.delete("/v1/no-such-route")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_the_dashboard_and_its_assets_are_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    script = re.search(r'src="(dashboard/assets/dashboard\.[0-9a-f]{12}\.js)"', page.text)
    assert script, page.text
    asset = await client.get(f"/{script.group(1)}")
    assert asset.status_code == 200 and b"v1/auth/token" in asset.content
    assert (await client.get("/ui")).headers["location"] == "dashboard"


async def test_invoke_records_in_firestore_and_publishes_on_pubsub(
    stack: GcpStack,
    client: httpx.AsyncClient,
    bearer: dict[str, str],
    inbox: EventInbox,
    ff_url: str,
) -> None:
    payload = {"order": 42, "items": ["a", "b"]}
    body = {"target": echo_target(ff_url), "payload": payload}

    answer = await client.post("/v1/invoke", json=body, headers=bearer)

    assert answer.status_code == 200, answer.text
    envelope = answer.json()
    assert envelope["success"] is True and envelope["status"] == "succeeded"
    assert envelope["status_code"] == 200 and envelope["result"] == payload
    assert envelope["provider"]["name"] == "gcp_functions"
    execution_id = envelope["execution_id"]

    record = (await client.get(f"/v1/invocations/{execution_id}", headers=bearer)).json()
    assert record["status"] == "succeeded" and record["payload"] == payload
    assert record["caller"] == "module"

    stored = await read_from_firestore(stack, execution_id)
    assert stored is not None and stored.status == "succeeded"
    assert stored.result == payload and stored.provider == "gcp_functions"

    [(event, attributes)] = await wait_for_events(inbox, execution_id=execution_id)
    assert event["specversion"] == "1.0"
    assert event["type"] == "dev.fnproxy.invocation.succeeded"
    assert event["data"]["function"] == record["function"]
    assert attributes == {
        "type": "dev.fnproxy.invocation.succeeded",
        "function": record["function"],
        "provider": "gcp_functions",
        "success": "true",
    }


async def test_an_outcome_is_a_metrics_line_for_the_log_based_metrics(
    client: httpx.AsyncClient, bearer: dict[str, str], api: FunctionProcess, ff_url: str
) -> None:
    body = {"target": echo_target(ff_url), "payload": {"metric": "line"}}
    answer = await client.post("/v1/invoke", json=body, headers=bearer)
    assert answer.status_code == 200, answer.text
    function = answer.json()["provider"]["function"]

    deadline = time.monotonic() + LOG_WAIT_S
    while not (lines := [e for e in json_log_lines(api) if e.get("metric") == "invocations"]):
        assert time.monotonic() < deadline, "no invocations line"
        await asyncio.sleep(0.05)

    line = lines[-1]
    assert line["severity"] == "INFO" and line["provider"] == "gcp_functions"
    assert function in line["function"] and line["status"] == "succeeded"
    assert line["success"] is True and line["duration_ms"] > 0


async def test_a_large_body_goes_through_functions_framework_whole(
    client: httpx.AsyncClient, bearer: dict[str, str], ff_url: str
) -> None:
    payload = {"blob": "x" * 1_500_000}  # read by the app itself, as functions-framework streams it

    answer = await client.post(
        "/v1/invoke", json={"target": echo_target(ff_url), "payload": payload}, headers=bearer
    )

    assert answer.status_code == 200, answer.text[:500]
    assert answer.json()["result"] == payload  # the sync answer carries the whole result


# --- the Pub/Sub entry --------------------------------------------------------------------------


async def test_async_invocation_goes_through_pubsub_into_the_worker(
    stack: GcpStack,
    client: httpx.AsyncClient,
    bearer: dict[str, str],
    worker: FunctionProcess,
    inbox: EventInbox,
    ff_url: str,
) -> None:
    payload = {"job": uuid.uuid4().hex}
    body = {"target": echo_target(ff_url), "payload": payload, "mode": "async"}

    answer = await client.post("/v1/invoke", json=body, headers=bearer)

    assert answer.status_code == 202, answer.text
    execution_id = answer.json()["execution_id"]
    assert answer.json()["status"] == "queued"
    received = await pull_one(stack, stack.async_subscription)
    assert json.loads(received.message.data) == {"execution_id": execution_id, "payload": payload}
    delivery = received_cloud_event(received, stack.async_topic, stack.async_subscription, 1)

    assert await deliver(worker, delivery) == 200  # acknowledged

    record = (await client.get(f"/v1/invocations/{execution_id}", headers=bearer)).json()
    assert record["status"] == "succeeded" and record["result"] == payload
    stored = await read_from_firestore(stack, execution_id)
    assert stored is not None and stored.status == "succeeded" and stored.attempts == 1
    [(event, _)] = await wait_for_events(inbox, execution_id=execution_id)
    assert event["type"] == "dev.fnproxy.invocation.succeeded"

    assert await deliver(worker, delivery) == 200  # a redelivery: acknowledged, not run again
    again = await read_from_firestore(stack, execution_id)
    assert again is not None and again.updated_at == stored.updated_at
    assert again.attempts == 1


async def test_an_invocation_request_published_by_another_system_runs_in_the_worker(
    stack: GcpStack,
    client: httpx.AsyncClient,
    bearer: dict[str, str],
    worker: FunctionProcess,
    inbox: EventInbox,
    ff_url: str,
) -> None:
    payload = {"from": "another system", "n": uuid.uuid4().hex}
    request = {"target": echo_target(ff_url), "payload": payload}
    publisher = pubsub_v1.PublisherClient()
    publisher.publish(stack.async_topic, json.dumps(request).encode()).result(timeout=10)
    received = await pull_one(stack, stack.async_subscription)

    status = await deliver(
        worker, received_cloud_event(received, stack.async_topic, stack.async_subscription)
    )

    assert status == 200
    caller = f"pubsub:{stack.async_subscription}"
    record = await succeeded_as(caller, inbox, client, bearer)
    assert record["result"] == payload and record["caller"] == caller


async def test_a_malformed_message_is_recorded_and_acknowledged(
    stack: GcpStack,
    client: httpx.AsyncClient,
    bearer: dict[str, str],
    worker: FunctionProcess,
    inbox: EventInbox,
) -> None:
    source = f"pubsub:{stack.async_subscription}"
    delivery = pubsub_cloud_event(b"{not json", stack.async_topic, stack.async_subscription)

    assert await deliver(worker, delivery) == 200  # acknowledged: never retried

    [(event, _)] = await wait_for_events(inbox, function=MESSAGE_FUNCTION, caller=source)
    assert event["data"]["status"] == "failed"
    assert event["data"]["error"]["type"] == "MalformedMessage"
    record = (
        await client.get(f"/v1/invocations/{event['data']['execution_id']}", headers=bearer)
    ).json()
    assert record["payload"] == "{not json" and "not JSON" in record["error"]["message"]


async def test_a_failing_message_is_retried_then_recorded_when_dead_lettered(
    stack: GcpStack, client: httpx.AsyncClient, bearer: dict[str, str], worker: FunctionProcess
) -> None:
    missing = new_id()  # an execution reference the store does not have (yet)
    data = json.dumps({"execution_id": missing, "payload": None}).encode()

    def attempt(number: int) -> tuple[dict[str, str], bytes]:
        return pubsub_cloud_event(
            data,
            stack.async_topic,
            stack.async_subscription,
            message_id="m-" + missing,
            delivery_attempt=number,
        )

    assert await deliver(worker, attempt(1)) == 500  # Pub/Sub delivers it again
    answer = await client.get(f"/v1/invocations/{missing}", headers=bearer)
    assert answer.status_code == 404

    assert await deliver(worker, attempt(MAX_DELIVERY_ATTEMPTS)) == 500  # then dead-letters it
    record = (await client.get(f"/v1/invocations/{missing}", headers=bearer)).json()
    assert record["status"] == "failed" and record["error"]["type"] == "DeadLettered"


# --- Google's own samples of what a push brings ------------------------------------------------


def push_sample(name: str) -> dict[str, Any]:
    """tests/gcp/fixtures/pubsub_push/`name`, as it is upstream."""
    return json.loads((PUSHES / name).read_text(encoding="utf-8"))


def push_of(stack: GcpStack, data: bytes) -> dict[str, Any]:
    """Google's push body sample carrying `data`, its message id and subscription (of the
    stack's project) new: each test finds its own records by their caller."""
    push = push_sample("MessagePublishedData-complex.json")
    push["subscription"] = f"projects/{stack.project}/subscriptions/{uuid.uuid4().hex}"
    push["message"].update(data=base64.b64encode(data).decode(), messageId=uuid.uuid4().hex)
    return push


async def post(worker: FunctionProcess, body: Any, headers: dict[str, str]) -> int:
    async with httpx.AsyncClient(timeout=60) as http_client:
        answer = await http_client.post(worker.url, json=body, headers=headers)
    return answer.status_code


def trace_headers() -> tuple[str, dict[str, str]]:
    """A new trace id, and the W3C `traceparent` header naming it."""
    trace_id = uuid.uuid4().hex
    return trace_id, {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}


async def lines_of(
    function: FunctionProcess, wanted: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """The function's log lines that are `wanted`, once there is one (or LOG_WAIT_S passed)."""
    deadline = time.monotonic() + LOG_WAIT_S
    while not (found := [line for line in json_log_lines(function) if wanted(line)]):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    return found


async def lines_in_trace(function: FunctionProcess, trace_id: str) -> list[dict[str, Any]]:
    """The function's lines in the trace, but for the metrics lines (one per outcome, whatever
    LOG_LEVEL: test_an_outcome_is_a_metrics_line_for_the_log_based_metrics)."""
    trace = f"projects/{GCP_PROJECT}/traces/{trace_id}"
    return await lines_of(
        function,
        lambda line: line.get("logging.googleapis.com/trace") == trace and "metric" not in line,
    )


async def records_from(
    client: httpx.AsyncClient, bearer: dict[str, str], caller: str
) -> list[dict[str, Any]]:
    """The records of messages from `caller` that never became an execution."""
    page = (
        await client.get("/v1/invocations", params={"function": MESSAGE_FUNCTION}, headers=bearer)
    ).json()
    return [record for record in page["invocations"] if record["caller"] == caller]


async def test_googles_push_sample_is_served_as_a_plain_push_subscription_sends_it(
    client: httpx.AsyncClient, bearer: dict[str, str], worker: FunctionProcess
) -> None:
    """Its data, "test message 3", is no queue message: recorded and acknowledged, in the
    request's trace."""
    trace_id, headers = trace_headers()

    assert await post(worker, push_sample("MessagePublishedData-complex.json"), headers) == 200

    caller = "pubsub:projects/test-project/subscriptions/my-subscription"
    [record] = await records_from(client, bearer, caller)
    assert record["payload"] == "test message 3"
    assert record["error"]["message"].startswith("the body is not JSON")
    [rejected] = await lines_in_trace(worker, trace_id)
    assert rejected["severity"] == "WARNING" and caller in rejected["message"]


async def test_a_plain_push_of_a_request_runs_it(
    stack: GcpStack,
    client: httpx.AsyncClient,
    bearer: dict[str, str],
    worker: FunctionProcess,
    inbox: EventInbox,
    ff_url: str,
) -> None:
    payload = {"pushed": uuid.uuid4().hex}
    push = push_of(stack, json.dumps({"target": echo_target(ff_url), "payload": payload}).encode())

    assert await post(worker, push, {}) == 200

    record = await succeeded_as(f"pubsub:{push['subscription']}", inbox, client, bearer)
    assert record["result"] == payload


async def test_functions_frameworks_structured_cloud_event_is_served(
    client: httpx.AsyncClient, bearer: dict[str, str], worker: FunctionProcess
) -> None:
    """No subscription in its data: the topic is the caller; its trace comes from
    X-Cloud-Trace-Context."""
    trace_id = uuid.uuid4().hex
    headers = {
        "content-type": "application/cloudevents+json",
        "x-cloud-trace-context": f"{trace_id}/1;o=1",
    }

    assert await post(worker, push_sample("pubsub_text-cloudevent-output.json"), headers) == 200

    caller = "pubsub:projects/sample-project/topics/gcf-test"
    [record] = await records_from(client, bearer, caller)
    assert record["payload"] == "test message 3"
    [rejected] = await lines_in_trace(worker, trace_id)
    assert rejected["logging.googleapis.com/trace_sampled"] is True


async def test_a_cloud_events_own_traceparent_comes_before_the_requests(
    stack: GcpStack, worker: FunctionProcess
) -> None:
    """Binary mode, as Eventarc sends it: Google's push body sample as the data, the CloudEvent's
    attributes in ce- headers (its Distributed Tracing extension too)."""
    event_trace, request_trace = uuid.uuid4().hex, uuid.uuid4().hex
    headers, _ = pubsub_cloud_event(b"", stack.async_topic, stack.async_subscription)
    headers["ce-traceparent"] = f"00-{event_trace}-b7ad6b7169203331-01"
    headers["traceparent"] = f"00-{request_trace}-00f067aa0ba902b7-01"
    body = json.dumps(push_of(stack, b"not a request")).encode()

    assert await deliver(worker, (headers, body)) == 200

    [rejected] = await lines_in_trace(worker, event_trace)
    assert rejected["logging.googleapis.com/spanId"] == "b7ad6b7169203331"
    assert await lines_in_trace(worker, request_trace) == []


async def test_a_failing_push_is_logged_with_its_message_id_and_answered_500(
    stack: GcpStack, worker: FunctionProcess
) -> None:
    trace_id, headers = trace_headers()
    push = push_of(stack, json.dumps({"execution_id": new_id()}).encode())

    assert await post(worker, push, headers) == 500  # Pub/Sub delivers it again

    [failed] = await lines_in_trace(worker, trace_id)
    assert failed["severity"] == "ERROR"
    assert f"Pub/Sub message {push['message']['messageId']}" in failed["message"]
    assert "not in the store" in failed["message"]


async def dead_lettered(stack: GcpStack, subscription: str, data: bytes) -> Any:
    """The message of the dead-letter subscription whose data is `data` (the copies of other
    tests' malformed messages are passed over)."""
    deadline = time.monotonic() + LOG_WAIT_S
    while time.monotonic() < deadline:
        for received in await asyncio.to_thread(stack.pull, subscription):
            if received.message.data == data:
                return received.message
    raise AssertionError(f"{data!r} never reached {subscription}")


async def test_an_execution_reference_with_a_foreign_id_is_refused_once(
    stack: GcpStack, worker: FunctionProcess, dead_letters: tuple[str, str]
) -> None:
    """Not retried: recorded in Firestore, copied to the dead-letter topic with its reason,
    one log line."""
    trace_id, headers = trace_headers()
    body = json.dumps({"execution_id": "f47ac10b58cc4372a5670e02b2c3d479"}).encode()

    assert await post(worker, push_of(stack, body), headers) == 200

    dead = await dead_lettered(stack, dead_letters[1], body)
    reason = dead.attributes["fnproxy_reason"]
    assert "not an fnproxy id" in reason
    stored = await read_from_firestore(stack, dead.attributes["fnproxy_execution_id"])
    assert stored is not None and stored.error == {"type": "MalformedMessage", "message": reason}
    [logged] = await lines_in_trace(worker, trace_id)
    assert logged["severity"] == "WARNING" and reason in logged["message"]


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("dGVzdA==", "a Pub/Sub push body with no message"),
        ({"data": "dGVzdA=="}, "the Pub/Sub message has no messageId"),
        ({"data": "%%%", "messageId": "m1"}, "the Pub/Sub message's data is not base64"),
    ],
)
async def test_a_push_body_without_a_usable_message_is_recorded_and_acknowledged(
    stack: GcpStack,
    client: httpx.AsyncClient,
    bearer: dict[str, str],
    worker: FunctionProcess,
    message: Any,
    reason: str,
) -> None:
    push = {**push_of(stack, b""), "message": message}

    assert await post(worker, push, {}) == 200

    [record] = await records_from(client, bearer, f"pubsub:{push['subscription']}")
    assert record["error"] == {"type": "MalformedMessage", "message": reason}
    assert json.loads(record["payload"]) == push


async def test_a_request_that_is_no_push_is_refused_and_logged(worker: FunctionProcess) -> None:
    assert await post(worker, {"hello": "world"}, {}) == 400

    refused = await lines_of(
        worker, lambda line: line["message"].startswith("the worker refused a request")
    )
    assert refused and refused[-1]["severity"] == "ERROR"
    assert "neither specversion nor message" in refused[-1]["message"]


# --- the gcp column of the wiring -------------------------------------------------------------


def port_kinds(services: Any) -> dict[str, str]:
    ports = ("store", "secrets", "events", "queue")
    return {port: type(getattr(services, port)).__name__ for port in ports}


async def test_gcp_column_and_single_port_overrides(stack: GcpStack, tmp_path: Path) -> None:
    settings, secrets = load_gcp_settings(stack.environment())
    services = build_services(settings, secrets=secrets)
    await services.close()

    assert settings.module_secret_key == stack.module_key  # read from Secret Manager
    assert port_kinds(services) == {
        "store": "FirestoreStore",
        "secrets": "GcpSecretManagerSource",
        "events": "PubSubEventBus",
        "queue": "PubSubWorkQueue",
    }
    assert services.providers.enabled == ["aws_lambda", "gcp_functions", "http", "local"]

    overridden = stack.environment(
        STORE_BACKEND="sqlite",
        SQLITE_PATH=str(tmp_path / "fnproxy.db"),
        SECRETS_BACKEND="env",
        MODULE_SECRET_KEY=stack.module_key,
    )
    settings, secrets = load_gcp_settings(overridden)
    services = build_services(settings, secrets=secrets)
    await services.close()

    assert port_kinds(services) == {
        "store": "SqliteStore",
        "secrets": "EnvSecretSource",
        "events": "PubSubEventBus",
        "queue": "PubSubWorkQueue",
    }


def test_secret_references_resolve_before_settings_are_read(
    stack: GcpStack, secret_manager: SecretManagerServer
) -> None:
    limits = create_secret(secret_manager, json.dumps({"batch": 7}))

    settings, _ = load_gcp_settings(stack.environment(MAX_BATCH_SIZE_SECRET=f"{limits}#batch"))

    assert settings.max_batch_size == 7
    assert settings.module_secret_key == stack.module_key


@pytest.mark.parametrize("variable", ["EVENTS_TOPIC", "ASYNC_TOPIC", "GCP_PROJECT_ID"])
def test_a_missing_gcp_setting_is_named(stack: GcpStack, variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        settings, secrets = load_gcp_settings(stack.environment(**{variable: ""}))
        build_services(settings, secrets=secrets)


# --- logs and imports ---------------------------------------------------------------------------


async def test_log_lines_are_cloud_logging_json_with_the_request_trace(
    client: httpx.AsyncClient, api: FunctionProcess
) -> None:
    trace_id, span = uuid.uuid4().hex, 123456789
    cloud_trace = {"x-cloud-trace-context": f"{trace_id}/{span};o=1", "x-request-id": "ct-1"}
    w3c_trace_id, w3c_span = uuid.uuid4().hex, "00f067aa0ba902b7"
    traceparent = {"traceparent": f"00-{w3c_trace_id}-{w3c_span}-00", "x-request-id": "tp-1"}

    assert (await client.get("/health", headers=cloud_trace)).status_code == 200
    assert (await client.get("/health", headers=traceparent)).status_code == 200
    assert (await client.get("/health", headers={"x-request-id": "none-1"})).status_code == 200

    entry = await log_entry_of(api, "ct-1")
    assert entry["severity"] == "INFO"
    assert entry["logging.googleapis.com/trace"] == f"projects/{GCP_PROJECT}/traces/{trace_id}"
    assert entry["logging.googleapis.com/spanId"] == f"{span:016x}"
    assert entry["logging.googleapis.com/trace_sampled"] is True
    assert entry["action"] and entry["resource"] == "/health" and entry["outcome"] == 200
    assert entry["principal"] == "anonymous" and entry["decision"] == "allow"
    assert entry["message"] == "GET /health -> 200"

    entry = await log_entry_of(api, "tp-1")
    assert entry["logging.googleapis.com/trace"] == f"projects/{GCP_PROJECT}/traces/{w3c_trace_id}"
    assert entry["logging.googleapis.com/spanId"] == w3c_span
    assert entry["logging.googleapis.com/trace_sampled"] is False

    entry = await log_entry_of(api, "none-1")
    assert "logging.googleapis.com/trace" not in entry

    for line in json_log_lines(api):
        assert line["severity"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
        assert isinstance(line["message"], str) and line["time"]


def test_the_gcp_entry_never_imports_the_aws_sdk() -> None:
    probe = (
        "import sys, handlers.gcp_function\n"
        "aws = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', "
        "'aws_lambda_powertools', 'mangum'))\n"
        "print(aws)\n"
    )
    answer = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert answer.stdout.strip() == "[]", answer.stdout
