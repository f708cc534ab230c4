"""(c-gcp) Cold start of the GCP HTTP entry point: a fresh process does what the Cloud Functions
Python runtime does at start - functions-framework's `create_app(target="http",
source="handlers/gcp_function.py")`, which imports functions-framework and fnproxy's entry
module - then runs the ASGI app's lifespan startup and answers ONE `POST /v1/invoke` that
invokes an HTTP function as a `gcp_functions` target by URL (fnproxy: settings, services on
Firestore and Pub/Sub built on that first request, JWT check, the call, execution record and
stats rollup in the Firestore emulator, outcome CloudEvent published to the Pub/Sub emulator) -
against the GCP-native baseline of issue 16 (bench/_gcp_baseline_app.py, loaded the same way by
functions-framework: FastAPI; Firestore, Pub/Sub and Secret Manager clients made eagerly; JWT
with pyjwt, the call with httpx, the record and a stats counter in Firestore, the outcome event
to Pub/Sub). Each side runs with its module key in the environment and (`--key-from
both|secret-manager`) read from Secret Manager, as deployed (the test server of tests/gcp, over
gRPC); each fnproxy row is compared with the baseline that takes its key the same way.
Goals (issue 16): fnproxy <= 0.5x the baseline; peak RSS <= 64 MiB.

The floor side (`floor-gcp`, measured with the environment's key source, against
`baseline-gcp`, in the `fnproxy-gcp` side's environment) is bench/_gcp_floor_app.py loaded the
same way: functions-framework with the Firestore and Pub/Sub clients alone, made on the first
request, writing the record, adding to the counter and publishing the event, with no JWT and no
call of the function - the least any entry on those clients can cost. Its rows have no goal: a
ratio goal below the floor's cannot be met with the Google clients.

    .venv/bin/python bench/gcp_cold_start.py [--runs 7] [--key-from environment]

The bench starts its own Firestore and Pub/Sub emulators (the Google Cloud SDK's, with java)
and function server, and creates the topics and the secret before any timing. Time runs from
just before the child is spawned to its marker line (the answer), in the parent; median of the
runs, sides alternating, after one unmeasured run each. The token is minted here, so neither
child makes a token round trip.

This file is also the child (`gcp_cold_start.py child SOURCE`): the child's clock starts on its
first line, and it runs and exits before any of the parent's imports.
"""

import time

STARTED = time.perf_counter()

import asyncio  # noqa: E402 - the clock above starts before every import
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

from _asgi import Lifespan, post  # noqa: E402
from _peak import peak_rss_mib  # noqa: E402

MARKER = "COLD "
ENTRY_TARGET = "http"
ENTRY_SOURCE = "handlers/gcp_function.py"
BASELINE_SOURCE = "bench/_gcp_baseline_app.py"
FLOOR_SOURCE = "bench/_gcp_floor_app.py"


def elapsed_ms() -> float:
    return round((time.perf_counter() - STARTED) * 1000, 2)


# --- the child ----------------------------------------------------------------------------


async def first_invoke(app, milestones: dict) -> None:
    body = json.dumps(
        {
            "target": {"provider": "gcp_functions", "url": os.environ["BENCH_FUNCTION_URL"]},
            "payload": {"n": 1},
        }
    ).encode()
    headers = {
        "content-type": "application/json",
        "authorization": f"Bearer {os.environ['BENCH_TOKEN']}",
    }
    async with Lifespan(app):
        milestones["started_ms"] = elapsed_ms()
        status, answer = await post(app, "/v1/invoke", body, headers)
        milestones["answered_ms"] = elapsed_ms()
        success = status == 200 and json.loads(answer).get("success") is True
        marker = {
            "status": status,
            "success": success,
            "peak_rss_mib": peak_rss_mib(),
            **milestones,
        }
        print(MARKER + json.dumps(marker), flush=True)
        if not success:
            print(answer.decode(errors="replace")[:2000], file=sys.stderr)


