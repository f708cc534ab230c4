"""The GCP Functions action module's routes under /gcp: the seed's own example requests
(seeds/gcp-functions-action-module.md) and every response field rest-shapes.md lists. Functions
run on a real functions-framework server (`ff_url`); names resolve through the Cloud Functions
v2 admin API served from recorded responses (tests/gcp/fixtures), where the seed's example
functions (`my-function`, `function1`, `function2`) are the recorded `echo`."""

from __future__ import annotations

import json
import shutil
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from datetime import timedelta as duration
from typing import Any

import httpx
import pytest

from core import __version__, wiring
from core.providers.gcp_functions import GcpFunctionsProvider
from core.wiring import build_services
from tests.api.conftest import MODULE_KEY, api_settings, new_client
from tests.gcp.fixtures import functions_api
from tests.gcp.fixtures.functions_api import RecordedFunctionsApi
from tests.store_support import count_outcome

PROJECT = "my-project"
REGION = "us-central1"
SEED_FUNCTIONS = ("my-function", "function1", "function2")
MAX_BATCH = 8
API = "/gcp/api/v1"
PROBLEM = "application/problem+json"
INVOCATION_FIELDS = {"success", "status_code", "response", "execution_time_ms", "execution_id"}
LISTED_FIELDS = {
    "name",
    "full_name",
    "state",
    "runtime",
    "entry_point",
    "url",
    "description",
    "service_account",
}
ENV_VALUES = ("sk-live-9f8e7d6c5b4a", "hunter2-do-not-leak")
"""Environment variable values in the recorded functions: never in an answer."""


class FakeAccessCredentials:
    """google-auth credentials for the admin API (`refresh(request)`, `token`, `expiry`)."""

    token: str | None = None
    expiry: datetime | None = None

    def refresh(self, request: Any) -> None:
        self.token = "access-token"
        self.expiry = datetime.now(UTC).replace(tzinfo=None) + duration(hours=1)


@pytest.fixture
async def admin_api(ff_url, tmp_path, monkeypatch) -> AsyncIterator[RecordedFunctionsApi]:
    """The recorded v2 API, also answering for the seed's example functions."""
    recorded = tmp_path / "cloudfunctions_v2"
    shutil.copytree(functions_api.RECORDED, recorded)
    echo = json.loads((recorded / "get_echo.json").read_text())
    for name in SEED_FUNCTIONS:
        echo["name"] = f"projects/{PROJECT}/locations/{REGION}/functions/{name}"
        (recorded / f"get_{name}.json").write_text(json.dumps(echo))
    monkeypatch.setattr(functions_api, "RECORDED", recorded)
    server = RecordedFunctionsApi(ff_url)
    await server.start()
    yield server
    await server.stop()


def with_fake_admin_credentials(factories: Callable) -> Callable:
    """The composition root's provider factories, with a gcp_functions provider on fake
    admin API credentials (the wiring builds it on the application default credentials)."""

    def build(settings):
        def gcp_functions():
            return GcpFunctionsProvider(
                settings.gcp_project_id,
                settings.gcp_region,
                pool_size=8,
                api_url=settings.gcp_functions_api_url,
                id_tokens=settings.gcp_id_tokens,
                credentials=FakeAccessCredentials(),
            )

        return {**factories(settings), "gcp_functions": gcp_functions}

    return build


@pytest.fixture
async def services(tmp_path, admin_api, monkeypatch):
    settings = api_settings(
        tmp_path,
        GCP_PROJECT_ID=PROJECT,
        GCP_REGION=REGION,
        GCP_FUNCTIONS_API_URL=admin_api.url,
        GCP_ID_TOKENS="false",
        MAX_BATCH_SIZE=str(MAX_BATCH),
    )
    monkeypatch.setattr(
        wiring, "provider_factories", with_fake_admin_credentials(wiring.provider_factories)
    )
    built = build_services(settings)
    built.queue.start(built.worker.handle)
    yield built
    await built.close()


