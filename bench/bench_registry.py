"""(r) What invoking a registered function by name costs over invoking its target directly:
16 concurrent clients calling the instant function through `POST /v1/invoke` (the baseline),
through `POST /v1/functions/{name}/invoke` with no policy (two more store reads: the function and
its version), and with a rate limit (one more store write per call: the counter). No goal: the
figures say what the registry adds per request."""

from __future__ import annotations

from _common import (
    PAYLOAD,
    Measured,
    Options,
    Row,
    Stack,
    invoke_body,
    measure_load,
    post_json,
    progress,
    ratio,
    run_standalone,
)

CLIENTS = 16
LABEL = "(r) 16 clients, instant fn"
UNLIMITED = {"rate_limit": {"requests": 1_000_000, "per_s": 86400}}


def register(stack: Stack, name: str, policy: dict) -> str:
    assert stack.fnproxy is not None, "this benchmark needs fnproxy running"
    target = invoke_body(stack.instant.url + "/fn")["target"]
    post_json(stack.fnproxy.url + "/v1/functions",
              {"name": name, "target": target, "policy": policy}, stack.token)
    return f"{stack.fnproxy.url}/v1/functions/{name}/invoke"


def load(stack: Stack, url: str, body: dict, options: Options) -> Measured:
    assert stack.fnproxy is not None
    return measure_load(url, body, '"success":true', [stack.fnproxy, stack.instant], CLIENTS,
                        options, token=stack.token)


def rows_for(label: str, measured: Measured, baseline: Measured) -> list[Row]:
    result, base = measured.result, baseline.result
    cpu, base_cpu = measured.cpu_us["fnproxy"], baseline.cpu_us["fnproxy"]
    notes = [f"{label}: {result.requests} requests, {result.errors} errors; CPU us per request: "
             f"{measured.cpu_text()}"]
    return [
        Row(f"{label}: throughput (req/s)", result.rps, base.rps, ratio(result.rps, base.rps),
            notes=notes),
        Row(f"{label}: p50 latency (ms)", result.p50_ms, base.p50_ms,
            ratio(result.p50_ms, base.p50_ms)),
        Row(f"{label}: fnproxy CPU per request (us)", cpu, base_cpu, ratio(cpu, base_cpu)),
    ]


def run(stack: Stack, options: Options) -> list[Row]:
    assert stack.fnproxy is not None, "this benchmark needs fnproxy running"
    progress(LABEL)
    plain_url = register(stack, "bench-plain", {})
    limited_url = register(stack, "bench-limited", UNLIMITED)
    progress("  by target (/v1/invoke)")
    baseline = load(stack, stack.fnproxy.url + "/v1/invoke",
                    invoke_body(stack.instant.url + "/fn"), options)
    progress("  by name, no policy")
    plain = load(stack, plain_url, {"payload": PAYLOAD}, options)
    progress("  by name, with a rate limit")
    limited = load(stack, limited_url, {"payload": PAYLOAD}, options)
    return [*rows_for(f"{LABEL}, by name", plain, baseline),
            *rows_for(f"{LABEL}, by name + rate limit", limited, baseline)]


if __name__ == "__main__":
    run_standalone(__doc__, run)
