"""(c-aws) Cold start of the AWS Lambda entry point: a fresh process imports `handlers.aws_lambda`
and answers ONE API Gateway v2 event `POST /v1/invoke` that invokes a Lambda function in moto
and records it in DynamoDB (fnproxy: module key from Secrets Manager, JWT check, Lambda invoke,
execution record + stats rollup in DynamoDB, outcome CloudEvent to SNS, EMF metrics, JSON logs)
- against the foundation issue's baseline doing the same through Mangum: FastAPI + Mangum +
powertools Logger/Metrics/Tracer + five boto3 clients (lambda, dynamodb, sns, sqs,
secretsmanager) made eagerly; its route verifies the JWT with pyjwt (key from the environment:
no Secrets Manager call), invokes the function with boto3, PutItem's one record and answers.
fnproxy is measured twice: as deployed (module key from Secrets Manager) and with the module key
in the environment as the baseline has it (`MODULE_SECRET_KEY`, no `_SECRET_ARN`: no Secrets
Manager client at all), so that the second row compares the same work.
Goals (issue 16): fnproxy <= 0.4x the baseline; peak RSS <= 64 MiB.

The floor side (`floor`, always measured, with the `fnproxy-env` side's environment) is the least
any Lambda entry built on the packages chosen for fnproxy can do for that event: it imports them
(`FLOOR_PACKAGES`: boto3, powertools' logging and metrics, mangum, starlette, pydantic, pyjwt)
and uses none but boto3: its lambda, dynamodb and sns clients made on the event (lazily, the
best case), then the Lambda Invoke, one PutItem and the outcome's SNS Publish that fnproxy's
first invoke makes. Its rows have no goal: a ratio goal below the floor's cannot be met on
those packages.

    .venv/bin/python bench/aws_cold_start.py [--runs 7] [--key-from KEY_FROM] [--artifact]

`--key-from both|secrets-manager|environment` picks the fnproxy rows (default both); the
baseline and the floor are always measured.

`--artifact` measures the deployed artifact instead (in bench/run_all.py: as well, when it is
built): build/aws/fnproxy-lambda.zip (`make build`) unpacked, run by Lambda's python3.12 (the
build's, `deploy.build.lambda_python`) with nothing but the zip on its path and no bytecode
written, as /var/task is read-only - as built, with its bytecode, against the same zip without
it (what the build shipped before it compiled the bytecode). Same event, same moto, module key
from Secrets Manager.

The bench starts its own moto server and creates the resources (tests/aws/aws_stack.py) before
any timing. Time runs from just before the child is spawned to its marker line (the answer), in
the parent; median of the runs, the sides alternating, after one unmeasured run each.
The token is minted here, so neither child makes a token round trip.

This file is also the child (`aws_cold_start.py child fnproxy|baseline|floor`): the child's clock
starts on its first line, and it runs and exits before any of the parent's imports.
"""

import time

STARTED = time.perf_counter()

import json  # noqa: E402 - the clock above starts before every import
import os  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from typing import Any  # noqa: E402

MARKER = "COLD "
AWS_SERVICES = ("lambda", "dynamodb", "sns", "sqs", "secretsmanager")
FLOOR_SERVICES = ("lambda", "dynamodb", "sns")
FLOOR_PACKAGES = (
    "boto3",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "mangum",
    "starlette.applications",
    "pydantic.main",
    "jwt",
)
"""What fnproxy's Lambda entry imports of its chosen packages (pydantic.main: `import pydantic`
alone defers the model machinery)."""
LAMBDA_MEMORY_MB = 128


def elapsed_ms() -> float:
    return round((time.perf_counter() - STARTED) * 1000, 2)


# --- the children -------------------------------------------------------------------------


class LambdaContext:
    """The attributes of the Lambda runtime's context that powertools reads."""

    function_name = "bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    memory_limit_in_mb = LAMBDA_MEMORY_MB
    aws_request_id = str(uuid.uuid4())

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def fnproxy_child() -> tuple[Any, float]:
    import handlers.aws_lambda as entry

    return entry.handler, elapsed_ms()


