"""The Lambda action module's routes under /lambda, sent the seed's own example requests
(seeds/lambda-action-module.md, rest-shapes.md) against moto; what moto cannot answer
(function errors, log tails, unknown functions, throttling, paging) with botocore's Stubber
on the provider's own client."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from core import __version__
from core.api.app import all_endpoints
from core.api.compat.lambda_module import LambdaStatsResponse
from core.api.openapi import build_openapi
from core.wiring import build_services
from tests.api.conftest import MODULE_KEY, api_settings, new_client, token_for
from tests.aws.lambda_support import (
    REGION,
    create_alias,
    create_function,
    create_role,
    publish_version,
)
from tests.store_support import count_outcome

PROBLEM = "application/problem+json"
API = "/lambda/api/v1"
SEED_FIELDS = (
    "function_name",
    "function_arn",
    "runtime",
    "role",
    "handler",
    "code_size",
    "description",
    "timeout",
    "memory_size",
    "last_modified",
    "version",
)
CONFIG_KEYS = {
    "FunctionName": "function_name",
    "FunctionArn": "function_arn",
    "Runtime": "runtime",
    "Role": "role",
    "Handler": "handler",
    "CodeSize": "code_size",
    "Description": "description",
    "Timeout": "timeout",
    "MemorySize": "memory_size",
    "LastModified": "last_modified",
    "Version": "version",
}
INVOKE_FIELDS = {"success", "status_code", "payload", "error", "executed_version", "log_result"}


@pytest.fixture
async def services(tmp_path, moto_url):
    """The api conftest's services, with AWS (Lambda) pointing at the session's moto."""
    built = build_services(api_settings(tmp_path, AWS_ENDPOINT_URL=moto_url, AWS_REGION=REGION))
    built.queue.start(built.worker.handle)
    yield built
    await built.close()


@pytest.fixture(scope="module")
def function(moto_url) -> dict[str, Any]:
    """An echo function with version 1 behind the alias `prod` (the seed's example)."""
    config = create_function(moto_url, create_role(moto_url), Description="echoes", Timeout=30)
    name = config["FunctionName"]
    create_alias(moto_url, name, publish_version(moto_url, name), "prod")
    return config


@pytest.fixture
async def seed(client, admin) -> dict[str, str]:
    """Authorization headers got the seed's way: client credentials at /lambda/api/v1/token."""
    created = (
        await client.post("/v1/clients", json={"name": "seed", "scopes": ["admin"]}, headers=admin)
    ).json()
    credentials = {"client_id": created["client_id"], "client_secret": created["client_secret"]}
    token = (await client.post(f"{API}/token", json=credentials)).json()["token"]
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def stubbed(services) -> Iterator[Stubber]:
    """The Lambda provider's client answers only what the test queues."""
    with Stubber(services.providers.get("aws_lambda").client(REGION)) as stub:
        yield stub
        stub.assert_no_pending_responses()


def lambda_answer(payload: bytes, status: int = 200, **fields: Any) -> dict[str, Any]:
    body = StreamingBody(io.BytesIO(payload), len(payload))
    metadata = {"RequestId": "req-1", "HTTPStatusCode": status}
    return {"StatusCode": status, "Payload": body, "ResponseMetadata": metadata, **fields}


def assert_seed_error(response, status: int, status_code: int | None = None) -> dict[str, Any]:
    """A problem+json answer with the seed's `success`, `error` and `status_code` members."""
    body = response.json()
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert body["status"] == status
    assert body["success"] is False
    assert body["error"] == body["detail"] and body["error"]
    assert body["status_code"] == (status if status_code is None else status_code)
    return body


async def history(client, headers, function_key: str) -> list[dict[str, Any]]:
    response = await client.get(
        "/v1/invocations", params={"function": function_key}, headers=headers
    )
    return response.json()["invocations"]


# --- health and token ------------------------------------------------------------------------


async def test_health_answers_in_the_seeds_shape_to_a_reader(client, admin):
    anonymous = await client.get("/lambda/health")
    assert anonymous.status_code == 200
    assert anonymous.json() == {"status": "healthy", "version": __version__}
    response = await client.get("/lambda/health", headers=admin)
    body = response.json()

    assert response.status_code == 200
    assert body["status"] == "healthy"
    assert body["module"] == "lambda_action_module"
    assert body["version"] and datetime.fromisoformat(body["timestamp"])
    assert body["config"]["module_name"] == "lambda_action_module"
    assert body["config"]["aws_region"] == REGION
    assert body["config"]["database_configured"] is True
    assert MODULE_KEY not in response.text


async def test_token_for_client_credentials_is_a_bearer_token(client, admin, function):
    created = (
        await client.post("/v1/clients", json={"name": "c", "scopes": ["read"]}, headers=admin)
    ).json()

    response = await client.post(
        f"{API}/token",
        json={"client_id": created["client_id"], "client_secret": created["client_secret"]},
    )
    body = response.json()

    assert response.status_code == 200 and set(body) == {"token", "expires_in"}
    assert body["expires_in"] == 3600
    assert response.headers["cache-control"] == "no-store"
    headers = {"Authorization": f"Bearer {body['token']}"}
    config = await client.get(f"{API}/functions/{function['FunctionName']}", headers=headers)
    assert config.status_code == 200  # the seed's token is the native API's access token


@pytest.mark.parametrize(
    "credentials",
    [
        {"client_id": "your_client_id", "client_secret": "your_client_secret"},  # the seed's
        {"client_id": "cl_known", "client_secret": "wrong"},
    ],
)
async def test_unknown_client_credentials_are_refused(client, admin, credentials):
    if credentials["client_id"] == "cl_known":
        created = (
            await client.post("/v1/clients", json={"name": "c", "scopes": ["read"]}, headers=admin)
        ).json()
        credentials = {**credentials, "client_id": created["client_id"]}

    response = await client.post(f"{API}/token", json=credentials)

    assert_seed_error(response, 401)
    assert "token" not in response.json()


async def test_token_without_a_secret_is_a_bad_request(client):
    response = await client.post(f"{API}/token", json={"client_id": "your_client_id"})

    body = assert_seed_error(response, 400)
    assert body["errors"][0]["loc"] == "client_secret"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/invoke"),
        ("POST", "/invoke-async"),
        ("POST", "/batch"),
        ("GET", "/functions"),
        ("GET", "/functions/my-function"),
        ("GET", "/stats"),
    ],
)
async def test_every_route_but_token_and_health_needs_a_token(client, method, path):
    response = await client.request(method, API + path, json={})

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM


