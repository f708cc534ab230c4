"""(a2) Saturation: 128 concurrent clients calling a function that answers at once, through
fnproxy vs directly. Goal: throughput >= 0.5x direct."""

from __future__ import annotations

from _common import (
    Goal,
    Options,
    Row,
    Stack,
    load_direct_and_proxied,
    load_rows,
    progress,
    run_standalone,
)

CLIENTS = 128
LABEL = "(a2) 128 clients, instant fn"


def run(stack: Stack, options: Options) -> list[Row]:
    progress(f"{LABEL}")
    pair = load_direct_and_proxied(stack, stack.instant, CLIENTS, options)
    return load_rows(LABEL, pair, throughput_goal=Goal(0.5), p99_goal=None)


if __name__ == "__main__":
    run_standalone(__doc__, run)
