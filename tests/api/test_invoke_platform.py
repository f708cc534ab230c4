"""The Invoke platform's public endpoints (/invoke/{name}) against a live fnproxy (uvicorn on
the test's event loop, real services over SQLite), called with the real `curl` binary the way
the platform's README calls them, and with httpx for the rest; plus the /v1 routes of the
functions' API keys. Functions behind the names run on the local and the http provider."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from subprocess import PIPE
from typing import Any

import httpx
import pytest

from core import wiring
from tests.api.conftest import api_settings
from tests.api.live import Fnproxy, api, executions, register, serving

REPO_FUNCTIONS = Path(__file__).parents[2] / "functions"
RESPOND = '''"""Respond: answers the result its request's body describes."""


def handler(event, context):
    return event["body"]
'''
SEED_EXAMPLES = (
    r'''curl "http://localhost:3001/invoke/YOUR_FUNCTION_ID?name=John"''',
    r'''curl -H "X-API-Key: your_api_key" \
     "http://localhost:3001/invoke/YOUR_FUNCTION_ID?name=John"''',
    r'''curl -X POST \
     -H "Content-Type: application/json" \
     -H "X-API-Key: your_api_key" \
     -d '{"name":"John","age":30}' \
     "http://localhost:3001/invoke/YOUR_FUNCTION_ID"''',
)
"""The Invoke platform README's three examples (../shared/seeds/invoke-platform.md, "Execute
Functions"), verbatim; a test puts fnproxy's host, the function's name and its key in."""
INVALID_KEY = {"error": "a valid X-API-Key is required"}


@pytest.fixture
async def fnproxy(tmp_path) -> AsyncIterator[Fnproxy]:
    functions = tmp_path / "functions"
    functions.mkdir()
    for name in ("echo.py", "fail.py", "invoke_hello.py"):
        shutil.copy(REPO_FUNCTIONS / name, functions)
    (functions / "respond.py").write_text(RESPOND)
    settings = api_settings(
        tmp_path / "data", LOCAL_FUNCTIONS_DIR=str(functions), AUTH_MAX_FAILURES="4"
    )
    async with serving(wiring.build_services(settings)) as live:
        yield live


def local(function: str) -> dict[str, str]:
    return {"provider": "local", "function": function}


async def new_key(fnproxy: Fnproxy, name: str) -> dict[str, Any]:
    return await api(fnproxy, "POST", f"/v1/functions/{name}/api-keys")


async def listed_keys(fnproxy: Fnproxy, name: str) -> list[dict[str, Any]]:
    return (await api(fnproxy, "GET", f"/v1/functions/{name}/api-keys"))["api_keys"]


async def curl(command: str) -> tuple[int, Any]:
    """Run a curl command line as a shell runs it; its HTTP status and JSON answer."""
    shell = await asyncio.create_subprocess_exec(
        "bash", "-c", f"{command} -s -w '\\n%{{http_code}}'", stdout=PIPE, stderr=PIPE
    )
    stdout, stderr = await shell.communicate()
    assert shell.returncode == 0, stderr.decode()
    body, _, status = stdout.decode().rpartition("\n")
    return int(status), json.loads(body)


async def invoke(
    fnproxy: Fnproxy, name: str, key: str | None = None, source: str = "127.0.0.1", **options: Any
) -> httpx.Response:
    """POST (with `json`) or GET /invoke/{name} from the `source` address."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    headers = options.pop("headers", {}) | ({"X-API-Key": key} if key is not None else {})
    method = "POST" if "json" in options or "content" in options else "GET"
    async with httpx.AsyncClient(base_url=fnproxy.url, transport=transport) as http:
        return await http.request(method, f"/invoke/{name}", headers=headers, **options)


# --- the seed's curl examples ------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["local", "http"])
async def test_the_seeds_three_curl_examples_answer_the_functions_result(fnproxy, ff_url, provider):
    echo = local("echo") if provider == "local" else {"provider": "http", "url": f"{ff_url}/echo"}
    await register(fnproxy, "hello-open", echo, public_invoke="open")
    await register(fnproxy, "hello-keyed", echo, public_invoke="api_key")
    key = (await new_key(fnproxy, "hello-keyed"))["api_key"]
    names = ["hello-open", "hello-keyed", "hello-keyed"]
    commands = [
        seed_command(example, fnproxy, name, key)
        for example, name in zip(SEED_EXAMPLES, names, strict=True)
    ]

    answers = [await curl(command) for command in commands]

    for (status, event), name in zip(answers, names, strict=True):
        assert status == 200, event
        assert event["params"] == {"functionId": name}
        assert event["ip"] == "127.0.0.1"
        assert "x-api-key" not in event["headers"]
        assert event["headers"]["user-agent"].startswith("curl/")
    (_, got), (_, keyed), (_, sent) = answers
    assert (got["method"], got["query"], got["body"]) == ("GET", {"name": "John"}, {})
    assert got["url"] == "/invoke/hello-open?name=John"
    assert (keyed["method"], keyed["query"]) == ("GET", {"name": "John"})
    assert (sent["method"], sent["query"]) == ("POST", {})
    assert sent["body"] == {"name": "John", "age": 30}
    assert sent["headers"]["content-type"] == "application/json"
    recorded = await executions(fnproxy, "hello-keyed")
    assert [(e["status"], e["mode"]) for e in recorded] == [("succeeded", "sync")] * 2


async def test_the_sample_function_greets_the_name_each_example_sends(fnproxy):
    await register(fnproxy, "greet", local("invoke_hello"), public_invoke="api_key")
    key = (await new_key(fnproxy, "greet"))["api_key"]

    for example in SEED_EXAMPLES[1:]:  # the keyed two: by query, then by JSON body
        status, answer = await curl(seed_command(example, fnproxy, "greet", key))
        assert (status, answer) == (200, {"message": "Hello, John!"})


def seed_command(example: str, fnproxy: Fnproxy, name: str, key: str) -> str:
    """A seed example with fnproxy's host, the function's name and its key put in."""
    return (
        example.replace("localhost:3001", fnproxy.url.removeprefix("http://"))
        .replace("YOUR_FUNCTION_ID", name)
        .replace("your_api_key", key)
    )


# --- exposure and keys -------------------------------------------------------------------------


async def test_a_function_is_on_invoke_only_when_its_policy_opts_in(fnproxy):
    await register(fnproxy, "private", local("echo"))
    await register(fnproxy, "public", local("echo"), public_invoke="open")

    hidden, unknown = await invoke(fnproxy, "private"), await invoke(fnproxy, "nobody")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json() == {"error": "no function 'private' is exposed on /invoke"}
    assert unknown.json() == {"error": "no function 'nobody' is exposed on /invoke"}
    assert await executions(fnproxy, "private") == []

    opened = await invoke(fnproxy, "public", params={"tag": ["a", "b"], "one": "1"})
    assert opened.status_code == 200
    assert opened.json()["query"] == {"tag": ["a", "b"], "one": "1"}
    (execution,) = await executions(fnproxy, "public")
    assert execution["caller"] == "public:127.0.0.1"


async def test_a_key_is_shown_once_stored_hashed_listed_without_it_and_counted(fnproxy):
    await register(fnproxy, "keyed", local("echo"), public_invoke="api_key")
    created = await new_key(fnproxy, "keyed")
    key, key_id = created["api_key"], created["key_id"]
    assert key.startswith(f"fk_{key_id}_")
    assert (created["uses"], created["revoked"]) == (0, False)

    stored = await fnproxy.services.store.api_keys.get("keyed", key_id)
    secret = key.removeprefix(f"fk_{key_id}_")
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert (await invoke(fnproxy, "keyed", key, json={"n": 1})).status_code == 200

    (listed,) = await listed_keys(fnproxy, "keyed")
    assert "api_key" not in listed and key not in json.dumps(listed)
    assert (listed["key_id"], listed["uses"], listed["revoked"]) == (key_id, 1, False)
    assert listed["last_used_at"] is not None
    data = Path(fnproxy.services.settings.data_path)
    stored_bytes = b"".join(p.read_bytes() for p in data.rglob("*") if p.is_file())
    assert secret.encode() not in stored_bytes


async def test_missing_wrong_and_revoked_keys_get_one_answer(fnproxy):
    await register(fnproxy, "keyed", local("echo"), public_invoke="api_key")
    key = await new_key(fnproxy, "keyed")
    other = await new_key(fnproxy, "keyed")
    await api(fnproxy, "DELETE", f"/v1/functions/keyed/api-keys/{key['key_id']}")

    refused = [
        await invoke(fnproxy, "keyed"),
        await invoke(fnproxy, "keyed", other["api_key"][:-1] + "x"),
        await invoke(fnproxy, "keyed", key["api_key"]),
    ]

    assert [(r.status_code, r.json()) for r in refused] == [(401, INVALID_KEY)] * 3
    assert (await invoke(fnproxy, "keyed", other["api_key"])).status_code == 200
    revoked = [k for k in await listed_keys(fnproxy, "keyed") if k["key_id"] == key["key_id"]]
    assert revoked[0]["revoked"] and revoked[0]["revoked_at"] is not None
    assert (await executions(fnproxy, "keyed"))[0]["caller"] == f"api_key:{other['key_id']}"


async def test_a_key_opens_only_its_own_function(fnproxy):
    await register(fnproxy, "first", local("echo"), public_invoke="api_key")
    await register(fnproxy, "second", local("echo"), public_invoke="api_key")
    key = (await new_key(fnproxy, "first"))["api_key"]

    assert (await invoke(fnproxy, "second", key)).status_code == 401
    await api(fnproxy, "DELETE", "/v1/functions/first")
    await register(fnproxy, "first", local("echo"), public_invoke="api_key")
    assert (await invoke(fnproxy, "first", key)).status_code == 401  # a former function's key
    assert await listed_keys(fnproxy, "first") == []


async def test_wrong_keys_are_throttled_per_address(fnproxy):
    await register(fnproxy, "keyed", local("echo"), public_invoke="api_key")
    key = (await new_key(fnproxy, "keyed"))["api_key"]

    wrong = [await invoke(fnproxy, "keyed", f"fk_{i:016x}_{'x' * 43}") for i in range(4)]
    assert [r.status_code for r in wrong] == [401] * 4
    throttled = await invoke(fnproxy, "keyed", key)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    assert (await invoke(fnproxy, "keyed", key, source="127.0.0.2")).status_code == 200


async def test_unknown_functions_and_keys_are_404_on_the_key_routes(fnproxy):
    await register(fnproxy, "keyed", local("echo"), public_invoke="api_key")
    async with httpx.AsyncClient(base_url=fnproxy.url, headers=fnproxy.admin) as http:
        unknown_function = await http.post("/v1/functions/nobody/api-keys")
        unknown_key = await http.delete("/v1/functions/keyed/api-keys/0123456789abcdef")
        malformed_key = await http.delete("/v1/functions/keyed/api-keys/nope")
        anonymous = await http.get("/v1/functions/keyed/api-keys", headers={"Authorization": ""})
    assert [r.status_code for r in (unknown_function, unknown_key, malformed_key)] == [404] * 3
    assert anonymous.status_code == 401


# --- rate limits -------------------------------------------------------------------------------


async def test_the_policys_rate_limit_counts_per_key(fnproxy):
    limit = {"requests": 1, "per_s": 3600}
    await register(fnproxy, "keyed", local("echo"), public_invoke="api_key", rate_limit=limit)
    first = (await new_key(fnproxy, "keyed"))["api_key"]
    second = (await new_key(fnproxy, "keyed"))["api_key"]

    assert (await invoke(fnproxy, "keyed", first)).status_code == 200
    limited = await invoke(fnproxy, "keyed", first)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "rate limit" in limited.json()["error"]
    assert (await invoke(fnproxy, "keyed", second)).status_code == 200


async def test_the_policys_rate_limit_counts_per_address_for_an_open_function(fnproxy):
    limit = {"requests": 1, "per_s": 3600}
    await register(fnproxy, "open", local("echo"), public_invoke="open", rate_limit=limit)

    assert (await invoke(fnproxy, "open")).status_code == 200
    limited = await invoke(fnproxy, "open")
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    elsewhere = await invoke(fnproxy, "open", source="127.0.0.2")
    assert elsewhere.status_code == 200 and elsewhere.json()["ip"] == "127.0.0.2"


# --- the answer --------------------------------------------------------------------------------


async def test_a_result_of_the_proxy_shape_sets_status_headers_and_body(fnproxy):
    await register(fnproxy, "respond", local("respond"), public_invoke="open")
    described = {
        "statusCode": 201,
        "headers": {"Content-Type": "text/csv", "X-Trace": "t1", "Location": "/made/1"},
        "body": "a,b\n1,2\n",
    }

    made = await invoke(fnproxy, "respond", json=described)
    empty = await invoke(fnproxy, "respond", json={"statusCode": 204})
    as_json = await invoke(fnproxy, "respond", json={"statusCode": 404, "body": {"n": 1}})
    plain = await invoke(fnproxy, "respond", json={"statusCode": 200, "other": 1})

    assert (made.status_code, made.text) == (201, "a,b\n1,2\n")
    assert made.headers["content-type"] == "text/csv"
    assert (made.headers["x-trace"], made.headers["location"]) == ("t1", "/made/1")
    assert (empty.status_code, empty.content) == (204, b"")
    assert (as_json.status_code, as_json.json()) == (404, {"n": 1})
    assert (plain.status_code, plain.json()) == (200, {"statusCode": 200, "other": 1})


@pytest.mark.parametrize(
    "described",
    [
        {"statusCode": 700},
        {"statusCode": 199},
        {"statusCode": "201"},
        {"statusCode": 200, "headers": {"Set-Cookie": "a=b"}},
        {"statusCode": 200, "headers": {"X-Request-Id": "mine"}},
        {"statusCode": 200, "headers": {"X-Split": "a\r\nSet-Cookie: a=b"}},
        {"statusCode": 200, "headers": ["x"]},
    ],
)
async def test_a_proxy_shaped_result_out_of_bounds_is_a_bad_gateway(fnproxy, described):
    await register(fnproxy, "respond", local("respond"), public_invoke="open")

    answer = await invoke(fnproxy, "respond", json=described)

    assert answer.status_code == 502
    assert answer.json()["error"].startswith("the function")
    assert "set-cookie" not in answer.headers


async def test_a_function_error_is_a_bad_gateway_recorded_as_its_failure(fnproxy):
    await register(fnproxy, "fails", local("fail"), public_invoke="open")

    answer = await invoke(fnproxy, "fails", json={"message": "in the body, not the event"})

    assert answer.status_code == 502
    (execution,) = await executions(fnproxy, "fails")
    expected = {"error": "failed on purpose", "execution_id": execution["execution_id"]}
    assert answer.json() == expected
    assert execution["status"] == "failed"


async def test_a_body_that_is_no_json_is_refused(fnproxy):
    await register(fnproxy, "public", local("echo"), public_invoke="open")

    answer = await invoke(fnproxy, "public", content=b"{not json")

    assert answer.status_code == 400 and "json" in answer.json()["error"]
    assert await executions(fnproxy, "public") == []


async def test_the_key_reaches_neither_the_function_nor_the_history(fnproxy):
    await register(fnproxy, "keyed", local("echo"), public_invoke="api_key")
    key = (await new_key(fnproxy, "keyed"))["api_key"]
    headers = {"Authorization": "Bearer not-for-you", "Cookie": "session=s"}

    answer = await invoke(fnproxy, "keyed", key, json={"a": 1}, headers=headers)

    forwarded = answer.json()["headers"]
    assert not {"x-api-key", "authorization", "cookie"} & forwarded.keys()
    (entry,) = await executions(fnproxy, "keyed")
    record = await api(fnproxy, "GET", f"/v1/functions/keyed/executions/{entry['execution_id']}")
    assert key not in json.dumps(record) and "not-for-you" not in json.dumps(record)
    assert record["payload"]["body"] == {"a": 1}