# --- invoke ----------------------------------------------------------------------------------


async def test_the_seeds_invoke_example_runs_the_alias(client, seed, function):
    name = function["FunctionName"]
    response = await client.post(
        f"{API}/invoke",
        json={
            "function_name": name,
            "payload": '{"key": "value"}',
            "invocation_type": "RequestResponse",
            "alias": "prod",
            "version": "1",
        },
        headers=seed,
    )
    body = response.json()

    assert response.status_code == 200 and set(body) == INVOKE_FIELDS
    assert body["success"] is True and body["status_code"] == 200 and body["error"] is None
    assert isinstance(body["payload"], str) and json.loads(body["payload"]) == {"key": "value"}
    assert body["executed_version"] == "" and body["log_result"] == ""  # moto sends neither
    [record] = await history(client, seed, f"aws_lambda:{name}:prod")  # the alias wins
    assert record["payload"] == {"key": "value"} and record["status"] == "succeeded"


async def test_a_version_alone_is_the_qualifier(client, seed, function):
    name = function["FunctionName"]
    body = {"function_name": name, "payload": '{"n": 1}', "version": "1"}

    response = await client.post(f"{API}/invoke", json=body, headers=seed)

    assert response.json()["success"] is True
    assert len(await history(client, seed, f"aws_lambda:{name}:1")) == 1


LOG_LINE = "START RequestId: abc123\nhello\nEND RequestId: abc123\n"


@pytest.mark.parametrize(
    "logs",
    [LOG_LINE, LOG_LINE * 2000],  # the long one's record keeps it in blobs (BLOBS_INLINE_BYTES)
    ids=["short", "archived"],
)
async def test_executed_version_and_the_log_tail_are_returned(client, seed, services, logs):
    answer = lambda_answer(
        b'{"result": "success"}',
        ExecutedVersion="1",
        LogResult=base64.b64encode(logs.encode()).decode(),
    )
    params = {
        "FunctionName": "my-function",
        "InvocationType": "RequestResponse",
        "Payload": b'{"key":"value"}',
        "LogType": "Tail",
        "ClientContext": ANY,
        "Qualifier": "prod",
    }
    with stubbed(services) as stub:
        stub.add_response("invoke", answer, params)
        response = await client.post(
            f"{API}/invoke",
            json={"function_name": "my-function", "payload": '{"key": "value"}', "alias": "prod"},
            headers=seed,
        )
    body = response.json()

    assert json.loads(body["payload"]) == {"result": "success"}
    assert body["executed_version"] == "1"
    assert body["log_result"] == logs  # as the old module gave it: decoded text