def run_child(source: str) -> None:
    """What the runtime does at start (functions-framework's create_app, which loads the
    module `source`), then one invoke. Milestones: `runtime` functions-framework imported,
    `imported` = `built` the module loaded (fnproxy builds its services on the first request,
    the baseline its clients at import), `started` the lifespan's startup done, `answered`."""
    from functions_framework import create_app

    milestones = {"runtime_ms": elapsed_ms()}
    app = create_app(ENTRY_TARGET, source)
    milestones["imported_ms"] = milestones["built_ms"] = elapsed_ms()
    asyncio.run(first_invoke(app, milestones))


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    run_child(sys.argv[2])
    sys.exit(0)


# --- the parent (its imports come after the child's exit above) ---------------------------

import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import ExitStack, contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

from _common import (  # noqa: E402
    PYTHON,
    REPO_DIR,
    Goal,
    Options,
    Row,
    Stack,
    child_env,
    format_table,
    machine_line,
    median,
    mint_token,
    new_secret_key,
    progress,
    ratio,
    spawn_function_server,
)
from bench_accounting import (  # noqa: E402
    emulator_environment,
    environment,
    google_sdk,
    spawn_emulators,
)
from bench_cold_start import (  # noqa: E402
    CHILD_TIMEOUT_S,
    MILESTONES,
    ColdRun,
    alternate_runs,
    metric_median,
    parse_cloud_options,
    read_marker,
    reap,
    rss_row,
)

sys.path.insert(0, str(REPO_DIR))
from google.cloud import pubsub_v1  # noqa: E402

from tests.gcp.gcp_stack import create_secret, unique  # noqa: E402
from tests.gcp.secret_manager_server import SecretManagerServer  # noqa: E402

PROJECT = "demo-fnproxy"
FNPROXY_SIDES = {
    "fnproxy-gcp": "module key from the environment",
    "fnproxy-gcp-sm": "module key from Secret Manager (the test server), as deployed",
}
FLOOR = "floor-gcp"
FLOOR_LABEL = "floor: Google clients alone"
BASELINE_OF = {
    "fnproxy-gcp": "baseline-gcp",
    "fnproxy-gcp-sm": "baseline-gcp-sm",
    FLOOR: "baseline-gcp",
}
"""The baseline each fnproxy side is compared with: the one that takes its key the same way
(the floor reads no key: the baseline with its key in the environment)."""
SOURCES = {
    **dict.fromkeys(FNPROXY_SIDES, ENTRY_SOURCE),
    **dict.fromkeys(BASELINE_OF.values(), BASELINE_SOURCE),
    FLOOR: FLOOR_SOURCE,
}
KEY_FROM = {
    "environment": ("fnproxy-gcp", "baseline-gcp", FLOOR),
    "secret-manager": ("fnproxy-gcp-sm", "baseline-gcp-sm"),
}
KEY_FROM["both"] = KEY_FROM["environment"] + KEY_FROM["secret-manager"]


def child_cold_start(side: str, env: dict[str, str]) -> ColdRun:
    command = [PYTHON, str(Path(__file__).resolve()), "child", SOURCES[side]]
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    with tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=REPO_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            marker = read_marker(process, deadline)
            answered = time.perf_counter()
            reap(process, deadline)
            exited = time.perf_counter()
        finally:
            process.stdout.close()
            if process.returncode is None:
                process.kill()
                process.wait()
        if not marker["success"] or process.returncode != 0:
            stderr.seek(0)
            raise RuntimeError(f"{side} cold start failed ({marker}):\n{stderr.read()[-3000:]}")
    return ColdRun(
        (answered - started) * 1000,
        (exited - started) * 1000,
        marker["peak_rss_mib"],
        {name: marker[name] for name in (*MILESTONES, "runtime_ms")},
    )


# --- emulators and resources --------------------------------------------------------------

def create_topics() -> tuple[str, str]:
    """The events and async topics (PUBSUB_EMULATOR_HOST is set)."""
    publisher = pubsub_v1.PublisherClient()
    topics = tuple(
        publisher.create_topic(name=publisher.topic_path(PROJECT, unique(f"bench-{kind}"))).name
        for kind in ("events", "async")
    )
    publisher.transport.close()
    return topics