@pytest.fixture
async def seed(client) -> dict[str, str]:
    """Authorization headers from the seed's token route and its example body."""
    response = await client.post(
        f"{API}/auth/token", json={"api_key": MODULE_KEY, "service": "my-service"}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def assert_seed_problem(response, status: int) -> dict:
    body = response.json()
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert body["success"] is False and body["status_code"] == status
    assert body["error"] == body["detail"] and body["error"]
    return body


# --- auth/token ----------------------------------------------------------------------------


async def test_token_answers_the_seed_fields_and_works_on_both_apis(client):
    response = await client.post(
        f"{API}/auth/token",
        json={"api_key": MODULE_KEY, "service": "my-service", "permissions": ["invoke"]},
    )
    body = response.json()
    assert response.status_code == 200 and set(body) == {"token", "expires_in"}
    assert body["expires_in"] == 3600 and response.headers["cache-control"] == "no-store"
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert (await client.get(f"{API}/stats", headers=headers)).status_code == 200
    assert (await client.get("/v1/stats", headers=headers)).status_code == 200


async def test_a_bad_api_key_is_401_with_the_seed_fields(client):
    response = await client.post(f"{API}/auth/token", json={"api_key": "not-the-key"})
    body = assert_seed_problem(response, 401)
    assert body["error"] == "invalid api key"


async def test_a_token_request_without_api_key_is_refused_with_the_seed_fields(client):
    body = assert_seed_problem(await client.post(f"{API}/auth/token", json={"service": "x"}), 400)
    assert body["errors"][0]["loc"] == "api_key"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/functions/invoke"),
        ("POST", "/functions/invoke-http"),
        ("POST", "/functions/batch"),
        ("GET", "/functions/list"),
        ("GET", "/functions/my-function/details"),
        ("GET", "/stats"),
    ],
)
async def test_every_other_route_needs_the_bearer_token(client, method, path):
    response = await client.request(method, f"{API}{path}", json={})
    assert response.status_code == 401 and response.headers["content-type"] == PROBLEM


# --- functions/invoke ----------------------------------------------------------------------


async def test_invoke_by_name_with_the_seeds_example(client, seed, admin_api):
    example = {
        "function_name": "my-function",
        "project": "my-project",
        "region": "us-central1",
        "payload": {"key": "value"},
    }
    response = await client.post(f"{API}/functions/invoke", json=example, headers=seed)
    body = response.json()
    assert response.status_code == 200 and set(body) == INVOCATION_FIELDS
    assert body["success"] is True and body["status_code"] == 200
    assert json.loads(body["response"]) == {"key": "value"}
    assert isinstance(body["execution_time_ms"], int) and body["execution_time_ms"] >= 0
    resource = f"projects/{PROJECT}/locations/{REGION}/functions/my-function"
    assert f"/v2/{resource}" in admin_api.paths
    record = (await client.get(f"/v1/invocations/{body['execution_id']}", headers=seed)).json()
    assert record["function"] == "gcp_functions:my-function"
    assert record["payload"] == {"key": "value"} and record["status"] == "succeeded"
    assert record["provider_info"]["function"] == resource


async def test_invoke_without_payload_sends_the_seeds_empty_object(client, seed):
    response = await client.post(
        f"{API}/functions/invoke", json={"function_name": "function1"}, headers=seed
    )
    assert response.json()["response"] == "{}"


async def test_invoke_of_an_unknown_function_is_404_with_the_seed_fields(client, seed):
    response = await client.post(
        f"{API}/functions/invoke", json={"function_name": "no-such-function"}, headers=seed
    )
    body = assert_seed_problem(response, 404)
    assert "no-such-function" in body["error"] and body["execution_id"]


async def test_invoke_without_function_name_is_refused_with_the_seed_fields(client, seed):
    response = await client.post(
        f"{API}/functions/invoke", json={"payload": {"key": "value"}}, headers=seed
    )
    body = assert_seed_problem(response, 400)
    assert body["errors"][0]["loc"] == "function_name"


