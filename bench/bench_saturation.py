"""(a2) Saturation: 128 concurrent clients calling a function that answers at once, through
fnproxy vs directly. Goal: throughput >= 0.5x direct.

Its run also gives issue 16's row "fnproxy CPU per proxied request": the CPU time of the
fnproxy server process (/proc/<pid>/stat) over the run, warm-up included, divided by every
request answered in it, against the issue's budget of 150 us (goal <= 1x).

The floor rows run the same load through `_bare_proxy.py`: uvicorn and fnproxy's HTTP client
with nothing between them, the least a request through a proxy on fnproxy's stack costs. They
carry no goal; they tell how much of fnproxy's CPU is its own work and how much the stack's."""

from __future__ import annotations

from _common import (
    PAYLOAD,
    Goal,
    Options,
    Row,
    Stack,
    load_direct_and_proxied,
    load_rows,
    measure_load,
    progress,
    ratio,
    run_standalone,
    spawn_bare_proxy,
)

CLIENTS = 128
LABEL = "(a2) 128 clients, instant fn"
CPU_BUDGET_US = 150.0
CPU_LABEL = "fnproxy CPU per proxied request (us), (a2) run vs budget"
FLOOR_LABEL = "(a2) floor: bare proxy (uvicorn + fnproxy's HTTP client, no logic)"
FLOOR_CPU_LABEL = "bare proxy CPU per request (us) vs budget"


def cpu_row(fnproxy_us: float) -> Row:
    return Row(CPU_LABEL, fnproxy_us, CPU_BUDGET_US, ratio(fnproxy_us, CPU_BUDGET_US),
               Goal(1.0, at_least=False),
               notes=[f"CPU per proxied request: the fnproxy server's CPU in the (a2) run per "
                      f"request answered; reference = the issue's {CPU_BUDGET_US:.0f} us budget"])


def floor_rows(stack: Stack, options: Options, direct_rps: float) -> list[Row]:
    """The (a2) load through the bare proxy: its throughput against direct's, its CPU per
    request against the budget."""
    progress(f"  {CLIENTS} clients -> {stack.instant.name}, through the bare proxy")
    target = stack.instant.url + "/fn"
    proxy = spawn_bare_proxy(target, stack.work_dir)
    try:
        proxy.wait_ready("/")
        floor = measure_load(proxy.url, PAYLOAD, '"ok"', [proxy, stack.instant], CLIENTS, options)
    finally:
        proxy.stop()
    proxy_us = floor.cpu_us["bare-proxy"]
    notes = [f"{FLOOR_LABEL}: CPU us per request: {floor.cpu_text()}; no goal: the least a "
             "proxy on this stack spends"]
    return [Row(f"{FLOOR_LABEL}: throughput (req/s)", floor.result.rps, direct_rps,
                ratio(floor.result.rps, direct_rps), notes=notes),
            Row(FLOOR_CPU_LABEL, proxy_us, CPU_BUDGET_US, ratio(proxy_us, CPU_BUDGET_US))]


def run(stack: Stack, options: Options) -> list[Row]:
    progress(f"{LABEL}")
    pair = load_direct_and_proxied(stack, stack.instant, CLIENTS, options)
    rows = load_rows(LABEL, pair, throughput_goal=Goal(0.5), p99_goal=None)
    floor = floor_rows(stack, options, pair.direct.result.rps)
    return [*rows, cpu_row(pair.fnproxy.cpu_us["fnproxy"]), *floor]


if __name__ == "__main__":
    run_standalone(__doc__, run)
