"""The gRPC load generator, in a process of its own: N closed-loop workers call one unary
method of fnproxy's seed services over one `grpc.aio` channel (HTTP/2 streams, as a router's
stub would), with _loadgen.py's window, tally and summary.

Input (stdin, JSON), as _loadgen.py's: `url` is `HOST:PORT/package.Service/Method`, `body` the
request message as JSON (protobuf's JSON mapping), `headers` the metadata (names lower-cased),
and `expect` the name of a boolean field the answer must have true (e.g. `success`).
Output (stdout, JSON): as _loadgen.py's.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from functools import partial

import grpc
import uvloop
from _loadgen import Tally, Window, summary, worker
from google.protobuf import descriptor_pool, json_format
from google.protobuf.message_factory import GetMessageClass

import core.grpc.protos.gcp_functions_action_pb2  # noqa: F401 - registers the service
import core.grpc.protos.lambda_action_pb2  # noqa: F401
import core.grpc.protos.openwhisk_action_pb2  # noqa: F401


async def one_call(
    call: grpc.aio.UnaryUnaryMultiCallable, request, metadata, expect: str, timeout_s: float
) -> str:
    """'' when the answer is good, else what was wrong with it."""
    try:
        answer = await call(request, metadata=metadata, timeout=timeout_s)
    except grpc.aio.AioRpcError as error:
        return f"{error.code().name}: {error.details()}"
    return "" if getattr(answer, expect) is True else f"{expect} is not true: {answer}"


async def generate(raw: dict) -> dict:
    address, _, path = raw["url"].partition("/")
    method = descriptor_pool.Default().FindMethodByName(path.replace("/", "."))
    request_class = GetMessageClass(method.input_type)
    response_class = GetMessageClass(method.output_type)
    request = json_format.ParseDict(raw["body"], request_class())
    metadata = tuple((name.lower(), value) for name, value in raw["headers"].items())
    duration_s = raw["duration_s"]
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(
            f"/{path}",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        start = time.perf_counter() + raw["warmup_s"]
        window, tally = Window(start, start + duration_s), Tally()
        request_once = partial(
            one_call, call, request, metadata, raw["expect"], raw["request_timeout_s"]
        )
        await asyncio.gather(*(worker(request_once, window, tally) for _ in range(raw["clients"])))
    return summary(tally, duration_s)


def main() -> None:
    json.dump(uvloop.run(generate(json.load(sys.stdin))), sys.stdout)


if __name__ == "__main__":
    main()