async def test_a_body_that_is_not_json_is_400_with_the_seed_fields(client, seed):
    response = await client.post(
        f"{API}/functions/invoke",
        content=b"{not json",
        headers={**seed, "Content-Type": "application/json"},
    )
    assert_seed_problem(response, 400)


# --- functions/invoke-http -----------------------------------------------------------------


async def test_invoke_http_with_the_seeds_example(client, seed, ff_url):
    example = {"url": f"{ff_url}/echo", "method": "POST", "payload": {"data": "value"}}
    response = await client.post(f"{API}/functions/invoke-http", json=example, headers=seed)
    body = response.json()
    assert response.status_code == 200 and set(body) == INVOCATION_FIELDS | {"response_headers"}
    assert body["success"] is True and body["status_code"] == 200
    assert json.loads(body["response"]) == {"data": "value"}
    assert isinstance(body["execution_time_ms"], int)
    assert isinstance(body["response_headers"], dict)  # empty until the provider records them
    record = (await client.get(f"/v1/invocations/{body['execution_id']}", headers=seed)).json()
    assert (
        record["function"].startswith("http:127.0.0.1:") and record["target"]["provider"] == "http"
    )


SEED_HTTP_EXAMPLE = {
    "url": "https://us-central1-project.cloudfunctions.net/my-function",
    "method": "POST",
    "payload": {"data": "value"},
}
LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")


