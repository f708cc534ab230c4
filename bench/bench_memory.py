"""(d, server) Peak RSS (VmHWM) of the fnproxy server process after the load runs.

In bench/run_all.py it is read after (a), (a2) and (b) have run against the same server; run
alone, it runs those three first. The cold-start children's peaks are in bench_cold_start.py."""

from __future__ import annotations

import bench_batch
import bench_saturation
import bench_throughput
from _common import Options, Row, Stack, progress, run_standalone
from _peak import peak_rss_mib


def run(stack: Stack, options: Options) -> list[Row]:
    assert stack.fnproxy is not None, "this benchmark needs fnproxy running"
    progress("(d) fnproxy server peak RSS")
    return [Row("(d) fnproxy server peak RSS after load (MiB)", peak_rss_mib(stack.fnproxy.pid))]


def run_after_load(stack: Stack, options: Options) -> list[Row]:
    rows = []
    for bench in (bench_throughput, bench_saturation, bench_batch):
        rows += bench.run(stack, options)
    return rows + run(stack, options)


if __name__ == "__main__":
    run_standalone(__doc__, run_after_load)
