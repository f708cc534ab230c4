"""`gcp_functions_action.GCPFunctionsActionService` through the seeds' own stubs: names resolve
through the recorded Cloud Functions v2 API to functions-framework's functions (`ff_url`), and
URLs are called as they are. The JWT travels in the `authorization` metadata."""

from __future__ import annotations

import json

import grpc
import pytest

from tests.grpc.conftest import bearer, failure_answer, refused

pytestmark = pytest.mark.e2e


@pytest.fixture
def gcp(seed, channel):
    stubs = seed["gcp_functions_action"]
    return stubs.messages, stubs.stub(channel)


async def test_invoke_function_by_name_is_recorded_in_the_history(gcp, admin_token, fnproxy):
    pb, stub = gcp

    answer = await stub.InvokeFunction(
        pb.InvokeFunctionRequest(function_name="echo", payload='{"a": [1, 2]}', request_id="r-1"),
        metadata=bearer(admin_token),
    )

    assert answer.success and answer.status_code == 200 and not answer.error
    assert json.loads(answer.response) == {"a": [1, 2]}
    assert answer.execution_time_ms >= 0
    record = fnproxy.get(f"/v1/invocations/{answer.execution_id}", admin_token)
    assert record["status"] == "succeeded" and record["function"] == "gcp_functions:echo"


async def test_invoke_http_function_answers_what_the_function_answered(gcp, admin_token, ff_url):
    pb, stub = gcp

    echoed = await stub.InvokeHTTPFunction(
        pb.InvokeHTTPRequest(url=f"{ff_url}/echo", payload='{"via": "grpc"}'),
        metadata=bearer(admin_token),
    )
    failed = await stub.InvokeHTTPFunction(
        pb.InvokeHTTPRequest(url=f"{ff_url}/status/500", method="get"),
        metadata=bearer(admin_token),
    )

    assert echoed.success and json.loads(echoed.response) == {"via": "grpc"}
    assert (failed.success, failed.status_code) == (False, 500) and failed.error
    assert json.loads(failed.response) == {"status": 500}


async def test_batch_answers_and_counts_every_item(gcp, admin_token):
    pb, stub = gcp
    items = [
        pb.InvokeFunctionRequest(function_name="echo", payload='{"n": 1}'),
        pb.InvokeFunctionRequest(payload='{"n": 2}'),  # neither a name nor a URL
    ]

    answer = await stub.BatchInvoke(
        pb.BatchInvokeRequest(invocations=items), metadata=bearer(admin_token)
    )

    assert (answer.total_count, answer.success_count, answer.failure_count) == (2, 1, 1)
    echoed, refused_item = answer.responses
    assert echoed.success and json.loads(echoed.response) == {"n": 1}
    assert (refused_item.success, refused_item.status_code) == (False, 400)
    assert "function_name" in refused_item.error


async def test_list_functions_reads_every_page_and_masks_the_environment(gcp, admin_token):
    pb, stub = gcp

    answer = await stub.ListFunctions(pb.ListFunctionsRequest(), metadata=bearer(admin_token))

    functions = {info.name: info for info in answer.functions}
    assert sorted(functions) == ["echo", "nightly-report", "resize-image"]
    echo = functions["echo"]
    assert (echo.status, echo.runtime, echo.entry_point) == ("ACTIVE", "python312", "echo")
    assert (echo.timeout, echo.memory_mb) == (60, 256)
    assert dict(echo.environment_variables) == {
        "LOG_EXECUTION_ID": "***",
        "UPSTREAM_API_KEY": "***",
    }


async def test_function_details_and_an_unknown_function(gcp, admin_token, ff_url):
    pb, stub = gcp

    answer = await stub.GetFunctionDetails(
        pb.GetFunctionDetailsRequest(function_name="echo"), metadata=bearer(admin_token)
    )
    missing = await refused(
        stub.GetFunctionDetails(
            pb.GetFunctionDetailsRequest(function_name="nothing-here"), metadata=bearer(admin_token)
        ),
        grpc.StatusCode.NOT_FOUND,
    )

    assert answer.success and answer.function.url == f"{ff_url}/echo"
    assert answer.function.service_account.endswith("@developer.gserviceaccount.com")
    details = failure_answer(missing, pb.GetFunctionDetailsResponse)
    assert details.success is False and "nothing-here" in details.error


async def test_an_unknown_function_to_invoke_keeps_the_seeds_members(gcp, admin_token):
    pb, stub = gcp

    error = await refused(
        stub.InvokeFunction(
            pb.InvokeFunctionRequest(function_name="nothing-here"), metadata=bearer(admin_token)
        ),
        grpc.StatusCode.NOT_FOUND,
    )

    answer = failure_answer(error, pb.InvokeFunctionResponse)
    assert (answer.success, answer.status_code) == (False, 404) and answer.error
