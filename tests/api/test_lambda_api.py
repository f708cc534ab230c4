"""The Lambda Invoke API front (/lambda-api) driven by real boto3 against a live fnproxy (uvicorn
on the test's event loop, real services over SQLite), with functions behind registry names on
local, http (functions-framework), OpenWhisk (the protocol test server) and Lambda (moto).
boto3 blocks, so its calls run on a thread while the loop serves fnproxy and OpenWhisk."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
from collections.abc import AsyncIterator, Callable
from subprocess import PIPE
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from starlette.requests import Request

from core import wiring
from core.api.lambda_api import path_as_sent
from core.auth import sigv4
from tests.api.conftest import api_settings
from tests.api.live import (
    Fnproxy,
    api,
    calling_openwhisk,
    executions,
    new_client,
    register,
    serving,
)
from tests.aws.lambda_support import REGION, create_function, create_role
from tests.fixtures.openwhisk_fixture import (  # noqa: F401 - fixtures
    RunningOpenWhisk,
    openwhisk_server,
    openwhisk_session,
)

ECHO = {"provider": "local", "function": "echo"}
HELLO = {"provider": "local", "function": "hello"}


@pytest.fixture
async def fnproxy(
    tmp_path,
    openwhisk_server: RunningOpenWhisk,  # noqa: F811
    moto_url,
    monkeypatch,
) -> AsyncIterator[Fnproxy]:
    """fnproxy listening on a port, its openwhisk provider calling the test server."""
    openwhisk = calling_openwhisk(monkeypatch, openwhisk_server)
    settings = api_settings(tmp_path, AWS_ENDPOINT_URL=moto_url, AWS_REGION=REGION, **openwhisk)
    async with serving(wiring.build_services(settings)) as live:
        yield live


def lambda_client(fnproxy: Fnproxy, client: dict[str, Any], **options: Any) -> Any:
    """boto3's Lambda client as a migrating caller builds it: fnproxy's endpoint, a client's
    id and SigV4 secret (retries off: a 429 is seen, not retried)."""
    settings = {"region_name": REGION, "aws_access_key_id": client["client_id"]} | options
    return boto3.client(
        "lambda",
        endpoint_url=f"{fnproxy.url}/lambda-api",
        aws_secret_access_key=client["sigv4_secret"],
        config=Config(retries={"total_max_attempts": 1}),
        **settings,
    )


@pytest.fixture
async def boto(fnproxy: Fnproxy) -> Any:
    return lambda_client(fnproxy, await new_client(fnproxy, "invoke", "read"))


async def call(operation: Callable[..., Any], **params: Any) -> Any:
    return await asyncio.to_thread(operation, **params)


async def invoked(boto: Any, name: str, event: Any = None, **params: Any) -> dict[str, Any]:
    payload = json.dumps(event if event is not None else {})
    answer = await call(boto.invoke, FunctionName=name, Payload=payload, **params)
    answer["Body"] = answer.pop("Payload").read()
    return answer


async def refused(operation: Callable[..., Any], **params: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        await call(operation, **params)
    return raised.value.response


# --- Invoke ------------------------------------------------------------------------------------


async def test_sync_invoke_answers_the_result_and_records_an_ordinary_execution(fnproxy, boto):
    await register(fnproxy, "greet", HELLO)

    answer = await invoked(boto, "greet", {"name": "Ada"})

    assert answer["StatusCode"] == 200
    assert json.loads(answer["Body"]) == {"message": "Hello, Ada!"}
    assert answer["ExecutedVersion"] == "1"
    assert "FunctionError" not in answer
    history = await api(fnproxy, "GET", "/v1/functions/greet/executions")
    assert [e["status"] for e in history["executions"]] == ["succeeded"]


async def test_a_qualifier_pins_a_version_in_the_parameter_or_the_name(fnproxy, boto):
    await register(fnproxy, "greet", ECHO)
    await api(fnproxy, "POST", "/v1/functions/greet/versions", target=HELLO, activate=True)

    active = await invoked(boto, "greet", {"name": "Ada"})
    first = await invoked(boto, "greet", {"name": "Ada"}, Qualifier="1")
    named = await invoked(boto, "greet:1", {"name": "Ada"})
    by_arn = await invoked(boto, "arn:aws:lambda:us-east-1:000000000000:function:greet:1", {})
    latest = await invoked(boto, "greet", {"name": "Ada"}, Qualifier="$LATEST")

    assert (active["ExecutedVersion"], json.loads(active["Body"])) == (
        "2",
        {"message": "Hello, Ada!"},
    )
    assert (first["ExecutedVersion"], json.loads(first["Body"])) == ("1", {"name": "Ada"})
    assert named["ExecutedVersion"] == by_arn["ExecutedVersion"] == "1"
    assert latest["ExecutedVersion"] == "2"
    mismatch = await refused(boto.invoke, FunctionName="greet:1", Qualifier="2")
    assert mismatch["Error"]["Code"] == "InvalidParameterValueException"
    for unknown in ("7", "0", "live"):
        response = await refused(boto.invoke, FunctionName="greet", Qualifier=unknown)
        assert response["Error"]["Code"] == "ResourceNotFoundException"


async def test_a_qualifier_may_be_an_alias_the_registry_defines(fnproxy, boto):
    await register(fnproxy, "greet", ECHO)
    await api(fnproxy, "POST", "/v1/functions/greet/versions", target=HELLO, activate=True)
    await api(fnproxy, "PUT", "/v1/functions/greet/aliases/stable", version=1)

    by_parameter = await invoked(boto, "greet", {"name": "Ada"}, Qualifier="stable")
    by_name = await invoked(boto, "greet:stable", {"name": "Ada"})
    got = await call(boto.get_function, FunctionName="greet", Qualifier="stable")
    await api(fnproxy, "PUT", "/v1/functions/greet/aliases/stable", version=2)
    moved = await invoked(boto, "greet", {"name": "Ada"}, Qualifier="stable")

    assert (by_parameter["ExecutedVersion"], json.loads(by_parameter["Body"])) == (
        "1",
        {"name": "Ada"},
    )
    assert by_name["ExecutedVersion"] == "1"
    assert got["Configuration"]["Version"] == "1"
    assert (moved["ExecutedVersion"], json.loads(moved["Body"])) == (
        "2",
        {"message": "Hello, Ada!"},
    )
    missing = await refused(boto.invoke, FunctionName="greet", Qualifier="nightly")
    assert missing["Error"]["Code"] == "ResourceNotFoundException"


CONTEXT_FUNCTION = '''"""Returns what its context's client_context carries."""


