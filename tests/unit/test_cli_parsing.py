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