def function_settings(
    emulators: dict[str, str], collection_prefix: str = "bench"
) -> dict[str, str]:
    """The Cloud Function's configuration on the emulators (`firestore`, `pubsub`: host:port),
    with topics of its own (created here: PUBSUB_EMULATOR_HOST is set); no module key."""
    events_topic, async_topic = create_topics()
    return {
        "FNPROXY_PLATFORM": "gcp",
        "GCP_PROJECT_ID": PROJECT,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "FIRESTORE_EMULATOR_HOST": emulators["firestore"],
        "PUBSUB_EMULATOR_HOST": emulators["pubsub"],
        "FIRESTORE_COLLECTION_PREFIX": collection_prefix,
        "EVENTS_TOPIC": events_topic,
        "ASYNC_TOPIC": async_topic,
        "GCP_ID_TOKENS": "false",
        "EGRESS_ALLOW": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }


@contextmanager
def secret_manager() -> Iterator[SecretManagerServer]:
    server = SecretManagerServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def children_envs(
    emulators: dict[str, str], key: str, secret: str, secret_host: str
) -> dict[str, dict[str, str]]:
    """The environment of each side: the Cloud Function's configuration, the key in
    MODULE_SECRET_KEY or a reference to its secret in MODULE_SECRET_KEY_SECRET. The baselines
    create their Secret Manager client whatever the key's source, so they always have the test
    server's address; the floor has the `fnproxy-gcp` side's."""
    common = child_env(**function_settings(emulators))
    common = {name: value for name, value in common.items() if not name.startswith("MODULE_")}
    from_secret = {
        **common,
        "MODULE_SECRET_KEY_SECRET": secret,
        "SECRETMANAGER_EMULATOR_HOST": secret_host,
    }
    from_env = {**common, "MODULE_SECRET_KEY": key}
    return {
        "fnproxy-gcp": from_env,
        "fnproxy-gcp-sm": from_secret,
        "baseline-gcp": {**from_env, "SECRETMANAGER_EMULATOR_HOST": secret_host},
        "baseline-gcp-sm": from_secret,
        FLOOR: from_env,
    }


# --- runs and the table -------------------------------------------------------------------


def once_for(envs: dict[str, dict[str, str]]) -> Callable[[str], ColdRun]:
    def once(side: str) -> ColdRun:
        return child_cold_start(side, envs[side])

    return once


def metric_median_of(runs: list[ColdRun], milestone: str) -> float:
    return median([run.milestones[milestone] for run in runs])


def milestones_note(results: dict[str, list[ColdRun]], side: str) -> str:
    marks = ", ".join(
        f"{name.removesuffix('_ms')} {metric_median_of(results[side], name):.0f}"
        for name in ("runtime_ms", *MILESTONES)
    )
    return f"(c-gcp) {side} child, median ms since its first line: {marks}"


def floor_notes(results: dict[str, list[ColdRun]]) -> list[str]:
    """What the floor is and what its ratio says; none when it was not measured."""
    if FLOOR not in results:
        return []
    floor, base = (
        metric_median(results[side], "first_answer_ms") for side in (FLOOR, BASELINE_OF[FLOOR])
    )
    return [
        f"(c-gcp) [{FLOOR_LABEL}]: {FLOOR_SOURCE}: functions-framework + Firestore and Pub/Sub "
        "clients made on the first request; the record, the counter, the event; no JWT, no call",
        f"(c-gcp) [{FLOOR_LABEL}]: no goal, the least any entry on these clients costs: at "
        f"{ratio(floor, base):.2f}x, a ratio goal below that cannot be met with them",
    ]


