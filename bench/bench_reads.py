"""(reads) Reads stay flat: a fresh `fnproxy serve` per store is filled with executions of the
instant function, and `GET /v1/stats` and one history page (`GET /v1/invocations?limit=50`,
newest first) are timed at 1,000 executions and again at N. Goal (issue 16): each read at N
<= 1.5x the same read at 1,000.

Stores: local SQLite (N = --reads-n), DynamoDB on a moto server and Firestore on the emulator
(N = --reads-cloud-n; without the Google Cloud SDK's emulators, gcloud + java, a row says the
Firestore store was skipped). Each stack is fresh and of this benchmark's own.

How it fills. Through the batch route (`POST /v1/invoke/batch`, MAX_BATCH_SIZE = 1000 items a
request; 100 invocations at a time locally, fewer on the emulators) each execution is written,
settled and counted in stats as in production:
- local SQLite: all N through the batch route. Measured on the 2-core machine, 0.2-0.25 ms per
  execution (3,000 in 0.6 s, 20,000 in 5 s): 1M in about 4 minutes.
- DynamoDB and Firestore: the first 100 through the batch route, the rest through the store
  port in bulk (`store.executions.add` of copies of one recorded execution under new ids,
  BULK_CONCURRENCY at a time, from this process). The batch route cannot fill them in
  minutes: each execution is several emulator requests (record, settle with the stats
  rollup, event), measured at 7 ms on the Firestore emulator (100k: 12 minutes) and 112 ms on
  moto, which answers DynamoDB one request at a time (100k: 3 hours); a bulk add is one
  request. The copies skip the settle, so stats count only the first 100: the stats read does
  not depend on the number of executions (it reads rollups, per bucket and function); the
  history page reads the executions' own indexes.

A read's time is the median of READS sequential requests (after WARM unmeasured ones) from
this process over loopback, the whole HTTP round trip, timed once the fnproxy server is quiet
(`Server.wait_quiet`): the work a fill leaves behind (checkpoints, purges) is not the read's.

The emulators' own cost. Under a cloud store's history-page row (and Firestore's stats row),
a note times the read's own store request (the newest ids of today's by_day index on DynamoDB;
the listing query, and the rollups query, on Firestore) sent straight to the emulator through
the official client (boto3, google-cloud-firestore), at 1,000 and at N, the same way. DynamoDB
and Firestore answer it from an index in O(page); where the emulator's time grows by itself,
the growth of the row is the emulator's, not fnproxy's. (DynamoDB's stats read is BatchGetItems
only, which moto answers by key.)

    .venv/bin/python bench/bench_reads.py [--reads-n N] [--reads-cloud-n N] [--reads-stores S]
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from _common import (
    READS_FIRST_N,
    REPO_DIR,
    Goal,
    Options,
    Row,
    Server,
    Stack,
    fetch_token,
    invoke_body,
    median,
    moto_server,
    new_secret_key,
    post_json,
    progress,
    ratio,
    run_standalone,
    spawn_fnproxy,
)
from bench_accounting import environment, google_sdk, start_emulators

sys.path.insert(0, str(REPO_DIR))

FIRST_N = READS_FIRST_N
BATCH_SIZE = 1000
READS = 30
WARM = 3
HISTORY_LIMIT = 50
READ_PATHS = {"GET /v1/stats": "/v1/stats",
              "history page": f"/v1/invocations?limit={HISTORY_LIMIT}"}
GOAL = Goal(1.5, at_least=False)
FILL_TIMEOUT_S = 600.0
"""One batch request at the most (a slow emulator answers 1,000 items in minutes)."""
BULK_CONCURRENCY = 32
ROUTED_FIRST = 100
"""Cloud stores: executions through the batch route before the bulk copies (one to copy)."""


@dataclass(frozen=True)
class Deployment:
    """A fresh fnproxy over one store, how hard the batch fill may push it, and (cloud stores)
    the settings its store is built from for the bulk fill, with their loader, and reads'
    store requests straight to the emulator (by READ_PATHS name)."""

    store: str
    server: Server
    token: str
    concurrency: int
    settings: Mapping[str, str] | None = None
    load_settings: Callable[[Mapping[str, str]], tuple[Any, Any]] | None = None
    emulator_reads: Mapping[str, EmulatorRead] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url


def get_json(url: str, token: str) -> object:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def fill(deployment: Deployment, function_url: str, count: int) -> float:
    """`count` invocations of the instant function through the batch route; the seconds it
    took. Raises unless every one succeeded."""
    started, done = time.monotonic(), 0
    while done < count:
        size = min(BATCH_SIZE, count - done)
        body = {"invocations": [invoke_body(function_url, {"n": done + n}) for n in range(size)],
                "concurrency": deployment.concurrency}
        answer = post_json(deployment.url + "/v1/invoke/batch", body, deployment.token,
                           timeout_s=FILL_TIMEOUT_S)
        if answer["success_count"] != size:
            raise RuntimeError(f"(reads) [{deployment.store}] fill: {answer['failure_count']} "
                               f"of {size} failed: {answer['responses'][0]}")
        done += size
        if done % (count // 10 or 1) < size:
            progress(f"  [{deployment.store}] filled {done:,} / {count:,} "
                     f"({time.monotonic() - started:.0f} s)")
    return time.monotonic() - started


async def _add_copies(deployment: Deployment, template_id: str, count: int) -> None:
    from core.models import new_id
    from core.wiring import build_store

    assert deployment.settings is not None and deployment.load_settings is not None
    settings, _secrets = deployment.load_settings(deployment.settings)
    store = build_store(settings)
    try:
        template = await store.executions.get(template_id)
        assert template is not None, f"no execution {template_id} to copy"
        for done in range(0, count, BULK_CONCURRENCY):
            now = time.time()
            copies = [replace(template, execution_id=new_id(), created_at=now, updated_at=now)
                      for _ in range(min(BULK_CONCURRENCY, count - done))]
            await asyncio.gather(*(store.executions.add(copy) for copy in copies))
            if (done + len(copies)) % (count // 10 or 1) < len(copies):
                progress(f"  [{deployment.store}] added {done + len(copies):,} / {count:,}")
    finally:
        await store.close()


def bulk_fill(deployment: Deployment, count: int) -> float:
    """`count` copies of the newest execution added through the store port; the seconds."""
    started = time.monotonic()
    page = get_json(deployment.url + "/v1/invocations?limit=1", deployment.token)
    asyncio.run(_add_copies(deployment, page["invocations"][0]["execution_id"], count))
    return time.monotonic() - started


def timed_ms(request: Callable[[], object]) -> float:
    """Median ms of READS sequential calls of `request`, after WARM unmeasured ones."""
    times = []
    for n in range(WARM + READS):
        started = time.perf_counter()
        request()
        if n >= WARM:
            times.append((time.perf_counter() - started) * 1000)
    return median(times)


def read_ms(deployment: Deployment, path: str) -> float:
    """Median ms of GETs of `path` (`timed_ms`)."""
    return timed_ms(lambda: get_json(deployment.url + path, deployment.token))


@dataclass(frozen=True)
class EmulatorRead:
    """The history page's store request, sent straight to a cloud store's emulator through
    the official client (`time_ms` on the store's settings): the emulator's own cost at a size,
    apart from fnproxy's; `cause` says why it may grow where the cloud service does not."""

    request: str
    cause: str
    time_ms: Callable[[Any], float]


def moto_history_query_ms(settings: Any) -> float:
    """fnproxy's history-page Query (newest first, a page and one more) of today's by_day
    index partition, through boto3."""
    import boto3

    from core.store import dynamodb_schema as schema

    client = boto3.client("dynamodb", region_name=settings.aws_region,
                          endpoint_url=settings.aws_endpoint_url)
    index, partition = schema.listing_partition(schema.utc_day(time.time()), None, None)
    query = {"TableName": settings.dynamodb_table, "IndexName": index,
             "KeyConditionExpression": "#partition = :partition",
             "ExpressionAttributeNames": {"#partition": index},
             "ExpressionAttributeValues": {":partition": {"S": partition}},
             "ScanIndexForward": False, "Limit": HISTORY_LIMIT + 1}
    try:
        return timed_ms(lambda: client.query(**query))
    finally:
        client.close()


def firestore_query_ms(settings: Any, kind: str, query_of: Callable[[Any], Any]) -> float:
    """The query `query_of` builds on the store's `kind` collection, timed through
    google-cloud-firestore's synchronous client (a query is built the same way on either)."""
    from google.cloud.firestore_v1 import Client

    from core.store import firestore_schema as schema

    client = Client(project=settings.gcp_project_id, database=settings.firestore_database)
    collection = client.collection(schema.collection(settings.firestore_prefix, kind))
    try:
        return timed_ms(query_of(collection).get)
    finally:
        client.close()


def firestore_stats_query_ms(settings: Any) -> float:
    """fnproxy's stats query (`core.store.firestore.rollups_query`: every function's rollup
    shards of the last 24 hourly buckets) on the stats collection."""
    from core.store import firestore_schema as schema
    from core.store.firestore import rollups_query

    now = int(time.time()) // settings.stats_bucket_s * settings.stats_bucket_s
    since = now - 24 * settings.stats_bucket_s
    return firestore_query_ms(
        settings, schema.STATS, lambda stats: rollups_query(stats, since, now, None)
    )


def firestore_history_query_ms(settings: Any) -> float:
    """fnproxy's history-page query (`core.store.firestore.listing_query`: the retention
    window's ids, newest first, a page and one more)."""
    from core.models import id_floor
    from core.store import firestore_schema as schema
    from core.store.firestore import listing_query

    oldest = id_floor(time.time() - settings.history_retention_days * 86400)
    return firestore_query_ms(
        settings,
        schema.EXECUTIONS,
        lambda executions: listing_query(executions, None, None, oldest, None, HISTORY_LIMIT + 1),
    )


def grow(deployment: Deployment, function_url: str, count: int) -> float:
    """`count` more executions, the seconds it took: bulk copies through the store port for a
    cloud store, the batch route for the local one."""
    if deployment.settings is not None:
        return bulk_fill(deployment, count)
    return fill(deployment, function_url, count)


def measure(deployment: Deployment, function_url: str, n: int) -> list[Row]:
    """The reads at FIRST_N executions and at `n`, one row per read."""
    label = f"(reads) [{deployment.store}]"
    progress(f"{label} filling {FIRST_N:,}, then {n:,} executions")
    bulk = deployment.settings is not None
    routed = ROUTED_FIRST if bulk else FIRST_N
    routed_s = fill(deployment, function_url, routed)
    grown_s = grow(deployment, function_url, FIRST_N - routed)
    quiet_s = deployment.server.wait_quiet()
    at_first = {name: read_ms(deployment, path) for name, path in READ_PATHS.items()}
    emulator_at_first = emulator_ms(deployment)
    grown_s += grow(deployment, function_url, n - FIRST_N)
    quiet_s += deployment.server.wait_quiet()
    at_n = {name: read_ms(deployment, path) for name, path in READ_PATHS.items()}
    emulator_at_n = emulator_ms(deployment)
    count = get_json(deployment.url + "/v1/stats", deployment.token)["count"]
    how = "the store port in bulk" if bulk else "the batch route"
    notes = [f"{label}: {routed:,} executions through the batch route in {routed_s:.0f} s "
             f"({routed_s * 1e6 / routed:.0f} us each), {n - routed:,} through {how} in "
             f"{grown_s:.0f} s ({grown_s * 1e6 / max(n - routed, 1):.0f} us each); stats count "
             f"{count:,}; read = median of {READS} GETs, ms at {n:,} vs {FIRST_N:,}, each set once "
             f"fnproxy's own work after the fill had ended (waited {quiet_s:.1f} s)"]
    row_notes = {name: [] for name in READ_PATHS} | {"GET /v1/stats": notes}
    for name, read in deployment.emulator_reads.items():
        row_notes[name].append(emulator_note(label, read, n, emulator_at_n[name],
                                             emulator_at_first[name]))
    return [Row(f"{label} {name} at {n:,} vs {FIRST_N:,} (ms)", at_n[name], at_first[name],
                ratio(at_n[name], at_first[name]), GOAL, row_notes[name])
            for name in READ_PATHS]


def emulator_ms(deployment: Deployment) -> dict[str, float]:
    """The deployment's `EmulatorRead`s timed now, by read."""
    if not deployment.emulator_reads:
        return {}
    assert deployment.settings is not None and deployment.load_settings is not None
    settings, _secrets = deployment.load_settings(deployment.settings)
    return {name: read.time_ms(settings) for name, read in deployment.emulator_reads.items()}


def emulator_note(label: str, read: EmulatorRead, n: int, at_n: float, at_first: float) -> str:
    return (f"{label} the emulator alone: {read.request}: {at_n:.1f} ms at {n:,} vs "
            f"{at_first:.1f} at {FIRST_N:,} ({ratio(at_n, at_first):.2f}x); {read.cause}")


MOTO_HISTORY_QUERY = EmulatorRead(
    "the history page's Query of the by_day index (newest 51 keys) through boto3",
    "moto answers every Query by sorting the whole table's items "
    "(moto/dynamodb/models/table.py, Table.query -> all_items()); DynamoDB reads the 51 keys "
    "from the index partition",
    moto_history_query_ms,
)
FIRESTORE_STATS_QUERY = EmulatorRead(
    "the stats read's query of the rollup shards (24 h of buckets, a few documents) through "
    "google-cloud-firestore",
    "the rollups do not grow with the executions, so what grows here is the (closed-source) "
    "emulator's own cost as its database grows; Firestore answers it from the bucket_start "
    "index",
    firestore_stats_query_ms,
)
FIRESTORE_HISTORY_QUERY = EmulatorRead(
    "the history page's query (execution_id >= window start, newest 51) through "
    "google-cloud-firestore",
    "the emulator's (closed-source) query time grows with the collection; Firestore answers "
    "it from the execution_id index, reading the 51 documents",
    firestore_history_query_ms,
)


@contextmanager
def local_deployment(work_dir: Path) -> Iterator[Deployment]:
    key = new_secret_key()
    server = spawn_fnproxy(key, work_dir / "data", work_dir)
    try:
        server.wait_ready("/health")
        yield Deployment("local SQLite", server, fetch_token(server.url, key), 100)
    finally:
        server.stop()


@contextmanager
def aws_deployment(work_dir: Path) -> Iterator[Deployment]:
    """fnproxy serve on the moto stack (DynamoDB, SNS, SQS, the key in Secrets Manager)."""
    from core.wiring import load_aws_settings
    from tests.aws.aws_stack import create_stack
    from tests.conftest import AWS_TEST_ENV

    with ExitStack() as exits:
        moto = exits.enter_context(moto_server(work_dir))
        exits.enter_context(environment(AWS_TEST_ENV))
        aws = create_stack(moto.url)
        settings = {**AWS_TEST_ENV, **aws.environment(LOG_LEVEL="WARNING",
                                                      EGRESS_ALLOW="127.0.0.1")}
        server = spawn_fnproxy(aws.module_key, work_dir / "data", work_dir, settings=settings)
        exits.callback(server.stop)
        server.wait_ready("/health")
        token = fetch_token(server.url, aws.module_key)
        yield Deployment("DynamoDB (moto)", server, token, 16, settings, load_aws_settings,
                         {"history page": MOTO_HISTORY_QUERY})


@contextmanager
def gcp_deployment(work_dir: Path) -> Iterator[Deployment]:
    """fnproxy serve on the emulator stack (Firestore, Pub/Sub, the key in the test Secret
    Manager)."""
    sdk = google_sdk()
    assert sdk is not None, "gcp_deployment needs the Google Cloud SDK"
    with ExitStack() as exits:
        emulators = start_emulators(sdk, work_dir, exits)
        exits.enter_context(environment(emulators))
        from core.wiring import load_gcp_settings
        from tests.gcp.gcp_stack import create_stack
        from tests.gcp.secret_manager_server import SecretManagerServer

        secrets_server = SecretManagerServer()
        secrets_server.start()
        exits.callback(secrets_server.stop)
        gcp = create_stack(secrets_server)
        settings = {**emulators, **gcp.environment(LOG_LEVEL="WARNING")}
        server = spawn_fnproxy(gcp.module_key, work_dir / "data", work_dir, settings=settings)
        exits.callback(server.stop)
        server.wait_ready("/health")
        token = fetch_token(server.url, gcp.module_key)
        yield Deployment("Firestore (emulator)", server, token, 32, settings,
                         load_gcp_settings, {"GET /v1/stats": FIRESTORE_STATS_QUERY,
                                             "history page": FIRESTORE_HISTORY_QUERY})


STORES: dict[str, tuple[Callable[[Path], AbstractContextManager[Deployment]], bool]] = {
    "local": (local_deployment, False),
    "aws": (aws_deployment, True),
    "gcp": (gcp_deployment, True),
}
"""Each store's stack, and whether it is a cloud store (filled to --reads-cloud-n)."""


def run(stack: Stack, options: Options) -> list[Row]:
    rows: list[Row] = []
    for name in options.reads_stores:
        start, cloud = STORES[name]
        if name == "gcp" and google_sdk() is None:
            rows.append(Row("(reads) [Firestore] skipped: the Google Cloud SDK's emulators "
                            "(gcloud + java) are not installed", None))
            continue
        work_dir = stack.work_dir / f"reads-{name}"
        work_dir.mkdir()
        with start(work_dir) as deployment:
            n = options.reads_cloud_n if cloud else options.reads_n
            try:
                rows += measure(deployment, stack.instant.url + "/fn", n)
            except OSError as error:  # urllib's HTTPError and URLError included
                rows.append(failed_row(deployment, n, error))
    return rows


def failed_row(deployment: Deployment, n: int, error: OSError) -> Row:
    """A store that could not be filled to, or read at, `n` executions: the row says so, with
    the problem fnproxy answered, and the other stores' rows are kept."""
    detail = str(error)
    if isinstance(error, urllib.error.HTTPError):
        detail = f"{detail}: {error.read()[:300].decode(errors='replace')}"
    progress(f"(reads) [{deployment.store}] failed at {n:,}: {detail}")
    return Row(f"(reads) [{deployment.store}] at {n:,}: failed ({detail[:120]})", None)


if __name__ == "__main__":
    run_standalone(__doc__, run, with_fnproxy=False)