async def test_event_invocation_type_answers_202_without_a_payload(client, seed, function):
    name = function["FunctionName"]
    request = {"function_name": name, "payload": '{"key": "value"}', "invocation_type": "Event"}

    response = await client.post(f"{API}/invoke", json=request, headers=seed)
    body = response.json()

    assert response.status_code == 200
    assert body["success"] is True and body["status_code"] == 202 and body["payload"] == ""
    [record] = await history(client, seed, f"aws_lambda:{name}")
    assert record["target"]["invocation_type"] == "Event" and record["mode"] == "sync"


async def test_dry_run_answers_204_and_runs_nothing(client, seed, function):
    name = function["FunctionName"]
    request = {"function_name": name, "payload": '{"key": "value"}', "invocation_type": "DryRun"}

    response = await client.post(f"{API}/invoke", json=request, headers=seed)
    body = response.json()

    assert response.status_code == 200
    assert body["success"] is True and body["status_code"] == 204 and body["payload"] == ""
    [record] = await history(client, seed, f"aws_lambda:{name}")
    assert record["mode"] == "dry_run" and record["provider_info"]["invocation_type"] == "DryRun"


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"key": "value"}, "payload"),  # an object, not the seed's JSON string
        (None, "payload"),
        (1, "payload"),
        ("[" * 129 + "]" * 129, "payload"),  # nests deeper than a request body may
    ],
)
@pytest.mark.parametrize("path", ["/invoke", "/invoke-async"])
async def test_a_payload_that_is_no_string_is_a_bad_request(
    client, seed, function, payload, loc, path
):
    request = {"function_name": function["FunctionName"], "payload": payload}

    response = await client.post(f"{API}{path}", json=request, headers=seed)

    body = assert_seed_error(response, 400)
    assert body["errors"][0]["loc"] == loc


@pytest.mark.parametrize(
    ("payload", "event"),
    [
        ("", ""),
        ("{not json", "{not json"),
        ("hello", "hello"),
        ('"hello"', "hello"),
        ("[1, 2]", [1, 2]),
        ("null", None),
        (" 7 ", 7),
    ],
)
async def test_any_payload_string_is_an_event_json_text_decoded_else_as_it_is(
    client, seed, function, payload, event
):
    name = function["FunctionName"]
    request = {"function_name": name, "payload": payload}

    single = await client.post(f"{API}/invoke", json=request, headers=seed)
    queued = await client.post(f"{API}/invoke-async", json=request, headers=seed)
    batch = await client.post(f"{API}/batch", json={"invocations": [request]}, headers=seed)

    assert single.status_code == 200 and single.json()["success"] is True, single.text
    assert queued.status_code == 200 and queued.json()["success"] is True, queued.text
    assert batch.status_code == 200 and batch.json()["results"][0]["success"] is True, batch.text
    records = await history(client, seed, f"aws_lambda:{name}")
    assert [record["payload"] for record in records] == [event] * 3


def test_the_document_says_every_payload_string_is_an_event():
    document = build_openapi(all_endpoints())
    for name in ("LambdaInvokeRequest", "LambdaInvokeAsyncRequest"):
        payload = document["components"]["schemas"][name]["properties"]["payload"]
        assert payload["type"] == "string" and "contentMediaType" not in payload
        assert "not JSON" in payload["description"]


async def test_an_unknown_invocation_type_is_a_bad_request(client, seed, function):
    request = {"function_name": "f", "payload": "{}", "invocation_type": "Sometime"}

    response = await client.post(f"{API}/invoke", json=request, headers=seed)

    assert assert_seed_error(response, 400)["errors"][0]["loc"] == "invocation_type"