def baseline_child() -> tuple[Any, float]:
    """A typical FastAPI-on-Lambda service, everything made at module level as such services
    do; the handler it exports and when its imports were done."""
    import boto3
    import jwt
    from aws_lambda_powertools import Logger, Metrics, Tracer
    from aws_lambda_powertools.metrics import MetricUnit
    from fastapi import FastAPI, Header, HTTPException
    from mangum import Mangum
    from pydantic import BaseModel

    imported = elapsed_ms()
    logger = Logger(service="baseline")
    metrics = Metrics(namespace="bench", service="baseline")
    tracer = Tracer(service="baseline")
    endpoint_url = os.environ["AWS_ENDPOINT_URL"]
    aws = {name: boto3.client(name, endpoint_url=endpoint_url) for name in AWS_SERVICES}
    key, table = os.environ["BASELINE_KEY"], os.environ["FNPROXY_TABLE"]

    class Target(BaseModel):
        provider: str
        function: str

    class InvokeBody(BaseModel):
        target: Target
        payload: Any = None

    app = FastAPI()

    @app.post("/v1/invoke")
    def invoke(body: InvokeBody, authorization: str = Header()) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                authorization.removeprefix("Bearer "),
                key,
                algorithms=["HS256"],
                audience="fnproxy",
                issuer="fnproxy",
            )
        except jwt.InvalidTokenError as error:
            raise HTTPException(401, str(error)) from None
        answer = aws["lambda"].invoke(
            FunctionName=body.target.function, Payload=json.dumps(body.payload).encode()
        )
        result = json.loads(answer["Payload"].read() or b"null")
        execution_id = uuid.uuid4().hex
        record = {"caller": claims["sub"], "result": result, "status": answer["StatusCode"]}
        aws["dynamodb"].put_item(
            TableName=table,
            Item={
                "pk": {"S": f"BASELINE#{execution_id}"},
                "sk": {"S": "EXEC"},
                "body": {"S": json.dumps(record)},
            },
        )
        metrics.add_metric(name="Invocations", unit=MetricUnit.Count, value=1)
        logger.info("invoked", extra={"execution_id": execution_id})
        return {"execution_id": execution_id, "success": True, "result": result}

    mangum = Mangum(app, lifespan="off")

    @tracer.capture_lambda_handler
    @logger.inject_lambda_context
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return mangum(event, context)

    return handler, imported


def floor_child() -> tuple[Any, float]:
    """The floor: the chosen packages imported, boto3 alone used; on the event, the clients and
    the calls fnproxy's first sync invoke must make (Lambda Invoke, the record's PutItem, the
    outcome's SNS Publish)."""
    import importlib

    for package in FLOOR_PACKAGES:
        importlib.import_module(package)
    import boto3

    imported = elapsed_ms()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        endpoint_url = os.environ["AWS_ENDPOINT_URL"]
        aws = {name: boto3.client(name, endpoint_url=endpoint_url) for name in FLOOR_SERVICES}
        body = json.loads(event["body"])
        answer = aws["lambda"].invoke(
            FunctionName=body["target"]["function"], Payload=json.dumps(body["payload"]).encode()
        )
        result = json.loads(answer["Payload"].read() or b"null")
        execution_id = uuid.uuid4().hex
        record = json.dumps({"execution_id": execution_id, "result": result})
        aws["dynamodb"].put_item(
            TableName=os.environ["FNPROXY_TABLE"],
            Item={
                "pk": {"S": f"FLOOR#{execution_id}"},
                "sk": {"S": "EXEC"},
                "body": {"S": record},
            },
        )
        aws["sns"].publish(TopicArn=os.environ["EVENTS_TOPIC_ARN"], Message=record)
        answer_body = {"execution_id": execution_id, "success": True, "result": result}
        return {"statusCode": 200, "body": json.dumps(answer_body)}

    return handler, imported


CHILDREN = {"fnproxy": fnproxy_child, "baseline": baseline_child, "floor": floor_child}


