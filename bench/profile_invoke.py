"""(p) Where fnproxy's CPU goes on a sync HTTP invocation (issue 16's profile): the local app in
this process (SQLite, the in-process event log, stats and metrics on; the ASGI client of
`_asgi.py`, so no HTTP server or client library is counted), N calls of `POST /v1/invoke` to the
benchmark's instant function (`_fn_server.py`, another process), 1 client and then CLIENTS at
once. It prints the CPU per call of each run (`time.process_time`: this process, every thread),
then cProfile's self time per module over the concurrent run, largest first (the profiler's
own cost inflates every entry about 2x: the shares are what to read).

    .venv/bin/python bench/profile_invoke.py [--calls N] [--clients C] [--top K]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from _asgi import Lifespan, post
from _common import REPO_DIR, machine_line, new_secret_key, spawn_function_server

sys.path.insert(0, str(REPO_DIR))

WARM_UP_CALLS = 200
SITE_PACKAGES = "site-packages/"
STANDARD_LIBRARY = f"python{sys.version_info.major}.{sys.version_info.minor}/"

Call = Callable[[], Awaitable[None]]


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=6400, help="calls per run (%(default)s)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (%(default)s)")
    parser.add_argument("--top", type=int, default=25, help="modules listed (%(default)s)")
    return parser.parse_args()


def module_of(filename: str, function: str) -> str:
    """A profile entry's place, short: a package's first two path parts, a file of the
    repository or of the standard library, or the built-in it is."""
    if filename == "~":
        return "built-in " + function.split(" of ")[0].strip("<>{}")[:40]
    for mark in (SITE_PACKAGES, f"{REPO_DIR}/", STANDARD_LIBRARY):
        if mark in filename:
            place = filename.split(mark, 1)[1]
            return "/".join(place.split("/")[:2]) if mark == SITE_PACKAGES else place
    return filename


def self_time_by_module(profile: cProfile.Profile) -> dict[str, float]:
    """Seconds of self time per module, without the time the loop waits in epoll."""
    totals: dict[str, float] = {}
    for (filename, _line, function), (_cc, _nc, self_s, _cum, _callers) in pstats.Stats(
        profile
    ).stats.items():
        if "poll" in function:
            continue
        module = module_of(filename, function)
        totals[module] = totals.get(module, 0.0) + self_s
    return totals


async def cpu_per_call(call: Call, calls: int, clients: int, profile: cProfile.Profile | None):
    """Microseconds of this process's CPU per call, `calls` spread over `clients`."""
    async def client() -> None:
        for _ in range(calls // clients):
            await call()

    started = time.process_time()
    if profile is not None:
        profile.enable()
    await asyncio.gather(*(client() for _ in range(clients)))
    if profile is not None:
        profile.disable()
    return (time.process_time() - started) / (calls // clients * clients) * 1e6


async def profile_app(function_url: str, args: argparse.Namespace) -> None:
    from core.config import load_settings
    from core.wiring import build_services
    from handlers.local import local_app

    key = os.environ["MODULE_SECRET_KEY"]
    app = local_app(build_services(load_settings()), None)
    async with Lifespan(app):
        _, answer = await post(app, "/v1/auth/token", json.dumps({"api_key": key}).encode(),
                               {"content-type": "application/json"})
        headers = {"content-type": "application/json",
                   "authorization": f"Bearer {json.loads(answer)['access_token']}"}
        body = json.dumps({"target": {"provider": "http", "url": function_url},
                           "payload": {"n": 1}}).encode()

        async def call() -> None:
            status, answer = await post(app, "/v1/invoke", body, headers)
            assert status == 200, answer

        await cpu_per_call(call, WARM_UP_CALLS, 1, None)
        alone = await cpu_per_call(call, args.calls // 4, 1, None)
        together = await cpu_per_call(call, args.calls, args.clients, None)
        profile = cProfile.Profile()
        await cpu_per_call(call, args.calls, args.clients, profile)
    print(machine_line())
    print(f"(p) CPU per sync http invocation, in process: {alone:.0f} us with 1 client, "
          f"{together:.0f} us with {args.clients} clients")
    totals = self_time_by_module(profile)
    whole = sum(totals.values())
    print(f"\nself time by module, {args.clients} clients, under cProfile "
          f"({whole / args.calls * 1e6:.0f} us per call profiled):")
    print(f"{'us/call':>8}  {'share':>6}  module")
    for module, seconds in sorted(totals.items(), key=lambda item: -item[1])[: args.top]:
        print(f"{seconds / args.calls * 1e6:8.1f}  {seconds / whole:6.1%}  {module}")


def main() -> None:
    args = parse_arguments()
    with tempfile.TemporaryDirectory() as work:
        function = spawn_function_server(0.0, Path(work))
        try:
            os.environ.update({"FNPROXY_DATA_DIR": str(Path(work) / "data"),
                               "MODULE_SECRET_KEY": new_secret_key(), "LOG_LEVEL": "WARNING",
                               "FNPROXY_PLATFORM": "local"})
            asyncio.run(profile_app(function.url, args))
        finally:
            function.stop()


if __name__ == "__main__":
    main()
