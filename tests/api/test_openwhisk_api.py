"""The OpenWhisk REST API front (/openwhisk-api) driven by the real npm `openwhisk` client
(tests/openwhisk_client, installed from its package-lock.json by `npm ci`), run by Node against
a live fnproxy (uvicorn on the test's event loop, real services over SQLite); one small script
per scenario, its answer printed as JSON."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from subprocess import PIPE
from typing import Any

import httpx
import pytest

from core import wiring
from tests.api.conftest import api_settings
from tests.api.live import (
    Fnproxy,
    calling_openwhisk,
    executions,
    new_client,
    register,
    serving,
)
from tests.fixtures.openwhisk_fixture import (  # noqa: F401 - fixtures
    RunningOpenWhisk,
    openwhisk_server,
    openwhisk_session,
)

CLIENT_DIR = Path(__file__).parents[1] / "openwhisk_client"
HELLO = {"provider": "local", "function": "hello"}
ECHO = {"provider": "local", "function": "echo"}
FAIL = {"provider": "local", "function": "fail"}


@pytest.fixture(scope="session")
def openwhisk_client() -> Path:
    """The client's directory, its node_modules installed once from the lock file."""
    if not (CLIENT_DIR / "node_modules" / "openwhisk").is_dir():
        npm = shutil.which("npm")
        assert npm is not None, "Node.js and npm are needed to run the npm openwhisk client"
        command = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
        subprocess.run(command, cwd=CLIENT_DIR, check=True)
    return CLIENT_DIR


@pytest.fixture
async def fnproxy(tmp_path) -> AsyncIterator[Fnproxy]:
    async with serving(wiring.build_services(api_settings(tmp_path))) as live:
        yield live


@pytest.fixture
async def api_key(fnproxy: Fnproxy) -> str:
    client = await new_client(fnproxy, "invoke", "read")
    return f"{client['client_id']}:{client['client_secret']}"


async def node(
    client_dir: Path, fnproxy: Fnproxy, scenario: str, api_key: str, namespace: str = "_"
) -> dict[str, Any]:
    """What the scenario's script printed: `{"answer": ...}` or `{"error": ...}`."""
    environment = {
        "PATH": os.environ["PATH"],
        "OW_APIHOST": f"{fnproxy.url}/openwhisk-api",
        "OW_API_KEY": api_key,
        "OW_NAMESPACE": namespace,
    }
    script = str(client_dir / f"{scenario}.js")
    run = await asyncio.create_subprocess_exec(
        "node", script, env=environment, stdout=PIPE, stderr=PIPE
    )
    stdout, stderr = await run.communicate()
    assert run.returncode == 0, stderr.decode()
    return json.loads(stdout)


def basic(api_key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(api_key.encode()).decode()}


async def front(
    fnproxy: Fnproxy, method: str, path: str, api_key: str, body: Any = None, **params: Any
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"{fnproxy.url}/openwhisk-api/api/v1") as http:
        return await http.request(method, path, headers=basic(api_key), params=params, json=body)


async def settled(fnproxy: Fnproxy, name: str) -> list[dict[str, Any]]:
    """The function's executions once none is open any more."""
    for _ in range(200):
        found = await executions(fnproxy, name)
        if found and all(e["status"] not in ("queued", "running") for e in found):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name}'s executions did not settle: {found}")


async def test_a_blocking_invoke_with_result_answers_the_result_of_an_ordinary_execution(
    openwhisk_client, fnproxy, api_key
):
    await register(fnproxy, "greet", HELLO)

    printed = await node(openwhisk_client, fnproxy, "invoke_result", api_key)

    assert printed == {"answer": {"message": "Hello, Ada!"}}
    recorded = await executions(fnproxy, "greet")
    assert [(e["mode"], e["status"]) for e in recorded] == [("sync", "succeeded")]


async def test_a_non_blocking_invoke_is_accepted_and_its_activation_read_back(
    openwhisk_client, fnproxy, api_key
):
    await register(fnproxy, "greet", HELLO)

    answer = (await node(openwhisk_client, fnproxy, "invoke_then_get", api_key))["answer"]

    activation_id = answer["accepted"]["activationId"]
    activation = answer["activation"]
    assert activation["activationId"] == activation_id
    assert (activation["namespace"], activation["name"]) == ("_", "greet")
    assert activation["response"] == {
        "status": "success",
        "statusCode": 0,
        "success": True,
        "result": {"message": "Hello, Ada!"},
    }
    assert activation["end"] >= activation["start"] > 0
    assert isinstance(activation["duration"], int)
    assert {"key": "path", "value": "_/greet"} in activation["annotations"]
    assert answer["logs"] == {"logs": activation["logs"]}
    assert answer["result"] == activation["response"]
    recorded = await executions(fnproxy, "greet")
    assert [(e["execution_id"], e["mode"]) for e in recorded] == [(activation_id, "async")]


