"""`fnproxy serve --workers 2` on the moto stack (DynamoDB, SNS, SQS; the module key from the
environment): REST and gRPC calls answered by both worker processes, known by the `pid` of
their audit lines; async work left in SQS for the Lambda's worker; a killed worker replaced; a
SIGTERM that lets the calls in flight finish; workers that stop with their supervisor. And the
refusal of several workers on SQLite, and of gRPC on the REST port."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.aws.aws_stack import AwsStack, create_stack
from tests.faults.fault_target import FaultTarget
from tests.grpc.conftest import FNPROXY, Fnproxy, post, start_fnproxy, stop_fnproxy

pytestmark = pytest.mark.e2e
WORKERS = 2
CALLS = 8
"""Calls per round, each on a connection of its own."""
WAIT_S = 60.0
"""How long a test waits for what a loaded machine delays: a worker's start, every worker
answering. The shared REST socket gives a connection to whichever worker runs first, so on a
busy machine one worker can take several rounds in a row."""
SERVING = re.compile(r"^fnproxy: worker process (\d+) serving$", re.MULTILINE)
INVOKE_RPC = "RPC /lambda_action.LambdaAction/InvokeFunction"


@pytest.fixture(scope="module")
def stack(moto_url) -> AwsStack:
    return create_stack(moto_url)


def backends(stack: AwsStack, **more: str) -> dict[str, str]:
    """The stack's Lambda configuration, with the module key from the environment (the
    server_env of tests/grpc/conftest.py)."""
    return stack.environment(SECRETS_BACKEND="env", **more)


@pytest.fixture(scope="module")
def workers(tmp_path_factory, stack) -> Iterator[Fnproxy]:
    data_dir = tmp_path_factory.mktemp("fnproxy-workers")
    server = start_fnproxy(data_dir, backends(stack), "--workers", str(WORKERS))
    yield server
    stop_fnproxy(server)


def eventually(check: Callable[[], Any], timeout_s: float = WAIT_S) -> Any:
    """`check()` once it is truthy."""
    deadline = time.monotonic() + timeout_s
    while not (result := check()):
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.1)
    return result


def serving(server: Fnproxy, count: int = WORKERS) -> list[int]:
    """The pids of the supervisor's "worker process N serving" lines, once there are `count`."""

    def pids() -> list[int] | None:
        found = [int(pid) for pid in SERVING.findall(server.log.read_text())]
        return found if len(found) >= count else None

    return eventually(pids)


def audit_lines(server: Fnproxy) -> list[dict[str, Any]]:
    lines = server.log.read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith('{"ts"')]


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def invoke(server: Fnproxy, body: dict, token: str, request_id: str) -> dict:
    request = urllib.request.Request(
        f"{server.url}/v1/invoke",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "X-Request-Id": request_id,
        },
    )
    with urllib.request.urlopen(request, timeout=20) as answer:
        return json.loads(answer.read())


def echo(stack: AwsStack, **more: Any) -> dict[str, Any]:
    return {"target": {"provider": "aws_lambda", "function": stack.function_name}, **more}


def audited(server: Fnproxy, request_ids: list[str]) -> dict[str, int] | None:
    """The pid of the audit line of each request, once every one has its line."""
    found = {entry["request_id"]: entry["pid"] for entry in audit_lines(server)}
    return {rid: found[rid] for rid in request_ids} if found.keys() >= set(request_ids) else None


def rest_answerers(server: Fnproxy, stack: AwsStack, pids: set[int]) -> set[int]:
    """The pids that answered rounds of concurrent REST invocations of the moto function (a
    connection each), until they are `pids` or WAIT_S is over."""
    token = server.token()
    answered_by: set[int] = set()
    deadline = time.monotonic() + WAIT_S
    while answered_by != pids and time.monotonic() < deadline:
        ids = [uuid.uuid4().hex for _ in range(CALLS)]
        with ThreadPoolExecutor(CALLS) as pool:
            answers = list(
                pool.map(lambda rid: invoke(server, echo(stack, payload=rid), token, rid), ids)
            )
        assert [answer["result"] for answer in answers] == ids
        answered_by |= set(eventually(partial(audited, server, ids)).values())
    return answered_by


def test_rest_calls_are_answered_by_every_worker(workers, stack):
    pids = set(serving(workers))

    assert rest_answerers(workers, stack, pids) == pids
    assert {parent_of(pid) for pid in pids} == {workers.process.pid}


async def test_grpc_calls_are_answered_by_every_worker(workers, stack, seed):
    pids = set(serving(workers))
    token = workers.token()
    stubs = seed["lambda_action"]
    request = stubs.messages.InvokeFunctionRequest(
        function_name=stack.function_name, payload='{"n": 1}', token=token
    )
    answered_by: set[int] = set()
    deadline = time.monotonic() + WAIT_S
    while answered_by != pids and time.monotonic() < deadline:
        for _ in range(CALLS):  # SO_REUSEPORT spreads connections, not calls: a channel each
            async with grpc.aio.insecure_channel(workers.address) as channel:
                assert (await stubs.stub(channel).InvokeFunction(request)).success
        answered_by = {e["pid"] for e in audit_lines(workers) if e["action"] == INVOKE_RPC}

    assert answered_by == pids


