"""(g) gRPC against REST for the same sync invocation, side by side: the GCP module's
InvokeHTTPFunction RPC and its REST route POST /gcp/api/v1/functions/invoke-http (one mapping,
core/api/compat/gcp_module.py) calling the 20 ms function, 16 closed-loop clients each, on one
`fnproxy serve --grpc-port`. Ratio = gRPC / REST; no goal (the issue asks for the numbers)."""

from __future__ import annotations

from _common import (
    PAYLOAD,
    LoadPair,
    Options,
    Row,
    Stack,
    measure_load,
    progress,
    ratio,
    run_standalone,
)

CLIENTS = 16
LABEL = "(g) 16 clients, 20 ms fn, gRPC vs REST"
RPC = "gcp_functions_action.GCPFunctionsActionService/InvokeHTTPFunction"
ROUTE = "/gcp/api/v1/functions/invoke-http"


def run(stack: Stack, options: Options) -> list[Row]:
    assert stack.fnproxy is not None and stack.grpc_port, "needs start_stack(with_grpc=True)"
    servers = [stack.fnproxy, stack.slow]
    target = {"url": stack.slow.url + "/fn", "payload": PAYLOAD}
    progress(f"{LABEL}: REST {ROUTE}")
    rest = measure_load(stack.fnproxy.url + ROUTE, target, '"success":true', servers, CLIENTS,
                        options, token=stack.token)
    progress(f"{LABEL}: gRPC {RPC}")
    grpc_body = target | {"payload": '{"n": 1}'}  # the seed's payload is JSON text
    grpc = measure_load(f"127.0.0.1:{stack.grpc_port}/{RPC}", grpc_body, "success", servers,
                        CLIENTS, options, token=stack.token, loadgen="_grpc_loadgen.py")
    notes = LoadPair(rest, grpc, ("REST", "gRPC")).notes(LABEL)
    return [
        Row(f"{LABEL}: throughput (req/s)", grpc.result.rps, rest.result.rps,
            ratio(grpc.result.rps, rest.result.rps), notes=notes),
        Row(f"{LABEL}: p50 latency (ms)", grpc.result.p50_ms, rest.result.p50_ms,
            ratio(grpc.result.p50_ms, rest.result.p50_ms)),
        Row(f"{LABEL}: p99 latency (ms)", grpc.result.p99_ms, rest.result.p99_ms,
            ratio(grpc.result.p99_ms, rest.result.p99_ms)),
    ]


if __name__ == "__main__":
    run_standalone(__doc__, run, with_grpc=True)
