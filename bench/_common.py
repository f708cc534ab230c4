"""Shared by every benchmark: server processes, tokens, the load generator, percentiles and the
result table. Imports nothing heavy: the load generator and the cold-start children load their
own libraries in their own processes."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
PYTHON = sys.executable
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
SLOW_FUNCTION_DELAY_S = 0.020
PAYLOAD = {"n": 1}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
REQUEST_TIMEOUT_S = 10.0
"""How long the load generator waits for an answer before it counts the request an error."""


# --- options ------------------------------------------------------------------------------


WORKERS_STACKS = ("aws", "gcp")
READS_STORES = ("local", "aws", "gcp")
READS_FIRST_N = 1000
"""(reads) compares each store's reads at this many executions with its reads at N."""


@dataclass(frozen=True)
class Options:
    duration_s: float = 5.0
    warmup_s: float = 1.0
    cold_runs: int = 10
    batches: int = 5
    reads_n: int = 100_000
    reads_cloud_n: int = 10_000
    reads_stores: tuple[str, ...] = READS_STORES
    workers_stacks: tuple[str, ...] = WORKERS_STACKS


def parse_options(description: str, argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--duration", type=float, default=Options.duration_s,
                        help="seconds of measured load per run (default %(default)s)")
    parser.add_argument("--warmup", type=float, default=Options.warmup_s,
                        help="seconds of unmeasured load before each run (default %(default)s)")
    parser.add_argument("--cold-runs", type=int, default=Options.cold_runs,
                        help="cold starts per side (default %(default)s)")
    parser.add_argument("--batches", type=int, default=Options.batches,
                        help="measured batches (default %(default)s)")
    parser.add_argument("--reads-n", type=int, default=Options.reads_n,
                        help="executions in the local store for (reads); issue 16's is 1000000 "
                        "(default %(default)s)")
    parser.add_argument("--reads-cloud-n", type=int, default=Options.reads_cloud_n,
                        help="executions in the DynamoDB and Firestore stores for (reads); issue "
                        "16's is 100000 (default %(default)s)")
    parser.add_argument("--reads-stores", default=",".join(READS_STORES),
                        help="the stores (reads) fills, of %(default)s")
    parser.add_argument("--workers-stacks", default=",".join(WORKERS_STACKS),
                        help="the stacks (w) runs fnproxy's worker processes on, of %(default)s "
                        "(aws: moto, gcp: the Google Cloud SDK's emulators)")
    args = parser.parse_args(argv)
    reads_n = max(args.reads_n, READS_FIRST_N)
    reads_cloud_n = max(args.reads_cloud_n, READS_FIRST_N)
    return Options(args.duration, args.warmup, max(args.cold_runs, 1), max(args.batches, 1),
                   reads_n, reads_cloud_n,
                   _subset(parser, "--reads-stores", args.reads_stores, READS_STORES),
                   _subset(parser, "--workers-stacks", args.workers_stacks, WORKERS_STACKS))


