"""Schemathesis over the whole API (issue 12): every operation of the live /openapi.json, every
check, the examples, coverage, fuzzing and stateful phases, on a fixed seed with deterministic
generation and a bounded number of cases, against a real `fnproxy serve` with an admin token.
It must find nothing: no check fails, and the server logs no traceback.

A 500 is always a failure. An upstream the test cannot reach answers a documented 502 (or 504):
the server runs cut off from the network (offline_serve.py) and on a cloud platform's egress
policy, so no URL or function name a fuzzer writes reaches anything real, or fnproxy itself.

Run it alone: .venv/bin/pytest -m fuzz -q (about 3 minutes on two cores). A failure prints
schemathesis' report: each failing check with the request as a curl command to reproduce it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import free_port, wait_until_healthy

pytestmark = pytest.mark.fuzz

HERE = Path(__file__).resolve().parent
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
SEED = 20260612
PROVIDER_CHECKED_PAYLOADS = ("/v1/invoke", "/v1/functions/{name}/invoke")
"""The routes whose payload the target's provider checks too (see schemathesis_config)."""
"""Pinned, although deterministic generation (Hypothesis derandomized: the same cases in the
same order on every run) makes schemathesis ignore it; it holds if that setting ever goes."""
MAX_EXAMPLES = 200
"""Cases per operation in the fuzzing phase (the coverage phase makes its own, one per rule of
the schema): with about 60 operations, some 3 minutes on two cores (150: under 2 minutes, and
a 500 of /lambda/api/v1/batch, a 431 and a 422 went unseen)."""
STATEFUL_MAX_STEPS = 50
RUN_TIMEOUT_S = 600
"""A hard stop far above the expected time: a hang fails the test instead of blocking CI."""
ALLOWED_SERVER_ERRORS = ("502", "504")
"""An upstream the test cannot reach (the server is offline); documented per operation, which
status_code_conformance checks. 500 is never allowed, nor 503 (circuits are kept shut below)."""
POSITIVE_DEFAULT = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
MISSING_HEADER_DEFAULT = ["400", "401", "403", "406", "415", "422"]
NEGATIVE_DEFAULT = [
    *("400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx")
]
"""Schemathesis' own expected statuses of these three checks, which the config extends."""
TRACEBACK = re.compile(r"^Traceback \(most recent call last\)|^unhandled error on ")

ECHO = "def handler(event, context):\n    return event\n"


def server_env(tmp: Path, port: int, key: str) -> dict[str, str]:
    """A clean environment: no cloud credentials or emulators of the test session, no home
    folder with credential files; settings that keep every call short."""
    home = tmp / "home"
    home.mkdir()
    functions = tmp / "functions"
    functions.mkdir()
    (functions / "echo.py").write_text(ECHO)  # the one local function: no `slow`, `hog`, ...
    kept = {name: os.environ[name] for name in ("PATH", "LANG", "TZ") if name in os.environ}
    return kept | {
        "HOME": str(home),
        # A cloud platform's egress policy: loopback and private destinations are refused, so
        # a fuzzed URL can never make fnproxy call its own port; the data stays local.
        "FNPROXY_PLATFORM": "aws",
        "STORE_BACKEND": "sqlite",
        "SECRETS_BACKEND": "env",
        "EVENTS_BACKEND": "local",
        "QUEUE_BACKEND": "local",
        "MODULE_SECRET_KEY": key,
        "FNPROXY_DATA_DIR": str(tmp / "data"),
        "REST_PORT": str(port),
        "LOG_LEVEL": "INFO",
        "LOCAL_FUNCTIONS_DIR": str(functions),
        "LOCAL_WORKERS": "1",
        "FUNCTION_TIMEOUT": "5",
        "MAX_RETRIES": "0",
        # A registered function's own policy may ask for up to 10 retries with delays of a
        # minute: capped here, so that its calls (each refused at the offline socket) still
        # answer within the fuzzer's request timeout.
        "RETRY_MAX_DELAY": "0.01",
        "CIRCUIT_FAILURE_THRESHOLD": "1000000",
        # Every token request reaches the credential checks (the throttle has its own tests;
        # here it would answer 429 to all of them after the fuzzer's first ten failures).
        "AUTH_MAX_FAILURES": "1000000",
        # Credentials that sign requests no one receives: the Lambda provider builds, signs
        # and sends each call (its whole path is fuzzed) and meets the offline socket.
        "AWS_ACCESS_KEY_ID": "fuzz",
        "AWS_SECRET_ACCESS_KEY": "fuzz",
        "AWS_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_GCE_CHECK": "true",
        # A service account no one knows: the GCP provider signs its token request for it,
        # and that request meets the offline socket too.
        "GCP_PROJECT_ID": "fuzz-project",
        "GCP_SERVICE_ACCOUNT_KEY": _service_account_key(),
        # An OpenWhisk deployment no one runs: its routes reach the provider, not a 400.
        "OPENWHISK_API_HOST": "https://openwhisk.fuzz.invalid",
        "OPENWHISK_AUTH_KEY": "fuzz-user:fuzz-key",
    }


