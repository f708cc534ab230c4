"""(a2) Saturation: 128 concurrent clients calling a function that answers at once, through
fnproxy vs directly. Goal: throughput >= 0.5x direct.

Its run also gives issue 16's row "fnproxy CPU per proxied request": the CPU time of the
fnproxy server process (/proc/<pid>/stat) over the run, warm-up included, divided by every
request answered in it, against the issue's budget of 150 us (goal <= 1x)."""

from __future__ import annotations

from _common import (
    Goal,
    Options,
    Row,
    Stack,
    load_direct_and_proxied,
    load_rows,
    progress,
    ratio,
    run_standalone,
)

CLIENTS = 128
LABEL = "(a2) 128 clients, instant fn"
CPU_BUDGET_US = 150.0
CPU_LABEL = "fnproxy CPU per proxied request (us), (a2) run vs budget"


def cpu_row(fnproxy_us: float) -> Row:
    return Row(CPU_LABEL, fnproxy_us, CPU_BUDGET_US, ratio(fnproxy_us, CPU_BUDGET_US),
               Goal(1.0, at_least=False),
               notes=[f"CPU per proxied request: the fnproxy server's CPU in the (a2) run per "
                      f"request answered; reference = the issue's {CPU_BUDGET_US:.0f} us budget"])


def run(stack: Stack, options: Options) -> list[Row]:
    progress(f"{LABEL}")
    pair = load_direct_and_proxied(stack, stack.instant, CLIENTS, options)
    rows = load_rows(LABEL, pair, throughput_goal=Goal(0.5), p99_goal=None)
    return [*rows, cpu_row(pair.fnproxy.cpu_us["fnproxy"])]


if __name__ == "__main__":
    run_standalone(__doc__, run)
