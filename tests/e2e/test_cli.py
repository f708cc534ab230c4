"""The `fnproxy` CLI against a live `fnproxy serve`: the mistakes of issue 13 stay fixed."""

from __future__ import annotations

import json
import shlex

import pytest

from tests.e2e.test_serve import cli, server  # noqa: F401  (the live server fixture)

pytestmark = pytest.mark.e2e


def test_history_pages_with_the_cursor_it_prints(server):  # noqa: F811
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
    first_ids = {line.split()[1] for line in first.stdout.splitlines()}
    second_ids = {line.split()[1] for line in second.stdout.splitlines()}
    assert len(first_ids) == 2 and second_ids and not first_ids & second_ids