def _service_account_key() -> str:
    """A Google service account key of a fresh RSA key (google-auth signs with it)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "fuzz-project",
            "private_key_id": "fuzz",
            "private_key": pem.decode(),
            "client_email": "fuzz@fuzz-project.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    )


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    key = secrets.token_urlsafe(48)
    env = server_env(tmp, port, key)
    log_path = tmp / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(HERE / "offline_serve.py")],
            cwd=tmp,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, log_path, timeout_s=30)
        yield {"url": url, "key": key, "log": log_path, "tmp": tmp}
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _get_json(url: str, data: dict | None = None) -> dict:
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def schemathesis_config(schema: dict, token: str) -> str:
    """The run's settings: all checks, all phases, a fixed seed, deterministic generation, and
    the admin token for every security scheme the document declares (whatever it names them)."""
    lines = [
        f"seed = {SEED}",
        "",
        "[generation]",
        "deterministic = true",
        f"max-examples = {MAX_EXAMPLES}",
        'database = "none"',
        "",
        "[checks]",
        "enabled = true",
        "",
        "[checks.not_a_server_error]",
        f"expected-statuses = {json.dumps(['2xx', '3xx', '4xx', *ALLOWED_SERVER_ERRORS])}",
        "",
        # A schema-valid If-Match the fuzzer makes up names a version the session is not at:
        # 412 is the answer HTTP prescribes (RFC 9110 13.1.1), not a refusal of valid data.
        "[checks.positive_data_acceptance]",
        f"expected-statuses = {json.dumps([*POSITIVE_DEFAULT, '412'])}",
        "",
        # Schema-violating data of many kilobytes (percent-encoded in a query) can outgrow the
        # request head the server reads: its 431 (RFC 6585 section 5) refuses it as surely.
        "[checks.negative_data_rejection]",
        f"expected-statuses = {json.dumps([*NEGATIVE_DEFAULT, '431'])}",
        "",
        # A PATCH of a session without its required If-Match is a 428 (RFC 6585 section 3).
        "[checks.missing_required_header]",
        f"expected-statuses = {json.dumps([*MISSING_HEADER_DEFAULT, '428'])}",
        "",
        "[phases]",
        "examples.enabled = true",
        "coverage.enabled = true",
        "fuzzing.enabled = true",
        "stateful.enabled = true",
        f"stateful.max-steps = {STATEFUL_MAX_STEPS}",
    ]
    # A function's provider may refuse a payload the document must allow for every function:
    # OpenWhisk takes only an object (an action's parameters). A registered OpenWhisk function
    # invoked with another JSON value is a 400 invalid_request, on the invoke routes alone.
    for path in PROVIDER_CHECKED_PAYLOADS:
        lines += [
            "",
            "[[operations]]",
            f"include-path = {_toml_string(path)}",
            'include-method = "POST"',
            f"checks.positive_data_acceptance.expected-statuses = "
            f"{json.dumps([*POSITIVE_DEFAULT, '400', '412'])}",
        ]
    for name in schema.get("components", {}).get("securitySchemes", {}):
        lines += ["", f"[auth.openapi.{_toml_string(name)}]", f"bearer = {_toml_string(token)}"]
    return "\n".join(lines) + "\n"


def _post(url: str, body: dict, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("{server}/health", 403, "egress_denied"),  # its own port: refused by the policy
        ("http://10.0.0.1/", 403, "egress_denied"),
        ("http://93.184.215.14/", 502, "upstream_unavailable"),  # public (IANA example.com)
        ("https://example.com/", 502, "upstream_unavailable"),  # a name: no lookup
    ],
)
def test_the_fuzz_server_reaches_nothing(fuzz_server, url, status, code):
    """What the fuzzing relies on: whatever URL a fuzzer writes, nothing is called."""
    server = fuzz_server["url"]
    token = _get_json(f"{server}/v1/auth/token", {"api_key": fuzz_server["key"]})["access_token"]
    target = {"provider": "http", "url": url.format(server=server)}
    answer = _post(f"{server}/v1/invoke", {"target": target, "payload": {}}, token)
    assert answer[0] == status and answer[1]["code"] == code, answer


def test_schemathesis_finds_nothing(fuzz_server):
    url = fuzz_server["url"]
    tmp: Path = fuzz_server["tmp"]
    schema = _get_json(f"{url}/openapi.json")
    token = _get_json(f"{url}/v1/auth/token", {"api_key": fuzz_server["key"]})["access_token"]
    config = tmp / "schemathesis.toml"
    config.write_text(schemathesis_config(schema, token))
    command = [
        SCHEMATHESIS,
        "--config-file",
        str(config),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--workers",
        "1",  # one at a time: the same order of requests on every run
        "--continue-on-failure",  # every failure of an operation, and the same run time
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-dir",
        str(tmp / "report"),
        "--no-color",
    ]
    started = time.monotonic()
    run = subprocess.run(
        command,
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env=os.environ | {"SCHEMATHESIS_HOOKS": str(HERE / "hooks.py")},
    )
    elapsed = time.monotonic() - started
    log = fuzz_server["log"].read_text(errors="replace")
    problems = []
    if run.returncode != 0:
        problems.append(
            f"schemathesis exited {run.returncode} after {elapsed:.0f} s:\n{run.stdout}{run.stderr}"
        )
    if any(_is_traceback(line) for line in log.splitlines()):
        problems.append(f"the server logged a traceback:\n{_tracebacks(log)}")
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def _is_traceback(line: str) -> bool:
    """A traceback's first line or the app's own announcement of one; never a JSON line (the
    audit and event lines quote what callers sent, which a fuzzer may make look like one)."""
    return not line.startswith("{") and TRACEBACK.search(line) is not None


def _tracebacks(log: str) -> str:
    """Each traceback of the log with the line that announced it, without the audit lines."""
    lines = log.splitlines()
    shown: list[str] = []
    number = 0
    while number < len(lines):
        if not _is_traceback(lines[number]):
            number += 1
            continue
        start = number - 1 if number and not lines[number - 1].startswith("{") else number
        end = number + 1
        while end < len(lines) and not lines[end].startswith("{"):
            end += 1
        shown += [*lines[start:end], ""]
        number = end
    return "\n".join(shown)
