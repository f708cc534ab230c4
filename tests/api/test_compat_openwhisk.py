"""The OpenWhisk action module's routes under /openwhisk, sent the seed's requests (the shapes of
seeds/rest-shapes.md and the seed module's own route code) against the OpenWhisk-protocol test
server, through real services over SQLite. Every documented response field is checked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from core import __version__, wiring
from core.api.app import create_app
from core.providers.openwhisk import OpenWhiskProvider
from tests.api.conftest import MODULE_KEY, api_settings, new_client
from tests.fixtures.openwhisk_fixture import (  # noqa: F401 - fixtures
    RunningOpenWhisk,
    openwhisk_server,
    openwhisk_session,
)
from tests.store_support import count_outcome

API = "/openwhisk/api/v1"
PROBLEM = "application/problem+json"
BLOBS_INLINE_BYTES = 4096
ACTIONS = "/api/v1/namespaces/guest/actions"
INVOKE_FIELDS = {
    "execution_id",
    "success",
    "activation_id",
    "result",
    "duration",
    "start_time",
    "end_time",
    "status",
}
ACTIVATION_FIELDS = {"success", "activation_id", "result", "duration", "status", "logs"}
POLL_S = 5.0
BLOCKING_WAIT_MS = 300
"""The provider's longest blocking wait: a `slow` action asked to sleep longer outlives it."""


@pytest.fixture
def ow(openwhisk_server: RunningOpenWhisk) -> RunningOpenWhisk:  # noqa: F811
    return openwhisk_server


@pytest.fixture
async def services(tmp_path, ow: RunningOpenWhisk, monkeypatch) -> AsyncIterator[wiring.Services]:
    """Real services whose openwhisk provider calls the test server (namespace guest)."""
    factories = wiring.provider_factories
    openwhisk = {
        "openwhisk": lambda: OpenWhiskProvider(
            ow.url, "guest", ow.server.auth_key, 4, blocking_timeout_ms=BLOCKING_WAIT_MS
        )
    }
    monkeypatch.setattr(wiring, "provider_factories", lambda s: {**factories(s), **openwhisk})
    settings = api_settings(
        tmp_path,
        OPENWHISK_API_HOST=ow.url,
        OPENWHISK_NAMESPACE="guest",
        BLOBS_INLINE_BYTES=str(BLOBS_INLINE_BYTES),
    )
    built = wiring.build_services(settings)
    built.queue.start(built.worker.handle)
    yield built
    await built.close()


@pytest.fixture
async def anonymous(services) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://fnproxy.test") as http:
        yield http


async def seed_token(http: httpx.AsyncClient) -> str:
    """The seed's token flow: the module's API key for `{token, expires_in}`."""
    answer = await http.post(f"{API}/auth/token", json={"api_key": MODULE_KEY, "service": "bot"})
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


@pytest.fixture
async def client(anonymous: httpx.AsyncClient) -> httpx.AsyncClient:
    anonymous.headers["Authorization"] = f"Bearer {await seed_token(anonymous)}"
    return anonymous