def run_child(side: str) -> None:
    """Import, answer the event in BENCH_EVENT, print the marker line."""
    handler, imported_ms = CHILDREN[side]()
    response = handler(json.loads(os.environ["BENCH_EVENT"]), LambdaContext())
    answered_ms = elapsed_ms()
    from _peak import peak_rss_mib

    body = json.loads(response.get("body") or "null")
    success = response["statusCode"] == 200 and isinstance(body, dict) and body.get("success")
    print(
        MARKER
        + json.dumps(
            {
                "success": bool(success),
                "imported_ms": imported_ms,
                "answered_ms": answered_ms,
                "peak_rss_mib": peak_rss_mib(),
            }
        ),
        flush=True,
    )
    if not success:
        print(json.dumps(response)[:2000], file=sys.stderr)


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    run_child(sys.argv[2])
    sys.exit(0)


# --- the parent (its imports come after the child's exit above) ---------------------------

import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import zipfile  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402
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
    free_port,
    machine_line,
    mint_token,
    post_json,
    progress,
    ratio,
    spawn_server,
    tree_env,
)
from bench_accounting import environment  # noqa: E402
from bench_cold_start import (  # noqa: E402
    CHILD_TIMEOUT_S,
    NO_NETWORK_AWS,
    alternate_runs,
    marker_rss,
    metric_median,
    parse_cloud_options,
    read_marker,
    reap,
    rss_row,
)

sys.path.insert(0, str(REPO_DIR))
from deploy.build import lambda_python, strip_bytecode  # noqa: E402
from tests.aws.aws_stack import create_stack, http_api_event  # noqa: E402

BASELINE = "baseline"
FLOOR = "floor"
FLOOR_LABEL = "floor: the entry's packages"
FNPROXY_SIDES = {
    "fnproxy": "module key from Secrets Manager",
    "fnproxy-env": "module key from the environment, as the baseline",
}
KEY_FROM = {"secrets-manager": ("fnproxy",), "environment": ("fnproxy-env",)}
KEY_FROM["both"] = KEY_FROM["secrets-manager"] + KEY_FROM["environment"]


@dataclass(frozen=True)
class ColdRun:
    first_answer_ms: float
    """From just before the spawn to the marker line, in the parent."""
    peak_rss_mib: float
    imported_ms: float
    """The child's own clock: its imports, before the first event."""


def cold_start(
    side: str, env: dict[str, str], repo: Path = REPO_DIR, interpreter: tuple[str, ...] = (PYTHON,)
) -> ColdRun:
    """One cold start of `side`'s child, run from the tree `repo` (by default this one) by
    `interpreter` (by default the venv's python)."""
    child = side if side in CHILDREN else "fnproxy"
    script = repo / Path(__file__).resolve().relative_to(REPO_DIR)
    command = [*interpreter, str(script), "child", child]
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    with tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=repo,
            env=tree_env(env, repo),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            marker = read_marker(process, deadline)
            answered = time.perf_counter()
            reap(process, deadline)
        finally:
            process.stdout.close()
            if process.returncode is None:
                process.kill()
                process.wait()
        if not marker["success"] or process.returncode != 0:
            stderr.seek(0)
            raise RuntimeError(f"{side} cold start failed ({marker}):\n{stderr.read()[-3000:]}")
    return ColdRun((answered - started) * 1000, marker_rss(marker), marker["imported_ms"])


@contextmanager
def moto_server(work_dir: Path) -> Iterator[str]:
    """A moto server of this benchmark's own, Lambda on its simple (no Docker) backend."""
    port = free_port()
    command = [str(Path(PYTHON).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)]
    moto = spawn_server("moto", command, child_env(), port, work_dir)
    try:
        moto.wait_ready("/moto-api/data.json")
        post_json(f"{moto.url}/moto-api/config", {"lambda": {"use_docker": False}})
        yield moto.url
    finally:
        moto.stop()


