# ruff: noqa: F811  (tests take the imported `server` fixture as an argument)
"""README's CLI examples, run line by line against a live `fnproxy serve`, so they stay true:
the fenced block after the `<!-- cli-examples ... -->` comment."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from tests.e2e.test_serve import FNPROXY, REPO, server  # noqa: F401  (the live server fixture)

pytestmark = pytest.mark.e2e
MARKER = "<!-- cli-examples"
BLOCK = re.compile(r"```sh\n(.*?)```", re.S)


def readme_examples() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert MARKER in text, "README lost its cli-examples marker"
    block = BLOCK.search(text, text.index(MARKER))
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_examples_run(server, tmp_path):
    examples = readme_examples()
    assert len(examples) >= 10 and all(line.startswith("fnproxy ") for line in examples)
    item = {"target": {"provider": "local", "function": "echo"}, "payload": {"n": 1}}
    (tmp_path / "invocations.jsonl").write_text(f"{json.dumps(item)}\n" * 3)
    path = f"{os.path.dirname(FNPROXY)}{os.pathsep}{server['env']['PATH']}"
    env = server["env"] | {"PATH": path, "FNPROXY_URL": server["url"]}
    for line in examples:
        run = subprocess.run(
            ["bash", "-c", line], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0, f"{line}\n{run.stderr}"
        assert "Traceback" not in run.stderr, line