async def test_an_unknown_function_is_404(client, seed, services):
    with stubbed(services) as stub:
        stub.add_client_error("invoke", "ResourceNotFoundException", "Function not found", 404)
        response = await client.post(
            f"{API}/invoke", json={"function_name": "no-such-fn", "payload": "{}"}, headers=seed
        )

    body = assert_seed_error(response, 404)
    assert body["code"] == "function_not_found" and "no-such-fn" in body["error"]
    assert body["execution_id"]


async def test_the_functions_own_error_is_502_with_lambdas_status(client, seed, services):
    error = {"errorMessage": "boom", "errorType": "ValueError"}
    with stubbed(services) as stub:
        stub.add_response(
            "invoke", lambda_answer(json.dumps(error).encode(), FunctionError="Unhandled")
        )
        response = await client.post(
            f"{API}/invoke", json={"function_name": "fn", "payload": "{}"}, headers=seed
        )

    body = assert_seed_error(response, 502, status_code=200)  # Lambda itself answered 200
    assert body["error"] == "boom" and body["code"] == "function_failed"
    record = (await client.get(f"/v1/invocations/{body['execution_id']}", headers=seed)).json()
    assert record["status"] == "failed" and record["result"] == error


async def test_throttling_after_every_retry_is_429_with_retry_after(client, seed, services):
    with stubbed(services) as stub:
        for _ in range(3):  # MAX_RETRIES=2 in these tests
            stub.add_client_error("invoke", "TooManyRequestsException", "Rate exceeded", 429)
        response = await client.post(
            f"{API}/invoke", json={"function_name": "fn", "payload": "{}"}, headers=seed
        )

    body = assert_seed_error(response, 429)
    assert body["attempts"] == 3 and body["execution_id"]
    assert body["code"] == "upstream_throttled" and response.headers["retry-after"] == "1"


async def test_the_same_invoke_scopes_as_the_native_api(client, admin, function):
    headers = await new_client(client, admin, "invoke:aws_lambda:someone-else-*")
    request = {"function_name": function["FunctionName"], "payload": "{}"}

    response = await client.post(f"{API}/invoke", json=request, headers=headers)

    assert assert_seed_error(response, 403)["code"] == "forbidden"


# --- invoke-async ----------------------------------------------------------------------------


async def test_the_seeds_invoke_async_example_is_a_lambda_event(client, seed, function):
    name = function["FunctionName"]
    response = await client.post(
        f"{API}/invoke-async",
        json={"function_name": name, "payload": '{"key": "value"}'},
        headers=seed,
    )
    body = response.json()

    assert response.status_code == 200 and set(body) == {"success", "status_code", "request_id"}
    assert body["success"] is True and body["status_code"] == 202
    [record] = await history(client, seed, f"aws_lambda:{name}")
    assert body["request_id"] == record["provider_info"]["request_id"]
    assert record["target"]["invocation_type"] == "Event" and record["payload"] == {"key": "value"}


async def test_invoke_async_of_an_unknown_function_is_404(client, seed, services):
    with stubbed(services) as stub:
        stub.add_client_error("invoke", "ResourceNotFoundException", "Function not found", 404)
        response = await client.post(
            f"{API}/invoke-async", json={"function_name": "gone", "payload": "{}"}, headers=seed
        )

    assert_seed_error(response, 404)


# --- batch -----------------------------------------------------------------------------------


async def test_the_seeds_batch_runs_concurrently_and_answers_in_order(
    client, seed, services, function, moto_url, monkeypatch
):
    other = create_function(moto_url, function["Role"])["FunctionName"]
    invocations = [
        {"function_name": function["FunctionName"], "payload": '{"key": "value1"}'},
        {"function_name": other, "payload": '{"key": "value2"}'},
        {"function_name": other, "payload": '{"key": "value3"}', "invocation_type": "Event"},
        {"function_name": other, "payload": "{}", "invocation_type": "DryRun"},
    ]
    provider = services.providers.get("aws_lambda")
    in_flight, most, all_started = 0, 0, asyncio.Event()
    real_invoke = provider.invoke

    async def counted(target, payload, context):
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        if most == 3:  # the three that invoke (a dry run does not)
            all_started.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_started.wait(), 3)
        if payload == {"key": "value1"}:
            await asyncio.sleep(0.2)  # the first finishes last
        in_flight -= 1
        return await real_invoke(target, payload, context)

    monkeypatch.setattr(provider, "invoke", counted)
    response = await client.post(f"{API}/batch", json={"invocations": invocations}, headers=seed)
    results = response.json()["results"]

    assert response.status_code == 200 and most == 3
    assert [set(result) for result in results] == [INVOKE_FIELDS] * 4
    assert [result["success"] for result in results] == [True] * 4
    assert [result["status_code"] for result in results] == [200, 200, 202, 204]
    assert json.loads(results[0]["payload"]) == {"key": "value1"}
    assert json.loads(results[1]["payload"]) == {"key": "value2"}
    assert results[2]["payload"] == results[3]["payload"] == ""