def test_async_work_is_left_in_sqs_for_the_lambdas_worker(workers, stack):
    accepted = post(f"{workers.url}/v1/invoke", echo(stack, mode="async"), workers.token())

    [message] = stack.receive(stack.queue_url)

    assert json.loads(message["Body"])["execution_id"] == accepted["execution_id"]


def test_a_killed_worker_is_replaced(workers, stack):
    killed, kept = serving(workers)

    os.kill(killed, signal.SIGKILL)

    replacement = serving(workers, WORKERS + 1)[-1]
    reported = (
        f"fnproxy: worker process {killed} was killed by signal 9 (Killed); started worker "
        f"process {replacement} in its place"
    )
    # the replacement may say it serves before the supervisor's own line reaches the log
    eventually(lambda: reported in workers.log.read_text())
    assert parent_of(replacement) == parent_of(kept) == workers.process.pid
    assert rest_answerers(workers, stack, {kept, replacement}) == {kept, replacement}


async def test_a_sigterm_lets_the_calls_in_flight_finish(tmp_path, stack, seed):
    target = FaultTarget().start()  # holds each call at /hang until released
    server = start_fnproxy(tmp_path, backends(stack, EGRESS_ALLOW="127.0.0.1"), "--workers", "2")
    try:
        pids = serving(server)
        token = server.token()
        url = target.url("/hang")
        stubs = seed["gcp_functions_action"]
        channels = [grpc.aio.insecure_channel(server.address) for _ in range(CALLS // 2)]
        rpcs = [
            stubs.stub(channel).InvokeHTTPFunction(
                stubs.messages.InvokeHTTPRequest(url=url),
                metadata=(("authorization", f"Bearer {token}"),),
            )
            for channel in channels
        ]
        rests = [
            asyncio.to_thread(
                post, f"{server.url}/gcp/api/v1/functions/invoke-http", {"url": url}, token
            )
            for _ in range(CALLS // 2)
        ]
        in_flight = asyncio.gather(asyncio.gather(*rpcs), asyncio.gather(*rests))
        await asyncio.to_thread(eventually, lambda: target.hits["/hang"] == CALLS)
        server.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(
            eventually, lambda: server.log.read_text().count("Shutting down") == WORKERS
        )
        target.release()
        grpc_answers, rest_answers = await in_flight
        exit_code = await asyncio.to_thread(server.process.wait, 30)
        for channel in channels:
            await channel.close()
    finally:
        target.stop()
        stop_fnproxy(server)

    assert all(answer.success for answer in grpc_answers)
    assert all(answer["success"] and answer["status_code"] == 200 for answer in rest_answers)
    assert exit_code == -signal.SIGTERM
    assert server.log.read_text().count("Application shutdown complete") == WORKERS
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)


def test_the_workers_stop_when_their_supervisor_is_killed(tmp_path, stack):
    server = start_fnproxy(tmp_path, backends(stack), "--workers", "2")
    try:
        pids = serving(server)

        server.process.kill()

        eventually(lambda: not any(Path(f"/proc/{pid}").exists() for pid in pids))
    finally:
        stop_fnproxy(server)
    assert server.log.read_text().count("Application shutdown complete") == WORKERS


def refused_serve(tmp_path: Path, *options: str, **settings: str) -> str:
    """The one line `fnproxy serve OPTIONS` stops with (exit 2) under `settings`, having
    created nothing."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("FNPROXY_")}
    env |= {"FNPROXY_DATA_DIR": str(tmp_path / "data"), **settings}
    result = subprocess.run(
        [FNPROXY, "serve", *options],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert not (tmp_path / "data").exists()
    return result.stderr


@pytest.mark.parametrize(
    ("settings", "store"),
    [
        ({}, "FNPROXY_PLATFORM=local, whose store is SQLite"),
        ({"FNPROXY_PLATFORM": "aws", "STORE_BACKEND": "sqlite"}, "STORE_BACKEND=sqlite"),
    ],
)
def test_several_workers_on_sqlite_are_refused_before_anything_starts(tmp_path, settings, store):
    assert refused_serve(tmp_path, "--workers", "2", **settings) == (
        f"fnproxy: SERVE_WORKERS=2: worker processes cannot share the SQLite store ({store}); "
        "run one worker, or a store they can share (FNPROXY_PLATFORM=aws or gcp, or "
        "STORE_BACKEND=dynamodb or firestore)\n"
    )


def test_grpc_on_the_rest_port_is_refused_before_anything_starts(tmp_path):
    assert refused_serve(tmp_path, "--grpc-port", "18093", REST_PORT="18093") == (
        "fnproxy: GRPC_PORT=18093 is REST_PORT too: give gRPC a port of its own\n"
    )
