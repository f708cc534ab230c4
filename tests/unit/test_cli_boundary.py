"""The cloud entry points never load the CLI: neither handlers.cli nor Typer nor Rich is
imported with handlers/aws_lambda.py or handlers/gcp_function.py (cold start, package size)."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import handlers.aws_lambda, handlers.gcp_function
cli = ("typer", "rich", "handlers.cli")
print(sorted(m for m in sys.modules if m.startswith(cli)))
"""


def test_the_cloud_handlers_do_not_import_the_cli():
    run = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60, check=True
    )
    assert run.stdout.strip() == "[]"
    assert (
        "handlers.cli"
        in subprocess.run(
            [sys.executable, "-c", CHECK.replace("handlers.aws_lambda, ", "handlers.cli, ")],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    )  # the check sees the CLI when it is imported
