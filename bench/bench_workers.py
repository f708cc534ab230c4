"""(w) `fnproxy serve --workers 2` against one worker process on the cloud-backend stacks, in
(a2)'s shape: 128 closed-loop clients invoking the instant function (an http target;
EGRESS_ALLOW=127.0.0.1) through POST /v1/invoke, on a fresh server of 1 worker, then of 2,
each over resources of its own. The stacks (`--workers-stacks`, both by default):
- aws, the moto stack: FNPROXY_PLATFORM=aws, DynamoDB store, SNS events, SQS queue, the module
  key from Secrets Manager, all in one moto server (its DynamoDB requests one at a time);
- gcp, the emulator stack: FNPROXY_PLATFORM=gcp, Firestore store, Pub/Sub events and queue on
  the Google Cloud SDK's emulators, the module key from the environment (without the SDK,
  gcloud + java, its row says skipped).
Ratio = 2 workers / 1; no goal (the issue asks for the numbers). CPU per request counts fnproxy
(every worker), the function and the emulators, so that the notes show which process bounds
the stack. Both servers log at INFO (an audit line per request), for the bench to see when
every worker serves.

128 clients keep each stack's emulators saturated: a request waits seconds behind the others,
so each run is at least MIN_WARMUP_S + MIN_DURATION_S whatever --warmup and --duration say,
the load generator waits up to REQUEST_TIMEOUT_S for an answer, and PRIME_S of unmeasured load
warms the emulators (the Java ones compile as they go) before the 1-worker run.

    .venv/bin/python bench/bench_workers.py [--workers-stacks aws,gcp] [--duration S]
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from _common import (
    READY_TIMEOUT_S,
    REPO_DIR,
    LoadPair,
    Measured,
    Options,
    Row,
    Server,
    Stack,
    fetch_token,
    invoke_body,
    load_rows,
    measure_load,
    moto_server,
    new_secret_key,
    progress,
    ratio,
    run_standalone,
    spawn_fnproxy,
)
from bench_accounting import emulator_environment, environment, google_sdk, spawn_emulators

sys.path.insert(0, str(REPO_DIR))

CLIENTS = 128
WORKERS = 2
MIN_WARMUP_S = 10.0
MIN_DURATION_S = 20.0
"""At least this long a run: 128 clients wait behind each other for seconds on these stacks
(a request: ~6 s on moto, ~3 s on the emulators), so a shorter warm-up ends inside the first
wave of answers, and a shorter window counts a wave's tail instead of a steady state."""
REQUEST_TIMEOUT_S = 60.0
"""The load generator's wait for an answer: a request waits behind the other clients' (on a
busy machine more than its usual 10 s on moto), and a client that gave up would count as an
error a request fnproxy answers."""
PRIME_S = 5.0
"""Seconds of unmeasured load on the emulators before the first measured run: the Java ones
compile their hot paths as they go, which the 1-worker run would otherwise pay alone."""
SERVING = re.compile(r"^fnproxy: worker process \d+ serving$", re.MULTILINE)


@dataclass(frozen=True)
class Backend:
    """A cloud stack `fnproxy serve` runs on: its emulator processes, whose CPU is counted
    with fnproxy's, and `deploy`, which makes resources of a fresh deployment's own on them and
    gives its module key and settings."""

    name: str
    emulators: list[Server]
    deploy: Callable[[], tuple[str, dict[str, str]]]

    @property
    def label(self) -> str:
        return f"(w) {CLIENTS} clients, instant fn, {self.name}, {WORKERS} workers vs 1"


@contextmanager
def moto_backend(work_dir: Path) -> Iterator[Backend]:
    from tests.aws.aws_stack import create_stack
    from tests.conftest import AWS_TEST_ENV

    with moto_server(work_dir) as moto, environment(AWS_TEST_ENV):

        def deploy() -> tuple[str, dict[str, str]]:
            aws = create_stack(moto.url)
            return aws.module_key, {
                **AWS_TEST_ENV,
                **aws.environment(LOG_LEVEL="INFO", EGRESS_ALLOW="127.0.0.1"),
            }

        yield Backend("moto stack", [moto], deploy)


@contextmanager
def emulator_backend(sdk: Path, work_dir: Path) -> Iterator[Backend]:
    from gcp_cold_start import function_settings

    from tests.gcp.gcp_stack import unique

    with ExitStack() as exits:
        emulators = spawn_emulators(sdk, work_dir, exits)
        exits.enter_context(environment(emulator_environment(emulators)))
        hosts = {name: emulator.address for name, emulator in emulators.items()}

        def deploy() -> tuple[str, dict[str, str]]:
            prefix = unique("bench").replace("-", "_")
            settings = function_settings(hosts, collection_prefix=prefix)
            return new_secret_key(), {**settings, "LOG_LEVEL": "INFO"}

        yield Backend("emulator stack", list(emulators.values()), deploy)


