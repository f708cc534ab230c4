"""The cloud entry points never load the gRPC server: neither core.grpc nor the health and
reflection services is imported with handlers/aws_lambda.py or handlers/gcp_function.py (API
Gateway and functions-framework cannot serve gRPC; grpcio is no dependency of the Lambda
artifact). Nor does `fnproxy serve` without a gRPC port (handlers/local.py imports it lazily)."""

from __future__ import annotations

import json
import subprocess
import sys

GRPC_SERVER = ("core.grpc", "grpc_health", "grpc_reflection", "grpc_tools")
CHECK = """
import json, sys
import {modules}
print(json.dumps(sorted(m for m in sys.modules if m.startswith({server!r}))))
"""


def loaded_server_modules(*modules: str) -> list[str]:
    script = CHECK.format(modules=", ".join(modules), server=GRPC_SERVER)
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(run.stdout)


def test_the_cloud_handlers_and_serve_do_not_import_the_grpc_server():
    assert loaded_server_modules("handlers.aws_lambda", "handlers.gcp_function") == []
    assert loaded_server_modules("handlers.local") == []


def test_the_check_sees_the_grpc_server_when_it_is_imported():
    loaded = loaded_server_modules("handlers.local", "core.grpc.server")

    assert {
        "core.grpc.server",
        "grpc_health.v1.health",
        "grpc_reflection.v1alpha.reflection",
    } <= set(loaded)
