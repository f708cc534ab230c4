# ruff: noqa: F811  (tests take the imported `server` fixture as an argument)
"""`fnproxy functions api-keys` against a live `fnproxy serve`, and the key it shows used by
the Invoke platform's own curl command on that server's /invoke."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.e2e.test_serve import cli, fnproxy, server  # noqa: F401  (the live server fixture)

pytestmark = pytest.mark.e2e


def ok(server, *args: str) -> dict:
    run = cli(server, *args)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout) if run.stdout else {}


def curl_with_key(server, name: str, key: str) -> tuple[int, str]:
    """The Invoke platform's `curl -H "X-API-Key: ..." ".../invoke/ID?name=John"`."""
    url = f"{server['url']}/invoke/{name}?name=John"
    command = ["curl", "-s", "-w", "\n%{http_code}", "-H", f"X-API-Key: {key}", url]
    run = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    body, _, status = run.stdout.rpartition("\n")
    return int(status), body


def test_a_key_is_created_shown_once_used_listed_and_revoked(server):
    policy = '{"public_invoke": "api_key"}'
    ok(server, "functions", "create", "greet-keyed", "local:echo", "--policy", policy)

    created = cli(server, "functions", "api-keys", "create", "greet-keyed")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert key["api_key"] not in created.stderr and "shown this once" in created.stderr
    status, body = curl_with_key(server, "greet-keyed", key["api_key"])
    assert status == 200 and json.loads(body)["query"] == {"name": "John"}

    (listed,) = ok(server, "functions", "api-keys", "list", "greet-keyed")["api_keys"]
    assert (listed["key_id"], listed["uses"]) == (key["key_id"], 1)
    assert key["api_key"] not in json.dumps(listed)
    revoked = cli(server, "functions", "api-keys", "revoke", "greet-keyed", key["key_id"])
    assert revoked.returncode == 0 and "revoked" in revoked.stderr
    assert curl_with_key(server, "greet-keyed", key["api_key"])[0] == 401
    unknown = cli(server, "functions", "api-keys", "revoke", "greet-keyed", "0123456789abcdef")
    assert unknown.returncode == 3 and "HTTP 404" in unknown.stderr
