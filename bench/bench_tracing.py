"""(t) What trace context and OpenTelemetry (issue 15) cost.

- Cold start with OpenTelemetry off (OTEL_EXPORTER_OTLP_ENDPOINT unset), this tree against a
  base commit (`--base`, default the commit before issue 15's tracing), each side from its own
  tree (`git archive` of the base into a temporary folder, first on the child's PYTHONPATH):
  the local entry (bench_cold_start's child: import, build as `fnproxy serve`, lifespan, one
  POST /v1/invoke of the instant function) and the AWS Lambda entry (aws_cold_start's child:
  import `handlers.aws_lambda`, one API Gateway event invoking a Lambda function on moto, the
  module key from the environment). Goal: this tree <= 1.1x the base (the same, within noise).
- CPU per sync invocation of the instant function, in this process (the invocation service
  over SQLite and the http provider; the function server is another process): OpenTelemetry
  off, and on with the deployed BatchSpanProcessor handing the spans to an in-memory exporter
  (what the SDK does, without the network).

    .venv/bin/python bench/bench_tracing.py [--runs 5] [--invocations 2000] [--base REV]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cold_start
import bench_cold_start
from _common import (
    PAYLOAD,
    REPO_DIR,
    Goal,
    Row,
    child_env,
    format_table,
    machine_line,
    mint_token,
    progress,
    ratio,
    start_stack,
)

BASE_REV = "f648f69"
"""The commit before trace context (issue 15)."""
SIDES = ("this", "base")
WARMUP_INVOCATIONS = 50
COLD_GOAL = Goal(1.1, at_least=False)


def base_tree(rev: str, work_dir: Path) -> Path:
    """The files of commit `rev`, in a folder of `work_dir`."""
    tree = work_dir / "base"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO_DIR), "archive", rev], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def tracing_off(env: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in env.items() if not name.startswith("OTEL_")}


def cold_rows(label: str, results: dict[str, list[Any]]) -> list[Row]:
    rows = []
    for metric, what, goal in (
        ("first_answer_ms", "cold start to first answer", COLD_GOAL),
        ("imported_ms", "child import-only time", None),
    ):
        this, base = (bench_cold_start.metric_median(results[side], metric) for side in SIDES)
        rows.append(Row(f"(t) [{label}] {what} (ms), tracing off", this, base,
                        ratio(this, base), goal))
    return rows


def local_cold_start(function_url: str, secret_key: str, trees: dict[str, Path], runs: int,
                     work_dir: Path) -> list[Row]:
    progress("(t) local entry cold start, this tree and the base")
    env = tracing_off(child_env(
        MODULE_SECRET_KEY=secret_key, BENCH_TOKEN=mint_token(secret_key), LOG_LEVEL="WARNING",
        **bench_cold_start.NO_NETWORK_AWS))
    results = bench_cold_start.alternate_runs(SIDES, lambda side: bench_cold_start.cold_start(
        "fnproxy", function_url, env, work_dir, repo=trees[side]), runs)
    return cold_rows("local", results)


def aws_cold_start_rows(trees: dict[str, Path], runs: int, work_dir: Path) -> list[Row]:
    progress("(t) AWS Lambda entry cold start on moto, this tree and the base")
    os.environ.update(bench_cold_start.NO_NETWORK_AWS)  # for the resources' creation
    with aws_cold_start.moto_server(work_dir) as moto_url:
        env = tracing_off(aws_cold_start.children_env(moto_url, ("fnproxy-env",))["fnproxy-env"])
        results = bench_cold_start.alternate_runs(SIDES, lambda side: aws_cold_start.cold_start(
            "fnproxy-env", env, repo=trees[side]), runs)
    return cold_rows("aws", results)


async def cpu_per_invocation(function_url: str, secret_key: str, data_dir: Path,
                             count: int, spans: Any) -> float:
    """Microseconds of this process's CPU per sync invocation of `function_url`."""
    from core import wiring
    from core.auth.principal import Principal
    from core.config import load_settings
    from core.invoke.service import InvocationRequest
    from core.targets import HttpTarget

    wiring.build_spans = lambda settings: spans  # what build_services takes for the exporter
    settings = load_settings({"FNPROXY_DATA_DIR": str(data_dir), "MODULE_SECRET_KEY": secret_key,
                              "LOG_LEVEL": "WARNING"}, dotenv=None)
    services = wiring.build_services(settings)
    request = InvocationRequest(HttpTarget(provider="http", url=function_url), PAYLOAD)
    principal = Principal(subject="bench", scopes=frozenset({"admin"}), token_id="bench")
    try:
        for _ in range(WARMUP_INVOCATIONS):
            await services.invocations.invoke(request, principal)
        started = time.process_time()
        for _ in range(count):
            invocation = await services.invocations.invoke(request, principal)
        used = time.process_time() - started
        assert invocation.execution.success, invocation.execution.error
    finally:
        await services.close()
    return used / count * 1e6


def cpu_rows(function_url: str, secret_key: str, count: int, work_dir: Path) -> list[Row]:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from core.otel import OtelSpans

    exporter = InMemorySpanExporter()
    sides: dict[str, Callable[[], Any]] = {
        "off": lambda: None,
        "on": lambda: OtelSpans(BatchSpanProcessor(exporter)),
    }
    used = {}
    for side, spans in sides.items():
        progress(f"(t) CPU per invocation, OpenTelemetry {side}: {count} invocations")
        data_dir = Path(tempfile.mkdtemp(prefix=f"cpu-{side}-", dir=work_dir))
        used[side] = asyncio.run(
            cpu_per_invocation(function_url, secret_key, data_dir, count, spans()))
    exported = len(exporter.get_finished_spans())
    note = (f"(t) CPU: {count} sequential sync invocations after {WARMUP_INVOCATIONS} unmeasured, "
            f"process_time of this process; on = BatchSpanProcessor to an in-memory exporter "
            f"({exported} spans exported); reference = off")
    return [Row("(t) CPU per invocation, OpenTelemetry on (us)", used["on"], used["off"],
                ratio(used["on"], used["off"]), notes=[note])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="cold starts per side (default 5)")
    parser.add_argument("--invocations", type=int, default=2000,
                        help="measured invocations per CPU side (default 2000)")
    parser.add_argument("--base", default=BASE_REV, help=f"base commit (default {BASE_REV})")
    options = parser.parse_args()
    runs = max(options.runs, 1)
    rows: list[Row] = []
    with start_stack(with_fnproxy=False) as stack:
        function_url = stack.instant.url + "/fn"
        trees = {"this": REPO_DIR, "base": base_tree(options.base, stack.work_dir)}
        try:
            rows += local_cold_start(function_url, stack.secret_key, trees, runs, stack.work_dir)
            rows += aws_cold_start_rows(trees, runs, stack.work_dir)
            rows += cpu_rows(function_url, stack.secret_key, options.invocations, stack.work_dir)
        finally:
            shutil.rmtree(trees["base"], ignore_errors=True)
    rows[0].notes.append(f"(t) cold start: median of {runs} runs per side, alternating; "
                         f"reference = base {options.base}; ratio = this / base")
    print(machine_line())
    print(format_table(rows))


if __name__ == "__main__":
    main()
