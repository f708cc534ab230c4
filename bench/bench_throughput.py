"""(a) 16 concurrent clients calling a 20 ms HTTP function, through fnproxy vs directly.
Goals (issue 16): throughput >= 0.95x direct, p99 <= 1.2x direct."""

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

CLIENTS = 16
LABEL = "(a) 16 clients, 20 ms fn"


def run(stack: Stack, options: Options) -> list[Row]:
    progress(f"{LABEL}")
    pair = load_direct_and_proxied(stack, stack.slow, CLIENTS, options)
    return load_rows(LABEL, pair, throughput_goal=Goal(0.95), p99_goal=Goal(1.2, at_least=False))


if __name__ == "__main__":
    run_standalone(__doc__, run)