def _subset(parser: argparse.ArgumentParser, option: str, text: str,
            allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The comma-separated names of `text`, each one of `allowed` (else a usage error)."""
    chosen = tuple(text.split(","))
    if not set(chosen) <= set(allowed):
        parser.error(f"{option}: each of {', '.join(allowed)}")
    return chosen


# --- statistics ---------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (`fraction` in 0..1) of `values`; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(max(math.ceil(fraction * len(ordered)), 1), len(ordered))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return percentile(values, 0.5)


# --- processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides)
    return env



def tree_env(env: dict[str, str], repo: Path) -> dict[str, str]:
    """`env` for a child that must run the code of `repo` (another tree of fnproxy, e.g. an
    earlier commit's `git archive`): its folder goes first on PYTHONPATH, before the editable
    install of this one."""
    return env if repo == REPO_DIR else {**env, "PYTHONPATH": str(repo)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children(pid: int) -> list[int]:
    """The live child processes of `pid` (those of each of its threads)."""
    tasks = Path(f"/proc/{pid}/task")
    return [int(child) for task in tasks.iterdir()
            for child in (task / "children").read_text().split()]


@dataclass
class Server:
    """A server process this benchmark started (and alone stops), answering on `port`."""

    name: str
    process: subprocess.Popen
    port: int
    log_path: Path
    with_children: bool = False
    """Its CPU time counts its children's (`fnproxy serve --workers`: theirs is the work)."""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        pids = [self.pid, *(children(self.pid) if self.with_children else [])]
        return sum(cpu_seconds(pid) for pid in pids)

    def wait_quiet(self, window_s: float = 0.5, busy_share: float = 0.02,
                   timeout_s: float = 60.0) -> float:
        """Wait until a `window_s` passes with the process busy less than `busy_share` of it
        (its own background work after a load: checkpoints, purges, flushes), at most
        `timeout_s`; the seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            before = self.cpu_seconds()
            time.sleep(window_s)
            if self.cpu_seconds() - before < window_s * busy_share:
                break
        return time.monotonic() - started

    def wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up:\n{self.log_tail()}")
            if _answers(self.url + path):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {READY_TIMEOUT_S:g} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def spawn_server(name: str, command: list[str], env: dict[str, str], port: int,
                 log_dir: Path) -> Server:
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, cwd=REPO_DIR, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT)
    return Server(name, process, port, log_path)


def spawn_function_server(delay_s: float, log_dir: Path) -> Server:
    port = free_port()
    script = str(BENCH_DIR / "_fn_server.py")
    command = [PYTHON, script, "--port", str(port), "--delay", str(delay_s)]
    name = f"function-{round(delay_s * 1000)}ms"
    return spawn_server(name, command, child_env(), port, log_dir)


def spawn_bare_proxy(target_url: str, log_dir: Path) -> Server:
    """`_bare_proxy.py` in front of `target_url`: the floor of a proxy on fnproxy's stack."""
    port = free_port()
    command = [PYTHON, str(BENCH_DIR / "_bare_proxy.py"), "--port", str(port),
               "--target", target_url]
    return spawn_server("bare-proxy", command, child_env(), port, log_dir)


def fnproxy_command() -> list[str]:
    script = Path(PYTHON).parent / "fnproxy"
    return [str(script), "serve"] if script.exists() else [PYTHON, "-m", "handlers.cli", "serve"]


def spawn_fnproxy(secret_key: str, data_dir: Path, log_dir: Path,
                  grpc_port: int | None = None, workers: int = 1,
                  settings: dict[str, str] | None = None) -> Server:
    """fnproxy serve; with `grpc_port`, serving the seeds' gRPC services there too; with
    `workers`, that many server processes; `settings` over the benchmarks' own."""
    port = free_port()
    own = {"FNPROXY_DATA_DIR": str(data_dir), "REST_PORT": str(port), "LOG_LEVEL": "WARNING",
           "MAX_BATCH_SIZE": "1000", "MODULE_SECRET_KEY": secret_key}
    env = child_env(**own | (settings or {}))
    options = ["--grpc-port", str(grpc_port)] if grpc_port else []
    options += ["--workers", str(workers)] if workers > 1 else []
    server = spawn_server("fnproxy", fnproxy_command() + options, env, port, log_dir)
    server.with_children = workers > 1
    return server


@contextmanager
def moto_server(work_dir: Path) -> Iterator[Server]:
    """moto with its DynamoDB requests one at a time (tests/moto_serialized.py, as the tests
    run it) and Lambda on its simple (no Docker) backend, for the block."""
    port = free_port()
    command = [PYTHON, str(REPO_DIR / "tests" / "moto_serialized.py"),
               "-H", "127.0.0.1", "-p", str(port)]
    moto = spawn_server("moto", command, child_env(), port, work_dir)
    try:
        moto.wait_ready("/moto-api/")
        post_json(moto.url + "/moto-api/config", {"lambda": {"use_docker": False}})
        yield moto
    finally:
        moto.stop()


# --- tokens -------------------------------------------------------------------------------


def new_secret_key() -> str:
    return secrets.token_urlsafe(48)  # 64 characters, the minimum fnproxy accepts


def post_json(url: str, body: Any, token: str | None = None, timeout_s: float = 30.0) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return json.loads(response.read())


def fetch_token(fnproxy_url: str, secret_key: str) -> str:
    return post_json(fnproxy_url + "/v1/auth/token", {"api_key": secret_key})["access_token"]


def mint_token(secret_key: str, ttl_s: int = 3600) -> str:
    """An admin token exactly as fnproxy issues one (core/auth/tokens.py), signed here."""
    import jwt  # here, not at the top: the load generator imports this module too

    now = int(time.time())
    claims = {"iss": "fnproxy", "aud": "fnproxy", "sub": "module", "scope": "admin",
              "iat": now, "exp": now + ttl_s, "jti": secrets.token_urlsafe(16)}
    kid = hashlib.sha256(secret_key.encode()).hexdigest()[:16]
    return jwt.encode(claims, secret_key, algorithm="HS256", headers={"kid": kid})


def invoke_body(function_url: str, payload: Any = PAYLOAD) -> dict[str, Any]:
    return {"target": {"provider": "http", "url": function_url}, "payload": payload}


# --- the stack: function servers and fnproxy ----------------------------------------------


@dataclass
class Stack:
    """The processes the benchmarks talk to: an instant function, a 20 ms function and
    (optionally) fnproxy, each in its own process, all on loopback."""

    work_dir: Path
    instant: Server
    slow: Server
    fnproxy: Server | None = None
    secret_key: str = ""
    token: str = ""
    grpc_port: int | None = None
    """Where fnproxy serves gRPC too (`start_stack(with_grpc=True)`)."""

    @property
    def servers(self) -> list[Server]:
        return [s for s in (self.instant, self.slow, self.fnproxy) if s is not None]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_stack(with_fnproxy: bool = True, with_grpc: bool = False) -> Stack:
    work_dir = Path(tempfile.mkdtemp(prefix="fnproxy-bench-"))
    key = new_secret_key()
    stack = Stack(work_dir, spawn_function_server(0.0, work_dir),
                  spawn_function_server(SLOW_FUNCTION_DELAY_S, work_dir), secret_key=key,
                  grpc_port=free_port() if with_grpc else None)
    try:
        if with_fnproxy:
            stack.fnproxy = spawn_fnproxy(key, work_dir / "data", work_dir, stack.grpc_port)
        stack.instant.wait_ready("/")
        stack.slow.wait_ready("/")
        if stack.fnproxy is not None:
            stack.fnproxy.wait_ready("/health")
            stack.token = fetch_token(stack.fnproxy.url, key)
            warm_up(stack)
    except BaseException:
        stack.stop()
        raise
    return stack


def warm_up(stack: Stack) -> None:
    """One invocation of each function, so that fnproxy's one-time work (importing the http
    provider and aiohttp, opening the first connections) is not counted in any benchmark."""
    assert stack.fnproxy is not None
    for function in (stack.instant, stack.slow):
        answer = post_json(stack.fnproxy.url + "/v1/invoke", invoke_body(function.url + "/fn"),
                           stack.token)
        if answer.get("success") is not True:
            raise RuntimeError(f"fnproxy could not invoke {function.name}: {answer}")


# --- the load generator (runs in its own process: bench/_loadgen.py) ----------------------


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float
    first_error: str = ""
    all_requests: int = 0
    """Every request answered, warm-up included: the denominator of CPU per request."""
    cpu_s: float = 0.0
    """The load generator's own CPU time."""


def run_load(url: str, body: Any, *, clients: int, duration_s: float, warmup_s: float,
             expect: str, token: str | None = None, loadgen: str = "_loadgen.py",
             request_timeout_s: float = REQUEST_TIMEOUT_S) -> LoadResult:
    """`clients` closed-loop workers POSTing `body` to `url` for `duration_s` after
    `warmup_s`; a request counts as good when it answers 200 with `expect` in its body, within
    `request_timeout_s`. `loadgen` _grpc_loadgen.py calls a gRPC method instead (its docstring
    says how)."""
    spec = {"url": url, "body": body, "clients": clients, "duration_s": duration_s,
            "warmup_s": warmup_s, "expect": expect, "request_timeout_s": request_timeout_s,
            "headers": {"Authorization": f"Bearer {token}"} if token else {}}
    completed = subprocess.run([PYTHON, str(BENCH_DIR / loadgen)], input=json.dumps(spec),
                               capture_output=True, text=True, cwd=REPO_DIR,
                               timeout=warmup_s + duration_s + request_timeout_s + 60)
    if completed.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{completed.stderr[-2000:]}")
    return LoadResult(**json.loads(completed.stdout))


# --- the result table ---------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    """`ratio >= threshold` (at_least) or `ratio <= threshold`."""

    threshold: float
    at_least: bool = True

    def met(self, ratio: float) -> bool:
        return ratio >= self.threshold if self.at_least else ratio <= self.threshold

    def __str__(self) -> str:
        return f"{'>=' if self.at_least else '<='} {self.threshold:g}x"


@dataclass(frozen=True)
class Row:
    benchmark: str
    fnproxy: float | None
    reference: float | None = None
    ratio: float | None = None
    goal: Goal | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def met(self) -> bool | None:
        if self.goal is None or self.ratio is None:
            return None
        return self.goal.met(self.ratio)


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


HEADERS = ("benchmark", "fnproxy", "direct/baseline/ideal", "ratio", "goal", "met?")


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"


def _cells(row: Row) -> tuple[str, ...]:
    met = {None: "-", True: "yes", False: "NO"}[row.met]
    ratio_text = "-" if row.ratio is None else f"{row.ratio:.2f}x"
    return (row.benchmark, _number(row.fnproxy), _number(row.reference), ratio_text,
            str(row.goal) if row.goal else "-", met)


def format_table(rows: Sequence[Row]) -> str:
    table = [HEADERS, *(_cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * width for width in widths)
    notes = [f"  * {note}" for row in rows for note in row.notes]
    return "\n".join([line(HEADERS), rule, *(line(cells) for cells in table[1:]),
                      *(["", "notes:", *notes] if notes else [])])


# --- direct vs through fnproxy ------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """One load run and the CPU each process spent per request during it (microseconds)."""

    result: LoadResult
    cpu_us: dict[str, float]

    def cpu_text(self) -> str:
        return " + ".join(f"{name} {us:.0f}" for name, us in self.cpu_us.items())


def measure_load(url: str, body: Any, expect: str, servers: Sequence[Server], clients: int,
                 options: Options, token: str | None = None, loadgen: str = "_loadgen.py",
                 request_timeout_s: float = REQUEST_TIMEOUT_S) -> Measured:
    before = {server.name: server.cpu_seconds() for server in servers}
    result = run_load(url, body, clients=clients, duration_s=options.duration_s,
                      warmup_s=options.warmup_s, expect=expect, token=token, loadgen=loadgen,
                      request_timeout_s=request_timeout_s)
    per_request = 1e6 / max(result.all_requests, 1)
    cpu_us = {"loadgen": result.cpu_s * per_request}
    cpu_us.update({server.name: (server.cpu_seconds() - before[server.name]) * per_request
                   for server in servers})
    return Measured(result, cpu_us)


@dataclass(frozen=True)
class LoadPair:
    direct: Measured
    fnproxy: Measured
    sides: tuple[str, str] = ("direct", "fnproxy")
    """What the notes call the two runs."""

    def notes(self, label: str) -> list[str]:
        direct, proxied = self.direct.result, self.fnproxy.result
        first, second = self.sides
        lines = [f"{label}: {direct.requests} {first} / {proxied.requests} {second} requests "
                 f"measured, {direct.errors} / {proxied.errors} errors",
                 f"{label}: CPU us per request: {first} = {self.direct.cpu_text()}; "
                 f"through {second} = {self.fnproxy.cpu_text()}"]
        for side, result in ((first, direct), (second, proxied)):
            if result.first_error:
                lines.append(f"{label}: first {side} error: {result.first_error}")
        return lines


def load_direct_and_proxied(stack: Stack, function: Server, clients: int,
                            options: Options) -> LoadPair:
    """The same load generator against the function itself, then through fnproxy."""
    assert stack.fnproxy is not None, "this benchmark needs fnproxy running"
    progress(f"  {clients} clients -> {function.name}, direct")
    direct = measure_load(function.url + "/fn", PAYLOAD, '"ok"', [function], clients, options)
    progress(f"  {clients} clients -> {function.name}, through fnproxy")
    proxied = measure_load(stack.fnproxy.url + "/v1/invoke", invoke_body(function.url + "/fn"),
                           '"success":true', [stack.fnproxy, function], clients, options,
                           token=stack.token)
    return LoadPair(direct, proxied)


def load_rows(label: str, pair: LoadPair, throughput_goal: Goal | None,
              p99_goal: Goal | None) -> list[Row]:
    """Throughput, p50 and p99 rows, fnproxy against direct."""
    direct, proxied = pair.direct.result, pair.fnproxy.result
    return [
        Row(f"{label}: throughput (req/s)", proxied.rps, direct.rps,
            ratio(proxied.rps, direct.rps), throughput_goal, notes=pair.notes(label)),
        Row(f"{label}: p50 latency (ms)", proxied.p50_ms, direct.p50_ms,
            ratio(proxied.p50_ms, direct.p50_ms)),
        Row(f"{label}: p99 latency (ms)", proxied.p99_ms, direct.p99_ms,
            ratio(proxied.p99_ms, direct.p99_ms), p99_goal),
    ]


# --- output and stand-alone runs ---------------------------------------------------------


def machine_line() -> str:
    return (f"machine: os.cpu_count()={os.cpu_count()} (load generator, fnproxy and the function "
            f"servers share these cores); python {sys.version.split()[0]}")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_standalone(description: str, run: Callable[[Stack, Options], list[Row]],
                   with_fnproxy: bool = True, with_grpc: bool = False) -> None:
    """`python bench/bench_x.py`: start the stack, run one benchmark, print its table."""
    options = parse_options(description)
    with start_stack(with_fnproxy, with_grpc) as stack:
        rows = run(stack, options)
    print(machine_line())
    print(format_table(rows))
