"""A live `fnproxy serve` (platform local) against a fault-injecting HTTP target: for each fault,
how many requests the target saw for one invocation and what the caller got.

- Nothing is replayed once the request may have reached the function (garbage after the status
  line, a truncated chunked body, a connection cut mid-answer): one request, 502
  `upstream_unreachable`.
- What provably never reached it is retried: a refused connection, 503 twice then 200.
- An upstream 429 still 429 after retries reaches the caller as 429 with Retry-After.
- A circuit breaker per target: 100 calls to an always-503 target reach it at most threshold +
  half-open probes times; the rest fail fast with 503 `circuit_open` and Retry-After.
- A per-target concurrency cap: a hanging target delays only its own calls.
- Answers are capped (502 `response_too_large`) and the server's memory returns to its
  baseline after many large answers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.fault_target import FaultTarget, refused_url
from tests.security.support import Server, start_server

pytestmark = pytest.mark.e2e

MAX_RETRIES = 3
THRESHOLD = 5
COOLDOWN_S = 2.0
TARGET_CAP = 2
POOL_SIZE = 4
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
SERVER_ENV = {
    "FNPROXY_PLATFORM": "local",
    "MAX_RETRIES": str(MAX_RETRIES),
    "RETRY_DELAY": "0.01",
    "RETRY_MAX_DELAY": "0.05",
    "CIRCUIT_FAILURE_THRESHOLD": str(THRESHOLD),
    "CIRCUIT_COOLDOWN_S": str(COOLDOWN_S),
    "TARGET_MAX_CONCURRENCY": str(TARGET_CAP),
    "HTTP_POOL_SIZE": str(POOL_SIZE),
    "MAX_BATCH_SIZE": str(POOL_SIZE),
    "MAX_RESPONSE_BYTES": str(MAX_RESPONSE_BYTES),
    "LOG_LEVEL": "WARNING",
}


@pytest.fixture(scope="module")
def target() -> Iterator[FaultTarget]:
    started = FaultTarget().start()
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def _fresh_target(target: FaultTarget) -> None:
    target.reset()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = start_server(tmp_path_factory.mktemp("faults") / "data", env=SERVER_ENV)
    yield started
    started.stop()


@pytest.fixture(scope="module")
def caller(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=server.admin(), timeout=30) as client:
        yield client


def invoke(caller: httpx.Client, url: str, timeout_s: float = 5.0) -> httpx.Response:
    target = {"provider": "http", "url": url, "method": "POST"}
    body = {"target": target, "payload": {"n": 1}, "timeout_s": timeout_s}
    return caller.post("/v1/invoke", json=body)


def execution(caller: httpx.Client, answer: httpx.Response) -> dict[str, Any]:
    found = caller.get(f"/v1/invocations/{answer.json()['execution_id']}")
    assert found.status_code == 200, found.text
    return found.json()


@pytest.mark.parametrize("fault", ["/garbage", "/truncated", "/cut"])
def test_a_request_that_may_have_run_is_never_replayed(
    caller: httpx.Client, target: FaultTarget, fault: str
) -> None:
    answer = invoke(caller, target.url(fault))

    assert target.hits[fault] == 1
    assert answer.status_code == 502, answer.text
    assert answer.json()["code"] == "upstream_unreachable"
    assert execution(caller, answer)["attempts"] == 1


def test_a_refused_connection_is_retried_then_answered_502(caller: httpx.Client) -> None:
    answer = invoke(caller, refused_url())

    assert answer.status_code == 502, answer.text
    assert answer.json()["code"] == "upstream_unavailable"
    assert answer.json()["attempts"] == MAX_RETRIES + 1


def test_503_twice_then_200_is_retried_to_success(
    caller: httpx.Client, target: FaultTarget
) -> None:
    answer = invoke(caller, target.url("/flaky"))

    assert answer.status_code == 200, answer.text
    assert answer.json()["success"] is True
    assert answer.json()["attempts"] == 3
    assert target.hits["/flaky"] == 3


def test_an_upstream_429_reaches_the_caller_as_429_with_retry_after(
    caller: httpx.Client, target: FaultTarget
) -> None:
    answer = invoke(caller, target.url("/throttled"), timeout_s=3.0)

    assert answer.status_code == 429, answer.text
    assert answer.json()["code"] == "upstream_throttled"
    assert int(answer.headers["retry-after"]) >= 1
    assert 1 <= target.hits["/throttled"] <= 3  # Retry-After: 1 s between tries, 3 s deadline


def test_a_circuit_opens_after_the_threshold_and_fails_fast(
    caller: httpx.Client, target: FaultTarget
) -> None:
    started = time.monotonic()
    answers = [invoke(caller, target.url("/down")) for _ in range(100)]
    elapsed = time.monotonic() - started

    probes = math.ceil(elapsed / COOLDOWN_S)
    assert target.hits["/down"] <= THRESHOLD + probes
    fast = [answer for answer in answers if answer.status_code == 503]
    assert len(fast) >= 100 - 2 - probes  # the first 2 calls (4 tries each) open it
    assert all(answer.json()["code"] == "circuit_open" for answer in fast)
    assert all(1 <= int(answer.headers["retry-after"]) <= COOLDOWN_S for answer in fast)
    recorded = execution(caller, fast[-1])["error"]
    assert recorded["type"] == "CircuitOpen"
    assert recorded["circuit"]["state"] == "open"


def test_a_half_open_probe_closes_the_circuit_again(
    caller: httpx.Client, target: FaultTarget, server: Server
) -> None:
    url = target.url("/switch")
    while invoke(caller, url).status_code != 503:  # 4 tries a call: at most 2 calls
        assert target.hits["/switch"] < 2 * (MAX_RETRIES + 1)
    assert invoke(caller, url).json()["code"] == "circuit_open"
    assert caller.get("/health").json()["circuits"][_key(target, "/switch")]["state"] == "open"

    target.down = False
    time.sleep(COOLDOWN_S)
    hits = target.hits["/switch"]
    probe = invoke(caller, url)

    assert probe.status_code == 200, probe.text
    assert target.hits["/switch"] == hits + 1
    assert invoke(caller, url).status_code == 200
    assert _key(target, "/switch") not in caller.get("/health").json()["circuits"]


def test_a_hanging_target_delays_only_its_own_calls(
    caller: httpx.Client, target: FaultTarget
) -> None:
    calls = POOL_SIZE + 2
    with ThreadPoolExecutor(calls + 1) as pool:
        hanging = [pool.submit(invoke, caller, target.url("/hang"), 3.0) for _ in range(calls)]
        time.sleep(0.5)
        started = time.monotonic()
        answer = invoke(caller, target.url("/ok"))
        took = time.monotonic() - started
        seen_hanging = target.hits["/hang"]
        target.release()
        statuses = sorted(future.result().status_code for future in hanging)

    assert answer.status_code == 200, answer.text
    assert took < 1.0
    assert seen_hanging == TARGET_CAP
    assert statuses.count(200) >= TARGET_CAP


def test_an_answer_over_the_cap_is_refused_once(caller: httpx.Client, target: FaultTarget) -> None:
    answer = invoke(caller, target.url("/big?bytes=10485760"))

    assert answer.status_code == 502, answer.text
    assert answer.json()["code"] == "response_too_large"
    assert target.hits["/big"] == 1


def test_memory_returns_to_its_baseline_after_large_answers(
    caller: httpx.Client, target: FaultTarget, server: Server
) -> None:
    near_cap = target.url(f"/big?bytes={MAX_RESPONSE_BYTES - 64 * 1024}")
    for _ in range(3):  # warm up: allocator pools, imports, first connections
        assert invoke(caller, target.url("/ok")).status_code == 200
    baseline = rss_mib(server)

    with ThreadPoolExecutor(POOL_SIZE) as pool:
        answers = list(pool.map(lambda _: invoke(caller, near_cap, 20.0), range(32)))
    peak = rss_mib(server)
    time.sleep(1.0)
    after = rss_mib(server)

    assert {answer.status_code for answer in answers} == {200}
    print(f"RSS MiB: baseline {baseline:.0f}, after 32 answers {peak:.0f}, settled {after:.0f}")
    assert after - baseline < 16


def rss_mib(server: Server) -> float:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def _key(target: FaultTarget, path: str) -> str:
    return f"http:127.0.0.1:{target.port}{path}"