def children_env(moto_url: str, sides: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """Create the resources, then the environment of each side: the fnproxy Lambda's
    configuration, the baseline's key and table, and the API Gateway event to answer. The
    `fnproxy-env` side (and the floor, which reads no key) has the module key itself in
    MODULE_SECRET_KEY instead of a reference to its secret."""
    progress("(c-aws) creating the table, topic, queues, secret and function in moto")
    stack = create_stack(moto_url)
    body = {
        "target": {"provider": "aws_lambda", "function": stack.function_name},
        "payload": {"n": 1},
    }
    headers = {"authorization": f"Bearer {mint_token(stack.module_key)}"}
    event = http_api_event("POST", "/v1/invoke", body, headers)
    env = child_env(
        **{**NO_NETWORK_AWS, **stack.environment(LOG_LEVEL="INFO")},
        BASELINE_KEY=stack.module_key,
        BENCH_EVENT=json.dumps(event),
    )
    env_key = {name: value for name, value in env.items() if not name.startswith("MODULE_")}
    env_key["MODULE_SECRET_KEY"] = stack.module_key
    envs = {"fnproxy": env, "fnproxy-env": env_key, BASELINE: env, FLOOR: env_key}
    return {side: envs[side] for side in sides}


def rows_for(results: dict[str, list[ColdRun]]) -> list[Row]:
    answer_base = metric_median(results[BASELINE], "first_answer_ms")
    imported_base = metric_median(results[BASELINE], "imported_ms")
    rss_base = metric_median(results[BASELINE], "peak_rss_mib")
    sides = [side for side in FNPROXY_SIDES if side in results]
    labels = {**{side: side for side in sides}, FLOOR: FLOOR_LABEL}
    floor_ratio = ratio(metric_median(results[FLOOR], "first_answer_ms"), answer_base)
    notes = [
        f"(c-aws): median of {len(results[BASELINE])} runs per side, alternating; one POST "
        "/v1/invoke API Gateway v2 event answered by a fresh process; ratio = side / baseline",
        "(c-aws): baseline = FastAPI + Mangum + powertools Logger/Metrics/Tracer + 5 eager boto3 "
        "clients; JWT with pyjwt, Lambda invoke, one PutItem; its key comes from the environment",
        *(f"(c-aws) [{side}]: fnproxy with its {FNPROXY_SIDES[side]}" for side in sides),
        f"(c-aws) [{FLOOR_LABEL}]: {', '.join(FLOOR_PACKAGES)} imported, boto3 alone used: on "
        "the event its lambda, dynamodb and sns clients, Lambda invoke, one PutItem, one SNS "
        "Publish",
        f"(c-aws) [{FLOOR_LABEL}]: no goal, the least any entry on these packages costs: at "
        f"{floor_ratio:.2f}x, a ratio goal below that cannot be met with them",
    ]
    rows: list[Row] = []
    for side, label in labels.items():
        answer = metric_median(results[side], "first_answer_ms")
        rows.append(
            Row(
                f"(c-aws) [{label}] cold start to first answer (ms)",
                answer,
                answer_base,
                ratio(answer, answer_base),
                None if side == FLOOR else Goal(0.4, at_least=False),
                [] if rows else notes,
            )
        )
    for side, label in labels.items():
        imported = metric_median(results[side], "imported_ms")
        rows.append(
            Row(
                f"(c-aws) [{label}] child import-only time (ms)",
                imported,
                imported_base,
                ratio(imported, imported_base),
            )
        )
    rows += [
        rss_row(
            f"(d-aws) [{label}]",
            metric_median(results[side], "peak_rss_mib"),
            rss_base,
            goal=side != FLOOR,
        )
        for side, label in labels.items()
    ]
    return rows


def measure(runs: int, key_from: str = "both") -> list[Row]:
    """`runs` cold starts of each side on a moto server of its own, and their rows."""
    sides = (*KEY_FROM[key_from], BASELINE, FLOOR)
    work_dir = Path(tempfile.mkdtemp(prefix="aws-cold-"))
    try:
        # dummy credentials for the resources' creation
        with environment(NO_NETWORK_AWS), moto_server(work_dir) as moto_url:
            envs = children_env(moto_url, sides)
            results = alternate_runs(tuple(envs), lambda side: cold_start(side, envs[side]), runs)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return rows_for(results)


# --- the deployed artifact ----------------------------------------------------------------

ARTIFACT = REPO_DIR / "build" / "aws" / "fnproxy-lambda.zip"
ZIP_SIDES = {
    "zip": "as built, with its bytecode",
    "zip-no-bytecode": "the same zip without its bytecode",
}


def unpacked(archive: Path, work_dir: Path) -> dict[str, Path]:
    """The zip unpacked once per side: as built, and with its bytecode removed."""
    trees = {side: work_dir / side for side in ZIP_SIDES}
    for tree in trees.values():
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(tree)
    strip_bytecode(trees["zip-no-bytecode"])
    return trees


def artifact_cold_start(side: str, env: dict[str, str], tree: Path, python: str) -> ColdRun:
    """A cold start of the zip unpacked in `tree`, as Lambda runs it: `python` without
    site-packages, the zip alone on its path, no bytecode written."""
    zip_env = {**env, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    return cold_start(side, zip_env, interpreter=(python, "-S"))


def artifact_rows(results: dict[str, list[ColdRun]], python: str) -> list[Row]:
    notes = [
        f"(c-aws) [zip]: {ARTIFACT.relative_to(REPO_DIR)} unpacked, run by {python} -S with only "
        "the zip on its path and no bytecode written (/var/task is read-only); ratio = with "
        f"its bytecode / without; median of {len(results['zip'])} runs per side, alternating",
    ]
    rows = []
    for metric, label in (("first_answer_ms", "cold start to first answer (ms)"),
                          ("imported_ms", "child import-only time (ms)"),
                          ("peak_rss_mib", "child peak RSS (MiB)")):
        built, without = (metric_median(results[side], metric) for side in ZIP_SIDES)
        rows.append(Row(f"(c-aws) [zip] {label}, bytecode vs none", built, without,
                        ratio(built, without), notes=[] if rows else notes))
    return rows


def measure_artifact(runs: int) -> list[Row]:
    """`runs` cold starts of the built zip with and without its bytecode, on a moto server of
    its own; a row saying why when there is no zip or no Lambda python to run it."""
    python = lambda_python()
    if not ARTIFACT.is_file() or python is None:
        missing = "make build" if python is not None else "a python3.12 (LAMBDA_PYTHON)"
        return [Row(f"(c-aws) [zip] skipped: needs {missing}", None)]
    work_dir = Path(tempfile.mkdtemp(prefix="aws-zip-"))
    try:
        trees = unpacked(ARTIFACT, work_dir)
        with environment(NO_NETWORK_AWS), moto_server(work_dir) as moto_url:
            env = children_env(moto_url, ("fnproxy",))["fnproxy"]
            results = alternate_runs(
                tuple(ZIP_SIDES),
                lambda side: artifact_cold_start(side, env, trees[side], python),
                runs,
            )
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return artifact_rows(results, python)


def run(stack: Stack, options: Options) -> list[Row]:
    """In bench/run_all.py: both fnproxy sides and the floor, then the built zip, `--cold-runs`
    runs each."""
    progress("(c-aws) cold start of the AWS Lambda entry, on moto")
    rows = measure(options.cold_runs)
    progress("(c-aws) cold start of the built Lambda zip, with and without its bytecode")
    return rows + measure_artifact(options.cold_runs)


def main() -> None:
    options = parse_cloud_options(
        __doc__.split("\n\n")[0],
        KEY_FROM,
        "where fnproxy takes its module key: Secrets Manager (as deployed), the environment "
        "(as the baseline)",
        "measure the built Lambda zip (make build) with and without its bytecode instead",
    )
    if options.artifact:
        rows = measure_artifact(options.runs)
    else:
        rows = measure(options.runs, options.key_from)
    print(machine_line())
    print(format_table(rows))


if __name__ == "__main__":
    main()
