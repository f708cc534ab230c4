"""`lambda_action.LambdaAction` through the seeds' own stubs, against Lambda on moto (whose
simple backend echoes RequestResponse payloads, answers Event 202 and DryRun 204). The JWT
travels in the messages' `token`, as the seed's router sent it."""

from __future__ import annotations

import json

import grpc
import pytest

from tests.aws.lambda_support import create_function, create_role
from tests.grpc.conftest import failure_answer, refused

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def function(moto_url) -> dict:
    return create_function(moto_url, create_role(moto_url), prefix="grpc-fn")


@pytest.fixture
def lambda_action(seed, channel):
    stubs = seed["lambda_action"]
    return stubs.messages, stubs.stub(channel)


async def test_invoke_function_answers_the_payload_and_counts_in_the_seed_stats(
    lambda_action, function, admin_token, fnproxy
):
    pb, stub = lambda_action
    name = function["FunctionName"]

    answer = await stub.InvokeFunction(
        pb.InvokeFunctionRequest(function_name=name, payload='{"n": 1}', token=admin_token)
    )

    assert answer.success and answer.status_code == 200 and not answer.error
    assert json.loads(answer.payload) == {"n": 1}
    stats = fnproxy.get("/lambda/api/v1/stats", admin_token)["stats"]["by_function"]
    assert stats[f"aws_lambda:{name}"]["successful_invocations"] >= 1


async def test_dry_run_and_event_answer_lambdas_own_statuses(lambda_action, function, admin_token):
    pb, stub = lambda_action
    name = function["FunctionName"]

    dry_run = await stub.InvokeFunction(
        pb.InvokeFunctionRequest(function_name=name, invocation_type="DryRun", token=admin_token)
    )
    event = await stub.InvokeFunction(
        pb.InvokeFunctionRequest(function_name=name, invocation_type="Event", token=admin_token)
    )

    assert (dry_run.success, dry_run.status_code, dry_run.payload) == (True, 204, "")
    assert (event.success, event.status_code, event.payload) == (True, 202, "")


async def test_invoke_async_is_an_accepted_event(lambda_action, function, admin_token):
    pb, stub = lambda_action

    answer = await stub.InvokeAsync(
        pb.InvokeAsyncRequest(function_name=function["FunctionName"], token=admin_token)
    )

    assert answer.success and answer.status_code == 202 and answer.request_id


async def test_batch_answers_every_item_in_order(lambda_action, function, admin_token):
    pb, stub = lambda_action
    items = [
        pb.InvokeFunctionRequest(function_name=function["FunctionName"], payload='"one"'),
        # a qualifier in the name and another alias: refused alone, as the route refuses it
        pb.InvokeFunctionRequest(function_name=f"{function['FunctionName']}:one", alias="two"),
        pb.InvokeFunctionRequest(function_name=function["FunctionName"], payload="[2]"),
    ]

    answer = await stub.BatchInvoke(pb.BatchInvokeRequest(invocations=items, token=admin_token))

    first, refused_item, last = answer.responses
    assert (first.success, json.loads(first.payload)) == (True, "one")
    assert (refused_item.success, refused_item.status_code) == (False, 400)
    assert "qualifier" in refused_item.error
    assert (last.success, json.loads(last.payload)) == (True, [2])


async def test_list_functions_pages_with_the_seeds_fields(lambda_action, function, admin_token):
    pb, stub = lambda_action

    answer = await stub.ListFunctions(pb.ListFunctionsRequest(token=admin_token, max_items=1000))

    listed = {info.function_name: info for info in answer.functions}
    info = listed[function["FunctionName"]]
    assert answer.success and answer.next_marker == ""
    assert (info.function_arn, info.runtime, info.handler) == (
        function["FunctionArn"],
        "python3.12",
        "app.handler",
    )
    assert info.timeout == function["Timeout"] and info.memory_size == function["MemorySize"]


async def test_get_function_config_and_an_unknown_function(lambda_action, function, admin_token):
    pb, stub = lambda_action

    answer = await stub.GetFunctionConfig(
        pb.GetFunctionConfigRequest(function_name=function["FunctionName"], token=admin_token)
    )
    missing = await refused(
        stub.GetFunctionConfig(
            pb.GetFunctionConfigRequest(function_name="grpc-absent", token=admin_token)
        ),
        grpc.StatusCode.NOT_FOUND,
    )

    assert answer.success and answer.function_info.function_arn == function["FunctionArn"]
    details = failure_answer(missing, pb.GetFunctionConfigResponse)
    assert details.success is False and details.error == missing.details()


async def test_malformed_requests_are_invalid_arguments(lambda_action, admin_token):
    pb, stub = lambda_action

    bad_name = await refused(
        stub.InvokeFunction(pb.InvokeFunctionRequest(function_name="no spaces", token=admin_token)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    bad_page = await refused(
        stub.ListFunctions(pb.ListFunctionsRequest(token=admin_token, max_items=-1)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    empty_batch = await refused(
        stub.BatchInvoke(pb.BatchInvokeRequest(token=admin_token)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )

    answer = failure_answer(bad_name, pb.InvokeFunctionResponse)
    assert (answer.success, answer.status_code) == (False, 400) and "function_name" in answer.error
    assert "max_items" in bad_page.details()
    assert "invocations" in empty_batch.details()
