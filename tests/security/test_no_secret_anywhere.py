"""Issue 10 §5: a scripted sequence of calls over every provider, then every answer, the data
folder (the SQLite database, its WAL and shared memory), the published events, the callbacks
and the server log are searched for the planted secrets. None may be found.

What is planted:
- secrets the server holds: MODULE_SECRET_KEY, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
  OPENWHISK_AUTH_KEY and GCP_SERVICE_ACCOUNT_KEY in its environment, and a value in the
  environment of the Lambda function it invokes;
- secrets callers hand it: target header values, a URL password, query values, a callback
  URL's token, a registered function's header and query, the client secrets it makes and the
  bearer tokens (JWTs) it issues.

The backends are real and on loopback: moto (Lambda), functions-framework (a Cloud Function by
URL), the OpenWhisk REST fake, the local worker (over tests/security/local_functions, whose
`environ` answers the environment a function sees) and the security listener (an HTTP function
and the callback receiver). The script runs once per module; each test searches one place.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.aws.lambda_support import create_function, create_role
from tests.fixtures.openwhisk_server import OpenWhiskServer
from tests.security.openwhisk_thread import threaded_openwhisk
from tests.security.secret_scan import (
    Hit,
    Secret,
    basic_credentials,
    find_in_bytes,
    find_in_text,
    planted,
    report,
)
from tests.security.support import Listener, Recorded, Server, start_server

LOCAL_FUNCTIONS = Path(__file__).with_name("local_functions")
TERMINAL = {"succeeded", "failed", "timed_out"}
SETTLE_S = 20.0
FUNCTION_PATH = "/fn"
CALLBACK_PATH = "/callback"
URL_USER = "fnuser"
REGISTERED = "planted-target"
PAYLOAD = {"greeting": "hello"}


def _marker(name: str) -> str:
    """A planted value: recognisable when it leaks, URL-safe so it travels unchanged."""
    return f"PLANTED{name}{secrets.token_hex(12)}"


@dataclass(frozen=True)
class Plants:
    """The values planted before the server starts (the rest are learned from its answers)."""

    aws_secret_key: str = field(default_factory=lambda: _marker("awsSecretKey"))
    aws_session_token: str = field(default_factory=lambda: _marker("awsSessionToken"))
    gcp_key: str = field(default_factory=lambda: _marker("gcpServiceAccountKey"))
    openwhisk_user: str = field(default_factory=lambda: str(uuid.uuid4()))
    openwhisk_key: str = field(default_factory=lambda: _marker("openwhiskKey"))
    lambda_env: str = field(default_factory=lambda: _marker("lambdaEnvValue"))
    target_header: str = field(default_factory=lambda: _marker("targetApiKey"))
    target_bearer: str = field(default_factory=lambda: _marker("targetBearer"))
    target_password: str = field(default_factory=lambda: _marker("targetUrlPassword"))
    target_query: str = field(default_factory=lambda: _marker("targetQueryToken"))
    callback_token: str = field(default_factory=lambda: _marker("callbackToken"))
    registered_header: str = field(default_factory=lambda: _marker("registeredApiKey"))
    registered_query: str = field(default_factory=lambda: _marker("registeredQueryToken"))

    @property
    def openwhisk_auth(self) -> str:
        return f"{self.openwhisk_user}:{self.openwhisk_key}"

    def secrets(self, module_key: str) -> list[Secret]:
        return [
            planted("MODULE_SECRET_KEY", module_key),
            planted("AWS_SECRET_ACCESS_KEY", self.aws_secret_key),
            planted("AWS_SESSION_TOKEN", self.aws_session_token),
            planted("GCP_SERVICE_ACCOUNT_KEY", self.gcp_key),
            planted(
                "OPENWHISK_AUTH_KEY",
                self.openwhisk_key,
                basic_credentials(self.openwhisk_user, self.openwhisk_key),
            ),
            planted("LAMBDA_FUNCTION_ENV_VALUE", self.lambda_env),
            planted("TARGET_HEADER_X_API_KEY", self.target_header),
            planted("TARGET_HEADER_AUTHORIZATION", self.target_bearer),
            planted(
                "TARGET_URL_PASSWORD",
                self.target_password,
                basic_credentials(URL_USER, self.target_password),
            ),
            planted("TARGET_QUERY_VALUE", self.target_query),
            planted("CALLBACK_URL_TOKEN", self.callback_token),
            planted("REGISTERED_HEADER_X_API_KEY", self.registered_header),
            planted("REGISTERED_QUERY_VALUE", self.registered_query),
        ]


REGISTERED_SECRETS = ("REGISTERED_HEADER_X_API_KEY", "REGISTERED_QUERY_VALUE")
"""What an admin's full view of the registered function shows (issue 10 §2: "A registered
function's target is shown in full to admins alone")."""
REGISTRY_TABLE = "function_versions"
"""Where the registry keeps a version's target: the one table allowed to hold the registered
function's clear target (DESIGN.md, Trust model: "the clear form exists only in memory for the
call, and in the registry for admins")."""


