"""(b) One batch of 1000 invocations of the 20 ms function at concurrency 100, against the ideal
1000 / 100 x 20 ms = 200 ms. Goal: ideal / wall time >= 0.8 (wall time <= 250 ms).

One unmeasured batch warms fnproxy's connection pool; the wall time is the median of the
measured batches, seen by the caller (request, 1000 invocations, 1000-item answer)."""

from __future__ import annotations

import time

from _common import (
    SLOW_FUNCTION_DELAY_S,
    Goal,
    Options,
    Row,
    Stack,
    invoke_body,
    median,
    post_json,
    progress,
    ratio,
    run_standalone,
)

SIZE = 1000
CONCURRENCY = 100
IDEAL_MS = SIZE / CONCURRENCY * SLOW_FUNCTION_DELAY_S * 1000
LABEL = f"(b) batch {SIZE} x 20 ms fn @ {CONCURRENCY}: wall (ms)"


def one_batch(stack: Stack) -> float:
    """Wall time of one batch in ms; raises unless every invocation succeeded."""
    assert stack.fnproxy is not None, "this benchmark needs fnproxy running"
    body = {"invocations": [invoke_body(stack.slow.url + "/fn", {"n": n}) for n in range(SIZE)],
            "concurrency": CONCURRENCY}
    started = time.perf_counter()
    answer = post_json(stack.fnproxy.url + "/v1/invoke/batch", body, stack.token)
    wall_ms = (time.perf_counter() - started) * 1000
    if answer["success_count"] != SIZE:
        raise RuntimeError(f"batch: {answer['failure_count']} of {SIZE} failed: "
                           f"{answer['responses'][0]}")
    return wall_ms


def run(stack: Stack, options: Options) -> list[Row]:
    assert stack.fnproxy is not None, "this benchmark needs fnproxy running"
    progress(LABEL)
    one_batch(stack)  # warm-up
    cpu_before = stack.fnproxy.cpu_seconds()
    walls = [one_batch(stack) for _ in range(options.batches)]
    cpu_ms = (stack.fnproxy.cpu_seconds() - cpu_before) * 1000 / options.batches
    wall = median(walls)
    notes = [f"(b): {options.batches} batches, wall ms min {min(walls):.0f} / "
             f"median {wall:.0f} / max {max(walls):.0f}; ratio = ideal / wall",
             f"(b): fnproxy CPU per batch {cpu_ms:.0f} ms ({cpu_ms * 1000 / SIZE:.0f} us per "
             "invocation)"]
    return [Row(LABEL, wall, IDEAL_MS, ratio(IDEAL_MS, wall), Goal(0.8), notes=notes)]


if __name__ == "__main__":
    run_standalone(__doc__, run)
