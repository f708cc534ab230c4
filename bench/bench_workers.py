"""(w) `fnproxy serve --workers 2` against one worker process, on the moto stack
(FNPROXY_PLATFORM=aws: DynamoDB store, SNS events, SQS queue, the module key from Secrets
Manager, all in one moto server): 16 closed-loop clients invoking the 20 ms function (an http
target; EGRESS_ALLOW=127.0.0.1) through POST /v1/invoke, on a fresh server of 1 worker, then of
2. Ratio = 2 workers / 1; no goal (the issue asks for the numbers). Both servers log at INFO
(an audit line per request), for the bench to see when every worker serves."""

from __future__ import annotations

import re
import sys
import time

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
    progress,
    run_standalone,
    spawn_fnproxy,
)
from bench_accounting import environment

sys.path.insert(0, str(REPO_DIR))
from tests.aws.aws_stack import create_stack  # noqa: E402
from tests.conftest import AWS_TEST_ENV  # noqa: E402

CLIENTS = 16
WORKERS = 2
LABEL = f"(w) 16 clients, 20 ms fn, moto stack, {WORKERS} workers vs 1"
SERVING = re.compile(r"^fnproxy: worker process \d+ serving$", re.MULTILINE)


def wait_serving(server: Server, workers: int) -> None:
    """Until the supervisor has said of `workers` workers that they serve (with one, /health
    answering is enough)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while workers > 1 and len(SERVING.findall(server.log_path.read_text())) < workers:
        if time.monotonic() > deadline or server.process.poll() is not None:
            raise RuntimeError(f"{workers} workers not serving:\n{server.log_tail()}")
        time.sleep(0.1)


def measure(stack: Stack, moto: Server, workers: int, options: Options) -> Measured:
    """The load on a fresh fnproxy of `workers` processes over resources of its own in `moto`:
    on the first run's table, moto spent 42 ms of CPU per request of the second instead of 28."""
    aws = create_stack(moto.url)
    settings = {**AWS_TEST_ENV, **aws.environment(LOG_LEVEL="INFO", EGRESS_ALLOW="127.0.0.1")}
    data_dir = stack.work_dir / f"data-{workers}"
    fnproxy = spawn_fnproxy(
        aws.module_key, data_dir, stack.work_dir, workers=workers, settings=settings
    )
    try:
        fnproxy.wait_ready("/health")
        wait_serving(fnproxy, workers)
        progress(f"{LABEL}: {workers} worker process(es)")
        return measure_load(
            fnproxy.url + "/v1/invoke",
            invoke_body(stack.slow.url + "/fn"),
            '"success":true',
            [fnproxy, stack.slow, moto],
            CLIENTS,
            options,
            token=fetch_token(fnproxy.url, aws.module_key),
        )
    finally:
        fnproxy.stop()


def run(stack: Stack, options: Options) -> list[Row]:
    with moto_server(stack.work_dir) as moto, environment(AWS_TEST_ENV):
        one, two = (measure(stack, moto, workers, options) for workers in (1, WORKERS))
    pair = LoadPair(one, two, ("1 worker", f"{WORKERS} workers"))
    return load_rows(LABEL, pair, throughput_goal=None, p99_goal=None)


if __name__ == "__main__":
    run_standalone(__doc__, run, with_fnproxy=False)