@dataclass
class Exchange:
    """One answer the server gave: where it came from, and which secrets may be in it."""

    place: str
    status: int
    text: str
    allowed: frozenset[str]
    body: Any


@dataclass
class Caller:
    name: str
    token: str = ""
    client_id: str = ""
    client_secret: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


ANONYMOUS = Caller("anonymous")


class Script:
    """Calls the server and keeps every answer (status, headers, body) it gave."""

    def __init__(self, http: httpx.Client, secrets_: list[Secret]) -> None:
        self.http = http
        self.secrets = secrets_
        self.exchanges: list[Exchange] = []
        self.execution_ids: dict[str, str] = {}
        """execution id -> what made it."""
        self.sync: dict[str, Exchange] = {}
        """target name -> the answer to its sync invocation."""
        self.queued: dict[str, Exchange] = {}
        """target name -> the answer to its async invocation."""
        self.problems: list[str] = []

    def call(
        self, method: str, path: str, caller: Caller, allowed: Iterable[str] = (), **request: Any
    ) -> Exchange:
        headers = {**request.pop("headers", {}), **caller.headers}
        answer = self.http.request(method, path, headers=headers, **request)
        place = f"answer #{len(self.exchanges)} {method} {path} as {caller.name}"
        exchange = Exchange(
            place, answer.status_code, _rendered(answer), frozenset(allowed), _json(answer)
        )
        self.exchanges.append(exchange)
        for execution_id in _execution_ids(exchange.body):
            self.execution_ids.setdefault(execution_id, f"{method} {path}")
        return exchange

    def learn(self, name: str, value: str) -> None:
        """A secret the server made (a client secret, a token): searched for from now on."""
        self.secrets.append(planted(name, value))

    def token(self, name: str, path: str, body: dict[str, Any], field_: str) -> Caller:
        """A token from a token route; it may appear in that answer alone."""
        secret = f"JWT_{name.upper().replace(' ', '_')}"
        exchange = self.call("POST", path, ANONYMOUS, allowed={secret}, json=body)
        if not self.expect(exchange, 200):
            return Caller(f"{name} (no token: anonymous)")
        self.learn(secret, exchange.body[field_])
        return Caller(name, exchange.body[field_])

    def expect(self, exchange: Exchange, status: int) -> bool:
        """Whether the answer has `status`; noted as a problem of the run when not (the run
        goes on: the searches still cover what it reached)."""
        if exchange.status == status:
            return True
        self.problems.append(f"{exchange.place}: expected {status}, got {exchange.text}")
        return False


def _rendered(answer: httpx.Response) -> str:
    head = "\n".join(f"{name}: {value}" for name, value in answer.headers.items())
    return f"{answer.status_code}\n{head}\n\n{answer.text}"


