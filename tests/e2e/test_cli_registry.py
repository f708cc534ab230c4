# ruff: noqa: F811  (tests take the imported `server` fixture as an argument)
"""`fnproxy functions ...` against a live `fnproxy serve`: a function's whole life (create,
versions, canary, switch, rollback, disable, history, delete) and invoking it by name."""

from __future__ import annotations

import hashlib
import json
import urllib.request

import pytest

from tests.e2e.test_serve import cli, server  # noqa: F401  (the live server fixture)

pytestmark = pytest.mark.e2e


def ok(server, *args: str, stdin: str | None = None) -> dict:
    """The JSON answer of a command that must succeed."""
    run = cli(server, *args, stdin=stdin)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout) if run.stdout else {}


def test_a_function_from_creation_to_deletion(server):
    created = ok(server, "functions", "create", "shout", "local:echo", "--description", "says")
    assert (created["active_version"], created["versions"][0]["target"]["function"]) == (1, "echo")
    added = ok(server, "functions", "add-version", "shout", "local:hello")
    assert (added["version"], added["active"]) == (2, False)
    assert ok(server, "invoke", "shout", "-d", '{"name": "a"}')["result"] == {"name": "a"}

    canary = ok(server, "functions", "canary", "shout", "2", "--weight", "25")
    assert canary["canary"] == {"version": 2, "weight": 25}
    assert ok(server, "functions", "canary", "shout", "--off")["canary"] is None

    assert ok(server, "functions", "activate", "shout", "2")["active_version"] == 2
    assert ok(server, "invoke", "shout", "-d", '{"name": "a"}')["result"] == {
        "message": "Hello, a!"
    }
    assert ok(server, "functions", "rollback", "shout")["active_version"] == 1
    nothing_older = cli(server, "functions", "rollback", "shout")
    assert nothing_older.returncode == 2
    assert nothing_older.stderr == (
        "fnproxy: function shout: no version below the active v1 to roll back to\n"
    )
    assert ok(server, "functions", "rollback", "shout", "--to", "1")["active_version"] == 1

    assert ok(server, "functions", "disable", "shout")["enabled"] is False
    refused = cli(server, "invoke", "shout")
    assert refused.returncode == 3
    assert refused.stderr.startswith("fnproxy: HTTP 409 function_disabled: ")
    assert ok(server, "functions", "enable", "shout")["enabled"] is True

    versions = ok(server, "functions", "versions", "shout")["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    actions = [c["action"] for c in ok(server, "functions", "history", "shout")["changes"]]
    assert actions == [
        "enabled",
        "disabled",
        "rolled_back",
        "activated",
        "canary_cleared",
        "canary_set",
        "version_added",
        "created",
    ]
    assert "shout" in [f["name"] for f in ok(server, "functions", "list")["functions"]]
    assert ok(server, "functions", "get", "shout")["description"] == "says"

    deleted = cli(server, "functions", "delete", "shout")
    assert deleted.returncode == 0 and deleted.stderr == "deleted function shout\n"
    gone = cli(server, "functions", "get", "shout")
    assert gone.returncode == 3 and gone.stderr.startswith("fnproxy: HTTP 404 ")


def test_an_alias_is_set_moved_and_deleted(server):
    ok(server, "functions", "create", "aliased", "local:echo")
    ok(server, "functions", "add-version", "aliased", "local:hello")

    assert ok(server, "functions", "alias", "aliased", "live", "1")["aliases"] == {"live": 1}
    assert ok(server, "functions", "alias", "aliased", "live", "2")["aliases"] == {"live": 2}
    assert ok(server, "functions", "alias", "aliased", "live", "--delete")["aliases"] == {}
    both = cli(server, "functions", "alias", "aliased", "live", "2", "--delete")
    assert both.returncode == 2 and "give NAME ALIAS VERSION" in both.stderr


def test_registry_mistakes_are_one_line_usage_errors(server):
    for args, message in (
        (("functions", "create", "x", "nowhere:y"), "target 'nowhere:y': expected"),
        (("functions", "create", "x", "bare"), "target 'bare': expected PROVIDER:NAME"),
        (("functions", "create", "x", "local:echo", "--policy", "[1]"), "policy: expected a"),
        (("functions", "canary", "x", "2"), "give VERSION --weight PERCENT, or --off"),
        (("functions", "canary", "x", "2", "--weight", "100"), "100"),
        (("functions", "activate", "x", "0"), "0"),
    ):
        run = cli(server, *args)
        assert run.returncode == 2 and run.stdout == "", (args, run.stderr)
        assert run.stderr.startswith("fnproxy: ") and message in run.stderr, run.stderr
        assert len(run.stderr.splitlines()) == 1


def test_invoke_async_prints_the_id_and_wait_prints_the_outcome(server):
    accepted = ok(server, "invoke", "local:echo", "--async", "-d", '{"later": 1}')
    assert accepted["status"] in ("queued", "running", "succeeded")
    waited = cli(server, "invoke", "local:fail", "--async", "--wait", "-d", '{"message": "x"}')
    assert waited.returncode == 1, waited.stderr
    envelope = json.loads(waited.stdout)
    assert (envelope["status"], envelope["success"]) == ("failed", False)
    assert envelope["error"]["message"] == "x" and envelope["provider"]["name"] == "local"
    bare_id = cli(server, "-o", "table", "invoke", "local:echo", "--async")
    assert bare_id.returncode == 0 and len(bare_id.stdout.split()) == 1
    one = ok(server, "history", bare_id.stdout.strip())
    assert one["execution_id"] == bare_id.stdout.strip() and one["mode"] == "async"


def test_wait_names_a_result_kept_in_blobs_by_a_link_that_reads_it(server, tmp_path):
    large = tmp_path / "large.json"
    large.write_text(json.dumps({"rows": ["r" * 1024] * 1100}))  # past 1 MiB: not inline

    envelope = ok(server, "invoke", "local:echo", "--async", "--wait", "-d", f"@{large}")

    assert envelope["status"] == "succeeded" and envelope["result"] is None
    blob = envelope["result_blob"]
    assert blob["url"].startswith(f"{server['url']}/v1/blobs/")
    with urllib.request.urlopen(blob["url"], timeout=10) as answer:
        content = answer.read()
    assert len(content) == blob["size"] == len(large.read_bytes().replace(b" ", b""))
    assert hashlib.sha256(content).hexdigest() == blob["sha256"]


def test_invoke_payload_sources_and_the_alias(server, tmp_path):
    payload = tmp_path / "payload.json"
    payload.write_text('{"from": "file"}')
    for args, stdin in (
        (("-d", f"@{payload}"), None),
        (("-p", str(payload)), None),
        (("--data", "-"), '{"from": "file"}'),
    ):
        assert ok(server, "invoke", "local:echo", *args, stdin=stdin)["result"] == {"from": "file"}
    keyed = ("invoke", "local:echo", "-d", "1", "--idempotency-key", "once-only")
    first, again = ok(server, *keyed), ok(server, *keyed)
    assert first["execution_id"] == again["execution_id"]
    dry = ok(server, "invoke", "local:echo", "--mode", "dry_run", "--timeout-s", "5")
    assert dry["status"] == "succeeded" and dry["result"] is None, dry
