"""fnproxy as a real process (`fnproxy serve`), driven over HTTP and through its CLI, invoking
a local sample function and a real function served by functions-framework."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port, wait_until_healthy

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
FNPROXY = str(Path(sys.executable).with_name("fnproxy"))
CLI_VARIABLES = (
    "MODULE_SECRET_KEY",
    "FNPROXY_URL",
    "FNPROXY_TOKEN",
    "FNPROXY_PROFILE",
    "FNPROXY_OUTPUT",
    "FNPROXY_TIMEOUT",
    "FNPROXY_CLIENT_ID",
    "FNPROXY_CLIENT_SECRET",
)
"""Left out of the environment the server and the CLI inherit: each test sets what it uses."""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A fresh fnproxy with no MODULE_SECRET_KEY set: it must generate one and say so. The
    CLI's profiles go to a folder of its own (XDG_CONFIG_HOME)."""
    data_dir = tmp_path_factory.mktemp("fnproxy-data")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in CLI_VARIABLES}
    env |= {
        "XDG_CONFIG_HOME": str(data_dir / "config"),
        "FNPROXY_DATA_DIR": str(data_dir),
        "REST_PORT": str(port),
        "LOG_LEVEL": "INFO",
        "LOCAL_FUNCTIONS_DIR": str(REPO / "functions"),
    }
    log = (data_dir / "server.log").open("w")
    process = subprocess.Popen([FNPROXY, "serve"], cwd=data_dir, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    wait_until_healthy(url, process, data_dir / "server.log")
    yield {"url": url, "env": env, "data_dir": data_dir, "log": data_dir / "server.log"}
    process.terminate()
    process.wait(timeout=15)
    log.close()


def fnproxy(
    server, *args: str, stdin: str | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    """The `fnproxy` command as a user runs it, in the server's data folder and environment
    (its stdout a pipe, so answers are JSON), with `env` over that environment."""
    return subprocess.run(
        [FNPROXY, *args],
        input=stdin,
        text=True,
        capture_output=True,
        env=server["env"] | (env or {}),
        cwd=server["data_dir"],
        timeout=60,
    )


def cli(server, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`fnproxy ARGS --url <the server>`: the global option after the command."""
    return fnproxy(server, *args, "--url", server["url"], stdin=stdin)


def answered(server, action: str) -> int:
    """How many `action` requests (`GET /v1/invocations`) the server has answered: its audit
    lines."""
    return server["log"].read_text().count(f'"action":"{action}"')


WITH_DEFAULT_SIGINT = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])",
]
"""Runs a command with SIGINT's default, as from a terminal: a suite run in the background
(nohup, `&`) ignores SIGINT, and a child inherits that. Not a `preexec_fn`: that makes
subprocess fork() this process, and the gRPC threads the cloud tests leave in it then write
their errors into the child's stderr before its exec."""


def spawn(server, *args: str, running_once: str) -> subprocess.Popen:
    """`cli` left running, for a test that interrupts it (`interrupt`), once the server has
    answered the `running_once` request it makes: past its start-up, whatever the machine's
    load, so a Ctrl-C meets the CLI's own handling."""
    before = answered(server, running_once)
    process = subprocess.Popen(
        [*WITH_DEFAULT_SIGINT, FNPROXY, *args, "--url", server["url"]],
        env=server["env"],
        cwd=server["data_dir"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    until_answered(server, running_once, before + 1, process)
    return process


def until_answered(server, action: str, count: int, process: subprocess.Popen) -> None:
    """Until the server has answered `count` `action` requests, `process` still running."""
    deadline = time.monotonic() + 30
    while answered(server, action) < count:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{process.args} never made {action}: {process.communicate()}")
        time.sleep(0.05)


def interrupt(process: subprocess.Popen) -> tuple[str, str]:
    """Ctrl-C (SIGINT) to a `spawn`ed CLI; what it printed on stdout and stderr."""
    process.send_signal(signal.SIGINT)
    return process.communicate(timeout=10)


def post(url: str, body: dict, token: str) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_first_run_generates_a_key_and_says_where(server):
    key_file = server["data_dir"] / "module_secret_key"
    assert key_file.is_file() and len(key_file.read_text().strip()) >= 64
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    log = server["log"].read_text()
    assert "generated one into" in log and key_file.read_text().strip() not in log


def test_cli_token_invoke_and_history(server):
    token = cli(server, "token", "-q")
    assert token.returncode == 0, token.stderr
    invoked = cli(server, "invoke", "local:hello", "--payload", "-", stdin='{"name": "e2e"}')
    assert invoked.returncode == 0, invoked.stderr
    envelope = json.loads(invoked.stdout)
    assert envelope["result"] == {"message": "Hello, e2e!"} and envelope["status"] == "succeeded"
    history = cli(server, "history", "--function", "local:hello")
    assert envelope["execution_id"] in history.stdout
    one = json.loads(cli(server, "history", envelope["execution_id"]).stdout)
    assert one["payload"] == {"name": "e2e"}


def test_http_function_served_by_functions_framework(server, ff_url):
    token = cli(server, "token", "-q").stdout.strip()
    body = {
        "target": {"provider": "http", "url": f"{ff_url}/echo"},
        "payload": {"through": "fnproxy"},
    }
    envelope = post(f"{server['url']}/v1/invoke", body, token)
    assert envelope["success"] is True and envelope["result"] == {"through": "fnproxy"}


def test_cli_batch_shows_progress_and_counts(server, tmp_path):
    lines = [
        json.dumps({"target": {"provider": "local", "function": "echo"}, "payload": {"n": n}})
        for n in range(7)
    ]
    batch_file = tmp_path / "batch.jsonl"
    batch_file.write_text("\n".join(lines))
    result = cli(server, "batch", str(batch_file), "--chunk", "3", "--concurrency", "3")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["total_count"] == 7 and summary["success_count"] == 7
    assert [r["result"]["n"] for r in summary["responses"]] == list(range(7))
    assert "7/7" in result.stderr


def test_cli_reports_errors_in_one_line(server):
    result = cli(server, "invoke", "local:does_not_exist")
    assert result.returncode == 3 and result.stdout == ""
    assert (
        result.stderr
        == "fnproxy: HTTP 404 function_not_found: no local function 'does_not_exist'\n"
    )


def test_bad_setting_stops_start_up_naming_the_variable(tmp_path):
    env = os.environ | {"FNPROXY_DATA_DIR": str(tmp_path), "FUNCTION_TIMEOUT": "soon"}
    result = subprocess.run(
        [FNPROXY, "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines()[-1]
        == "fnproxy: FUNCTION_TIMEOUT: expected a number, got 'soon'"
    )


def test_short_module_secret_key_is_refused(tmp_path):
    env = os.environ | {"FNPROXY_DATA_DIR": str(tmp_path), "MODULE_SECRET_KEY": "short"}
    result = subprocess.run(
        [FNPROXY, "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert (
        result.returncode == 2
        and "MODULE_SECRET_KEY: must be at least 64 characters" in result.stderr
    )
