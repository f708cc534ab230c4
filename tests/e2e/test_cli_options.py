# ruff: noqa: F811  (tests take the imported `server` fixture as an argument)
"""The CLI's global options against a live `fnproxy serve`: before or after the command, from
the environment, from a named profile; the output modes; paging and following the history;
the progress bar on a terminal only; shell completion; the one-line errors with their hints."""

from __future__ import annotations

import json
import os
import pty
import stat
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_serve import (  # noqa: F401
    FNPROXY,
    answered,
    cli,
    fnproxy,
    interrupt,
    server,
    spawn,
    until_answered,
)

pytestmark = pytest.mark.e2e


def token(server) -> str:
    return cli(server, "token", "-q").stdout.strip()


def test_url_and_token_before_or_after_the_command_or_from_the_environment(server):
    bearer = token(server)
    url = server["url"]
    for args, env in (
        (("--url", url, "--token", bearer, "history", "--limit", "1"), {}),
        (("history", "--limit", "1", "--url", url, "--token", bearer), {}),
        (("history", "--limit=1", f"--url={url}"), {"FNPROXY_TOKEN": bearer}),
        (("history", "--limit", "1"), {"FNPROXY_URL": url, "FNPROXY_TOKEN": bearer}),
    ):
        run = fnproxy(server, *args, env=env)
        assert run.returncode == 0, (args, run.stderr)
        assert "invocations" in json.loads(run.stdout)
    flag_wins = fnproxy(server, "health", "--url", url, env={"FNPROXY_URL": "http://127.0.0.1:9"})
    assert flag_wins.returncode == 0, flag_wins.stderr


def test_an_expired_or_bad_token_says_to_run_fnproxy_token(server):
    run = cli(server, "history", "--token", "not-a-jwt")
    assert run.returncode == 3
    assert run.stderr.startswith(
        "fnproxy: token expired or invalid: run `fnproxy token` (HTTP 401 unauthorized: "
    )
    assert len(run.stderr.splitlines()) == 1


def test_a_profile_holds_url_and_client_and_a_secret_only_when_asked(server):
    created = json.loads(
        cli(server, "clients", "create", "--name", "profiled", "--scope", "read").stdout
    )
    client_id, secret = created["client_id"], created["client_secret"]
    config = Path(server["env"]["XDG_CONFIG_HOME"]) / "fnproxy" / "config.toml"

    saved = fnproxy(
        server, "profile", "set", "dev", "--url", server["url"], "--client-id", client_id
    )
    assert saved.returncode == 0 and str(config) in saved.stderr
    assert secret not in config.read_text()
    refused = fnproxy(server, "profile", "set", "dev", "--client-secret", secret)
    assert refused.returncode == 2 and "--store-secret" in refused.stderr
    assert secret not in config.read_text()

    needs_secret = fnproxy(server, "--profile", "dev", "history")
    assert needs_secret.returncode == 2 and "no secret" in needs_secret.stderr
    from_env = fnproxy(
        server, "history", env={"FNPROXY_PROFILE": "dev", "FNPROXY_CLIENT_SECRET": secret}
    )
    assert from_env.returncode == 0, from_env.stderr

    stored = fnproxy(server, "profile", "set", "dev", "--client-secret", secret, "--store-secret")
    assert stored.returncode == 0 and "plain text" in stored.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert fnproxy(server, "history", "--profile", "dev").returncode == 0

    shown = fnproxy(server, "profile", "show", "dev")
    assert secret not in shown.stdout
    assert json.loads(shown.stdout)["client_secret"] == "(stored in plain text)"
    assert "dev" in json.loads(fnproxy(server, "profile", "list").stdout)
    assert fnproxy(server, "profile", "delete", "dev").returncode == 0
    unknown = fnproxy(server, "--profile", "dev", "history")
    assert unknown.returncode == 2 and "no profile 'dev'" in unknown.stderr