def handler(event, context):
    given = context.client_context
    app = given.client and given.client.app_title
    return {"app": app, "custom": given.custom, "env": given.env}
'''
CLIENT_CONTEXT = {
    "client": {"app_title": "shop", "installation_id": "i-1"},
    "custom": {"cart": "42"},
    "env": {"locale": "en"},
}


async def test_the_client_context_reaches_the_function_and_its_record(tmp_path, ff_url):
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "context.py").write_text(CONTEXT_FUNCTION)
    settings = api_settings(tmp_path, LOCAL_FUNCTIONS_DIR=str(functions))
    encoded = base64.b64encode(json.dumps(CLIENT_CONTEXT).encode()).decode()
    async with serving(wiring.build_services(settings)) as live:
        await register(live, "local-context", {"provider": "local", "function": "context"})
        await register(live, "http-context", {"provider": "http", "url": f"{ff_url}/headers"})
        boto = lambda_client(live, await new_client(live, "invoke", "read"))

        local = await invoked(boto, "local-context", ClientContext=encoded)
        http = await invoked(boto, "http-context", ClientContext=encoded)
        record = (await executions(live, "local-context"))[0]
        full = await api(
            live, "GET", f"/v1/functions/local-context/executions/{record['execution_id']}"
        )
        bad_parts = base64.b64encode(b'{"custom": "not an object"}').decode()
        refused_parts = await refused(
            boto.invoke, FunctionName="local-context", ClientContext=bad_parts
        )

    seen = json.loads(local["Body"])
    assert (seen["app"], seen["env"]) == ("shop", {"locale": "en"})
    assert seen["custom"]["cart"] == "42" and "traceparent" in seen["custom"]
    sent = json.loads(http["Body"])["headers"]["x-fnproxy-client-context"]
    assert json.loads(base64.b64decode(sent)) == CLIENT_CONTEXT
    assert full["client_context"] == CLIENT_CONTEXT
    assert refused_parts["Error"]["Code"] == "InvalidRequestContentException"


async def test_event_is_accepted_and_runs_later_and_dry_run_runs_nothing(fnproxy, boto):
    await register(fnproxy, "greet", HELLO)

    event = await invoked(boto, "greet", {"name": "Ada"}, InvocationType="Event")
    dry = await invoked(boto, "greet", {"name": "Ada"}, InvocationType="DryRun")

    assert (event["StatusCode"], event["Body"]) == (202, b"")
    assert (dry["StatusCode"], dry["Body"]) == (204, b"")
    for _ in range(200):
        history = await api(fnproxy, "GET", "/v1/functions/greet/executions")
        modes = {e["mode"]: e["status"] for e in history["executions"]}
        if modes.get("async") == "succeeded":
            break
        await asyncio.sleep(0.05)
    assert modes == {"async": "succeeded", "dry_run": "succeeded"}


async def test_tail_answers_the_last_4_kb_of_the_logs_in_base64(fnproxy, boto):
    await register(fnproxy, "noisy", {"provider": "local", "function": "noisy"})

    tailed = await invoked(boto, "noisy", {"tag": "x" * 5000}, LogType="Tail")
    untailed = await invoked(boto, "noisy", {"tag": "quiet"})

    logs = base64.b64decode(tailed["LogResult"])
    assert len(logs) == 4096 and logs.endswith(b"x: to stderr\n")
    assert "LogResult" not in untailed


async def test_a_function_error_is_lambdas_unhandled_error(fnproxy, boto):
    await register(fnproxy, "fail", {"provider": "local", "function": "fail"})

    answer = await invoked(boto, "fail", {"message": "no luck"})

    assert (answer["StatusCode"], answer["FunctionError"]) == (200, "Unhandled")
    assert json.loads(answer["Body"]) == {"errorType": "ValueError", "errorMessage": "no luck"}


async def test_a_timeout_is_lambdas_sandbox_timeout(fnproxy, boto):
    await register(fnproxy, "slow", {"provider": "local", "function": "slow"}, timeout_s=0.3)

    answer = await invoked(boto, "slow", {"seconds": 2})

    assert (answer["StatusCode"], answer["FunctionError"]) == (200, "Unhandled")
    assert json.loads(answer["Body"])["errorType"] == "Sandbox.Timedout"


async def test_lambdas_errors_are_botos_modelled_exceptions(fnproxy, boto):
    await register(fnproxy, "greet", HELLO, rate_limit={"requests": 1, "per_s": 60})
    await invoked(boto, "greet")

    throttled = await refused(boto.invoke, FunctionName="greet")
    with pytest.raises(boto.exceptions.ResourceNotFoundException):
        await call(boto.invoke, FunctionName="nobody")
    await register(fnproxy, "gone", {"provider": "local", "function": "not_a_module"})
    with pytest.raises(boto.exceptions.ResourceNotFoundException):
        await call(boto.invoke, FunctionName="gone", InvocationType="DryRun")
    with pytest.raises(boto.exceptions.InvalidRequestContentException):
        await call(boto.invoke, FunctionName="greet", Payload=b"{not json")
    with pytest.raises(boto.exceptions.InvalidRequestContentException):
        await call(boto.invoke, FunctionName="greet", ClientContext="not base64!")
    with pytest.raises(boto.exceptions.RequestTooLargeException):
        await call(boto.invoke, FunctionName="greet", Payload=b"0" * (64 * 1024 + 1))
    await api(fnproxy, "POST", "/v1/functions/greet/disable")
    with pytest.raises(boto.exceptions.ResourceConflictException):
        await call(boto.invoke, FunctionName="greet")

    assert throttled["Error"]["Code"] == "TooManyRequestsException"
    assert throttled["Reason"] == "FunctionInvocationRateLimitExceeded"
    assert 1 <= int(throttled["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) <= 60


async def test_an_operation_the_front_lacks_is_lambdas_unknown_operation(fnproxy, boto):
    await register(fnproxy, "greet", HELLO)

    alias = await refused(boto.get_alias, FunctionName="greet", Name="live")
    async with httpx.AsyncClient(base_url=f"{fnproxy.url}/lambda-api") as http:
        bare = await http.get("/2015-03-31/functions/greet/invocations")

    assert (alias["Error"]["Code"], alias["ResponseMetadata"]["HTTPStatusCode"]) == (
        "UnknownOperationException",
        404,
    )
    assert bare.status_code == 404
    assert bare.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert bare.json()["Type"] == "User"


# --- authentication ----------------------------------------------------------------------------


async def test_only_the_clients_own_current_signature_in_this_region_is_taken(fnproxy, boto):
    await register(fnproxy, "greet", HELLO)
    owner = await new_client(fnproxy, "invoke")
    other = await new_client(fnproxy, "invoke")
    forged = owner | {"sigv4_secret": other["sigv4_secret"]}
    stranger = {"client_id": "cl_nobody", "sigv4_secret": other["sigv4_secret"]}

    cases = {
        "InvalidSignatureException": [
            lambda_client(fnproxy, forged),
            lambda_client(fnproxy, owner, region_name="eu-west-1"),
        ],
        "UnrecognizedClientException": [lambda_client(fnproxy, stranger)],
    }
    for code, clients in cases.items():
        for client in clients:
            response = await refused(client.invoke, FunctionName="greet")
            assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (
                code,
                403,
            )
    renewed = await api(fnproxy, "POST", f"/v1/clients/{owner['client_id']}/sigv4")
    former = await refused(lambda_client(fnproxy, owner).invoke, FunctionName="greet")
    assert former["Error"]["Code"] == "InvalidSignatureException"
    owner |= renewed
    assert (await invoked(lambda_client(fnproxy, owner), "greet"))["StatusCode"] == 200
    await api(fnproxy, "DELETE", f"/v1/clients/{owner['client_id']}")
    revoked = await refused(lambda_client(fnproxy, owner).invoke, FunctionName="greet")
    assert revoked["Error"]["Code"] == "UnrecognizedClientException"


async def test_repeated_bad_signatures_are_throttled_before_any_hmac(fnproxy, monkeypatch):
    await register(fnproxy, "greet", HELLO)
    owner = await new_client(fnproxy, "invoke")
    forged = lambda_client(fnproxy, owner | {"sigv4_secret": "guess"})
    signer = lambda_client(fnproxy, owner)
    codes = []
    for _ in range(fnproxy.services.settings.auth_max_failures + 1):
        codes.append((await refused(forged.invoke, FunctionName="greet"))["Error"]["Code"])
    hmacs = []
    monkeypatch.setattr(sigv4, "signing_key", lambda *args: hmacs.append(args))

    throttled = await refused(signer.invoke, FunctionName="greet")

    assert set(codes[:-1]) == {"InvalidSignatureException"}
    assert codes[-1] == "TooManyRequestsException"
    assert (throttled["Error"]["Code"], throttled["Reason"]) == (
        "TooManyRequestsException",
        "CallerRateLimitExceeded",
    )
    assert int(throttled["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) >= 1
    assert hmacs == []  # refused before the signature was computed


async def test_scopes_and_policies_apply_as_on_v1(fnproxy):
    await register(fnproxy, "greet", HELLO, allowed_scopes=["invoke:team"])
    reader = lambda_client(fnproxy, await new_client(fnproxy, "read"))
    invoker = lambda_client(fnproxy, await new_client(fnproxy, "invoke"))

    for client, operation, params in (
        (reader, "invoke", {"FunctionName": "greet"}),
        (invoker, "invoke", {"FunctionName": "greet"}),
        (invoker, "list_functions", {}),
    ):
        response = await refused(getattr(client, operation), **params)
        assert response["Error"]["Code"] == "AccessDeniedException"


# --- the registry's functions ------------------------------------------------------------------


async def test_get_function_and_the_listings_page_through_the_registry(fnproxy, boto):
    for name in ("alpha", "beta", "gamma"):
        await register(fnproxy, name, ECHO)
    await api(fnproxy, "POST", "/v1/functions/beta/versions", target=HELLO, activate=False)

    got = await call(boto.get_function, FunctionName="beta")
    pinned = await call(boto.get_function, FunctionName="beta", Qualifier="2")
    first = await call(boto.list_functions, MaxItems=2)
    rest = await call(boto.list_functions, Marker=first["NextMarker"], MaxItems=2)
    versions = await call(boto.list_versions_by_function, FunctionName="beta")

    assert got["Configuration"]["FunctionName"] == "beta"
    assert got["Configuration"]["Version"] == "1"
    assert pinned["Configuration"]["FunctionArn"].endswith(":function:beta:2")
    assert [f["FunctionName"] for f in first["Functions"]] == ["alpha", "beta"]
    assert [f["FunctionName"] for f in rest["Functions"]] == ["gamma"]
    assert "NextMarker" not in rest
    assert [v["Version"] for v in versions["Versions"]] == ["$LATEST", "1", "2"]  # Lambda's
    assert versions["Versions"][0]["FunctionArn"].endswith(":function:beta:$LATEST")
    missing = await refused(boto.get_function, FunctionName="nobody")
    assert missing["Error"]["Code"] == "ResourceNotFoundException"


async def test_version_pages_run_oldest_first_past_deleted_versions(fnproxy, boto):
    await register(fnproxy, "beta", ECHO)
    for _ in range(4):
        await api(fnproxy, "POST", "/v1/functions/beta/versions", target=HELLO, activate=False)
    await api(fnproxy, "POST", "/v1/functions/beta/active-version", version=3)
    for deleted in (1, 2):
        await api(fnproxy, "DELETE", f"/v1/functions/beta/versions/{deleted}")

    paginator = boto.get_paginator("list_versions_by_function")
    pages = await call(
        lambda: list(paginator.paginate(FunctionName="beta", PaginationConfig={"PageSize": 2}))
    )

    listed = [[v["Version"] for v in page["Versions"]] for page in pages]
    assert listed == [["$LATEST", "3"], ["4", "5"]]
    assert pages[0]["Versions"][0]["FunctionArn"] != pages[0]["Versions"][1]["FunctionArn"]
    bad = await refused(boto.list_versions_by_function, FunctionName="beta", Marker="x")
    assert bad["Error"]["Code"] == "InvalidParameterValueException"


# --- the AWS CLI ------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
async def test_the_aws_cli_invokes_through_the_endpoint_url(fnproxy, tmp_path):
    await register(fnproxy, "greet", HELLO)
    client = await new_client(fnproxy, "invoke")
    environment = os.environ | {
        "AWS_ACCESS_KEY_ID": client["client_id"],
        "AWS_SECRET_ACCESS_KEY": client["sigv4_secret"],
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
    }
    environment.pop("AWS_SESSION_TOKEN", None)
    command = ["aws", "lambda", "invoke", "--endpoint-url", f"{fnproxy.url}/lambda-api"]
    command += ["--function-name", "greet", "--payload", '{"name": "Ada"}']
    command += ["--log-type", "Tail", str(tmp_path / "out.json")]
    cli = await asyncio.create_subprocess_exec(*command, env=environment, stdout=PIPE, stderr=PIPE)
    stdout, stderr = await cli.communicate()

    assert cli.returncode == 0, stderr.decode()
    answer = json.loads(stdout)
    assert (answer["StatusCode"], answer["ExecutedVersion"]) == (200, "1")
    assert "LogResult" in answer
    assert json.loads((tmp_path / "out.json").read_text()) == {"message": "Hello, Ada!"}


# --- cloud-neutral -----------------------------------------------------------------------------


async def test_the_same_call_reaches_functions_on_every_provider(fnproxy, boto, ff_url, moto_url):
    lambda_config = create_function(moto_url, create_role(moto_url))
    targets = {
        "on-local": ECHO,
        "on-http": {"provider": "http", "url": f"{ff_url}/echo"},
        "on-openwhisk": {"provider": "openwhisk", "action": "echo"},
        "on-lambda": {"provider": "aws_lambda", "function": lambda_config["FunctionName"]},
    }
    for name, target in targets.items():
        await register(fnproxy, name, target)

    answers = {name: await invoked(boto, name, {"greeting": "hi"}) for name in targets}

    for name, answer in answers.items():
        assert answer["StatusCode"] == 200, name
        assert "FunctionError" not in answer, (name, answer["Body"])
        assert json.loads(answer["Body"])["greeting"] == "hi", name  # OpenWhisk: + traceparent


def test_under_api_gateway_the_signed_path_is_the_events_own_with_the_stage() -> None:
    """Mangum gives no raw path and takes the base path off the path: the event has the path
    the client signed (REST API: requestContext.path; HTTP API: rawPath)."""
    signed = "/prod/lambda-api/2015-03-31/functions/greet%3A1/invocations"
    for event in (
        {"requestContext": {"path": "/prod/lambda-api/2015-03-31/functions/greet:1/invocations"}},
        {"rawPath": signed, "requestContext": {}},
    ):
        scope = {"type": "http", "path": "/lambda-api/x", "raw_path": None, "aws.event": event}
        assert path_as_sent(Request(scope)) == signed