async def test_a_failing_batch_item_is_that_items_answer(client, seed, function):
    invocations = [
        {"function_name": function["FunctionName"], "payload": '{"key": "value1"}'},
        # the name's own qualifier and another alias: the target refuses the pair
        {"function_name": "f:1", "alias": "prod", "payload": '{"key": "value2"}'},
    ]

    response = await client.post(f"{API}/batch", json={"invocations": invocations}, headers=seed)
    ok, failed = response.json()["results"]

    assert response.status_code == 200
    assert ok["success"] is True and json.loads(ok["payload"]) == {"key": "value1"}
    assert failed == {
        "success": False,
        "status_code": 400,
        "payload": None,
        "error": failed["error"],
        "executed_version": "",
        "log_result": "",
    }
    assert "'f:1'" in failed["error"] and "qualifier" in failed["error"]


async def test_a_batch_with_a_malformed_item_is_refused_whole(client, seed, function):
    invocations = [
        {"function_name": function["FunctionName"], "payload": '{"key": "value1"}'},
        {"function_name": function["FunctionName"], "payload": {"key": "value2"}},  # no string
    ]

    response = await client.post(f"{API}/batch", json={"invocations": invocations}, headers=seed)

    body = assert_seed_error(response, 400)
    assert body["errors"][0]["loc"] == "invocations.1.payload"
    assert await history(client, seed, f"aws_lambda:{function['FunctionName']}") == []


async def test_an_empty_batch_is_a_bad_request(client, seed):
    response = await client.post(f"{API}/batch", json={"invocations": []}, headers=seed)

    assert_seed_error(response, 400)


# --- functions -------------------------------------------------------------------------------


async def test_the_seeds_function_list_has_every_seed_field(client, seed, function):
    response = await client.get(f"{API}/functions?max_items=50&next_marker=", headers=seed)
    body = response.json()

    assert response.status_code == 200 and set(body) == {"success", "functions", "next_marker"}
    assert body["success"] is True and body["next_marker"] == ""
    [listed] = [f for f in body["functions"] if f["function_name"] == function["FunctionName"]]
    assert tuple(listed) == SEED_FIELDS
    assert listed == {seed_name: function[name] for name, seed_name in CONFIG_KEYS.items()}


async def test_max_items_and_next_marker_reach_lambda(client, seed, services):
    page = {"Functions": [], "NextMarker": "page-3", "ResponseMetadata": {"HTTPStatusCode": 200}}
    with stubbed(services) as stub:
        stub.add_response("list_functions", page, {"MaxItems": 10, "Marker": "page-2"})
        response = await client.get(
            f"{API}/functions", params={"max_items": 10, "next_marker": "page-2"}, headers=seed
        )

    assert response.json() == {"success": True, "functions": [], "next_marker": "page-3"}


async def test_max_items_out_of_range_is_a_bad_request(client, seed):
    response = await client.get(f"{API}/functions?max_items=0", headers=seed)

    assert_seed_error(response, 400)


async def test_function_config_has_every_seed_field(client, seed, function):
    name = function["FunctionName"]

    response = await client.get(f"{API}/functions/{name}", headers=seed)
    body = response.json()

    assert response.status_code == 200 and set(body) == {"success", "config"}
    assert body["success"] is True
    assert tuple(body["config"]) == SEED_FIELDS
    assert body["config"] == {seed_name: function[key] for key, seed_name in CONFIG_KEYS.items()}


async def test_config_of_an_alias_is_its_version(client, seed, function):
    response = await client.get(f"{API}/functions/{function['FunctionName']}:prod", headers=seed)

    assert response.json()["config"]["version"] == "1"


async def test_config_of_an_unknown_function_is_404(client, seed):
    response = await client.get(f"{API}/functions/no-such-function", headers=seed)

    assert "no-such-function" in assert_seed_error(response, 404)["error"]