def test_output_is_json_when_piped_and_a_table_when_asked(server):
    cli(server, "invoke", "local:echo", "-d", "1")
    as_json = cli(server, "history", "--limit", "1")
    record = json.loads(as_json.stdout)["invocations"][0]
    wide = {"COLUMNS": "200"}  # Rich's width when stdout is no terminal (80 without it)
    as_table = fnproxy(
        server, "history", "--limit", "1", "-o", "table", "--url", server["url"], env=wide
    )
    assert as_table.returncode == 0 and record["execution_id"] in as_table.stdout
    assert "execution" in as_table.stdout and "\x1b[" not in as_table.stdout  # no colour codes
    from_env = fnproxy(
        server,
        "history",
        "--limit",
        "1",
        "--url",
        server["url"],
        env=wide | {"FNPROXY_OUTPUT": "table"},
    )
    assert from_env.stdout == as_table.stdout
    bad = cli(server, "-o", "yaml", "history")
    assert bad.returncode == 2 and "yaml" in bad.stderr


def test_history_all_follows_the_cursors_to_the_end(server):
    for n in range(5):
        cli(server, "invoke", "local:echo", "-d", str(n))
    every = json.loads(
        cli(server, "history", "--function", "local:echo", "--all", "--limit", "2").stdout
    )
    paged = json.loads(cli(server, "history", "--function", "local:echo", "--limit", "500").stdout)
    assert every["next_cursor"] is None and len(every["invocations"]) >= 5
    assert [r["execution_id"] for r in every["invocations"]] == [
        r["execution_id"] for r in paged["invocations"]
    ]


def test_logs_follow_prints_new_executions_and_ctrl_c_ends_it(server):
    # its first read done, the follower knows what is old
    process = spawn(server, "logs", "-f", "--function", "local:hello", "--interval", "0.2",
                    running_once="GET /v1/invocations")
    new = json.loads(cli(server, "invoke", "local:hello", "-d", '{"name": "tail"}').stdout)
    polls = answered(server, "GET /v1/invocations")
    until_answered(server, "GET /v1/invocations", polls + 2, process)  # it has read again
    out, err = interrupt(process)
    assert process.returncode == 130 and err == "fnproxy: interrupted\n"
    followed = [json.loads(line) for line in out.splitlines()]
    assert new["execution_id"] in [record["execution_id"] for record in followed]
    assert {record["function"] for record in followed} == {"local:hello"}


def test_batch_progress_is_drawn_on_a_terminal_only(server, tmp_path):
    batch = tmp_path / "batch.jsonl"
    batch.write_text('{"target": {"provider": "local", "function": "echo"}}\n' * 2)
    piped = cli(server, "batch", str(batch))
    assert piped.returncode == 0 and "\r" not in piped.stderr
    assert piped.stderr == "batch: 2/2 ran (0 failed)\n"
    controller, terminal = pty.openpty()
    try:
        run = subprocess.run(
            [FNPROXY, "batch", str(batch), "--url", server["url"]],
            env=server["env"] | {"COLUMNS": "100"},
            cwd=server["data_dir"],
            stdout=subprocess.PIPE,
            stderr=terminal,
            timeout=60,
        )
        os.close(terminal)
        drawn = os.read(controller, 65536).decode()
    finally:
        os.close(controller)
    assert run.returncode == 0 and "2/2" in drawn and "batch:" not in drawn


def test_shell_completion_is_offered(server):
    # from bash, as a user types it: Typer finds the shell among the command's parents (`; exit`
    # keeps bash from replacing itself with the command)
    script = subprocess.run(
        ["bash", "-c", f'{FNPROXY} --show-completion; exit "$?"'],
        capture_output=True, text=True, env=server["env"], timeout=60,
    )
    assert script.returncode == 0 and "_fnproxy_completion" in script.stdout, script.stderr
    completion = fnproxy(
        server,
        env={"_FNPROXY_COMPLETE": "complete_bash", "COMP_WORDS": "fnproxy func", "COMP_CWORD": "1"},
    )
    assert completion.returncode == 0 and "functions" in completion.stdout