def _json(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


def _field(body: Any, name: str) -> Any:
    """`body[name]` when the body is a JSON object that has it, else None."""
    return body.get(name) if isinstance(body, dict) else None


def _json_of(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _execution_ids(body: Any) -> Iterator[str]:
    if isinstance(body, dict):
        for key, value in body.items():
            if key == "execution_id" and isinstance(value, str):
                yield value
            else:
                yield from _execution_ids(value)
    elif isinstance(body, list):
        for item in body:
            yield from _execution_ids(item)


@dataclass
class Callers:
    admin: Caller
    invoker: Caller
    """A client with the `invoke` scope alone."""
    reader: Caller
    """A client with the `read` scope alone."""


@dataclass
class Run:
    """What the scripted run left behind."""

    secrets: list[Secret]
    exchanges: list[Exchange]
    problems: list[str]
    """Calls of the script that did not answer as expected."""
    sync: dict[str, Exchange]
    queued: dict[str, Exchange]
    settled: dict[str, Exchange]
    """execution id -> its final record, read by the read client."""
    data_while_serving: dict[str, bytes]
    data_after_shutdown: dict[str, bytes]
    database_rows: dict[str, str]
    listener_requests: list[Recorded]
    openwhisk_auth_seen: list[str]
    log: str
    plants: Plants


# the fixture: backends, the server, the script


@pytest.fixture(scope="module")
def run(
    tmp_path_factory: pytest.TempPathFactory, moto_url: str, ff_url: str, listener: Listener
) -> Iterator[Run]:
    plants = Plants()
    lambda_name = create_function(
        moto_url,
        create_role(moto_url),
        prefix="fnproxy-planted",
        Environment={"Variables": {"DB_PASSWORD": plants.lambda_env}},
    )["FunctionName"]
    listener.routes[FUNCTION_PATH] = lambda handler: handler.answer(200, {"ran": "fn"})
    listener.routes[CALLBACK_PATH] = lambda handler: handler.answer(200, {"received": True})
    openwhisk = OpenWhiskServer()
    openwhisk.auth_key = plants.openwhisk_auth
    folder = tmp_path_factory.mktemp("no-secret")
    with threaded_openwhisk(openwhisk, folder) as openwhisk_url:
        server = start_server(folder / "data", env=_server_env(plants, moto_url, openwhisk_url))
        try:
            yield _scripted_run(server, plants, lambda_name, ff_url, listener, openwhisk)
        finally:
            server.stop()


def _server_env(plants: Plants, moto_url: str, openwhisk_url: str) -> dict[str, str]:
    return {
        "FNPROXY_PLATFORM": "local",  # loopback targets allowed
        "LOG_LEVEL": "DEBUG",
        "LOCAL_FUNCTIONS_DIR": str(LOCAL_FUNCTIONS),
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIAPLANTEDKEYID0001",  # an id, not a secret
        "AWS_SECRET_ACCESS_KEY": plants.aws_secret_key,
        "AWS_SESSION_TOKEN": plants.aws_session_token,
        "OPENWHISK_API_HOST": openwhisk_url,
        "OPENWHISK_NAMESPACE": "guest",
        "OPENWHISK_AUTH_KEY": plants.openwhisk_auth,
        "GCP_PROJECT_ID": "demo-fnproxy",
        "GCP_ID_TOKENS": "false",
        "GCP_SERVICE_ACCOUNT_KEY": plants.gcp_key,  # nothing needs it without ID tokens
    }


def _scripted_run(
    server: Server,
    plants: Plants,
    lambda_name: str,
    ff_url: str,
    listener: Listener,
    openwhisk: OpenWhiskServer,
) -> Run:
    targets = _targets(plants, lambda_name, ff_url, listener)
    callback_url = f"{listener.url}{CALLBACK_PATH}?token={plants.callback_token}"
    with server.http() as http:
        script = Script(http, plants.secrets(server.module_key))
        callers = _callers(script, server.module_key)
        _invoke_every_target(script, callers.invoker, targets, callback_url)
        registered = _registered_target(plants, listener)
        _register_and_invoke_by_name(script, callers, registered, callback_url)
        _lambda_compat(script, callers, lambda_name)
        _gcp_compat(script, server.module_key, ff_url, plants)
        _openwhisk_compat(script, server.module_key)
        settled = _settle(script, callers)
        _wait_for_callbacks(listener, expected=len(script.queued))
        _read_everything(script, callers, lambda_name)
        data_while_serving = _files(server.data_dir)
    server.stop()
    return Run(
        secrets=script.secrets,
        exchanges=script.exchanges,
        problems=script.problems,
        sync=script.sync,
        queued=script.queued,
        settled=settled,
        data_while_serving=data_while_serving,
        data_after_shutdown=_files(server.data_dir),
        database_rows=_database_rows(server.data_dir),
        listener_requests=list(listener.requests),
        openwhisk_auth_seen=[r.headers.get("authorization", "") for r in openwhisk.requests],
        log=server.log,
        plants=plants,
    )


def _targets(
    plants: Plants, lambda_name: str, ff_url: str, listener: Listener
) -> dict[str, dict[str, Any]]:
    """One target per provider (two where a secret can sit in another place)."""
    password_url = listener.url.replace("://", f"://{URL_USER}:{plants.target_password}@")
    return {
        "local": {"provider": "local", "function": "echo"},
        "local environ": {"provider": "local", "function": "environ"},
        "http": {
            "provider": "http",
            "url": f"{listener.url}{FUNCTION_PATH}?token={plants.target_query}&page=1",
            "headers": {
                "X-Api-Key": plants.target_header,
                "Authorization": f"Bearer {plants.target_bearer}",
            },
        },
        "http userinfo": {"provider": "http", "url": f"{password_url}{FUNCTION_PATH}"},
        "gcp_functions": {
            "provider": "gcp_functions",
            "url": f"{ff_url}/echo?key={plants.target_query}",
            "headers": {"X-Api-Key": plants.target_header},
        },
        "aws_lambda": {"provider": "aws_lambda", "function": lambda_name},
        "openwhisk": {"provider": "openwhisk", "action": "echo", "namespace": "guest"},
        "openwhisk web": {"provider": "openwhisk", "action": "echo", "kind": "web"},
    }


def _callers(script: Script, module_key: str) -> Callers:
    admin = script.token("admin", "/v1/auth/token", {"api_key": module_key}, "access_token")
    invoker = _new_client(script, admin, "invoker", ["invoke"])
    reader = _new_client(script, admin, "reader", ["read"])
    return Callers(admin, invoker, reader)


def _new_client(script: Script, admin: Caller, name: str, scopes: list[str]) -> Caller:
    secret, sigv4 = f"CLIENT_SECRET_{name.upper()}", f"SIGV4_SECRET_{name.upper()}"
    # The secrets are shown once, in the answer that creates the client: that answer alone.
    created = script.call(
        "POST", "/v1/clients", admin, allowed={secret, sigv4}, json={"name": name, "scopes": scopes}
    )
    if not script.expect(created, 201):
        return Caller(f"{name} (no client: anonymous)")
    script.learn(secret, created.body["client_secret"])
    script.learn(sigv4, created.body["sigv4_secret"])
    credentials = {k: created.body[k] for k in ("client_id", "client_secret")}
    caller = script.token(name, "/v1/auth/token", credentials, "access_token")
    return Caller(caller.name, caller.token, **credentials)


def _invoke_every_target(
    script: Script, invoker: Caller, targets: dict[str, dict[str, Any]], callback_url: str
) -> None:
    for name, target in targets.items():
        script.sync[name] = script.call(
            "POST", "/v1/invoke", invoker, json=_invocation(target, "sync"), timeout=30
        )
        script.call("POST", "/v1/invoke", invoker, json=_invocation(target, "dry_run"))
        body = _invocation(target, "async") | {"callback_url": callback_url}
        script.queued[name] = script.call("POST", "/v1/invoke", invoker, json=body)
    batch = {"invocations": [_invocation(target, "sync") for target in targets.values()]}
    script.call("POST", "/v1/invoke/batch", invoker, json=batch, timeout=60)


def _invocation(target: dict[str, Any], mode: str) -> dict[str, Any]:
    return {"target": target, "payload": PAYLOAD, "mode": mode}


def _registered_target(plants: Plants, listener: Listener) -> dict[str, Any]:
    return {
        "provider": "http",
        "url": f"{listener.url}{FUNCTION_PATH}?token={plants.registered_query}",
        "headers": {"X-Api-Key": plants.registered_header},
    }


def _register_and_invoke_by_name(
    script: Script,
    callers: Callers,
    target: dict[str, Any],
    callback_url: str,
) -> None:
    admin, invoker, reader = callers.admin, callers.invoker, callers.reader
    # An admin's own answers about the function show its target in full (the one exception).
    created = script.call(
        "POST",
        "/v1/functions",
        admin,
        allowed=REGISTERED_SECRETS,
        json={"name": REGISTERED, "description": "planted", "target": target},
    )
    script.expect(created, 201)
    path = f"/v1/functions/{REGISTERED}"
    for view in (path, f"{path}/versions", f"{path}/versions/1"):
        script.call("GET", view, admin, allowed=REGISTERED_SECRETS)
        script.call("GET", view, reader)  # a read client: the redacted form only
        script.call("GET", view, invoker)
    script.sync[REGISTERED] = script.call(
        "POST", f"{path}/invoke", invoker, json={"payload": PAYLOAD}, timeout=30
    )
    body = {"payload": PAYLOAD, "mode": "async", "callback_url": callback_url}
    script.queued[REGISTERED] = script.call("POST", f"{path}/invoke", invoker, json=body)
    script.call("POST", f"{path}/invoke", invoker, json={"payload": PAYLOAD, "mode": "dry_run"})


def _lambda_compat(script: Script, callers: Callers, lambda_name: str) -> None:
    """The Lambda module's token flow takes client credentials (the invoke client's)."""
    api, invoker, reader = "/lambda/api/v1", callers.invoker, callers.reader
    credentials = {"client_id": invoker.client_id, "client_secret": invoker.client_secret}
    seed = script.token("lambda seed", f"{api}/token", credentials, "token")
    event = json.dumps(PAYLOAD)
    for kind in ("RequestResponse", "Event", "DryRun"):
        body = {"function_name": lambda_name, "payload": event, "invocation_type": kind}
        script.call("POST", f"{api}/invoke", seed, json=body)
    script.call(
        "POST", f"{api}/invoke-async", seed, json={"function_name": lambda_name, "payload": event}
    )
    item = {"function_name": lambda_name, "payload": event}
    script.call("POST", f"{api}/batch", seed, json={"invocations": [item, item]})
    script.call("GET", f"{api}/functions", reader)
    script.call("GET", f"{api}/functions/{lambda_name}", reader)
    script.call("GET", f"{api}/functions/{lambda_name}", invoker)


def _gcp_compat(script: Script, module_key: str, ff_url: str, plants: Plants) -> None:
    api = "/gcp/api/v1"
    seed = script.token("gcp seed", f"{api}/auth/token", {"api_key": module_key}, "token")
    by_url = {
        "url": f"{ff_url}/echo?key={plants.target_query}",
        "headers": {"X-Api-Key": plants.target_header},
        "payload": PAYLOAD,
    }
    script.call("POST", f"{api}/functions/invoke-http", seed, json=by_url)
    script.call("POST", f"{api}/functions/batch", seed, json={"invocations": [by_url, by_url]})
    script.call("GET", f"{api}/stats", seed)


def _openwhisk_compat(script: Script, module_key: str) -> None:
    api = "/openwhisk/api/v1"
    seed = script.token("openwhisk seed", f"{api}/auth/token", {"api_key": module_key}, "token")
    calls = {
        "/actions/invoke": {"action_name": "echo", "payload": PAYLOAD},
        "/actions/invoke-async": {"action_name": "echo", "payload": PAYLOAD},
        "/sequences/invoke": {"sequence_name": "greet-loudly", "payload": {"name": "x"}},
        "/web-actions/invoke": {"action_name": "echo", "payload": PAYLOAD},
        "/triggers/fire": {"trigger_name": "signup", "payload": PAYLOAD},
    }
    for path, body in calls.items():
        exchange = script.call("POST", f"{api}{path}", seed, json=body, timeout=30)
        activation = _field(exchange.body, "activation_id")
        if activation:
            script.call("GET", f"{api}/activations/{activation}", seed)
    script.call("GET", f"{api}/actions", seed)
    script.call("GET", f"{api}/stats", seed)


def _settle(script: Script, callers: Callers) -> dict[str, Exchange]:
    """Wait until every execution the script started has ended; the final record of each."""
    deadline = time.monotonic() + SETTLE_S
    settled: dict[str, Exchange] = {}
    for execution_id in list(script.execution_ids):
        while True:
            record = script.call("GET", f"/v1/invocations/{execution_id}", callers.reader)
            status = _field(record.body, "status")
            if status in TERMINAL or record.status != 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        settled[execution_id] = record
        # the invoke client reads its own executions
        script.call("GET", f"/v1/invocations/{execution_id}", callers.invoker)
    return settled


def _wait_for_callbacks(listener: Listener, expected: int) -> None:
    deadline = time.monotonic() + SETTLE_S
    while len(listener.hits(CALLBACK_PATH)) < expected and time.monotonic() < deadline:
        time.sleep(0.1)


def _read_everything(script: Script, callers: Callers, lambda_name: str) -> None:
    admin, invoker, reader = callers.admin, callers.invoker, callers.reader
    path = f"/v1/functions/{REGISTERED}"
    for view in (
        "/v1/invocations?limit=200",
        "/v1/stats",
        "/v1/activity?limit=200",
        "/v1/functions",
        f"{path}/history",
        f"{path}/executions",
        "/v1/providers/local/functions",
        "/v1/providers/aws_lambda/functions",
        f"/v1/providers/aws_lambda/functions/{lambda_name}",
        "/v1/providers/openwhisk/functions",
        "/v1/providers/openwhisk/functions/echo",
        "/health",
    ):
        script.call("GET", view, reader)
    for execution_id, made_by in list(script.execution_ids.items()):
        if path in made_by:
            script.call("GET", f"{path}/executions/{execution_id}", reader)
            script.call("GET", f"{path}/executions/{execution_id}", invoker)
    script.call("GET", "/v1/clients", admin)
    for health in ("/health", "/lambda/health", "/gcp/health", "/openwhisk/health"):
        script.call("GET", health, ANONYMOUS)


def _files(data_dir: Path) -> dict[str, bytes]:
    """Every file of the data folder (the database, its -wal and -shm, anything else)."""
    return {
        str(path.relative_to(data_dir.parent)): path.read_bytes()
        for path in sorted(data_dir.rglob("*"))
        if path.is_file()
    }


def _database_rows(data_dir: Path) -> dict[str, str]:
    """Each table's rows as text, blobs decoded (a value split across SQLite pages is whole
    here); keyed by `file:table`."""
    rows = {}
    for path in sorted(data_dir.rglob("*.db")):
        database = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = database.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            for (table,) in tables.fetchall():
                values = database.execute(f'SELECT * FROM "{table}"').fetchall()
                rows[f"{path.name}:{table}"] = "\n".join(_row_text(row) for row in values)
        finally:
            database.close()
    return rows


def _row_text(row: tuple[Any, ...]) -> str:
    return " | ".join(
        value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
        for value in row
    )


# the searches


def _published_events(log: str) -> list[tuple[int, dict[str, Any]]]:
    """The CloudEvents the local event bus published (it logs each one as a JSON line)."""
    events = []
    for number, line in enumerate(log.splitlines(), start=1):
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "specversion" in event:
            events.append((number, event))
    return events


def _assert_none(hits: list[Hit]) -> None:
    assert not hits, report(hits)


def test_the_script_ran(run: Run) -> None:
    """Tokens, clients and the registered function were made as asked."""
    assert not run.problems, "\n".join(run.problems)


def test_every_target_was_invoked(run: Run) -> None:
    """The searches prove something only if the calls reached every backend: each target's
    sync and async invocation succeeded."""
    failures = [
        f"{name} sync: {answer.text}"
        for name, answer in run.sync.items()
        if answer.status != 200 or _field(answer.body, "success") is not True
    ]
    for name, answer in run.queued.items():
        execution_id = _field(answer.body, "execution_id")
        final = run.settled.get(execution_id)
        if answer.status != 202 or final is None or _field(final.body, "status") != "succeeded":
            failures.append(f"{name} async: {answer.text}\n{final and final.text}")
    assert not failures, "\n".join(failures)


def test_planted_secrets_reached_their_destinations(run: Run) -> None:
    """The searches look for the right strings: the secrets travel where they must."""
    function_calls = [r for r in run.listener_requests if r.path.startswith(FUNCTION_PATH)]
    assert any(r.headers.get("x-api-key") == run.plants.target_header for r in function_calls)
    assert any(r.headers.get("x-api-key") == run.plants.registered_header for r in function_calls)
    expected_auth = "Basic " + basic_credentials(
        run.plants.openwhisk_user, run.plants.openwhisk_key
    )
    assert expected_auth in run.openwhisk_auth_seen
    assert run.listener_requests and [r for r in run.listener_requests if _is_callback(r)]
    admin_view = next(
        e for e in run.exchanges if e.place.endswith(f"GET /v1/functions/{REGISTERED} as admin")
    )
    assert run.plants.registered_header in admin_view.text, admin_view.text


def _is_callback(request: Recorded) -> bool:
    return request.path.startswith(CALLBACK_PATH)


def test_no_planted_secret_in_any_answer(run: Run) -> None:
    hits = []
    for exchange in run.exchanges:
        hits += find_in_text(run.secrets, exchange.text, exchange.place, exchange.allowed)
    _assert_none(hits)


def test_no_planted_secret_in_the_data_folder(run: Run) -> None:
    """Raw bytes of every file (deleted rows and WAL frames included), then every table's rows.
    Raw pages cannot be told apart by table, so the registered target's secrets, which its
    registry table may hold, are looked for in the rows of the other tables only."""
    elsewhere = [s for s in run.secrets if s.name not in REGISTERED_SECRETS]
    hits = []
    for moment, files in (
        ("while serving", run.data_while_serving),
        ("after shutdown", run.data_after_shutdown),
    ):
        for name, data in files.items():
            hits += find_in_bytes(elsewhere, data, f"{name} ({moment}, raw bytes)")
    for table, rows in run.database_rows.items():
        allowed = REGISTERED_SECRETS if table.endswith(f":{REGISTRY_TABLE}") else ()
        hits += find_in_text(run.secrets, rows, f"rows of {table}", allowed)
    assert any(table.endswith(":executions") for table in run.database_rows), "no database"
    _assert_none(hits)


def test_no_planted_secret_in_the_published_events(run: Run) -> None:
    events = _published_events(run.log)
    assert events, "the local event bus published nothing (or no longer logs its events)"
    hits = []
    for line, event in events:
        place = f"event {event.get('type')} (log line {line})"
        hits += find_in_text(run.secrets, json.dumps(event), place)
    _assert_none(hits)


def test_no_planted_secret_in_the_callbacks(run: Run) -> None:
    callbacks = [r for r in run.listener_requests if _is_callback(r)]
    assert callbacks, "no callback arrived"
    hits = []
    for number, request in enumerate(callbacks):
        # The request line is the caller's own callback URL, token included: not searched.
        sent = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
        sent += "\n\n" + request.body.decode("utf-8", errors="replace")
        execution_id = _field(_json_of(request.body), "execution_id")
        place = f"callback #{number} of execution {execution_id} (headers and body)"
        hits += find_in_text(run.secrets, sent, place)
    _assert_none(hits)


def test_no_planted_secret_in_the_server_log(run: Run) -> None:
    assert run.log.strip(), "the server logged nothing"
    hits = []
    for number, line in enumerate(run.log.splitlines(), start=1):
        hits += find_in_text(run.secrets, line, f"server log line {number}")
    _assert_none(hits)
