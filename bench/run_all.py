"""Every benchmark in one run, with one combined table (issue 16's rows with their goals):
(a) 16 clients / 20 ms function, (a2) 128 clients / instant function and fnproxy's CPU per
proxied request in that run, (b) a batch of 1000, (r) by registry name, (l) the Lambda API
front's SigV4 cost and boto3 against /v1/invoke, (g) gRPC against REST, (w) 2 worker processes
against 1 under (a2)'s load on the moto and emulator stacks, (d) fnproxy's peak RSS after the
load, (c) cold start of the local server, (c-aws) of the Lambda entry on moto, (c-gcp) of the
Cloud Functions entry on the emulators against the GCP-native baseline, each with its
children's peak RSS (d), (reads) stats and a history page at 1k executions vs N on SQLite,
DynamoDB (moto) and Firestore (emulator), (e) sent = answered = recorded = published = stats
on the local, moto and emulator stacks.

    .venv/bin/python bench/run_all.py [--duration S] [--warmup S] [--cold-runs N] [--batches N]
        [--reads-n N] [--reads-cloud-n N] [--reads-stores local,aws,gcp]
        [--workers-stacks aws,gcp]
"""

from __future__ import annotations

import time
from types import ModuleType

import aws_cold_start
import bench_accounting
import bench_batch
import bench_cold_start
import bench_grpc
import bench_lambda_api
import bench_memory
import bench_reads
import bench_registry
import bench_saturation
import bench_throughput
import bench_workers
import gcp_cold_start
from _common import (
    Options,
    Row,
    Stack,
    format_table,
    machine_line,
    parse_options,
    progress,
    start_stack,
)

BENCHMARKS = (
    bench_throughput,
    bench_saturation,
    bench_batch,
    bench_registry,
    bench_lambda_api,
    bench_grpc,
    bench_workers,
    bench_memory,
    bench_cold_start,
    aws_cold_start,
    gcp_cold_start,
    bench_reads,
    bench_accounting,
)


def run_one(bench: ModuleType, stack: Stack, options: Options) -> list[Row]:
    """The benchmark's rows; one row saying how it failed, if it did, so that a failure late
    in the run does not lose the table of the others."""
    try:
        return bench.run(stack, options)
    except Exception as error:  # noqa: BLE001 - any failure: reported as a row, run goes on
        progress(f"{bench.__name__} failed: {error!r}")
        return [Row(f"{bench.__name__} failed: {str(error)[:120]}", None)]


def main() -> None:
    options = parse_options(__doc__.split("\n\n")[0])
    started = time.monotonic()
    rows = []
    with start_stack(with_grpc=True) as stack:
        for bench in BENCHMARKS:
            rows += run_one(bench, stack, options)
    progress(f"all benchmarks ran in {time.monotonic() - started:.0f} s")
    print(machine_line())
    print(f"load: {options.warmup_s:g} s warm-up + {options.duration_s:g} s measured per run; "
          "ratio = fnproxy / reference, except (b): ideal / fnproxy, (w): 2 workers / 1")
    print(format_table(rows))


if __name__ == "__main__":
    main()