async def test_actions_are_listed_paged_and_read_from_the_registry(
    openwhisk_client, fnproxy, api_key
):
    for name in ("greet", "echo", "team.echo"):
        await register(fnproxy, name, ECHO)

    answer = (await node(openwhisk_client, fnproxy, "list", api_key))["answer"]

    names = [action["name"] for action in answer["all"]]
    assert sorted(names) == ["echo", "greet", "team.echo"]
    assert [action["name"] for action in answer["page"]] == names[1:2]
    assert (answer["one"]["name"], answer["one"]["version"]) == ("greet", "0.0.1")


async def test_a_namespace_holds_the_functions_named_with_its_prefix(fnproxy, api_key):
    await register(fnproxy, "team.greet", HELLO)
    await register(fnproxy, "greet", ECHO)

    listed = await front(fnproxy, "GET", "/namespaces/team/actions", api_key)
    invoked = await front(
        fnproxy, "POST", "/namespaces/team/actions/greet", api_key, blocking="true"
    )

    assert [action["name"] for action in listed.json()] == ["greet"]
    assert invoked.status_code == 200
    assert (invoked.json()["namespace"], invoked.json()["name"]) == ("team", "greet")
    assert invoked.json()["response"]["result"] == {"message": "Hello, world!"}


async def test_a_trigger_fires_the_function_of_its_name_later(openwhisk_client, fnproxy, api_key):
    await register(fnproxy, "greet", ECHO)

    answer = (await node(openwhisk_client, fnproxy, "trigger", api_key))["answer"]

    recorded = await settled(fnproxy, "greet")
    assert [(e["execution_id"], e["mode"], e["status"]) for e in recorded] == [
        (answer["activationId"], "async", "succeeded")
    ]


async def test_an_application_error_is_a_502_carrying_the_activation(
    openwhisk_client, fnproxy, api_key
):
    await register(fnproxy, "broken", FAIL)

    error = (await node(openwhisk_client, fnproxy, "app_error", api_key))["error"]

    assert error["statusCode"] == 502
    activation = error["body"]
    assert activation["response"]["status"] == "application error"
    assert activation["response"]["success"] is False
    assert "no luck" in activation["response"]["result"]["error"]
    assert "no luck" in error["message"]
    recorded = await executions(fnproxy, "broken")
    assert [e["execution_id"] for e in recorded] == [activation["activationId"]]


async def test_a_blocking_run_past_its_time_limit_ends_as_a_developer_error(fnproxy, api_key):
    await register(fnproxy, "sleepy", {"provider": "local", "function": "slow"}, timeout_s=0.3)

    answer = await front(
        fnproxy, "POST", "/namespaces/_/actions/sleepy", api_key, {"seconds": 3}, blocking="true"
    )

    assert answer.status_code == 502
    assert answer.json()["response"]["status"] == "developer error"
    assert {"key": "timeout", "value": True} in answer.json()["annotations"]
    assert [e["status"] for e in await executions(fnproxy, "sleepy")] == ["timed_out"]


async def read_back(fnproxy: Fnproxy, activation_id: str, api_key: str) -> httpx.Response:
    """The activation once it has ended (404 until then)."""
    path = f"/namespaces/_/activations/{activation_id}"
    for _ in range(100):
        answer = await front(fnproxy, "GET", path, api_key)
        if answer.status_code != 404:
            return answer
        await asyncio.sleep(0.05)
    return answer


@pytest.mark.parametrize("provider", ["local", "http"])
async def test_a_blocking_call_that_outlives_its_wait_is_202_and_goes_on(
    fnproxy, api_key, ff_url, provider
):
    targets = {
        "local": ({"provider": "local", "function": "slow"}, {"seconds": 1}),
        "http": ({"provider": "http", "url": f"{ff_url}/sleep?ms=1000"}, {}),
    }
    target, params = targets[provider]
    await register(fnproxy, "nap", target)
    await register(fnproxy, "greet", HELLO)
    path = "/namespaces/_/actions/"

    waited = await front(
        fnproxy, "POST", path + "nap", api_key, params, blocking="true", timeout="300"
    )
    running = await front(
        fnproxy, "GET", f"/namespaces/_/activations/{waited.json()['activationId']}", api_key
    )
    later = await read_back(fnproxy, waited.json()["activationId"], api_key)
    quick = await front(
        fnproxy,
        "POST",
        path + "greet",
        api_key,
        {"name": "Ada"},
        blocking="true",
        result="true",
        timeout="5000",
    )

    assert (waited.status_code, set(waited.json())) == (202, {"activationId"})
    assert running.status_code == 404
    assert later.status_code == 200 and later.json()["response"]["success"] is True
    assert (quick.status_code, quick.json()) == (200, {"message": "Hello, Ada!"})
    assert [e["mode"] for e in await executions(fnproxy, "greet")] == ["async"]  # queued


