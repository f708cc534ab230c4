"""The CLI's pure parsing (handlers/cli/), no server needed."""

from __future__ import annotations

import http.server
import io
import socket
import stat
import threading

import pytest

from handlers.cli import main
from handlers.cli.context import hoist_global_options
from handlers.cli.errors import UsageError
from handlers.cli.inputs import (
    parse_since,
    parse_target,
    positive_seconds,
    read_data,
    read_invocations,
)
from handlers.cli.output import cell
from handlers.cli.profiles import Profile, load, load_all, save_all


def test_inline_payload_is_json_not_a_file_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert read_data('{"a": 1}') == {"a": 1}
    assert read_data("  [1, 2]") == [1, 2]
    assert [read_data(v) for v in ("42", "-1.5", '"text"', "true", "null")] == [
        42,
        -1.5,
        "text",
        True,
        None,
    ]
    (tmp_path / '{"a": 1}').write_text('{"from": "file"}')  # the value decides, not the disk
    assert read_data('{"a": 1}') == {"a": 1}
    assert read_data('./{"a": 1}') == {"from": "file"}


def test_payload_from_a_file_and_stdin(tmp_path, monkeypatch):
    (tmp_path / "p.json").write_text('{"f": true}')
    assert read_data(str(tmp_path / "p.json")) == {"f": True}  # -p FILE, as old scripts do
    assert read_data(f"@{tmp_path / 'p.json'}") == {"f": True}
    monkeypatch.setattr("sys.stdin", io.StringIO('{"s": 1}'))
    assert read_data("-") == {"s": 1}
    assert read_data(None) is None


def test_bad_payload_is_a_usage_error_naming_where(tmp_path):
    with pytest.raises(UsageError, match="line 1 column 7 of the inline value"):
        read_data('{"a": }')
    with pytest.raises(UsageError, match="payload: cannot read"):
        read_data(f"@{tmp_path / 'missing.json'}")
    assert UsageError("x").status == 2


def test_targets():
    assert parse_target("local:echo") == {"provider": "local", "function": "echo"}
    assert parse_target("http:https://h/fn") == {"provider": "http", "url": "https://h/fn"}
    assert parse_target("gcp_functions:https://r.run.app") == {
        "provider": "gcp_functions",
        "url": "https://r.run.app",
    }
    assert parse_target("greet") == "greet"  # a registered function's name
    assert parse_target('{"provider": "openwhisk", "action": "a"}')["action"] == "a"
    with pytest.raises(UsageError, match="PROVIDER one of local, http"):
        parse_target("nowhere:x")


def test_a_batch_names_the_file_line_of_bad_json(tmp_path):
    batch = tmp_path / "batch.jsonl"
    batch.write_text('{"target": {"provider": "local", "function": "echo"}}\n\n    {"tar": }\n')
    with pytest.raises(UsageError) as refused:
        read_invocations(str(batch))
    assert str(refused.value).startswith(f"payload: invalid JSON at line 3 column 13 of {batch}")
    batch.write_text('[{"a": 1}, 2]')
    with pytest.raises(UsageError, match="item 2 of .* is not a JSON object"):
        read_invocations(str(batch))


def test_since_takes_spans_and_times():
    assert parse_since("30m", now=10_000) == "8200"
    assert parse_since("2d", now=1_000_000) == str(1_000_000 - 2 * 86400)
    assert parse_since("1H", now=7200) == "3600"
    assert parse_since("1700000000") == "1700000000"
    assert parse_since("2026-01-02T03:04:05Z") == "2026-01-02T03:04:05Z"
    for bad in ("yesterday", "5 parsecs"):
        with pytest.raises(UsageError, match="expected 30m, 1h, 2d"):
            parse_since(bad)
    with pytest.raises(UsageError, match="before 1970"):
        parse_since("100d", now=0)


def test_timeout_is_a_positive_number():
    assert positive_seconds("2.5") == 2.5
    for bad in ("0", "-1", "inf", "soon"):
        with pytest.raises(UsageError, match="--timeout"):
            positive_seconds(bad)