@pytest.mark.parametrize("path", ["/functions", "/stats"])
async def test_listing_and_stats_need_the_read_scope_as_natively(client, admin, path):
    headers = await new_client(client, admin, "invoke")

    response = await client.get(f"{API}{path}", headers=headers)

    assert response.status_code == 403 and response.json()["required_scope"] == "read"


# --- module settings: LAMBDA_FUNCTION_PREFIX and LAMBDA_TIMEOUT ------------------------------

FUNCTION_PREFIX = "waddlebot-"


@pytest.fixture
async def prefixed(tmp_path, moto_url):
    """A client and admin headers of an fnproxy with the seed's prefix and a 42 s LAMBDA_TIMEOUT;
    its services too."""
    from core.api.app import create_app

    settings = api_settings(
        tmp_path,
        AWS_ENDPOINT_URL=moto_url,
        AWS_REGION=REGION,
        LAMBDA_FUNCTION_PREFIX=FUNCTION_PREFIX,
        LAMBDA_TIMEOUT="42",
    )
    built = build_services(settings)
    transport = httpx.ASGITransport(app=create_app(built))
    async with httpx.AsyncClient(transport=transport, base_url="http://fnproxy.test") as http:
        yield http, {"Authorization": f"Bearer {await token_for(http)}"}, built
    await built.close()


@pytest.fixture
def prefixed_function(moto_url, function) -> dict[str, Any]:
    """A function whose name carries the prefix: waddlebot-cmd-<hex>."""
    return create_function(moto_url, function["Role"], prefix=f"{FUNCTION_PREFIX}cmd")


async def test_the_prefix_goes_before_a_bare_name_on_every_route(prefixed, prefixed_function):
    client, headers, _ = prefixed
    name = prefixed_function["FunctionName"]
    bare = name.removeprefix(FUNCTION_PREFIX)  # no function has this name: only prefixed it runs

    invoked = await client.post(
        f"{API}/invoke", json={"function_name": bare, "payload": '{"n": 1}'}, headers=headers
    )
    queued = await client.post(
        f"{API}/invoke-async", json={"function_name": bare, "payload": '{"n": 2}'}, headers=headers
    )
    batch = await client.post(
        f"{API}/batch",
        json={"invocations": [{"function_name": bare, "payload": '{"n": 3}'}]},
        headers=headers,
    )
    config = await client.get(f"{API}/functions/{bare}", headers=headers)

    assert invoked.status_code == 200 and json.loads(invoked.json()["payload"]) == {"n": 1}
    assert queued.status_code == 200 and queued.json()["status_code"] == 202
    assert json.loads(batch.json()["results"][0]["payload"]) == {"n": 3}
    assert config.status_code == 200 and config.json()["config"]["function_name"] == name
    records = await history(client, headers, f"aws_lambda:{name}")
    assert sorted(record["payload"]["n"] for record in records) == [1, 2, 3]


@pytest.mark.parametrize("form", ["prefixed name", "arn", "partial arn"])
async def test_a_prefixed_name_or_an_arn_is_not_prefixed_twice(prefixed, prefixed_function, form):
    client, headers, _ = prefixed
    name, arn = prefixed_function["FunctionName"], prefixed_function["FunctionArn"]
    function_name = {
        "prefixed name": name,
        "arn": arn,
        "partial arn": arn.split(":", 4)[4],  # 123456789012:function:waddlebot-cmd-…
    }[form]

    response = await client.post(
        f"{API}/invoke", json={"function_name": function_name, "payload": "{}"}, headers=headers
    )

    assert response.status_code == 200, response.text
    assert response.json()["success"] is True


async def test_lambda_timeout_is_the_deadline_the_provider_gets(
    prefixed, prefixed_function, monkeypatch
):
    client, headers, services = prefixed
    provider = services.providers.get("aws_lambda")
    deadlines: list[float] = []
    real_invoke = provider.invoke

    async def recorded(target, payload, context):
        deadlines.append(context.timeout_s)
        return await real_invoke(target, payload, context)

    monkeypatch.setattr(provider, "invoke", recorded)
    name = prefixed_function["FunctionName"]
    response = await client.post(
        f"{API}/invoke", json={"function_name": name, "payload": "{}"}, headers=headers
    )

    assert response.status_code == 200
    assert len(deadlines) == 1 and 41 < deadlines[0] <= 42
    [record] = await history(client, headers, f"aws_lambda:{name}")
    assert record["timeout_s"] == 42


