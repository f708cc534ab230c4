"""Issue 10 §2, live: the secrets a target carries (header values, URL userinfo, query values)
reach the function and nothing else - not the caller's records, the execution logs, the
callback's body, a reader's listing, the SQLite file or the server log.

The listener plays the function (`/fn` answers a fixed body, so a secret can only come back
through fnproxy's own records) and the callback receiver (`/cb`)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.security.support import LOCAL_PLATFORM, Listener, Server, start_server

SECRET = "PLANTED-target-api-key-7f3a9c"
TOKEN = "PLANTED-query-token-51e0b2"
PASSWORD = "PLANTED-url-password-c4d8e6"
CALLER_TOKEN = "PLANTED-caller-query-token-e83a14"
BEARER = "PLANTED-caller-bearer-9a2f71"
CALLBACK_SIG = "PLANTED-callback-sig-0d6b3e"
TERMINAL = ("succeeded", "failed", "timed_out")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The cloud's egress rules with loopback opened for the listener alone."""
    started = start_server(
        tmp_path_factory.mktemp("records") / "data", env={"EGRESS_ALLOW": "127.0.0.1/32"}
    )
    yield started
    started.stop()


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Platform local: an http callback_url to loopback is allowed (https-only on the clouds)."""
    started = start_server(tmp_path_factory.mktemp("callbacks") / "data", env=LOCAL_PLATFORM)
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def _function_and_callback_receiver(listener: Listener) -> None:
    for path in ("/fn", "/cb"):
        listener.routes[path] = lambda handler: handler.answer(200, {"ok": True})


def keyed_target(listener: Listener) -> dict:
    """What an admin registers: an API key header and a query token."""
    return {
        "provider": "http",
        "url": f"{listener.url}/fn?token={TOKEN}",
        "headers": {"X-Api-Key": SECRET},
    }


def caller_target(listener: Listener) -> dict:
    """What a caller names itself: a URL password, a query token and an Authorization header
    (none of them registered: the registry keeps an admin's target clear in the database)."""
    host = listener.url.removeprefix("http://")
    return {
        "provider": "http",
        "url": f"http://user:{PASSWORD}@{host}/fn?token={CALLER_TOKEN}",
        "headers": {"Authorization": f"Bearer {BEARER}"},
    }


def register(server: Server, name: str, target: dict) -> None:
    with server.http() as http:
        created = http.post(
            "/v1/functions", json={"name": name, "target": target}, headers=server.admin()
        )
    assert created.status_code == 201, created.text


def leaks(text: str, *planted: str) -> list[str]:
    return [secret for secret in planted if secret in text]


def settled(http: httpx.Client, headers: dict[str, str], execution_id: str) -> dict:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        record = http.get(f"/v1/invocations/{execution_id}", headers=headers).json()
        if record["status"] in TERMINAL and (
            record["callback_url"] is None or record["callback_result"]
        ):
            return record
        time.sleep(0.05)
    raise AssertionError(f"execution {execution_id} did not settle: {record}")


def test_an_invoke_only_client_reads_back_no_secret_of_a_registered_target(
    cloud: Server, listener: Listener
) -> None:
    register(cloud, "keyed", keyed_target(listener))
    invoker = cloud.client("invoke:keyed")
    with cloud.http() as http:
        assert http.get("/v1/functions/keyed", headers=invoker).status_code == 403
        answer = http.post("/v1/functions/keyed/invoke", json={"payload": {}}, headers=invoker)
        assert answer.status_code == 200 and answer.json()["success"] is True, answer.text
        execution_id = answer.json()["execution_id"]
        own = http.get(f"/v1/invocations/{execution_id}", headers=invoker)
        logged = http.get(f"/v1/functions/keyed/executions/{execution_id}", headers=invoker)

    [call] = listener.hits("/fn")
    assert call.headers["x-api-key"] == SECRET and call.path == f"/fn?token={TOKEN}"
    for shown in (answer, own, logged):
        assert shown.status_code == 200
        assert not leaks(shown.text, SECRET, TOKEN), shown.request.url
    assert own.json()["target"]["headers"] == {"X-Api-Key": "***"}
    assert own.json()["target"]["url"] == f"{listener.url}/fn?token=***"


def test_the_callback_body_carries_no_secret_of_the_target(
    local: Server, listener: Listener
) -> None:
    register(local, "keyed", keyed_target(listener))
    invoker = local.client("invoke:keyed")
    callback_url = f"{listener.url}/cb?sig={CALLBACK_SIG}"
    with local.http() as http:
        accepted = http.post(
            "/v1/functions/keyed/invoke",
            json={"payload": {}, "mode": "async", "callback_url": callback_url},
            headers=invoker,
        )
        assert accepted.status_code == 202, accepted.text
        record = settled(http, invoker, accepted.json()["execution_id"])

    assert record["callback_result"]["delivered"] is True, record
    [call] = listener.hits("/fn")
    assert call.headers["x-api-key"] == SECRET  # the async run had the clear target
    [callback] = listener.hits("/cb")
    assert callback.path == f"/cb?sig={CALLBACK_SIG}"  # and the clear callback URL
    assert not leaks(callback.body.decode(), SECRET, TOKEN, CALLBACK_SIG)
    assert not leaks(str(record), SECRET, TOKEN, CALLBACK_SIG)


def test_a_reader_the_database_and_the_log_hold_no_caller_named_secret(
    cloud: Server, listener: Listener
) -> None:
    planted = (PASSWORD, CALLER_TOKEN, BEARER)
    admin, reader = cloud.admin(), cloud.client("read")
    with cloud.http() as http:
        sync = http.post("/v1/invoke", json={"target": caller_target(listener)}, headers=admin)
        queued = http.post(
            "/v1/invoke",
            json={"target": caller_target(listener), "mode": "async"},
            headers=admin,
        )
        assert sync.status_code == 200 and queued.status_code == 202, (sync.text, queued.text)
        record = settled(http, admin, queued.json()["execution_id"])
        listing = http.get("/v1/invocations", headers=reader)
        one = http.get(f"/v1/invocations/{sync.json()['execution_id']}", headers=reader)

    assert record["status"] == "succeeded", record
    calls = listener.hits("/fn")
    assert len(calls) == 2 and all(c.headers["authorization"] == f"Bearer {BEARER}" for c in calls)
    assert all(c.path == f"/fn?token={CALLER_TOKEN}" for c in calls)
    for shown in (sync, listing, one):
        assert shown.status_code == 200 and not leaks(shown.text, *planted), shown.request.url
    assert one.json()["target"]["url"].startswith("http://***:***@")

    stored = {
        path.name: path.read_bytes().decode("latin-1")
        for path in cloud.data_dir.glob("fnproxy.db*")
    }
    assert "fnproxy.db" in stored
    found = {name: leaks(raw, *planted) for name, raw in stored.items()}
    assert found == dict.fromkeys(stored, [])
    assert not leaks(cloud.log, *planted)
