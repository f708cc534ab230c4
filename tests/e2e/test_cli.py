# ruff: noqa: F811  (tests take the imported `server` fixture as an argument)
"""The `fnproxy` CLI against a live `fnproxy serve`: the mistakes of issue 13 stay fixed."""

from __future__ import annotations

import json
import shlex
import time

import pytest

from tests.e2e.test_serve import cli, interrupt, post, server, spawn  # noqa: F401

pytestmark = pytest.mark.e2e


def test_history_pages_with_the_cursor_it_prints(server):
    for n in range(3):
        run = cli(server, "invoke", "local:echo", "-p", "-", stdin=json.dumps({"n": n}))
        assert run.returncode == 0, run.stderr
    first = cli(server, "history", "--function", "local:echo", "--limit", "2")
    assert first.returncode == 0, first.stderr
    hint = first.stderr.strip().splitlines()[-1]
    assert hint.startswith("(more: fnproxy history ") and hint.endswith(")")
    again = shlex.split(hint[len("(more: fnproxy ") : -1])
    assert "--cursor" in again and "--function" in again
    second = cli(server, *again)
    assert second.returncode == 0, second.stderr
    first_ids = execution_ids(first)
    second_ids = execution_ids(second)
    assert len(first_ids) == 2 and second_ids and not first_ids & second_ids


def execution_ids(run) -> set[str]:
    return {item["execution_id"] for item in json.loads(run.stdout)["invocations"]}


def register(server, name: str, function: str = "echo") -> None:
    token = cli(server, "token", "-q").stdout.strip()
    body = {"name": name, "target": {"provider": "local", "function": function}}
    post(f"{server['url']}/v1/functions", body, token)


def test_invoke_a_registered_function_by_name_and_version(server):
    register(server, "greet", "echo")
    token = cli(server, "token", "-q").stdout.strip()
    body = {"target": {"provider": "local", "function": "hello"}}
    post(f"{server['url']}/v1/functions/greet/versions", body, token)
    by_name = cli(server, "invoke", "greet", "-p", "-", stdin='{"name": "you"}')
    assert by_name.returncode == 0, by_name.stderr
    assert json.loads(by_name.stdout)["result"] == {"name": "you"}  # version 1 stays active
    second = cli(server, "invoke", "greet", "--version", "2", "-p", "-", stdin='{"name": "you"}')
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["result"] == {"message": "Hello, you!"}
    provider = cli(server, "invoke", "local:echo", "-p", "-", stdin='{"still": "works"}')
    assert json.loads(provider.stdout)["result"] == {"still": "works"}


def test_version_with_a_provider_target_is_refused_in_one_line(server):
    result = cli(server, "invoke", "local:echo", "--version", "2")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "--version" in result.stderr


def test_inline_payload(server):
    result = cli(server, "invoke", "local:echo", "-p", '{"a": 1}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["result"] == {"a": 1}


def test_exit_status_follows_the_function_outcome(server, tmp_path):
    failed = cli(server, "invoke", "local:fail", "-p", '{"message": "no"}')
    assert failed.returncode == 1, failed.stderr
    assert json.loads(failed.stdout)["success"] is False
    ok = cli(server, "invoke", "local:echo", "-p", "{}")
    assert ok.returncode == 0, ok.stderr
    items = [{"target": {"provider": "local", "function": f}} for f in ("echo", "fail")]
    batch = tmp_path / "mixed.json"
    batch.write_text(json.dumps(items))
    mixed = cli(server, "batch", str(batch))
    assert mixed.returncode == 1 and json.loads(mixed.stdout)["failure_count"] == 1


def test_help_documents_exit_codes(server):
    for args in ((), ("invoke",), ("batch",), ("functions", "list")):
        run = cli(server, *args, "--help")
        text = " ".join(run.stdout.split())
        assert run.returncode == 0 and "Exit status:" in text, text
        assert "1: the invoked function failed (success: false)" in text
        assert "3: fnproxy could not be reached" in text


def test_empty_batch_says_so_in_one_line(server, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    for args, stdin in (((str(empty),), None), (("-",), ""), (("-",), '{"invocations": []}')):
        result = cli(server, "batch", *args, stdin=stdin)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines() == [result.stderr.strip()]
        assert "nothing to run" in result.stderr


def test_a_refused_chunk_keeps_what_ran_and_names_the_line(server, tmp_path):
    good = json.dumps({"target": {"provider": "local", "function": "echo"}, "payload": 1})
    bad = json.dumps({"target": {"provider": "nowhere"}})
    lines = [good] * 5 + [bad] + [good] * 2
    batch = tmp_path / "batch.jsonl"
    batch.write_text("\n".join(lines))
    result = cli(server, "batch", str(batch), "--chunk", "3")
    assert result.returncode == 3 and "Traceback" not in result.stderr
    summary = json.loads(result.stdout)
    assert summary["total_count"] == 3 and summary["success_count"] == 3
    assert summary["not_run_count"] == 5
    assert f"batch stopped at line 6 of {batch}: HTTP 4" in result.stderr.strip().splitlines()[-1]


def test_invalid_json_line_is_named_before_anything_runs(server, tmp_path):
    batch = tmp_path / "broken.jsonl"
    batch.write_text('{"target": {"provider": "local", "function": "echo"}}\n{"target": }\n')
    result = cli(server, "batch", str(batch))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(
        f"fnproxy: payload: invalid JSON at line 2 column 12 of {batch}: Expecting value"
    )


def test_ctrl_c_exits_130_in_one_line(server):
    # its token answered, the CLI waits on its POST /v1/invoke
    process = spawn(server, "invoke", "local:slow", "-p", '{"seconds": 5}',
                    running_once="POST /v1/auth/token")
    out, err = interrupt(process)
    assert process.returncode == 130 and err == "fnproxy: interrupted\n" and out == ""


def test_client_timeout_ends_a_long_call(server):
    started = time.monotonic()
    result = cli(server, "invoke", "local:slow", "-p", '{"seconds": 8}', "--timeout", "1")
    assert time.monotonic() - started < 6  # well before the function's end
    assert result.returncode == 3 and "within 1 s (--timeout)" in result.stderr
    assert "Traceback" not in result.stderr