class NoGoogleIdentity:
    """The Google credentials of a machine that has none: every use is recorded and refused as
    google-auth refuses it (as admin API credentials and as the ID token factory)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def refresh(self, request: Any) -> None:
        self.asked.append("access token")
        raise google_auth_exceptions().DefaultCredentialsError("no Google credentials")

    def id_token(self, audience: str) -> Any:
        self.asked.append(f"ID token for {audience}")
        raise google_auth_exceptions().DefaultCredentialsError("no Google credentials")


def google_auth_exceptions() -> Any:
    return pytest.importorskip("google.auth.exceptions")


def offline(resolve: Callable) -> Callable:
    """`socket.getaddrinfo` with no network: only loopback names resolve (nothing leaves)."""

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in LOOPBACK_NAMES:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return resolve(host, *args, **kwargs)

    return getaddrinfo


@pytest.fixture
async def google_less(tmp_path, monkeypatch) -> AsyncIterator[tuple[Any, NoGoogleIdentity]]:
    """The API (ID tokens on) on an offline machine with no Google credentials:
    GOOGLE_APPLICATION_CREDENTIALS names a missing file and the gcp provider's credentials
    record any use. Yields (an httpx client holding a module-key token, the credentials)."""
    from core.api.app import create_app

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    monkeypatch.setattr(socket, "getaddrinfo", offline(socket.getaddrinfo))
    nothing = NoGoogleIdentity()
    factories = wiring.provider_factories

    def build(settings):
        def gcp_functions():
            return GcpFunctionsProvider(
                PROJECT, REGION, 2, credentials=nothing, id_token_credentials=nothing.id_token
            )

        return {**factories(settings), "gcp_functions": gcp_functions}

    monkeypatch.setattr(wiring, "provider_factories", build)
    built = build_services(api_settings(tmp_path, GCP_PROJECT_ID=PROJECT, MAX_RETRIES="0"))
    transport = httpx.ASGITransport(app=create_app(built))
    async with httpx.AsyncClient(transport=transport, base_url="http://fnproxy.test") as http:
        token = (await http.post(f"{API}/auth/token", json={"api_key": MODULE_KEY})).json()
        http.headers["Authorization"] = f"Bearer {token['token']}"
        yield http, nothing
    await built.close()


async def test_the_seeds_invoke_http_example_needs_no_google_credentials(google_less):
    client, nothing = google_less

    response = await client.post(f"{API}/functions/invoke-http", json=SEED_HTTP_EXAMPLE)

    body = assert_seed_problem(response, 502)  # offline: unreachable, not a credentials error
    assert nothing.asked == []
    assert "credential" not in body["error"].lower() and "token" not in body["error"].lower()
    record = (await client.get(f"/v1/invocations/{body['execution_id']}")).json()
    assert record["function"] == "http:us-central1-project.cloudfunctions.net/my-function"


async def test_invoke_http_sends_no_google_token(client, seed, ff_url):
    example = {"url": f"{ff_url}/headers", "headers": {"X-Trace": "t-1"}}
    body = (await client.post(f"{API}/functions/invoke-http", json=example, headers=seed)).json()
    headers = json.loads(body["response"])["headers"]
    assert headers["x-trace"] == "t-1"
    assert "authorization" not in headers and "x-serverless-authorization" not in headers


async def test_invoke_http_needs_an_http_scope(client, admin, ff_url):
    example = {"url": f"{ff_url}/echo", "payload": {"data": "value"}}
    for scope, status in [
        ("invoke:gcp_functions:*", 403),
        ("invoke:http:127.0.0.1:*/echo", 200),
        ("invoke", 200),
    ]:
        headers = await new_client(client, admin, scope)
        response = await client.post(f"{API}/functions/invoke-http", json=example, headers=headers)
        assert response.status_code == status, (scope, response.text)


async def test_invoke_http_sends_no_payload_with_a_get_as_the_seed(client, seed, ff_url):
    example = {"url": f"{ff_url}/headers", "method": "get", "payload": {"data": "value"}}
    body = (await client.post(f"{API}/functions/invoke-http", json=example, headers=seed)).json()
    assert json.loads(body["response"])["body_bytes"] == 0


async def test_a_function_that_failed_is_200_with_success_false(client, seed, ff_url):
    response = await client.post(
        f"{API}/functions/invoke-http", json={"url": f"{ff_url}/status/500"}, headers=seed
    )
    body = response.json()
    assert response.status_code == 200
    assert body["success"] is False and body["status_code"] == 500
    assert body["error"] == "HTTP 500" and json.loads(body["response"]) == {"status": 500}


async def test_a_timeout_is_504_with_the_seed_fields(client, seed, ff_url):
    example = {"url": f"{ff_url}/sleep?ms=1500", "timeout": 0.3}
    response = await client.post(f"{API}/functions/invoke-http", json=example, headers=seed)
    body = assert_seed_problem(response, 504)
    assert body["execution_id"] and body["execution_time_ms"] >= 300


async def test_an_unavailable_function_is_502_after_retries(client, seed, ff_url):
    response = await client.post(
        f"{API}/functions/invoke-http", json={"url": f"{ff_url}/status/503"}, headers=seed
    )
    body = assert_seed_problem(response, 502)
    assert body["attempts"] == 3 and body["execution_id"]  # MAX_RETRIES=2


# --- functions/batch -----------------------------------------------------------------------


async def test_batch_with_the_seeds_example(client, seed):
    example = {
        "invocations": [
            {"function_name": "function1", "payload": {"key": "value1"}},
            {"function_name": "function2", "payload": {"key": "value2"}},
        ]
    }
    response = await client.post(f"{API}/functions/batch", json=example, headers=seed)
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"responses", "total_count", "success_count", "failure_count"}
    assert (body["total_count"], body["success_count"], body["failure_count"]) == (2, 2, 0)
    assert [json.loads(item["response"]) for item in body["responses"]] == [
        {"key": "value1"},
        {"key": "value2"},
    ]
    assert all(set(item) == INVOCATION_FIELDS for item in body["responses"])


async def test_batch_answers_and_counts_every_item_in_order(client, seed, ff_url):
    invocations = [
        {"function_name": "function1", "payload": {"n": 1}},
        {"payload": {"n": 2}},
        {"url": f"{ff_url}/echo", "payload": {"n": 3}},
        {"url": f"{ff_url}/status/500"},
        {"url": "ftp://example.com/fn"},
        {"function_name": "no-such-function"},
    ]
    response = await client.post(
        f"{API}/functions/batch", json={"invocations": invocations}, headers=seed
    )
    body = response.json()
    assert (body["total_count"], body["success_count"], body["failure_count"]) == (6, 2, 4)
    one, missing, three, failed, bad_url, unknown = body["responses"]
    assert json.loads(one["response"]) == {"n": 1} and json.loads(three["response"]) == {"n": 3}
    assert missing["success"] is False and missing["status_code"] == 400
    assert "function_name or a url" in missing["error"]
    assert failed["success"] is False and failed["status_code"] == 500
    assert bad_url["success"] is False and bad_url["status_code"] == 400
    assert unknown["success"] is False and unknown["status_code"] == 404
    assert unknown["execution_id"]


async def test_batch_items_run_concurrently(client, seed, ff_url):
    invocations = [{"url": f"{ff_url}/sleep?ms=400"} for _ in range(MAX_BATCH)]
    response = await client.post(
        f"{API}/functions/batch", json={"invocations": invocations}, headers=seed
    )
    body = response.json()
    assert body["success_count"] == MAX_BATCH
    assert response.elapsed.total_seconds() < 400 * MAX_BATCH / 1000 / 2


async def test_a_batch_over_max_batch_size_is_400_bad_items_included(client, seed):
    invocations = [{"function_name": "function1"}] * MAX_BATCH + [{"payload": {}}]
    response = await client.post(
        f"{API}/functions/batch", json={"invocations": invocations}, headers=seed
    )
    body = assert_seed_problem(response, 400)
    assert "MAX_BATCH_SIZE" in body["error"]


async def test_an_empty_batch_is_refused(client, seed):
    response = await client.post(f"{API}/functions/batch", json={"invocations": []}, headers=seed)
    assert_seed_problem(response, 400)


# --- functions/list and details ------------------------------------------------------------


async def test_list_with_the_seeds_example_follows_every_page(client, seed, admin_api):
    response = await client.get(
        f"{API}/functions/list?project=my-project&region=us-central1", headers=seed
    )
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"project", "region", "functions", "count"}
    assert (body["project"], body["region"]) == (PROJECT, REGION)
    names = [function["name"] for function in body["functions"]]
    assert names[:3] == ["echo", "resize-image", "nightly-report"]
    assert body["count"] == len(names) and len(admin_api.requests) == 2
    echo = body["functions"][0]
    assert set(echo) == LISTED_FIELDS
    assert echo["full_name"] == "projects/demo-fnproxy/locations/us-central1/functions/echo"
    assert echo["state"] == "ACTIVE" and echo["runtime"] == "python312"
    assert echo["entry_point"] == "echo" and echo["url"] == "https://echo-x7kq2pmxza-uc.a.run.app"
    assert echo["service_account"] == "123456789012-compute@developer.gserviceaccount.com"
    assert not any(value in response.text for value in ENV_VALUES)


async def test_list_in_another_project_and_region_asks_that_location(client, seed, admin_api):
    await client.get(
        f"{API}/functions/list?project=other-project&region=europe-west1", headers=seed
    )
    assert admin_api.paths[-1] == "/v2/projects/other-project/locations/europe-west1/functions"


async def test_list_in_a_malformed_location_is_400(client, seed):
    response = await client.get(f"{API}/functions/list?region=Not_A_Region", headers=seed)
    assert_seed_problem(response, 400)


async def test_details_with_the_seeds_example(client, seed, ff_url, admin_api):
    response = await client.get(
        f"{API}/functions/my-function/details?project=my-project&region=us-central1",
        headers=seed,
    )
    body = response.json()
    assert response.status_code == 200 and body["success"] is True
    function = body["function"]
    assert set(function) == LISTED_FIELDS | {"timeout", "memory_mb", "environment_variables"}
    resource = f"projects/{PROJECT}/locations/{REGION}/functions/my-function"
    assert function["name"] == "my-function" and function["full_name"] == resource
    assert function["url"] == f"{ff_url}/echo" and function["timeout"] == 60
    assert function["memory_mb"] == "256M"
    assert function["environment_variables"] == ["LOG_EXECUTION_ID", "UPSTREAM_API_KEY"]
    assert not any(value in response.text for value in ENV_VALUES)
    assert admin_api.paths[-1] == f"/v2/{resource}"


async def test_details_in_another_project_asks_that_project(client, seed, admin_api):
    await client.get(f"{API}/functions/echo/details?project=other-project", headers=seed)
    assert admin_api.paths[-1] == f"/v2/projects/other-project/locations/{REGION}/functions/echo"


async def test_details_of_a_missing_function_is_404_with_the_seed_fields(client, seed):
    response = await client.get(f"{API}/functions/no-such-function/details", headers=seed)
    body = assert_seed_problem(response, 404)
    assert "no-such-function" in body["error"]


# --- stats and health ----------------------------------------------------------------------


async def test_stats_count_the_gcp_functions_invocations_only(client, seed, admin, ff_url):
    """invoke-http is a plain http call: counted by the native stats, not here."""
    for n in range(2):
        await client.post(
            f"{API}/functions/invoke",
            json={"function_name": "my-function", "payload": {"n": n}},
            headers=seed,
        )
    await client.post(f"{API}/functions/invoke", json={"function_name": "retired"}, headers=seed)
    await client.post(f"{API}/functions/invoke-http", json={"url": f"{ff_url}/echo"}, headers=seed)
    local = {"target": {"provider": "local", "function": "echo"}, "payload": {}}
    assert (await client.post("/v1/invoke", json=local, headers=admin)).status_code == 200

    response = await client.get(f"{API}/stats", headers=seed)
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"module", "version", "stats", "timestamp"}
    assert body["module"] == "gcp_functions_action_module" and body["version"] == __version__
    datetime.fromisoformat(body["timestamp"])
    stats = body["stats"]
    assert stats["total_invocations"] == 3
    assert stats["successful_invocations"] == 2 and stats["failed_invocations"] == 1
    assert isinstance(stats["average_execution_time_ms"], int)
    assert stats["gcp_project"] == PROJECT and stats["gcp_region"] == REGION
    assert stats["rest_port"] == 8080
    assert "since" not in stats  # all time


async def test_stats_count_all_time_as_the_seeds_table_did(client, seed, services):
    month_ago = int(time.time()) - 30 * 86400
    bucket = month_ago // 3600 * 3600  # far outside the native stats' default 24 hours
    await count_outcome(services.store, "gcp_functions:old-function", bucket, False, 40.0)

    stats = (await client.get(f"{API}/stats", headers=seed)).json()["stats"]

    assert stats["total_invocations"] == 1 and stats["failed_invocations"] == 1
    assert stats["average_execution_time_ms"] == 40


async def test_stats_need_the_read_scope(client, admin):
    invoker = await new_client(client, admin, "invoke")
    assert (await client.get(f"{API}/stats", headers=invoker)).status_code == 403


async def test_health_in_the_seeds_shape(client, seed):
    anonymous = await client.get("/gcp/health")
    assert anonymous.status_code == 200
    assert anonymous.json() == {"status": "healthy", "version": __version__}
    response = await client.get("/gcp/health", headers=seed)
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "healthy" and body["module"] == "gcp_functions_action_module"
    assert body["version"] == __version__ and body["database"] == "connected"
    assert body["gcp_project"] == PROJECT and body["gcp_region"] == REGION
    assert body["rest_port"] == 8080
    assert body["checks"] == {
        "store": "ok",
        "secrets": "ok",
        "events": "ok",
        "queue": "ok",
        "blobs": "ok",
    }
    datetime.fromisoformat(body["timestamp"])