def wait_serving(server: Server, workers: int) -> None:
    """Until the supervisor has said of `workers` workers that they serve (with one, /health
    answering is enough)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while workers > 1 and len(SERVING.findall(server.log_path.read_text())) < workers:
        if time.monotonic() > deadline or server.process.poll() is not None:
            raise RuntimeError(f"{workers} workers not serving:\n{server.log_tail()}")
        time.sleep(0.1)


def measure(stack: Stack, backend: Backend, workers: int, options: Options) -> Measured:
    """The load on a fresh fnproxy of `workers` processes over resources of its own."""
    key, settings = backend.deploy()
    data_dir = stack.work_dir / f"data-{backend.name.replace(' ', '-')}-{workers}"
    fnproxy = spawn_fnproxy(key, data_dir, stack.work_dir, workers=workers, settings=settings)
    try:
        fnproxy.wait_ready("/health")
        wait_serving(fnproxy, workers)
        progress(f"{backend.label}: {workers} worker process(es)")
        return measure_load(
            fnproxy.url + "/v1/invoke",
            invoke_body(stack.instant.url + "/fn"),
            '"success":true',
            [fnproxy, stack.instant, *backend.emulators],
            CLIENTS,
            options,
            token=fetch_token(fnproxy.url, key),
            request_timeout_s=REQUEST_TIMEOUT_S,
        )
    finally:
        fnproxy.stop()


def run_note(label: str, options: Options) -> str:
    return (f"{label}: each run {options.warmup_s:g} s warm-up + {options.duration_s:g} s "
            f"measured (at least {MIN_WARMUP_S:g} + {MIN_DURATION_S:g}), requests waited for "
            f"up to {REQUEST_TIMEOUT_S:g} s, after {PRIME_S:g} s priming the emulators; a "
            f"fresh fnproxy and resources of its own each run; the machine's load average "
            f"after them {os.getloadavg()[0]:.1f} (other work on its cores shows there)")


def bound_note(label: str, side: str, measured: Measured) -> str:
    """How busy each process kept its CPU at the throughput measured (its CPU a request times
    requests a second): a process near one core bounds the stack if it runs one request at a
    time (moto's DynamoDB) or is one worker; all of them near the machine's cores bound it
    whatever they are; far from both, what bounds it is a wait, not CPU."""
    rps = measured.result.rps
    busy = {name: us * rps / 1e6 for name, us in measured.cpu_us.items()}
    each = ", ".join(f"{name} {cores:.2f}" for name, cores in busy.items())
    return (f"{label}: cores busy at {rps:.1f} req/s, {side}: {each}; together "
            f"{sum(busy.values()):.2f} of the machine's {os.cpu_count()}")


def cpu_rows(backend: Backend, pair: LoadPair, options: Options) -> list[Row]:
    """fnproxy's CPU per request and the emulators', WORKERS workers against 1."""
    label = backend.label

    def emulators_us(measured: Measured) -> float:
        return sum(measured.cpu_us[emulator.name] for emulator in backend.emulators)

    one, many = pair.direct, pair.fnproxy
    fnproxy_one, fnproxy_many = one.cpu_us["fnproxy"], many.cpu_us["fnproxy"]
    emulators_one, emulators_many = emulators_us(one), emulators_us(many)
    return [
        Row(f"{label}: fnproxy CPU per request (us)", fnproxy_many, fnproxy_one,
            ratio(fnproxy_many, fnproxy_one),
            notes=[run_note(label, options), bound_note(label, pair.sides[0], one),
                   bound_note(label, pair.sides[1], many)]),
        Row(f"{label}: emulators' CPU per request (us)", emulators_many, emulators_one,
            ratio(emulators_many, emulators_one)),
    ]


def steady(options: Options) -> Options:
    return replace(options, warmup_s=max(options.warmup_s, MIN_WARMUP_S),
                   duration_s=max(options.duration_s, MIN_DURATION_S))


def rows_for(stack: Stack, backend: Backend, options: Options) -> list[Row]:
    progress(f"{backend.label}: priming the emulators, {PRIME_S:g} s of load not counted")
    measure(stack, backend, 1, replace(options, warmup_s=0.0, duration_s=PRIME_S))
    options = steady(options)
    one, many = (measure(stack, backend, workers, options) for workers in (1, WORKERS))
    pair = LoadPair(one, many, ("1 worker", f"{WORKERS} workers"))
    return [*load_rows(backend.label, pair, throughput_goal=None, p99_goal=None),
            *cpu_rows(backend, pair, options)]


def backend_for(name: str, work_dir: Path) -> AbstractContextManager[Backend] | None:
    """The stack `name` of --workers-stacks; None when its emulators are not installed."""
    if name == "aws":
        return moto_backend(work_dir)
    sdk = google_sdk()
    return emulator_backend(sdk, work_dir) if sdk else None


def run(stack: Stack, options: Options) -> list[Row]:
    rows: list[Row] = []
    for name in options.workers_stacks:
        work_dir = stack.work_dir / f"workers-{name}"
        work_dir.mkdir()
        backend = backend_for(name, work_dir)
        if backend is None:
            rows.append(Row("(w) emulator stack skipped: the Google Cloud SDK's emulators "
                            "(gcloud + java) are not installed", None))
            continue
        with backend as started:
            rows += rows_for(stack, started, options)
    return rows


if __name__ == "__main__":
    run_standalone(__doc__, run, with_fnproxy=False)