def rows_for(results: dict[str, list[ColdRun]]) -> list[Row]:
    sides = [side for side in FNPROXY_SIDES if side in results]
    labels = {side: side for side in sides}
    if FLOOR in results:
        labels[FLOOR] = FLOOR_LABEL
    notes = [
        f"(c-gcp): median of {len(results[sides[0]])} runs per side, alternating; a fresh "
        "process: functions-framework's create_app of the http target, then one POST /v1/invoke "
        "(a function by URL; Firestore + Pub/Sub emulators); ratio = side / its baseline",
        "(c-gcp): baseline = bench/_gcp_baseline_app.py: FastAPI + eager Firestore, Pub/Sub and "
        "Secret Manager clients; JWT with pyjwt, the call with httpx, the record and a stats "
        "counter in Firestore, the outcome event to Pub/Sub",
        *(
            f"(c-gcp) [{side}]: {FNPROXY_SIDES[side]}, against {BASELINE_OF[side]}, the same"
            for side in sides
        ),
        *floor_notes(results),
        *(milestones_note(results, side) for side in results),
        "(c-gcp): runtime = functions-framework itself imported (flask, starlette, cloudevents)",
        "(c-gcp): fastest first answer: "
        + ", ".join(
            f"{side} {min(r.first_answer_ms for r in runs):.0f} ms"
            for side, runs in results.items()
        ),
    ]
    rows: list[Row] = []
    for what, metric, goal in (
        ("cold start to first answer (ms)", "first_answer_ms", Goal(0.5, at_least=False)),
        ("child import-only time (ms)", "imported_ms", None),
    ):
        for side, label in labels.items():
            value = metric_median(results[side], metric)
            base = metric_median(results[BASELINE_OF[side]], metric)
            rows.append(
                Row(
                    f"(c-gcp) [{label}] {what}",
                    value,
                    base,
                    ratio(value, base),
                    None if side == FLOOR else goal,
                    [] if rows else notes,
                )
            )
    rows += [
        rss_row(
            f"(d-gcp) [{label}]",
            metric_median(results[side], "peak_rss_mib"),
            metric_median(results[BASELINE_OF[side]], "peak_rss_mib"),
            goal=side != FLOOR,
        )
        for side, label in labels.items()
    ]
    return rows


def measure(sdk: Path, runs: int, key_from: str = "both") -> list[Row]:
    """`runs` cold starts of each side, on emulators of its own, and their rows."""
    sides = KEY_FROM[key_from]
    work_dir = Path(tempfile.mkdtemp(prefix="gcp-cold-"))
    key = new_secret_key()
    try:
        with ExitStack() as running:
            progress("(c-gcp) starting the Firestore and Pub/Sub emulators and the function")
            emulators = spawn_emulators(sdk, work_dir, running)
            running.enter_context(environment(emulator_environment(emulators)))
            hosts = {name: emulator.address for name, emulator in emulators.items()}
            function = spawn_function_server(0.0, work_dir)
            running.callback(function.stop)
            function.wait_ready("/")
            server = running.enter_context(secret_manager())
            secret = create_secret(server, key, PROJECT)
            envs = children_envs(hosts, key, secret, server.host)
            token = mint_token(key)
            for env in envs.values():
                env.update(BENCH_TOKEN=token, BENCH_FUNCTION_URL=function.url + "/fn")
            results = alternate_runs(sides, once_for(envs), runs)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return rows_for(results)


def run(stack: Stack, options: Options) -> list[Row]:
    """In bench/run_all.py: both key sources and the floor, `--cold-runs` runs each; without
    the Google Cloud SDK's emulators, one row that says so."""
    progress("(c-gcp) cold start of the GCP HTTP entry, on the emulators")
    sdk = google_sdk()
    if sdk is None:
        return [
            Row(
                "(c-gcp) skipped: the Google Cloud SDK's emulators (gcloud + java) are not "
                "installed",
                None,
            )
        ]
    return measure(sdk, options.cold_runs)


def main() -> None:
    options = parse_cloud_options(
        __doc__.split("\n\n")[0],
        KEY_FROM,
        "where both sides take the module key: the environment, Secret Manager (as deployed)",
    )
    sdk = google_sdk()
    if sdk is None:
        raise SystemExit("this benchmark needs the Google Cloud SDK's emulators (gcloud + java)")
    rows = measure(sdk, options.runs, options.key_from)
    print(machine_line())
    print(format_table(rows))


if __name__ == "__main__":
    main()
