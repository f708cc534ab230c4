"""(l) The Lambda Invoke API front (/lambda-api): what SigV4 verification costs per call (parsing
the Authorization header, the scope and date checks, the canonical request and the signature
over the body), in-process over requests botocore signed beforehand, against the issue's 50 us
budget; then one caller invoking the instant function sequentially, through boto3 and the front
by its registry name, and through `POST /v1/invoke` with its target: latency as each caller
sees it (boto3 adds its own client work) and fnproxy's CPU per request."""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
from collections.abc import Callable
from urllib.parse import urlsplit

from _common import (
    Goal,
    Options,
    Row,
    Server,
    Stack,
    invoke_body,
    post_json,
    progress,
    ratio,
    run_standalone,
)

LABEL = "(l) Lambda API front"
BUDGET_US = 50.0
SIGNED_SAMPLES = 2000
REGION = "us-east-1"
FUNCTION = "bench-lambda"


def signed_requests(count: int) -> list:
    """`count` Invoke requests signed by botocore (distinct bodies), as the server reads them."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from core.auth.sigv4 import SignedRequest

    signer = SigV4Auth(Credentials("cl_bench", "fpsv4_" + "b" * 43), "lambda", REGION)
    url = "http://127.0.0.1:8080/lambda-api/2015-03-31/functions/greet/invocations"
    requests = []
    for n in range(count):
        request = AWSRequest(method="POST", url=url, data=json.dumps({"n": n}).encode())
        signer.add_auth(request)
        headers = {name.lower(): [value] for name, value in request.headers.items()}
        headers["host"] = [urlsplit(url).netloc]
        requests.append(
            SignedRequest("POST", urlsplit(url).path, "", lambda h, s=headers: s.get(h, []),
                          request.body)
        )
    return requests


def verification_us(count: int) -> float:
    """Median microseconds of one whole verification (the store read aside)."""
    from core.auth.sigv4 import check_scope, parse_authorization, verify

    secret = "fpsv4_" + "b" * 43
    timings = []
    for request in signed_requests(count):
        started = time.perf_counter()
        authorization = parse_authorization(request.header("authorization")[0])
        check_scope(authorization, request.header("x-amz-date")[0], REGION, "lambda", time.time())
        verify(secret, authorization, request)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1e6


def sequential(call: Callable[[], None], fnproxy: Server, options: Options) -> tuple[float, float]:
    """Median latency (ms) and fnproxy CPU per request (us) of `call` run back to back."""
    deadline = time.monotonic() + options.warmup_s
    while time.monotonic() < deadline:
        call()
    latencies = []
    cpu_before = fnproxy.cpu_seconds()
    deadline = time.monotonic() + options.duration_s
    while time.monotonic() < deadline:
        started = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - started)
    cpu_us = (fnproxy.cpu_seconds() - cpu_before) / len(latencies) * 1e6
    return statistics.median(latencies) * 1000, cpu_us


def boto3_invoke(stack: Stack) -> Callable[[], None]:
    """A boto3 Lambda client of a new client (its SigV4 secret), calling the registered name."""
    import boto3
    from botocore.config import Config

    assert stack.fnproxy is not None
    client = post_json(stack.fnproxy.url + "/v1/clients",
                       {"name": "bench", "scopes": ["invoke"]}, stack.token)
    lambda_client = boto3.client(
        "lambda", endpoint_url=stack.fnproxy.url + "/lambda-api", region_name=REGION,
        aws_access_key_id=client["client_id"], aws_secret_access_key=client["sigv4_secret"],
        config=Config(retries={"total_max_attempts": 1}),
    )

    def call() -> None:
        answer = lambda_client.invoke(FunctionName=FUNCTION, Payload=b'{"n": 1}')
        if answer["StatusCode"] != 200 or "FunctionError" in answer:
            raise RuntimeError(f"the front did not invoke {FUNCTION}: {answer}")
        answer["Payload"].read()

    return call


def v1_invoke(stack: Stack) -> Callable[[], None]:
    assert stack.fnproxy is not None
    body = json.dumps(invoke_body(stack.instant.url + "/fn")).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {stack.token}"}

    def call() -> None:
        request = urllib.request.Request(stack.fnproxy.url + "/v1/invoke", body, headers)
        with urllib.request.urlopen(request, timeout=30) as answer:
            if b'"success":true' not in answer.read():
                raise RuntimeError("/v1/invoke did not succeed")

    return call


def run(stack: Stack, options: Options) -> list[Row]:
    assert stack.fnproxy is not None, "this benchmark needs fnproxy running"
    progress(LABEL)
    verify_us = verification_us(SIGNED_SAMPLES)
    target = invoke_body(stack.instant.url + "/fn")["target"]
    post_json(stack.fnproxy.url + "/v1/functions", {"name": FUNCTION, "target": target},
              stack.token)
    progress("  boto3 through /lambda-api")
    front_ms, front_cpu = sequential(boto3_invoke(stack), stack.fnproxy, options)
    progress("  POST /v1/invoke")
    v1_ms, v1_cpu = sequential(v1_invoke(stack), stack.fnproxy, options)
    return [
        Row(f"{LABEL}: SigV4 verification per call (us)", verify_us, BUDGET_US,
            ratio(verify_us, BUDGET_US), Goal(1.0, at_least=False),
            notes=[f"{LABEL}: median of {SIGNED_SAMPLES} botocore-signed Invoke requests, "
                   "in-process; reference = the issue's budget"]),
        Row(f"{LABEL}: p50 latency, 1 caller (ms), boto3 vs /v1/invoke", front_ms, v1_ms,
            ratio(front_ms, v1_ms)),
        Row(f"{LABEL}: fnproxy CPU per request (us), front vs /v1/invoke", front_cpu, v1_cpu,
            ratio(front_cpu, v1_cpu)),
    ]


if __name__ == "__main__":
    run_standalone(__doc__, run)
