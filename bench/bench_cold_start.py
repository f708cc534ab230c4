"""(c) Cold start: a fresh process that imports the app, builds it, runs its lifespan startup
and answers its first POST /v1/invoke (JWT check, one call of the HTTP function, one SQLite
row, JSON answer) - fnproxy vs a FastAPI + Mangum + powertools + five boto3 clients baseline
doing the same (bench/_baseline_app.py). Goal: fnproxy <= 0.5x the baseline.

(d, children) Peak RSS of each cold-start child at its first answer (its own VmHWM, bench/
_peak.py says why not rusage), against issue 16's 64 MiB (goal <= 1x); the baseline child's in
a note.

Time runs from just before the child is spawned to its marker line (first answer), in the
parent; median of the runs, fnproxy and baseline alternating, after one unmeasured run each.
The token is minted here, so neither child makes a token round trip."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (
    BENCH_DIR,
    PYTHON,
    REPO_DIR,
    Goal,
    Options,
    Row,
    Stack,
    child_env,
    median,
    mint_token,
    progress,
    ratio,
    run_standalone,
    tree_env,
)

SIDES = ("fnproxy", "baseline")
MILESTONES = ("imported_ms", "built_ms", "started_ms", "answered_ms")
CHILD_TIMEOUT_S = 60.0
MARKER = "COLD "
RSS_GOAL_MIB = 64.0
NO_NETWORK_AWS = {  # region and dummy credentials: boto3 clients are created without network
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "baseline", "POWERTOOLS_LOG_LEVEL": "WARNING",
}


@dataclass(frozen=True)
class ColdRun:
    first_answer_ms: float
    exit_ms: float
    peak_rss_mib: float
    milestones: dict[str, float]
    """The child's own clock, ms since its first line: imported, built, started, answered."""

    @property
    def imported_ms(self) -> float:
        return self.milestones["imported_ms"]


def read_marker(process: subprocess.Popen, deadline: float) -> dict:
    """The child's marker line, read as soon as it is written."""
    assert process.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
        line = process.stdout.readline() if ready else ""
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
        if ready and not line:
            break  # end of output: the child died before answering
    raise RuntimeError("cold-start child gave no answer")


def marker_rss(marker: dict) -> float:
    """The child's peak RSS when it answered (MiB); NaN from a child of an earlier tree that
    did not report it (bench_tracing.py's base side)."""
    return marker.get("peak_rss_mib", float("nan"))


def reap(process: subprocess.Popen, deadline: float) -> None:
    """Wait for the child to exit (bounded)."""
    while time.monotonic() < deadline:
        pid, status = os.waitpid(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return
        time.sleep(0.001)
    process.kill()
    raise RuntimeError("cold-start child did not exit")


def cold_start(side: str, function_url: str, env: dict[str, str], work_dir: Path,
               repo: Path = REPO_DIR) -> ColdRun:
    """One cold start of `side`'s child, run from the tree `repo` (by default this one)."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"{side}-", dir=work_dir))
    command = [PYTHON, str(repo / BENCH_DIR.name / "_cold_child.py"), side, function_url]
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    with open(data_dir / "stderr.log", "w+") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=repo, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=stderr, text=True,
                                   env={**tree_env(env, repo), "FNPROXY_DATA_DIR": str(data_dir)})
        try:
            milestones = read_marker(process, deadline)
            answered = time.perf_counter()
            reap(process, deadline)
            exited = time.perf_counter()
        finally:
            process.stdout.close()
            if process.returncode is None:
                process.kill()
                process.wait()
        if not milestones["success"] or process.returncode != 0:
            stderr.seek(0)
            raise RuntimeError(f"{side} cold start failed ({milestones}):\n{stderr.read()[-2000:]}")
    shutil.rmtree(data_dir, ignore_errors=True)
    return ColdRun((answered - started) * 1000, (exited - started) * 1000,
                   marker_rss(milestones), {name: milestones[name] for name in MILESTONES})


def alternate_runs(sides: tuple[str, ...], once: Callable[[str], Any],
                   runs: int) -> dict[str, list[Any]]:
    """`runs` cold starts of every side, alternating, after one unmeasured start each (it
    warms the page cache, the bytecode caches and any emulator)."""
    for side in sides:
        once(side)
    results: dict[str, list[Any]] = {side: [] for side in sides}
    for n in range(runs):
        for side in sides:
            results[side].append(once(side))
        progress(f"  cold start {n + 1}/{runs}: " + ", ".join(
            f"{side} {results[side][-1].first_answer_ms:.0f} ms" for side in sides))
    return results


def metric_median(runs: list[Any], metric: str) -> float:
    return median([getattr(run, metric) for run in runs])


def summary(results: dict[str, list[ColdRun]], metric: str) -> tuple[float, float]:
    fnproxy, baseline = (metric_median(results[side], metric) for side in SIDES)
    return fnproxy, baseline


def milestones_note(results: dict[str, list[ColdRun]], side: str) -> str:
    marks = ", ".join(
        f"{name.removesuffix('_ms')} {median([run.milestones[name] for run in results[side]]):.0f}"
        for name in MILESTONES)
    return f"(c) {side} child, median ms since its first line: {marks}"


def best_note(results: dict[str, list[ColdRun]]) -> str:
    """The fastest run of each side: noise only ever adds time, so the minimum is steadier."""
    fnproxy, baseline = (min(run.first_answer_ms for run in results[side]) for side in SIDES)
    return (f"(c): fastest first answer: fnproxy {fnproxy:.0f} ms, baseline {baseline:.0f} ms "
            f"({ratio(fnproxy, baseline):.2f}x)")


def parse_cloud_options(description: str, key_from: Sequence[str], key_help: str,
                        artifact_help: str | None = None) -> argparse.Namespace:
    """The options of aws_cold_start.py and gcp_cold_start.py run alone: `--runs` (at least 1),
    `--key-from` (one of `key_from`, default both) and, given its help, `--artifact`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=7, help="cold starts per side (default 7)")
    parser.add_argument("--key-from", choices=sorted(key_from), default="both",
                        help=f"{key_help}, or both, one row each (default both)")
    if artifact_help is not None:
        parser.add_argument("--artifact", action="store_true", help=artifact_help)
    options = parser.parse_args()
    options.runs = max(options.runs, 1)
    return options