def assert_seed_problem(answer: httpx.Response, status: int, code: str) -> dict:
    """problem+json with the right status that still carries the seed's failure fields."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    body = answer.json()
    assert body["status"] == status and body["code"] == code
    assert body["success"] is False
    assert body["error"] == body["detail"] and body["error"]
    assert "status_code" in body
    return body


async def activation_when_ended(client: httpx.AsyncClient, activation_id: str) -> dict:
    """GET /activations/{id} until the activation has ended (OpenWhisk: 404 while it runs)."""
    deadline = asyncio.get_running_loop().time() + POLL_S
    while True:
        answer = await client.get(f"{API}/activations/{activation_id}")
        body = answer.json()
        if answer.status_code == 200 and body["status"] not in ("queued", "running"):
            return body
        assert answer.status_code in (200, 404), answer.text
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.05)


# token


async def test_token_is_issued_for_the_module_api_key_and_opens_the_routes(anonymous):
    answer = await anonymous.post(
        f"{API}/auth/token", json={"api_key": MODULE_KEY, "service": "router"}
    )

    assert answer.status_code == 200
    assert set(answer.json()) == {"token", "expires_in"}
    assert answer.json()["expires_in"] > 0
    assert answer.headers["cache-control"] == "no-store"
    headers = {"Authorization": f"Bearer {answer.json()['token']}"}
    assert (await anonymous.get(f"{API}/stats", headers=headers)).status_code == 200


async def test_a_bad_api_key_is_a_401_with_the_seed_fields(anonymous):
    answer = await anonymous.post(f"{API}/auth/token", json={"api_key": "not-the-key"})

    body = assert_seed_problem(answer, 401, "unauthorized")
    assert body["status_code"] == 401
    assert "token" not in body


async def test_a_token_request_without_api_key_is_the_seeds_400(anonymous):
    body = assert_seed_problem(
        await anonymous.post(f"{API}/auth/token", json={"service": "bot"}), 400, "invalid_request"
    )
    assert body["status_code"] == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/actions/invoke"),
        ("POST", "/actions/invoke-async"),
        ("POST", "/sequences/invoke"),
        ("POST", "/web-actions/invoke"),
        ("POST", "/triggers/fire"),
        ("GET", "/activations/0123456789abcdef0123456789abcdef"),
        ("GET", "/actions"),
        ("GET", "/stats"),
    ],
)
async def test_every_route_but_token_and_health_needs_the_bearer_token(anonymous, method, path):
    answer = await anonymous.request(method, f"{API}{path}", json={"action_name": "hello"})

    assert answer.status_code == 401
    assert answer.headers["content-type"] == PROBLEM


# actions/invoke


async def test_blocking_invoke_answers_with_the_activation(client, ow):
    answer = await client.post(
        f"{API}/actions/invoke", json={"action_name": "hello", "payload": {"name": "Ada"}}
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == INVOKE_FIELDS
    activation = ow.server.activations[body["activation_id"]]
    assert body["success"] is True
    assert body["result"] == {"greeting": "Hello, Ada!"}
    assert body["status"] == "success"
    assert body["start_time"] == activation["start"]
    assert body["end_time"] == activation["end"]
    assert isinstance(body["duration"], float) and body["duration"] >= 0
    sent = ow.server.requests[-1]
    assert sent.path == f"{ACTIONS}/hello" and sent.query["blocking"] == "true"
    native = await client.get(f"/v1/invocations/{body['execution_id']}")
    assert native.json()["function"] == "openwhisk:guest/hello"
    assert native.json()["status"] == "succeeded"


async def test_namespace_package_and_timeout_reach_openwhisk(client, ow):
    answer = await client.post(
        f"{API}/actions/invoke",
        json={
            "action_name": "tools/shout",
            "namespace": "guest",
            "payload": {"word": "hi"},
            "blocking": True,
            "timeout": 5000,
        },
    )

    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]  # shout upper-cases every parameter, traceparent too
    assert result.pop("traceparent").startswith("00-") and result == {"word": "HI"}
    assert ow.server.requests[-1].path == f"{ACTIONS}/tools/shout"
    record = await client.get(f"/v1/invocations/{answer.json()['execution_id']}")
    assert record.json()["timeout_s"] == 5.0


async def test_fields_the_seed_ignored_are_ignored(client):
    answer = await client.post(
        f"{API}/actions/invoke",
        json={"action_name": "hello", "payload": {}, "priority": "high"},
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == {"greeting": "Hello, stranger!"}


async def test_an_application_error_is_a_502_carrying_the_activation(client, ow):
    answer = await client.post(
        f"{API}/actions/invoke", json={"action_name": "fail", "payload": {"error": "no dice"}}
    )

    body = assert_seed_problem(answer, 502, "function_failed")
    assert body["error"] == "no dice"
    assert body["status_code"] == 502
    assert body["result"] == {"error": "no dice"}
    assert body["activation_status"] == "application error"
    assert body["activation_id"] in ow.server.activations
    assert body["execution_id"]
    assert {"duration", "start_time", "end_time"} <= set(body)


async def test_a_blocking_call_that_outlives_the_wait_is_running_not_a_success(client, ow):
    """The seed's fault: any status below 400 was a success, so a 202 came back as a success
    with an empty result. Here it is running, with the activation id to poll."""
    answer = await client.post(
        f"{API}/actions/invoke",
        json={"action_name": "slow", "payload": {"sleep_ms": 1500}, "timeout": 1000},
    )

    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert set(body) == INVOKE_FIELDS
    assert body["success"] is None
    assert body["status"] == "running"
    assert body["result"] is None and body["end_time"] is None
    assert body["activation_id"] not in ow.server.activations  # still running there
    ended = await activation_when_ended(client, body["activation_id"])
    assert set(ended) == ACTIVATION_FIELDS
    assert ended == {
        "success": True,
        "activation_id": body["activation_id"],
        "result": {"slept_ms": 1500},
        "duration": ow.server.activations[body["activation_id"]]["duration"],
        "status": "success",
        "logs": ["2026-01-01T00:00:00.000Z stdout: slow ran"],
    }


async def test_non_blocking_invoke_is_queued_and_its_activation_can_be_polled(client, ow, services):
    answer = await client.post(
        f"{API}/actions/invoke",
        json={"action_name": "hello", "payload": {"name": "Bo"}, "blocking": False},
    )

    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert set(body) == INVOKE_FIELDS
    assert body["success"] is True  # accepted
    assert body["status"] == "queued"
    assert body["activation_id"] == body["execution_id"]
    await services.queue.drain()
    ended = await activation_when_ended(client, body["activation_id"])
    assert ended["success"] is True
    assert ended["activation_id"] in ow.server.activations
    assert ended["result"] == {"greeting": "Hello, Bo!"}
    assert ended["status"] == "success"
    assert ended["logs"] == ["2026-01-01T00:00:00.000Z stdout: hello ran"]
    assert ended["duration"] == ow.server.activations[ended["activation_id"]]["duration"]
    assert ended["execution_id"] == body["execution_id"]


async def test_invoke_async_queues_the_action(client, ow, services):
    answer = await client.post(
        f"{API}/actions/invoke-async", json={"action_name": "hello", "payload": {"name": "Cy"}}
    )

    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert {"execution_id", "success", "activation_id"} <= set(body)
    assert body["success"] is True
    assert body["activation_id"] == body["execution_id"]
    await services.queue.drain()
    assert ow.server.invocations_of("hello") == 1
    ended = await activation_when_ended(client, body["activation_id"])
    assert ended["result"] == {"greeting": "Hello, Cy!"}


async def test_an_activation_of_an_archived_result_answers_it_whole(client, services):
    payload = {"text": "w" * (2 * BLOBS_INLINE_BYTES)}
    queued = await client.post(
        f"{API}/actions/invoke-async", json={"action_name": "echo", "payload": payload}
    )
    await services.queue.drain()

    ended = await activation_when_ended(client, queued.json()["activation_id"])

    record = await services.store.executions.get(queued.json()["execution_id"])
    assert record.result_blob is not None and record.result is None
    assert ended["result"]["text"] == payload["text"]


async def test_a_queued_invocation_that_outlives_the_wait_leads_to_its_activation(
    client, ow, services
):
    queued = await client.post(
        f"{API}/actions/invoke-async", json={"action_name": "slow", "payload": {"sleep_ms": 600}}
    )
    await services.queue.drain()

    polled = await client.get(f"{API}/activations/{queued.json()['execution_id']}")

    assert polled.status_code == 200, polled.text
    activation_id = polled.json()["activation_id"]
    assert activation_id != queued.json()["execution_id"]
    ended = await activation_when_ended(client, activation_id)
    assert ended["result"] == {"slept_ms": 600}
    assert ended["activation_id"] in ow.server.activations


async def test_an_unknown_action_is_a_404_with_the_seed_fields(client):
    answer = await client.post(f"{API}/actions/invoke", json={"action_name": "nope"})

    body = assert_seed_problem(answer, 404, "function_not_found")
    assert body["status_code"] == 404
    assert body["execution_id"]


async def test_a_missing_action_name_is_the_seeds_400(client):
    body = assert_seed_problem(
        await client.post(f"{API}/actions/invoke", json={"payload": {}}), 400, "invalid_request"
    )
    assert "action_name" in body["error"]


async def test_openwhisk_unreachable_after_retries_is_a_502_not_a_500(client, ow):
    ow.server.answer_next(f"{ACTIONS}/hello", 503, {"error": "down"}, times=3)

    answer = await client.post(f"{API}/actions/invoke", json={"action_name": "hello"})

    body = assert_seed_problem(answer, 502, "upstream_unavailable")
    assert body["status_code"] == 502
    assert body["execution_id"]
    assert ow.server.invocations_of("hello") == 3


async def test_a_caller_may_only_invoke_the_actions_its_scopes_name(client, anonymous):
    limited = await new_client(anonymous, dict(client.headers), "invoke:openwhisk:guest/hello")

    allowed = await anonymous.post(
        f"{API}/actions/invoke", json={"action_name": "hello"}, headers=limited
    )
    refused = await anonymous.post(
        f"{API}/actions/invoke", json={"action_name": "echo"}, headers=limited
    )

    assert allowed.status_code == 200
    assert_seed_problem(refused, 403, "forbidden")


# sequences, web actions, triggers


async def test_a_sequence_answers_as_an_action(client, ow):
    answer = await client.post(
        f"{API}/sequences/invoke",
        json={"sequence_name": "greet-loudly", "namespace": "guest", "payload": {"name": "Ada"}},
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == INVOKE_FIELDS
    assert body["success"] is True
    assert body["result"] == {"greeting": "HELLO, ADA!"}
    assert body["status"] == "success"
    assert body["activation_id"] in ow.server.activations
    assert ow.server.requests[-1].path == f"{ACTIONS}/greet-loudly"


async def test_a_web_action_answers_with_its_http_response(client, ow):
    answer = await client.post(
        f"{API}/web-actions/invoke",
        json={"action_name": "echo", "package_name": "default", "payload": {"q": "x"}},
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {
        "execution_id",
        "success",
        "status_code",
        "response",
        "response_headers",
    }
    assert body["success"] is True and body["status_code"] == 200
    assert body["response"]["q"] == "x" and body["response"]["__ow_method"] == "post"
    assert body["response_headers"]["content-type"].startswith("application/json")
    assert body["response_headers"]["x-openwhisk-activation-id"]
    assert ow.server.requests[-1].path == "/api/v1/web/guest/default/echo.json"


async def test_a_web_actions_own_failure_is_its_status_code(client):
    answer = await client.post(
        f"{API}/web-actions/invoke", json={"action_name": "fail", "payload": {"error": "bad"}}
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["success"] is False
    assert body["status_code"] == 400
    assert body["response"]["error"] == "bad"


async def web_action(client: httpx.AsyncClient, **fields) -> httpx.Response:
    return await client.post(f"{API}/web-actions/invoke", json={"action_name": "echo", **fields})


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "put"])
async def test_a_web_action_gets_the_callers_method_headers_and_payload(client, ow, method):
    headers = {"X-Require-Whisk-Auth": "s3cret", "X-Team": "bots"}

    answer = await web_action(client, method=method, headers=headers, payload={"q": "x"})

    assert answer.status_code == 200, answer.text
    received = answer.json()["response"]  # echo: what the action was given
    assert received["__ow_method"] == method.lower() and received["q"] == "x"
    assert received["__ow_headers"]["x-require-whisk-auth"] == "s3cret"
    assert received["__ow_headers"]["x-team"] == "bots"
    sent = ow.server.requests[-1]
    assert sent.method == method.upper() and sent.query == {}
    assert sent.headers["content-type"] == "application/json"


async def test_a_get_web_action_takes_the_payload_as_its_query(client, ow):
    payload = {"q": "a b&c", "n": 2, "tags": ["x"], "flag": None}

    answer = await web_action(client, method="GET", payload=payload)

    assert answer.status_code == 200, answer.text
    sent = ow.server.requests[-1]
    assert sent.method == "GET" and sent.body == b"" and "content-type" not in sent.headers
    assert sent.query == {"q": "a b&c", "n": "2", "tags": '["x"]', "flag": "null"}
    received = answer.json()["response"]
    assert received["__ow_method"] == "get" and received["q"] == "a b&c"


async def test_a_get_without_parameters_has_no_query(client, ow):
    answer = await web_action(client, method="GET")

    assert answer.status_code == 200, answer.text
    assert ow.server.requests[-1].query == {}
    assert ow.server.requests[-1].path == "/api/v1/web/guest/default/echo.json"


async def test_a_get_past_the_query_limit_is_413_and_sends_nothing(client, ow):
    answer = await web_action(client, method="GET", payload={"text": "x" * 9000})

    assert_seed_problem(answer, 413, "payload_too_large")
    assert ow.server.requests == []


@pytest.mark.parametrize(
    "header", ["Host", "X-Forwarded-For", "Metadata-Flavor", "Transfer-Encoding", "Proxy-Auth"]
)
async def test_a_denied_header_is_header_not_allowed_and_sends_nothing(client, ow, header):
    answer = await web_action(client, headers={header: "evil"})

    body = assert_seed_problem(answer, 400, "header_not_allowed")
    assert body["header"] == header
    assert ow.server.requests == []


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"method": "TRACE"}, "method"),
        ({"method": 7}, "method"),
        ({"headers": {f"X-H{i}": "v" for i in range(65)}}, None),
        ({"headers": {"X-Big": "v" * 8193}}, None),
        ({"headers": {"Bad Name": "v"}}, None),
        ({"headers": {"X-Split": "a\r\nX-Injected: 1"}}, None),
    ],
)
async def test_unbounded_or_malformed_options_are_a_400(client, ow, fields, loc):
    answer = await web_action(client, **fields)

    body = assert_seed_problem(answer, 400, "invalid_request")
    if loc is not None:
        assert body["errors"][0]["loc"] == loc
    assert ow.server.requests == []


async def test_fnproxys_own_headers_win_over_the_callers(client, ow):
    forged = {"Content-Type": "text/plain", "X-Fnproxy-Execution-Id": "forged", "ACCEPT": "*/*"}

    answer = await web_action(client, headers=forged, payload={"q": "x"})

    assert answer.status_code == 200, answer.text
    sent = ow.server.requests[-1]
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["x-fnproxy-execution-id"] == answer.json()["execution_id"]


async def test_the_record_masks_the_callers_header_values(client):
    answer = await web_action(client, method="GET", headers={"X-Require-Whisk-Auth": "s3cret"})

    record = await client.get(f"/v1/invocations/{answer.json()['execution_id']}")
    assert record.status_code == 200, record.text
    target = record.json()["target"]
    assert target["method"] == "GET" and target["headers"] == {"X-Require-Whisk-Auth": "***"}
    unechoed = {k: v for k, v in record.json().items() if k != "result"}  # echo returns it
    assert "s3cret" not in str(unechoed)


async def test_an_unknown_web_action_is_a_404(client):
    answer = await client.post(f"{API}/web-actions/invoke", json={"action_name": "hello"})

    assert_seed_problem(answer, 404, "function_not_found")


async def test_firing_a_trigger_answers_with_its_activation(client, ow):
    answer = await client.post(
        f"{API}/triggers/fire", json={"trigger_name": "signup", "payload": {"user": "ada"}}
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"execution_id", "success", "activation_id"}
    assert body["success"] is True
    fired = ow.server.activations[body["activation_id"]]["response"]["result"]
    execution = (await client.get(f"/v1/invocations/{body['execution_id']}")).json()
    assert fired.pop("traceparent").split("-")[1] == execution["traceparent"].split("-")[1]
    assert fired == {"user": "ada"}


async def test_an_unknown_trigger_is_a_404(client):
    answer = await client.post(f"{API}/triggers/fire", json={"trigger_name": "nope"})

    assert_seed_problem(answer, 404, "function_not_found")


# activations, actions, stats, health


async def test_an_activation_is_read_from_openwhisk(client, ow):
    invoked = await client.post(
        f"{API}/actions/invoke", json={"action_name": "hello", "payload": {"name": "Di"}}
    )
    activation_id = invoked.json()["activation_id"]

    answer = await client.get(f"{API}/activations/{activation_id}", params={"namespace": "guest"})

    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "success": True,
        "activation_id": activation_id,
        "result": {"greeting": "Hello, Di!"},
        "duration": ow.server.activations[activation_id]["duration"],
        "status": "success",
        "logs": ["2026-01-01T00:00:00.000Z stdout: hello ran"],
    }


async def test_an_unknown_activation_is_a_404_with_the_seed_fields(client):
    answer = await client.get(f"{API}/activations/0123456789abcdef0123456789abcdef")

    body = assert_seed_problem(answer, 404, "not_found")
    assert body["status_code"] == 404


async def test_openwhisk_activations_need_the_read_scope(client, anonymous):
    invoker = await new_client(anonymous, dict(client.headers), "invoke")

    answer = await anonymous.get(
        f"{API}/activations/0123456789abcdef0123456789abcdef", headers=invoker
    )

    assert_seed_problem(answer, 403, "forbidden")


async def test_actions_are_listed_a_page_at_a_time(client, ow):
    first = await client.get(f"{API}/actions", params={"limit": 2, "skip": 0})
    second = await client.get(f"{API}/actions", params={"limit": 2, "skip": 2})

    assert first.status_code == 200, first.text
    assert first.json() == {
        "success": True,
        "actions": [
            {"name": "crash", "namespace": "guest", "version": "0.0.1", "published": False},
            {"name": "echo", "namespace": "guest", "version": "0.0.1", "published": False},
        ],
    }
    assert [a["name"] for a in second.json()["actions"]] == ["fail", "greet-loudly"]
    assert ow.server.requests[-1].query == {"limit": "2", "skip": "2"}


async def test_listing_defaults_to_the_seeds_30_and_refuses_more_than_200(client, ow):
    listed = await client.get(f"{API}/actions", params={"namespace": "guest"})
    too_many = await client.get(f"{API}/actions", params={"limit": 500})

    assert listed.status_code == 200
    assert len(listed.json()["actions"]) == len(ow.server.actions)
    assert ow.server.requests[-1].query == {"limit": "30", "skip": "0"}
    assert_seed_problem(too_many, 400, "invalid_request")


async def test_stats_count_the_openwhisk_invocations(client):
    await client.post(f"{API}/actions/invoke", json={"action_name": "hello"})
    await client.post(f"{API}/actions/invoke", json={"action_name": "fail"})
    native = await client.post(
        "/v1/invoke", json={"target": {"provider": "local", "function": "echo"}, "payload": {}}
    )
    assert native.status_code == 200, native.text

    answer = await client.get(f"{API}/stats")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"module", "version", "stats", "timestamp"}
    assert body["module"] == "openwhisk_action_module"
    assert body["version"] == __version__
    assert body["timestamp"].endswith("+00:00")
    stats = body["stats"]
    assert stats["total_executions"] == 2
    assert stats["successful_executions"] == 1
    assert stats["failed_executions"] == 1
    assert stats["average_execution_time_ms"] > 0
    assert set(stats["by_function"]) == {"openwhisk:guest/hello", "openwhisk:guest/fail"}
    assert "since" not in stats  # all time


async def test_stats_count_all_time_as_the_seeds_table_did(client, services):
    month_ago = int(time.time()) - 30 * 86400
    bucket = month_ago // 3600 * 3600  # far outside the native stats' default 24 hours
    await count_outcome(services.store, "openwhisk:guest/old", bucket, True, 40.0)

    stats = (await client.get(f"{API}/stats")).json()["stats"]

    assert stats["total_executions"] == 1 and stats["successful_executions"] == 1
    assert stats["by_function"]["openwhisk:guest/old"]["count"] == 1


@pytest.mark.parametrize("path", ["/stats", "/actions"])
async def test_stats_and_listing_need_the_read_scope(client, anonymous, path):
    invoker = await new_client(anonymous, dict(client.headers), "invoke")

    answer = await anonymous.get(f"{API}{path}", headers=invoker)

    assert answer.status_code == 403
    assert answer.headers["content-type"] == PROBLEM


async def test_health_answers_in_the_seeds_shape_to_a_reader(anonymous, ow):
    public = await anonymous.get("/openwhisk/health")
    assert public.status_code == 200
    assert public.json() == {"status": "healthy", "version": __version__}
    answer = await anonymous.get(
        "/openwhisk/health", headers={"Authorization": f"Bearer {await seed_token(anonymous)}"}
    )

    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "healthy"
    assert body["module"] == "openwhisk_action_module"
    assert body["version"] == __version__
    assert body["timestamp"].endswith("+00:00")
    assert body["database"] == "connected"
    assert body["openwhisk_api_host"] == ow.url
    assert body["namespace"] == "guest"
    assert ow.server.auth_key not in answer.text
