"""The load generator, in a process of its own: N closed-loop aiohttp workers POST one body to
one URL for a warm-up then a measured window, and the summary goes to stdout as JSON.

Input (stdin, JSON): url, body, headers, clients, duration_s, warmup_s, expect,
request_timeout_s.
Output (stdout, JSON): requests, errors, rps, p50_ms, p99_ms, first_error, and for CPU
accounting all_requests (warm-up and stragglers included) and cpu_s (this process's CPU time).

A request belongs to the window when it ends inside it; it is good when it answers 200 with
`expect` in its body. Each worker stops at the end of the window or after MAX_REQUESTS_PER_WORKER.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

import aiohttp
import uvloop
from _common import percentile

MAX_REQUESTS_PER_WORKER = 1_000_000


@dataclass
class Window:
    start: float
    end: float

    def holds(self, moment: float) -> bool:
        return self.start <= moment < self.end


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    all_requests: int = 0

    def error(self, description: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or description


@dataclass(frozen=True)
class Spec:
    url: str
    body: bytes
    headers: dict[str, str]
    expect: bytes


async def one_request(session: aiohttp.ClientSession, spec: Spec) -> str:
    """'' when the answer is good, else what was wrong with it."""
    try:
        async with session.post(spec.url, data=spec.body, headers=spec.headers) as response:
            data = await response.read()
    except (TimeoutError, aiohttp.ClientError) as error:
        return repr(error)
    if response.status != 200 or spec.expect not in data:
        return f"HTTP {response.status}: {data[:200]!r}"
    return ""


async def worker(request: Callable[[], Awaitable[str]], window: Window, tally: Tally) -> None:
    """Closed-loop: `request` (answering '' when good, else what was wrong) again and again."""
    for _ in range(MAX_REQUESTS_PER_WORKER):
        started = time.perf_counter()
        if started >= window.end:
            return
        problem = await request()
        finished = time.perf_counter()
        tally.all_requests += 1
        if not window.holds(finished):
            continue
        if problem:
            tally.error(problem)
        else:
            tally.latencies_ms.append((finished - started) * 1000)


async def generate(raw: dict) -> dict:
    spec = Spec(raw["url"], json.dumps(raw["body"]).encode(),
                {"Content-Type": "application/json", **raw["headers"]}, raw["expect"].encode())
    clients, duration_s = raw["clients"], raw["duration_s"]
    connector = aiohttp.TCPConnector(limit=clients, limit_per_host=clients)
    timeout = aiohttp.ClientTimeout(total=raw["request_timeout_s"])
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     cookie_jar=aiohttp.DummyCookieJar()) as session:
        start = time.perf_counter() + raw["warmup_s"]
        window, tally = Window(start, start + duration_s), Tally()
        request = partial(one_request, session, spec)
        await asyncio.gather(*(worker(request, window, tally) for _ in range(clients)))
    return summary(tally, duration_s)


def summary(tally: Tally, duration_s: float) -> dict:
    return {
        "requests": len(tally.latencies_ms) + tally.errors,
        "errors": tally.errors,
        "rps": len(tally.latencies_ms) / duration_s,
        "p50_ms": percentile(tally.latencies_ms, 0.50),
        "p99_ms": percentile(tally.latencies_ms, 0.99),
        "first_error": tally.first_error,
        "all_requests": tally.all_requests,
        "cpu_s": time.process_time(),
    }


def main() -> None:
    summary = uvloop.run(generate(json.load(sys.stdin)))
    json.dump(summary, sys.stdout)


if __name__ == "__main__":
    main()