async def test_a_blocking_call_its_provider_left_running_is_202_then_read_back(
    tmp_path,
    openwhisk_server: RunningOpenWhisk,  # noqa: F811
    monkeypatch,
):
    settings = api_settings(tmp_path, **calling_openwhisk(monkeypatch, openwhisk_server))
    async with serving(wiring.build_services(settings)) as fnproxy:
        # Its time limit (1 s) is within the wait: it runs at once, and OpenWhisk stops
        # waiting for it after that second.
        await register(fnproxy, "nap", {"provider": "openwhisk", "action": "slow"}, timeout_s=1)
        client = await new_client(fnproxy, "invoke")
        api_key = f"{client['client_id']}:{client['client_secret']}"

        accepted = await front(
            fnproxy,
            "POST",
            "/namespaces/_/actions/nap",
            api_key,
            {"sleep_ms": 1500},
            blocking="true",
        )
        path = f"/namespaces/_/activations/{accepted.json()['activationId']}"
        running = await front(fnproxy, "GET", path, api_key)
        later = await read_back(fnproxy, accepted.json()["activationId"], api_key)
        modes = [e["mode"] for e in await executions(fnproxy, "nap")]

    assert (accepted.status_code, set(accepted.json())) == (202, {"activationId"})
    assert running.status_code == 404
    assert later.json()["response"]["result"] == {"slept_ms": 1500}
    assert later.json()["response"]["success"] is True
    assert modes == ["sync"]  # run at once, not queued


async def test_errors_take_openwhisks_shape_and_bad_credentials_are_refused(fnproxy, api_key):
    await register(fnproxy, "greet", HELLO)
    client_id = api_key.partition(":")[0]
    reader = await new_client(fnproxy, "read")

    wrong = await front(fnproxy, "GET", "/namespaces/_/actions", f"{client_id}:wrong")
    missing = await front(fnproxy, "GET", "/namespaces/_/actions/nobody", api_key)
    unscoped = await front(
        fnproxy,
        "POST",
        "/namespaces/_/actions/greet",
        f"{reader['client_id']}:{reader['client_secret']}",
    )
    unknown_query = await front(fnproxy, "GET", "/namespaces/_/actions", api_key, upto="1")
    no_activation = await front(fnproxy, "GET", "/namespaces/_/activations/" + "0" * 32, api_key)
    malformed_id = await front(fnproxy, "GET", "/namespaces/_/activations/x/logs", api_key)
    long_id = await front(fnproxy, "GET", "/namespaces/_/actions", f"{'c' * 129}:secret")

    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid client credentials")
    assert set(wrong.json()) == {"error", "code"}
    assert missing.status_code == 404
    assert unscoped.status_code == 403
    assert unknown_query.status_code == 400
    assert no_activation.status_code == malformed_id.status_code == 404
    assert long_id.status_code == 401
    assert await executions(fnproxy, "greet") == []


async def test_unknown_paths_and_methods_are_openwhisks_404(fnproxy, api_key):
    answers = [
        await front(fnproxy, "GET", "/namespaces/_/rules", api_key),
        await front(fnproxy, "DELETE", "/namespaces/_/actions/greet", api_key),
    ]
    async with httpx.AsyncClient(base_url=fnproxy.url) as http:  # no credentials
        answers += [await http.get("/openwhisk-api/api/v2/x"), await http.get("/openwhisk-api")]

    for answer in answers:
        assert answer.status_code == 404, answer.request.url
        assert answer.headers["content-type"] == "application/json"
        assert set(answer.json()) == {"error", "code"}
        assert answer.json()["code"] == answer.headers["x-request-id"]


async def test_repeated_bad_secrets_are_throttled_as_the_token_route_throttles_them(
    fnproxy, api_key
):
    client_id = api_key.partition(":")[0]
    statuses = [
        (await front(fnproxy, "GET", "/namespaces/_/actions", f"{client_id}:guess{n}")).status_code
        for n in range(fnproxy.services.settings.auth_max_failures + 1)
    ]
    right = await front(fnproxy, "GET", "/namespaces/_/actions", api_key)

    assert statuses[-1] == 429 and set(statuses[:-1]) == {401}
    assert right.status_code == 429
    assert int(right.headers["Retry-After"]) >= 1
