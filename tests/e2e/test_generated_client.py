"""The OpenAPI document as a new user consumes it: a client generated with
openapi-python-client from the live server's /openapi.json drives the main flows, and every
answer parses into its typed model."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_serve import cli, server  # noqa: F401  (the live fnproxy fixture)

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
PACKAGE = "fnproxy_client"


@pytest.fixture(scope="module")
def generated(server, tmp_path_factory):  # noqa: F811
    """The package generated from the served document, imported."""
    import urllib.request

    folder = tmp_path_factory.mktemp("generated")
    spec = folder / "openapi.json"
    with urllib.request.urlopen(f"{server['url']}/openapi.json", timeout=10) as answer:
        spec.write_bytes(answer.read())
    env = os.environ | {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(spec),
            "--meta",
            "none",
            "--output-path",
            str(folder / PACKAGE),
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0 and "Warning" not in result.stdout + result.stderr, (
        result.stdout + result.stderr
    )
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))


class Api:
    """The generated package, with one rule for every call: it parses into `expected`."""

    def __init__(self, package, base_url: str, token: str | None = None) -> None:
        self.package = package
        self.models = importlib.import_module(f"{PACKAGE}.models")
        client_module = importlib.import_module(f"{PACKAGE}.client")
        self.client = (
            client_module.AuthenticatedClient(base_url=base_url, token=token, timeout=30)
            if token
            else client_module.Client(base_url=base_url, timeout=30)
        )

    def call(self, operation: str, expected: str, *args, status: int | None = None, **kwargs):
        module = importlib.import_module(f"{PACKAGE}.api.{operation}")
        response = module.sync_detailed(*args, client=self.client, **kwargs)
        assert response.parsed is not None, (operation, response.status_code, response.content)
        assert type(response.parsed).__name__ == expected, (operation, response.content)
        if status is not None:
            assert response.status_code == status, (operation, response.content)
        return response


def test_the_main_flows_through_the_generated_client(server, generated):  # noqa: F811
    url = server["url"]
    admin_token = cli(server, "token", "-q").stdout.strip()
    admin = Api(generated, url, admin_token)
    m = admin.models

    created = admin.call(
        "clients.create_client",
        "ClientCreated",
        body=m.ClientCreate(name="generated", scopes=["invoke", "read"]),
        status=201,
    ).parsed
    anonymous = Api(generated, url)
    grant = anonymous.call(
        "auth.issue_token",
        "TokenResponse",
        body=m.TokenRequest(client_id=created.client_id, client_secret=created.client_secret),
    ).parsed
    caller = Api(generated, url, grant.access_token)
    denied = anonymous.call(
        "auth.issue_token",
        "Problem",
        body=m.TokenRequest(client_id=created.client_id, client_secret="wrong"),
        status=401,
    ).parsed
    assert denied.code == "unauthorized"

    hello = m.LocalTarget(provider="local", function="hello")
    sync = caller.call(
        "invoke.invoke",
        "InvocationEnvelope",
        body=m.InvokeRequest(target=hello, payload={"name": "client"}),
    ).parsed
    assert sync.success and sync.result == {"message": "Hello, client!"}

    queued = caller.call(
        "invoke.invoke",
        "Accepted",
        body=m.InvokeRequest(
            target=hello, payload={"name": "later"}, mode=m.InvokeRequestMode.ASYNC
        ),
        status=202,
    )
    assert queued.headers["location"] == f"/v1/invocations/{queued.parsed.execution_id}"
    record = poll_to_the_end(caller, queued.parsed.execution_id)
    assert record.result == {"message": "Hello, later!"}

    batch = caller.call(
        "invoke.invoke_batch",
        "BatchAnswer",
        body=m.BatchRequest(
            invocations=[
                m.InvokeRequest(target=hello, payload={"name": "a"}),
                m.InvokeRequest(target=hello, mode=m.InvokeRequestMode.ASYNC),
                m.InvokeRequest(target=m.LocalTarget(provider="local", function="no_such_fn")),
            ]
        ),
    ).parsed
    kinds = [type(item).__name__ for item in batch.responses]
    assert kinds == ["BatchInvocation", "BatchAccepted", "BatchRejected"], kinds
    assert batch.total_count == 3

    first = caller.call("history.list_invocations", "InvocationPage", limit=1).parsed
    assert len(first.invocations) == 1 and isinstance(first.next_cursor, str)
    second = caller.call(
        "history.list_invocations", "InvocationPage", limit=1, cursor=first.next_cursor
    ).parsed
    assert second.invocations[0].execution_id != first.invocations[0].execution_id

    stats = caller.call("history.stats", "StatsSummary").parsed
    assert stats.count >= 3 and stats.by_function["local:hello"].count >= 3

    exercise_sessions(caller, m)
    exercise_the_registry(admin, caller, m)


def poll_to_the_end(api: Api, execution_id: str):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        record = api.call("history.get_invocation", "ExecutionRecord", execution_id).parsed
        if record.status.value in ("succeeded", "failed", "timed_out"):
            return record
        time.sleep(0.05)
    raise AssertionError(f"{execution_id} did not end")


def exercise_sessions(api: Api, m) -> None:
    created = api.call(
        "sessions.create_session",
        "SessionView",
        body=m.SessionCreate(
            session_id="generated-chat", data=m.SessionCreateData.from_dict({"turn": 1})
        ),
        status=201,
    )
    etag = created.headers["etag"]
    read = api.call("sessions.get_session", "SessionView", "generated-chat")
    assert read.parsed.data["turn"] == 1 and read.headers["etag"] == etag
    updated = api.call(
        "sessions.update_session",
        "SessionView",
        "generated-chat",
        body=m.SessionUpdate(data=m.SessionUpdateData.from_dict({"turn": 2})),
        if_match=etag,
    ).parsed
    assert updated.version == 2
    stale = api.call(
        "sessions.update_session",
        "Problem",
        "generated-chat",
        body=m.SessionUpdate(data=m.SessionUpdateData.from_dict({"turn": 3})),
        if_match=etag,
        status=412,
    ).parsed
    assert stale.code == "precondition_failed"


def exercise_the_registry(admin: Api, caller: Api, m) -> None:
    hello = m.LocalTarget(provider="local", function="hello")
    echo = m.LocalTarget(provider="local", function="echo")
    admin.call(
        "registry.create_function",
        "FunctionDetail",
        body=m.FunctionCreate(name="greeter", target=hello),
        status=201,
    )
    added = admin.call(
        "registry.add_version",
        "VersionCreated",
        "greeter",
        body=m.VersionCreate(target=echo),
        status=201,
    ).parsed
    assert added.version == 2 and not added.active
    canary = admin.call(
        "registry.set_canary",
        "FunctionView",
        "greeter",
        body=m.CanarySplit(version=2, weight=50),
    ).parsed
    assert canary.canary.version == 2 and canary.canary.weight == 50
    pinned = caller.call(
        "registry.invoke_function",
        "InvocationEnvelope",
        "greeter",
        body=m.NamedInvokeRequest(payload={"name": "v2"}),
        version=2,
    ).parsed
    assert pinned.function_version == 2 and pinned.result == {"name": "v2"}
    admin.call("registry.clear_canary", "FunctionView", "greeter")
    switched = admin.call(
        "registry.activate", "FunctionView", "greeter", body=m.ActiveVersion(version=2)
    ).parsed
    assert switched.active_version == 2
    by_name = caller.call(
        "registry.invoke_function",
        "InvocationEnvelope",
        "greeter",
        body=m.NamedInvokeRequest(payload={"name": "active"}),
    ).parsed
    assert by_name.function_version == 2 and by_name.result == {"name": "active"}
    history = admin.call("registry.version_history", "ChangePage", "greeter").parsed
    assert [c.action.value for c in history.changes][:2] == ["activated", "canary_cleared"]
    detail = admin.call("registry.get_function", "FunctionDetail", "greeter").parsed
    assert [v.version for v in detail.versions] == [2, 1]
