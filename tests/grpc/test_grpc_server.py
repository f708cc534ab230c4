"""What every RPC shares, against a live `fnproxy serve --grpc-port`: both ways of
authenticating and the scope checks, the client's deadline capping the invocation, the
Idempotency-Key as metadata, the audit line, the standard health and reflection services, the
seeds' health answers naming the gRPC port, and a stop that lets REST and gRPC calls in flight
finish."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.grpc.conftest import (
    Fnproxy,
    bearer,
    failure_answer,
    post,
    refused,
    start_fnproxy,
    stop_fnproxy,
)

pytestmark = pytest.mark.e2e
SEED_SERVICES = (
    "gcp_functions_action.GCPFunctionsActionService",
    "lambda_action.LambdaAction",
    "openwhisk_action.OpenWhiskActionService",
)


@pytest.fixture
def gcp(seed, channel):
    stubs = seed["gcp_functions_action"]
    return stubs.messages, stubs.stub(channel)


@pytest.fixture
def lambda_action(seed, channel):
    stubs = seed["lambda_action"]
    return stubs.messages, stubs.stub(channel)


# authentication and scopes


async def test_a_call_without_credentials_is_unauthenticated(gcp):
    pb, stub = gcp

    error = await refused(
        stub.InvokeFunction(pb.InvokeFunctionRequest(function_name="echo")),
        grpc.StatusCode.UNAUTHENTICATED,
    )

    answer = failure_answer(error, pb.InvokeFunctionResponse)
    assert (answer.success, answer.status_code, answer.error) == (False, 401, error.details())


async def test_the_token_field_and_the_metadata_both_authenticate(lambda_action, admin_token):
    pb, stub = lambda_action

    by_field = await stub.ListFunctions(pb.ListFunctionsRequest(token=admin_token))
    by_metadata = await stub.ListFunctions(pb.ListFunctionsRequest(), metadata=bearer(admin_token))
    metadata_first = await stub.ListFunctions(
        pb.ListFunctionsRequest(token="not-a-jwt"), metadata=bearer(admin_token)
    )
    bad_field = await refused(
        stub.ListFunctions(pb.ListFunctionsRequest(token="not-a-jwt")),
        grpc.StatusCode.UNAUTHENTICATED,
    )

    assert by_field.success and by_metadata.success and metadata_first.success
    assert failure_answer(bad_field, pb.ListFunctionsResponse).success is False


async def test_scopes_are_checked_as_on_the_routes(gcp, lambda_action, fnproxy, ff_url):
    pb, stub = gcp
    token = fnproxy.token(["invoke:gcp_functions:echo"])

    allowed = await stub.InvokeFunction(
        pb.InvokeFunctionRequest(function_name="echo"), metadata=bearer(token)
    )
    other_target = await refused(
        stub.InvokeHTTPFunction(pb.InvokeHTTPRequest(url=f"{ff_url}/echo"), metadata=bearer(token)),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    listing = await refused(
        stub.ListFunctions(pb.ListFunctionsRequest(), metadata=bearer(token)),
        grpc.StatusCode.PERMISSION_DENIED,
    )

    assert allowed.success
    assert "not allowed to invoke" in other_target.details()
    assert "'read'" in listing.details()


# deadline, idempotency, audit


async def test_the_client_deadline_cuts_the_invocation_short(gcp, admin_token, fnproxy, ff_url):
    pb, stub = gcp
    url = f"{ff_url}/sleep?ms=4000"

    await refused(
        stub.InvokeHTTPFunction(
            pb.InvokeHTTPRequest(url=url, timeout=30), metadata=bearer(admin_token), timeout=1.0
        ),
        grpc.StatusCode.DEADLINE_EXCEEDED,
    )

    query = urllib.parse.urlencode({"status": "timed_out", "limit": 50})
    listed = fnproxy.get(f"/v1/invocations?{query}", admin_token)["invocations"]
    record = next(item for item in listed if "/sleep?ms=" in item["target"]["url"])
    assert record["timeout_s"] < 1.0 and record["duration_ms"] < 1500


async def test_an_idempotency_key_replays_the_first_answer(seed, channel, admin_token, fnproxy):
    pb, stub = seed["openwhisk_action"].messages, seed["openwhisk_action"].stub(channel)
    request = pb.InvokeActionRequest(action_name="hello", payload='{"name": "once"}', blocking=True)
    metadata = (*bearer(admin_token), ("idempotency-key", "grpc-replay-1"))

    first = stub.InvokeAction(request, metadata=metadata)
    first_answer = await first
    second = stub.InvokeAction(request, metadata=metadata)
    second_answer = await second

    assert second_answer.activation_id == first_answer.activation_id
    assert ("idempotent-replayed", "true") not in tuple(await first.initial_metadata())
    assert ("idempotent-replayed", "true") in tuple(await second.initial_metadata())
    too_long = await refused(
        stub.InvokeAction(request, metadata=(*bearer(admin_token), ("idempotency-key", "k" * 300))),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "Idempotency-Key" in too_long.details()


async def test_traceparent_metadata_is_the_trace_the_invocation_joins(
    seed, channel, admin_token, fnproxy
):
    pb, stub = seed["openwhisk_action"].messages, seed["openwhisk_action"].stub(channel)
    request = pb.InvokeActionRequest(
        action_name="hello", payload='{"name": "traced"}', blocking=True
    )
    trace_id = uuid.uuid4().hex
    metadata = (*bearer(admin_token), ("traceparent", f"00-{trace_id}-00f067aa0ba902b7-01"))

    await stub.InvokeAction(request, metadata=metadata)

    listed = fnproxy.get("/v1/invocations?limit=50", admin_token)["invocations"]
    assert [r["traceparent"].split("-")[1] for r in listed].count(trace_id) == 1


async def test_every_call_writes_an_audit_line(gcp, fnproxy):
    pb, stub = gcp

    await refused(
        stub.GetFunctionDetails(pb.GetFunctionDetailsRequest(function_name="echo")),
        grpc.StatusCode.UNAUTHENTICATED,
    )

    action = "RPC /gcp_functions_action.GCPFunctionsActionService/GetFunctionDetails"
    assert {
        "action": action,
        "principal": "anonymous",
        "decision": "deny",
        "outcome": "UNAUTHENTICATED",
    }.items() <= (await latest_audit_line(fnproxy.log, action)).items()


async def latest_audit_line(log: Path, action: str, within_s: float = 10.0) -> dict[str, Any]:
    """The last audit line of `action`, once the server wrote it: it writes the line after the
    client has its answer."""
    deadline = time.monotonic() + within_s
    while True:
        lines = [json.loads(line) for line in log.read_text().splitlines() if '"RPC ' in line]
        found = [line for line in lines if line["action"] == action]
        if found or time.monotonic() > deadline:
            assert found, f"no audit line of {action} within {within_s} s"
            return found[-1]
        await asyncio.sleep(0.05)


# health and reflection


async def test_the_health_service_answers_for_the_server_and_each_service(channel):
    health = health_pb2_grpc.HealthStub(channel)

    answers = [
        await health.Check(health_pb2.HealthCheckRequest(service=name))
        for name in ("", *SEED_SERVICES)
    ]
    unknown = await refused(
        health.Check(health_pb2.HealthCheckRequest(service="no.Such")), grpc.StatusCode.NOT_FOUND
    )

    assert {answer.status for answer in answers} == {health_pb2.HealthCheckResponse.SERVING}
    assert unknown.code() == grpc.StatusCode.NOT_FOUND


async def test_reflection_lists_the_services_and_gives_the_seeds_files(channel):
    reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="lambda_action.LambdaAction"),
    ]

    listing, files = [answer async for answer in reflect.ServerReflectionInfo(iter(requests))]

    names = {service.name for service in listing.list_services_response.service}
    assert names >= {*SEED_SERVICES, "grpc.health.v1.Health"}
    assert b"lambda_action.proto" in files.file_descriptor_response.file_descriptor_proto[0]


async def test_the_seeds_health_answers_name_the_grpc_port(fnproxy, admin_token):
    port = int(fnproxy.address.rpartition(":")[2])

    assert fnproxy.get("/gcp/health", admin_token)["grpc_port"] == port
    assert fnproxy.get("/openwhisk/health", admin_token)["grpc_port"] == port
    assert fnproxy.get("/lambda/health", admin_token)["config"]["grpc_port"] == port


# a stop


async def test_a_stop_lets_rest_and_grpc_calls_in_flight_finish(seed, tmp_path, ff_url):
    server: Fnproxy = start_fnproxy(tmp_path, {})
    try:
        token = server.token()
        url = f"{ff_url}/sleep?ms=1200"
        async with grpc.aio.insecure_channel(server.address) as opened:
            pb = seed["gcp_functions_action"].messages
            stub = seed["gcp_functions_action"].stub(opened)
            rpc = asyncio.ensure_future(
                stub.InvokeHTTPFunction(pb.InvokeHTTPRequest(url=url), metadata=bearer(token))
            )
            rest = asyncio.ensure_future(
                asyncio.to_thread(
                    post, f"{server.url}/gcp/api/v1/functions/invoke-http", {"url": url}, token
                )
            )
            await asyncio.sleep(0.5)
            server.process.send_signal(signal.SIGTERM)
            answers = await asyncio.gather(rpc, rest)
        exit_code = await asyncio.to_thread(server.process.wait, 20)
    finally:
        stop_fnproxy(server)

    assert answers[0].success and json.loads(answers[0].response) == {"slept_ms": 1200}
    assert answers[1]["success"] and answers[1]["status_code"] == 200
    assert exit_code in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server.log.read_text()
