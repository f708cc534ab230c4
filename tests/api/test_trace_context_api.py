"""W3C trace context through the API: the caller's trace kept (a malformed one replaced), an
own span per invocation and per attempt, and the attempt's `traceparent` arriving at an HTTP
target (functions-framework) and in a local function's context."""

from __future__ import annotations

import pytest

from core.tracing import parse_traceparent
from tests.api.test_invoke_api import wait_for_status

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
TRACESTATE = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
CONTEXT_FUNCTION = '''"""Returns what its context's client_context carries."""


def handler(event, context):
    return {"request_id": context.aws_request_id, "custom": context.client_context.custom}
'''


@pytest.fixture
def setting_overrides(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    functions = tmp_path_factory.mktemp("functions")
    (functions / "client_context.py").write_text(CONTEXT_FUNCTION)
    return {"LOCAL_FUNCTIONS_DIR": str(functions)}


def headers_target(ff_url: str) -> dict[str, str]:
    return {"provider": "http", "url": f"{ff_url}/headers"}


async def invoke(client, admin, body, **headers):
    answer = await client.post("/v1/invoke", json=body, headers={**admin, **headers})
    assert answer.status_code in (200, 202), answer.text
    return answer.json()


async def record_of(client, admin, execution_id):
    return (await client.get(f"/v1/invocations/{execution_id}", headers=admin)).json()


async def test_an_http_target_gets_a_child_of_the_callers_trace(client, admin, ff_url):
    body = {"target": headers_target(ff_url)}
    answer = await invoke(client, admin, body, traceparent=TRACEPARENT, tracestate=TRACESTATE)

    sent = answer["result"]["headers"]
    attempt = parse_traceparent(sent["traceparent"])
    record = await record_of(client, admin, answer["execution_id"])
    own = parse_traceparent(record["traceparent"])
    assert attempt is not None and own is not None
    assert attempt.trace_id == own.trace_id == TRACE_ID
    assert len({attempt.span_id, own.span_id, CALLER_SPAN}) == 3  # a span each
    assert sent["tracestate"] == record["tracestate"] == TRACESTATE


async def test_a_malformed_traceparent_is_replaced_by_a_fresh_trace(client, admin, ff_url):
    malformed = f"00-{TRACE_ID}-{'0' * 16}-01"  # an all-zero parent id is invalid
    body = {"target": headers_target(ff_url)}
    answer = await invoke(client, admin, body, traceparent=malformed, tracestate=TRACESTATE)

    sent = parse_traceparent(answer["result"]["headers"]["traceparent"])
    assert sent is not None and sent.trace_id != TRACE_ID
    assert "tracestate" not in answer["result"]["headers"]  # it went with the bad traceparent


async def test_a_targets_own_traceparent_header_is_replaced(client, admin, ff_url):
    target = {**headers_target(ff_url), "headers": {"TraceParent": "00-forged"}}
    answer = await invoke(client, admin, {"target": target}, traceparent=TRACEPARENT)

    sent = answer["result"]["headers"]["traceparent"]
    assert parse_traceparent(sent).trace_id == TRACE_ID


async def test_an_xray_header_is_the_trace_when_there_is_no_traceparent(client, admin, ff_url):
    xray = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    body = {"target": headers_target(ff_url)}
    answer = await invoke(client, admin, body, **{"X-Amzn-Trace-Id": xray})

    sent = parse_traceparent(answer["result"]["headers"]["traceparent"])
    assert sent.trace_id == "5759e988bd862e3fe1be46a994272793"


async def test_a_local_function_finds_the_trace_in_its_client_context(client, admin):
    body = {"target": {"provider": "local", "function": "client_context"}}
    answer = await invoke(client, admin, body, traceparent=TRACEPARENT, tracestate=TRACESTATE)

    custom = answer["result"]["custom"]
    assert parse_traceparent(custom["traceparent"]).trace_id == TRACE_ID
    assert custom["traceparent"] != TRACEPARENT and custom["tracestate"] == TRACESTATE
    assert answer["result"]["request_id"] == answer["execution_id"]


async def test_an_async_run_keeps_the_callers_trace_across_the_queue(client, admin, ff_url):
    body = {"target": headers_target(ff_url), "mode": "async"}
    accepted = await invoke(client, admin, body, traceparent=TRACEPARENT)

    record = await wait_for_status(client, admin, accepted["execution_id"])
    sent = parse_traceparent(record["result"]["headers"]["traceparent"])
    assert record["status"] == "succeeded"
    assert sent.trace_id == parse_traceparent(record["traceparent"]).trace_id == TRACE_ID
