"""The CLI's pure parsing (handlers/cli.py), no server needed."""

from __future__ import annotations

import io

import pytest

from handlers import cli


def test_inline_payload_is_json_not_a_file_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.read_payload('{"a": 1}') == {"a": 1}
    assert cli.read_payload("  [1, 2]") == [1, 2]
    (tmp_path / '{"a": 1}').write_text('{"from": "file"}')  # the value decides, not the disk
    assert cli.read_payload('{"a": 1}') == {"a": 1}
    assert cli.read_payload('./{"a": 1}') == {"from": "file"}


def test_payload_from_a_file_and_stdin(tmp_path, monkeypatch):
    (tmp_path / "p.json").write_text('{"f": true}')
    assert cli.read_payload(str(tmp_path / "p.json")) == {"f": True}
    monkeypatch.setattr("sys.stdin", io.StringIO('{"s": 1}'))
    assert cli.read_payload("-") == {"s": 1}
    assert cli.read_payload(None) is None


def test_bad_payload_is_a_usage_error_naming_where(tmp_path):
    with pytest.raises(cli.UsageError, match="line 1 column 7 of the inline -p value"):
        cli.read_payload('{"a": }')
    with pytest.raises(cli.UsageError, match="payload: cannot read"):
        cli.read_payload(str(tmp_path / "missing.json"))
    assert cli.UsageError("x").status == 2


def test_main_exits_2_on_a_bad_inline_payload(capsys):
    assert cli.main(["invoke", "local:echo", "-p", "{oops", "--token", "t"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fnproxy: payload: invalid JSON at line 1") and len(err.splitlines()) == 1


def test_progress_writes_no_carriage_returns_when_stderr_is_not_a_terminal(capsys):
    cli.progress(0, 7, 0)
    cli.progress(3, 7, 1)
    cli.progress(7, 7, 1, final=True)
    err = capsys.readouterr().err
    assert "\r" not in err and err == "batch: 7/7 ran (1 failed)\n"


def test_timeout_option_and_its_environment_variable(monkeypatch):
    assert cli.build_parser().parse_args(["token"]).timeout == cli.DEFAULT_TIMEOUT_S
    assert cli.build_parser().parse_args(["token", "--timeout", "2.5"]).timeout == 2.5
    monkeypatch.setenv("FNPROXY_TIMEOUT", "7")
    assert cli.build_parser().parse_args(["token"]).timeout == 7.0
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(["token", "--timeout", "0"])
    assert exited.value.code == 2


def test_a_hung_server_times_out_in_one_line(capsys):
    import socket

    with socket.socket() as listener:  # accepts (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        status = cli.main(["history", "--url", url, "--token", "t", "--timeout", "0.5"])
    err = capsys.readouterr().err
    assert (
        status == 1
        and err == f"fnproxy: no answer from fnproxy at {url} within 0.5 s (--timeout)\n"
    )