def rss_row(label: str, rss_mib: float, baseline_mib: float, goal: bool = True) -> Row:
    """A cold-start child's peak RSS against issue 16's 64 MiB (as its goal unless `goal` is
    false: a floor's row), the baseline's in a note."""
    return Row(f"{label} child peak RSS (MiB) vs {RSS_GOAL_MIB:g} MiB", rss_mib, RSS_GOAL_MIB,
               ratio(rss_mib, RSS_GOAL_MIB), Goal(1.0, at_least=False) if goal else None,
               [f"{label}: peak RSS of the baseline child {baseline_mib:.1f} MiB"])


def rows_for(results: dict[str, list[ColdRun]]) -> list[Row]:
    def row(label: str, metric: str, goal: Goal | None = None, notes: Sequence[str] = ()) -> Row:
        fnproxy, baseline = summary(results, metric)
        return Row(label, fnproxy, baseline, ratio(fnproxy, baseline), goal, notes=list(notes))

    runs = len(results["fnproxy"])
    notes = [f"(c): median of {runs} runs per side, alternating; baseline = FastAPI + Mangum + "
             "powertools Logger/Metrics/Tracer + 5 boto3 clients; ratio = fnproxy / baseline",
             best_note(results), *(milestones_note(results, side) for side in SIDES)]
    if importlib.util.find_spec("aws_xray_sdk") is None:
        notes.append("(c): aws-xray-sdk is not installed, so the baseline runs WITHOUT powertools' "
                     "Tracer (lighter than the real thing): pip install aws-xray-sdk")
    return [
        row("(c) cold start to first answer (ms)", "first_answer_ms", Goal(0.5, at_least=False),
            notes),
        row("(c) cold start to exit (ms)", "exit_ms"),
        row("(c) child import-only time (ms)", "imported_ms"),
        rss_row("(d) [local]", *summary(results, "peak_rss_mib")),
    ]


def run(stack: Stack, options: Options) -> list[Row]:
    progress("(c) cold start")
    env = child_env(MODULE_SECRET_KEY=stack.secret_key, BENCH_TOKEN=mint_token(stack.secret_key),
                    LOG_LEVEL="WARNING", **NO_NETWORK_AWS)
    work_dir = Path(tempfile.mkdtemp(prefix="cold-", dir=stack.work_dir))
    function_url = stack.instant.url + "/fn"
    results = alternate_runs(
        SIDES, lambda side: cold_start(side, function_url, env, work_dir), options.cold_runs)
    return rows_for(results)


if __name__ == "__main__":
    run_standalone(__doc__, run, with_fnproxy=False)
