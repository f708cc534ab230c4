"""`openwhisk_action.OpenWhiskActionService` through the seeds' own stubs, against the OpenWhisk
protocol server (tests/fixtures/openwhisk_server.py: `hello`, `fail`, the `greet-loudly`
sequence, the `echo` web action, the `signup` trigger)."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest

from tests.grpc.conftest import bearer, failure_answer, refused

pytestmark = pytest.mark.e2e
POLL_S = 10.0


@pytest.fixture
def openwhisk(seed, channel, admin_token):
    stubs = seed["openwhisk_action"]
    return stubs.messages, stubs.stub(channel), bearer(admin_token)


async def ended_activation(stub, pb, metadata, activation_id: str):
    """GetActivation until the activation has ended (OpenWhisk: NOT_FOUND while it runs)."""
    deadline = asyncio.get_running_loop().time() + POLL_S
    while True:
        try:
            answer = await stub.GetActivation(
                pb.GetActivationRequest(activation_id=activation_id), metadata=metadata
            )
        except grpc.aio.AioRpcError as running:
            assert running.code() == grpc.StatusCode.NOT_FOUND, running.details()
        else:
            if answer.status not in ("queued", "running"):
                return answer
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)


async def test_a_blocking_action_answers_its_activation(openwhisk):
    pb, stub, metadata = openwhisk

    answer = await stub.InvokeAction(
        pb.InvokeActionRequest(action_name="hello", payload='{"name": "grpc"}', blocking=True),
        metadata=metadata,
    )
    activation = await stub.GetActivation(
        pb.GetActivationRequest(activation_id=answer.activation_id), metadata=metadata
    )

    assert answer.success and answer.status == "success" and not answer.error
    assert json.loads(answer.result) == {"greeting": "Hello, grpc!"}
    assert answer.end_time >= answer.start_time > 0
    assert activation.success and activation.activation_id == answer.activation_id
    assert json.loads(activation.result) == {"greeting": "Hello, grpc!"}


async def test_an_action_that_failed_is_an_answer_with_its_error(openwhisk):
    pb, stub, metadata = openwhisk

    answer = await stub.InvokeAction(
        pb.InvokeActionRequest(action_name="fail", payload='{"error": "no luck"}', blocking=True),
        metadata=metadata,
    )

    assert (answer.success, answer.status, answer.error) == (False, "application error", "no luck")


async def test_a_non_blocking_action_is_queued_and_read_by_its_execution_id(openwhisk):
    pb, stub, metadata = openwhisk

    answer = await stub.InvokeAction(
        pb.InvokeActionRequest(action_name="hello", payload='{"name": "later"}'), metadata=metadata
    )
    queued = await stub.InvokeActionAsync(
        pb.InvokeActionAsyncRequest(action_name="tools/shout", payload='{"word": "up"}'),
        metadata=metadata,
    )

    assert answer.success and answer.status == "queued"  # proto3's blocking: false
    activation = await ended_activation(stub, pb, metadata, answer.activation_id)
    assert json.loads(activation.result) == {"greeting": "Hello, later!"}
    assert queued.success and queued.activation_id
    shouted = await ended_activation(stub, pb, metadata, queued.activation_id)
    result = json.loads(shouted.result)  # shout upper-cases every parameter, traceparent too
    assert result.pop("traceparent").startswith("00-") and result == {"word": "UP"}


async def test_a_sequence_runs_its_components_in_order(openwhisk):
    pb, stub, metadata = openwhisk

    answer = await stub.InvokeSequence(
        pb.InvokeSequenceRequest(sequence_name="greet-loudly", payload='{"name": "grpc"}'),
        metadata=metadata,
    )

    assert answer.success and answer.activation_id
    assert json.loads(answer.result) == {"greeting": "HELLO, GRPC!"}


async def test_a_web_action_answers_its_own_status(openwhisk):
    pb, stub, metadata = openwhisk

    answer = await stub.InvokeWebAction(
        pb.InvokeWebActionRequest(action_name="echo", payload='{"x": 1}', headers={"X-Tag": "t"}),
        metadata=metadata,
    )

    assert answer.success and answer.status_code == 200
    assert json.loads(answer.response)["x"] == 1


async def test_fire_trigger_answers_its_activation(openwhisk, openwhisk_session):
    pb, stub, metadata = openwhisk

    caller_trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    traced = (*metadata, ("traceparent", caller_trace))

    answer = await stub.FireTrigger(
        pb.FireTriggerRequest(trigger_name="signup", payload='{"user": "u1"}'), metadata=traced
    )

    assert answer.success and answer.activation_id
    fired = [r for r in openwhisk_session.server.requests if r.path.endswith("/triggers/signup")]
    parameters = json.loads(fired[-1].body)
    assert parameters.pop("traceparent").split("-")[1] == caller_trace.split("-")[1]
    assert parameters == {"user": "u1"}


async def test_list_actions_pages(openwhisk):
    pb, stub, metadata = openwhisk

    everything = await stub.ListActions(pb.ListActionsRequest(), metadata=metadata)
    page = await stub.ListActions(pb.ListActionsRequest(limit=2, skip=1), metadata=metadata)
    error = await refused(
        stub.ListActions(pb.ListActionsRequest(limit=500), metadata=metadata),
        grpc.StatusCode.INVALID_ARGUMENT,
    )

    names = [action.name for action in everything.actions]
    assert everything.success and {"echo", "hello", "fail"} <= set(names)
    assert [action.name for action in page.actions] == names[1:3]
    assert all(action.namespace == "guest" for action in everything.actions)
    assert "limit" in error.details()


async def test_a_payload_that_is_no_object_is_an_invalid_argument(openwhisk):
    pb, stub, metadata = openwhisk

    error = await refused(
        stub.InvokeAction(
            pb.InvokeActionRequest(action_name="echo", payload="[1]"), metadata=metadata
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )

    assert "payload" in error.details()


async def test_openwhisk_throttled_or_down_is_resource_exhausted_or_unavailable(
    openwhisk, openwhisk_session
):
    pb, stub, metadata = openwhisk
    path = f"/api/v1/namespaces/{openwhisk_session.server.namespace}/actions/hello"
    request = pb.InvokeActionRequest(action_name="hello", blocking=True)

    openwhisk_session.server.answer_next(path, 429, {"error": "slow down"}, {"Retry-After": "0"})
    throttled = await refused(
        stub.InvokeAction(request, metadata=metadata), grpc.StatusCode.RESOURCE_EXHAUSTED
    )
    openwhisk_session.server.answer_next(path, 503, {"error": "maintenance"})
    down = await refused(stub.InvokeAction(request, metadata=metadata), grpc.StatusCode.UNAVAILABLE)

    for error in (throttled, down):
        answer = failure_answer(error, pb.InvokeActionResponse)
        assert answer.success is False and answer.error == error.details()
