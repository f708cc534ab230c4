# ruff: noqa: F811  (tests take the imported `server` fixture as an argument)
"""`fnproxy token`, `clients`, `sessions`, `stats`, `health` and `version` against a live
`fnproxy serve`, including their mistakes."""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.test_serve import cli, fnproxy, server  # noqa: F401  (the live server fixture)

pytestmark = pytest.mark.e2e


def ok(server, *args: str) -> dict:
    run = cli(server, *args)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout) if run.stdout else {}


def test_token_prints_the_grant_or_only_the_token(server):
    grant = ok(server, "token")
    assert grant["token_type"] == "Bearer" and grant["scope"] == "admin"
    quiet = cli(server, "token", "-q")
    assert quiet.returncode == 0 and quiet.stdout.count(".") == 2  # one JWT, nothing else


def test_a_client_is_created_listed_used_and_revoked(server):
    created = cli(server, "clients", "create", "--name", "ci", "--scope", "read")
    assert created.returncode == 0, created.stderr
    client = json.loads(created.stdout)
    secret = client["client_secret"]
    assert secret not in created.stderr and "shown this once" in created.stderr
    as_client = ("--client-id", client["client_id"], "--client-secret", secret)

    assert ok(server, "history", "--limit", "1", *as_client)["invocations"] is not None
    listed = {c["client_id"]: c for c in ok(server, "clients", "list")["clients"]}
    assert listed[client["client_id"]]["uses"] == 1
    assert listed[client["client_id"]]["last_used_at"] is not None
    not_admin = cli(server, "clients", "list", *as_client)
    assert not_admin.returncode == 3 and "HTTP 403" in not_admin.stderr

    revoked = cli(server, "clients", "revoke", client["client_id"])
    assert revoked.returncode == 0 and "revoked" in revoked.stderr
    refused = cli(server, "history", *as_client)
    assert refused.returncode == 3
    assert refused.stderr == "fnproxy: HTTP 401 unauthorized: invalid client credentials\n"
    missing = cli(server, "clients", "create", "--name", "x")
    assert missing.returncode == 2 and "--scope" in missing.stderr


def test_a_clients_sigv4_secret_is_renewed_once_shown(server):
    client = ok(server, "clients", "create", "--name", "sdk", "--scope", "invoke")

    renewed = cli(server, "clients", "sigv4", client["client_id"])

    assert renewed.returncode == 0, renewed.stderr
    answer = json.loads(renewed.stdout)
    assert answer["client_id"] == client["client_id"]
    assert answer["sigv4_secret"].startswith("fpsv4_")
    assert answer["sigv4_secret"] != client["sigv4_secret"]
    assert answer["sigv4_secret"] not in renewed.stderr and "shown this once" in renewed.stderr
    unknown = cli(server, "clients", "sigv4", "cl_nobody")
    assert unknown.returncode == 3 and "HTTP 404" in unknown.stderr


def test_a_session_is_created_read_updated_with_if_match_and_deleted(server):
    created = ok(server, "sessions", "create", "--id", "cart-1", "-d", '{"items": []}')
    assert (created["session_id"], created["version"]) == ("cart-1", 1)
    updated = ok(server, "sessions", "update", "cart-1", "-d", '{"items": [1]}', "--ttl-s", "60")
    assert (updated["data"], updated["version"]) == ({"items": [1]}, 2)
    stale = cli(server, "sessions", "update", "cart-1", "-d", "{}", "--if-match", '"1"')
    assert stale.returncode == 3 and "HTTP 412 precondition_failed" in stale.stderr
    assert ok(server, "sessions", "get", "cart-1")["data"] == {"items": [1]}
    deleted = cli(server, "sessions", "delete", "cart-1")
    assert deleted.returncode == 0
    gone = cli(server, "sessions", "get", "cart-1")
    assert gone.returncode == 3 and "HTTP 404" in gone.stderr
    not_object = cli(server, "sessions", "create", "-d", "[1]")
    assert not_object.returncode == 2
    assert not_object.stderr == "fnproxy: data: expected a JSON object, got list\n"


def test_stats_per_function_since_a_span(server):
    assert ok(server, "invoke", "local:echo", "-d", "1")["success"] is True
    hour = ok(server, "stats", "--since", "1h", "--function", "local:echo")
    assert hour["count"] >= 1 and hour["since"] >= time.time() - 2 * 3600
    assert set(hour["by_function"]) == {"local:echo"}
    table = cli(server, "-o", "table", "stats", "--since", "30m")
    assert table.returncode == 0 and "local:echo" in table.stdout and "p95 ms" in table.stdout
    bad = cli(server, "stats", "--since", "yesterday")
    assert bad.returncode == 2 and "expected 30m, 1h, 2d" in bad.stderr


def test_health_and_version(server):
    health = ok(server, "health")
    assert health["status"] == "ok" and health["checks"]["store"] == "ok"
    table = cli(server, "-o", "table", "health")
    assert table.returncode == 0 and f"at {server['url']}: ok" in table.stdout
    assert "store" in table.stdout
    versions = ok(server, "version")
    assert versions["cli"] == versions["server"] and versions["url"] == server["url"]

    nowhere = "http://127.0.0.1:9"
    down = fnproxy(server, "health", "--url", nowhere)
    assert down.returncode == 3 and down.stdout == ""
    assert down.stderr == (
        f"fnproxy: cannot reach fnproxy at {nowhere} ([Errno 111] Connection refused): "
        "is `fnproxy serve` running? (--url / FNPROXY_URL)\n"
    )
    alone = fnproxy(server, "version", "--url", nowhere)
    assert alone.returncode == 0 and json.loads(alone.stdout)["server"] is None