def test_global_options_move_before_the_command():
    assert hoist_global_options(["history", "--limit", "2", "--url", "U", "-ojson"]) == [
        "--url",
        "U",
        "-ojson",
        "history",
        "--limit",
        "2",
    ]
    assert hoist_global_options(["invoke", "x", "--token=T", "--", "--url", "V"]) == [
        "--token=T",
        "invoke",
        "x",
        "--",
        "--url",
        "V",
    ]
    assert hoist_global_options(["history", "--url"]) == ["history", "--url"]  # Click names it
    # `profile set` has its own --url; -o is still the global one
    assert hoist_global_options(["profile", "set", "p", "--url", "U", "-o", "json"]) == [
        "-o",
        "json",
        "profile",
        "set",
        "p",
        "--url",
        "U",
    ]


def test_profiles_round_trip_and_a_secret_makes_the_file_private(tmp_path):
    path = tmp_path / "fnproxy" / "config.toml"
    save_all({"dev": Profile(url="http://h:1", client_id='c"\\\x7f')}, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert load("dev", path) == Profile(url="http://h:1", client_id='c"\\\x7f')
    profiles = load_all(path) | {"prod": Profile(client_id="c", client_secret="s")}
    save_all(profiles, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load("prod", path).shown() == {
        "client_id": "c",
        "client_secret": "(stored in plain text)",
    }
    with pytest.raises(UsageError, match=r"no profile 'qa' \(profiles: dev, prod\)"):
        load("qa", path)
    path.write_text("[profiles.x]\npassword = 1\n")
    with pytest.raises(UsageError, match="takes only url, client_id, client_secret"):
        load_all(path)


def test_main_exits_2_on_a_bad_inline_payload(capsys):
    assert main(["invoke", "local:echo", "-d", "{oops", "--token", "t"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fnproxy: payload: invalid JSON at line 1") and len(err.splitlines()) == 1


def test_main_exits_2_on_a_bad_option_in_one_line(capsys):
    assert main(["history", "--limit", "0", "--token", "t"]) == 2
    assert main(["invoke", "--no-such-option"]) == 2
    assert main(["--timeout", "0", "history"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and all(line.startswith("fnproxy: ") for line in lines), lines
    assert "--limit" in lines[0] and "--no-such-option" in lines[1] and "--timeout" in lines[2]


def test_a_hung_server_times_out_in_one_line(capsys):
    with socket.socket() as listener:  # accepts (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        status = main(["history", "--url", url, "--token", "t", "--timeout", "0.5"])
    err = capsys.readouterr().err
    assert status == 3
    assert err == f"fnproxy: no answer from fnproxy at {url} within 0.5 s (--timeout)\n"


def test_a_url_that_is_no_fnproxy_is_one_line(capsys):
    assert main(["history", "--url", "localhost:8080", "--token", "t"]) == 2

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802  (http.server's name)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>a web page</html>")

        def log_message(self, *args):
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page) as web:
        threading.Thread(target=web.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{web.server_address[1]}"
        status = main(["history", "--url", url, "--token", "t"])
        web.shutdown()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "fnproxy: --url 'localhost:8080': expected http://HOST:PORT or https://HOST"
    assert status == 3 and lines[1].startswith(f"fnproxy: {url}/v1/invocations?limit=20 answered")
    assert lines[1].endswith(f"without JSON: is {url} fnproxy? (--url / FNPROXY_URL)")


def test_table_cells_show_timestamps_to_the_second_and_leave_other_text_alone():
    assert cell("2026-12-06T17:18:22.033+00:00").plain == "2026-12-06 17:18:22"
    assert cell("2026-12-06T17:18:22+00:00").plain == "2026-12-06 17:18:22"
    assert cell("2026-12-06T17:18:22.033+02:00").plain == "2026-12-06T17:18:22.033+02:00"
    assert cell("run at 2026-12-06T17:18:22+00:00").plain == "run at 2026-12-06T17:18:22+00:00"
    assert cell(None).plain == "-" and cell({"a": 1}).plain == '{"a": 1}'