async def test_the_default_lambda_timeout_is_the_seeds_300_s(client, seed, function):
    name = function["FunctionName"]

    await client.post(f"{API}/invoke", json={"function_name": name, "payload": "{}"}, headers=seed)

    [record] = await history(client, seed, f"aws_lambda:{name}")
    assert record["timeout_s"] == 300


# --- stats ----------------------------------------------------------------------------------


async def test_stats_are_lambdas_invocation_counts_and_success_rates_of_all_time(
    client, seed, services, function
):
    name = function["FunctionName"]
    for n in range(3):
        invoked = await client.post(
            f"{API}/invoke", json={"function_name": name, "payload": f'{{"n": {n}}}'}, headers=seed
        )
        assert invoked.status_code == 200
    month_ago = (int(time.time()) - 30 * 86400) // 3600 * 3600  # outside a 24-hour window
    await count_outcome(services.store, f"aws_lambda:{name}", month_ago, False, 100.0)
    await count_outcome(services.store, "local:echo", month_ago, True, 1.0)  # not Lambda's

    response = await client.get(f"{API}/stats", headers=seed)

    assert response.status_code == 200, response.text
    body = LambdaStatsResponse.model_validate(response.json())  # the documented shape exactly
    assert set(response.json()) == {"module", "version", "stats", "timestamp"}
    assert body.module == "lambda_action_module" and body.version == __version__
    assert datetime.fromisoformat(body.timestamp)
    stats = body.stats
    assert (stats.total_invocations, stats.successful_invocations) == (4, 3)
    assert stats.failed_invocations == 1 and stats.success_rate == 0.75
    assert stats.average_execution_time_ms is not None and stats.average_execution_time_ms >= 25
    assert set(stats.by_function) == {f"aws_lambda:{name}"}
    assert stats.by_function[f"aws_lambda:{name}"].success_rate == 0.75


async def test_stats_before_any_invocation_are_zero_with_no_rate(client, seed):
    stats = (await client.get(f"{API}/stats", headers=seed)).json()["stats"]

    assert stats == {
        "total_invocations": 0,
        "successful_invocations": 0,
        "failed_invocations": 0,
        "success_rate": None,
        "average_execution_time_ms": None,
        "by_function": {},
    }


# --- function_name: the target's Lambda name pattern, stated by the document ------------------


def test_the_document_states_the_lambda_name_pattern_of_function_name():
    from core.targets import AWS_FUNCTION_PATTERN

    schemas = build_openapi(all_endpoints())["components"]["schemas"]
    for name in ("LambdaInvokeRequest", "LambdaInvokeAsyncRequest"):
        function_name = schemas[name]["properties"]["function_name"]
        assert function_name["pattern"] == AWS_FUNCTION_PATTERN
        assert "LAMBDA_FUNCTION_PREFIX" in function_name["description"]


@pytest.mark.parametrize("route", ["invoke", "invoke-async", "batch"])
async def test_a_function_name_no_function_can_have_is_that_fields_400(client, seed, route):
    request = {"function_name": "not a function name!", "payload": "{}"}
    body = {"invocations": [request]} if route == "batch" else request

    response = await client.post(f"{API}/{route}", json=body, headers=seed)

    loc = "invocations.0.function_name" if route == "batch" else "function_name"
    assert assert_seed_error(response, 400)["errors"][0]["loc"] == loc


@pytest.mark.parametrize("route", ["invoke", "invoke-async", "batch"])
async def test_a_name_the_prefix_makes_too_long_is_a_400_naming_function_name(prefixed, route):
    client, headers, _ = prefixed
    request = {"function_name": "f" * 64, "payload": "{}"}  # 64 + len("waddlebot-") characters
    body = {"invocations": [request]} if route == "batch" else request

    response = await client.post(f"{API}/{route}", json=body, headers=headers)

    if route == "batch":
        assert response.status_code == 200
        (failed,) = response.json()["results"]
        assert failed["success"] is False and failed["status_code"] == 400
        assert "function_name" in failed["error"] and FUNCTION_PREFIX in failed["error"]
    else:
        error = assert_seed_error(response, 400)
        assert "function_name" in error["detail"] and FUNCTION_PREFIX in error["detail"]
