"""AwsLambdaProvider against the session's moto server; error paths moto cannot produce
(FunctionError, throttling, not found, pagination) with botocore's Stubber on the provider's
own client."""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import orjson
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from pydantic import ValidationError

from core.auth.principal import Principal
from core.errors import (
    Forbidden,
    FunctionNotFound,
    InvalidRequest,
    PayloadTooLarge,
    RateLimited,
    UpstreamUnavailable,
)
from core.invoke.service import InvocationRequest
from core.models import Status
from core.providers.aws_lambda import (
    EVENT_PAYLOAD_LIMIT,
    EXECUTION_ID_KEY,
    SYNC_PAYLOAD_LIMIT,
    AwsLambdaProvider,
)
from core.providers.base import CallContext, InvocationOutcome, TransientFailure
from core.targets import AwsLambdaTarget
from tests.aws.lambda_support import (
    REGION,
    create_alias,
    create_function,
    create_role,
    publish_version,
)
from tests.conftest import free_port

OTHER_REGION = "eu-west-1"
SEED_FIELDS = {
    "function_name",
    "function_arn",
    "runtime",
    "role",
    "handler",
    "code_size",
    "description",
    "timeout",
    "memory_size",
    "last_modified",
    "version",
}


@pytest.fixture
async def provider(moto_url: str) -> AsyncIterator[AwsLambdaProvider]:
    provider = AwsLambdaProvider(default_region=REGION, pool_size=4, endpoint_url=moto_url)
    yield provider
    await provider.close()


@pytest.fixture(scope="module")
def role_arn(moto_url: str) -> str:
    return create_role(moto_url)


@pytest.fixture(scope="module")
def function(moto_url: str, role_arn: str) -> dict[str, Any]:
    """An echo function with version 1 (alias `live`) and version 2 (the latest code)."""
    config = create_function(moto_url, role_arn, Description="echoes its event", Timeout=30)
    name = config["FunctionName"]
    create_alias(moto_url, name, publish_version(moto_url, name), "live")
    return config


def call(execution_id: str = "exec-1") -> CallContext:
    return CallContext(execution_id=execution_id, caller="tester", timeout_s=30.0, attempt=1)


def target(function: str, **fields: Any) -> AwsLambdaTarget:
    return AwsLambdaTarget(provider="aws_lambda", function=function, **fields)


@contextmanager
def stubbed(provider: AwsLambdaProvider, region: str = REGION) -> Iterator[Stubber]:
    """The provider's client for `region` answers only what the test queues; an unqueued call
    fails the test."""
    with Stubber(provider.client(region)) as stub:
        yield stub
        stub.assert_no_pending_responses()


def invoke_response(payload: bytes = b"", status: int = 200, **fields: Any) -> dict[str, Any]:
    body = StreamingBody(io.BytesIO(payload), len(payload))
    metadata = {"RequestId": "req-1", "HTTPStatusCode": status}
    return {"StatusCode": status, "Payload": body, "ResponseMetadata": metadata, **fields}


def sync_params(function: str, payload: bytes, **more: Any) -> dict[str, Any]:
    return {
        "FunctionName": function,
        "InvocationType": "RequestResponse",
        "Payload": payload,
        "LogType": "Tail",
        "ClientContext": ANY,
        **more,
    }


# --- against moto -------------------------------------------------------------------------


async def test_sync_invoke_returns_the_functions_answer(provider, function):
    payload = {"name": "Ada", "tags": [1, 2.5, None, True]}

    outcome = await provider.invoke(target(function["FunctionName"]), payload, call())

    assert outcome.success and outcome.settled
    assert outcome.status_code == 200
    assert outcome.result == payload  # moto's simple backend echoes the event
    assert outcome.error is None
    assert outcome.info["request_id"]
    assert outcome.info["invocation_type"] == "RequestResponse"
    assert outcome.info["function"] == function["FunctionName"]


async def test_the_attempts_trace_context_reaches_moto_in_the_client_context(provider, function):
    sent: dict[str, Any] = {}
    provider.client().meta.events.register(
        "provide-client-params.lambda.Invoke", lambda params, **_: sent.update(params)
    )
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    context = replace(call("exec-7"), traceparent=traceparent, tracestate="rojo=1")

    outcome = await provider.invoke(target(function["FunctionName"]), {"a": 1}, context)

    assert outcome.success and outcome.result == {"a": 1}
    custom = orjson.loads(base64.b64decode(sent["ClientContext"]))["custom"]
    assert custom == {
        EXECUTION_ID_KEY: "exec-7",
        "traceparent": traceparent,
        "tracestate": "rojo=1",
    }


async def test_text_and_bytes_payloads_are_sent_as_they_are(provider, function):
    for payload in ('{"already": "json"}', b'{"raw": true}'):
        outcome = await provider.invoke(target(function["FunctionName"]), payload, call())
        assert outcome.result == orjson.loads(payload)


async def test_no_payload_sends_no_body(provider, function):
    outcome = await provider.invoke(target(function["FunctionName"]), None, call())

    # Without an event to echo, moto's simple backend answers its default text.
    assert outcome.success and outcome.result == "Simple Lambda happy path OK"


async def test_an_alias_qualifier_is_invoked_and_recorded(provider, function):
    outcome = await provider.invoke(
        target(function["FunctionName"], qualifier="live"), {"n": 1}, call()
    )

    assert outcome.success and outcome.result == {"n": 1}
    assert outcome.info["qualifier"] == "live"


async def test_event_invocation_is_accepted_without_a_result(provider, function):
    outcome = await provider.invoke(
        target(function["FunctionName"], invocation_type="Event"), {"n": 1}, call()
    )

    assert outcome.success and outcome.settled
    assert outcome.status_code == 202
    assert outcome.result is None and outcome.logs is None
    assert outcome.info["request_id"]
    assert outcome.info["invocation_type"] == "Event"


async def test_dry_run_answers_204_and_measures_the_payload(provider, function):
    outcome = await provider.dry_run(target(function["FunctionName"]), {"n": 1}, call())

    assert outcome.success and outcome.status_code == 204
    assert outcome.info["payload_bytes"] == len(b'{"n":1}')
    assert outcome.info["request_id"]


async def test_an_answer_too_large_is_the_functions_error(provider, function):
    """A payload under the 6 MB limit is sent; moto's echo of it is too large an answer,
    which Lambda (and moto) report as a FunctionError with the error as the payload."""
    payload = b'"' + b"x" * 6_000_000 + b'"'

    outcome = await provider.invoke(target(function["FunctionName"]), payload, call())

    assert not outcome.success
    assert outcome.status_code == 200
    assert outcome.error["type"] == "Function.ResponseSizeTooLarge"
    assert outcome.error["function_error"] == "Unhandled"
    assert "exceeded maximum allowed payload size" in outcome.error["message"]
    assert outcome.result["errorType"] == "Function.ResponseSizeTooLarge"


async def test_get_function_gives_the_configuration_in_the_seeds_fields(provider, function):
    info = await provider.get_function(function["FunctionName"])

    assert info.name == function["FunctionName"] and info.provider == "aws_lambda"
    assert set(info.details) == SEED_FIELDS
    assert info.details["function_arn"] == function["FunctionArn"]
    assert info.details["description"] == "echoes its event"
    assert info.details["timeout"] == 30
    assert info.details["handler"] == "app.handler"
    assert info.details["version"] == "$LATEST"


async def test_get_function_resolves_an_alias_to_its_version(provider, function):
    by_name = await provider.get_function(f"{function['FunctionName']}:live")
    by_arn = await provider.get_function(f"{function['FunctionArn']}:live")

    assert by_name.details["version"] == by_arn.details["version"] == "1"


async def test_get_function_of_an_unknown_function_is_not_found(provider):
    with pytest.raises(FunctionNotFound, match="no-such-function"):
        await provider.get_function("no-such-function")


async def test_list_functions_in_the_seeds_fields(provider, moto_url, role_arn):
    names = {create_function(moto_url, role_arn, prefix="fnproxy-list")["FunctionName"]}
    names.add(create_function(moto_url, role_arn, prefix="fnproxy-list")["FunctionName"])
    found, cursor = {}, None
    while True:  # moto answers in one page; the loop is what a caller does
        page = await provider.list_functions(limit=50, cursor=cursor)
        found.update({item.name: item for item in page.items})
        cursor = page.next_cursor
        if cursor is None:
            break

    assert names <= set(found)
    for name in names:
        assert set(found[name].details) == SEED_FIELDS
        assert found[name].details["runtime"] == "python3.12"


async def test_the_arns_region_chooses_the_client(provider, moto_url, role_arn):
    elsewhere = create_function(moto_url, role_arn, region=OTHER_REGION)

    info = await provider.get_function(elsewhere["FunctionArn"])
    outcome = await provider.invoke(target(elsewhere["FunctionArn"]), {"n": 2}, call())

    assert info.details["function_arn"] == elsewhere["FunctionArn"]
    assert outcome.info["region"] == OTHER_REGION and outcome.result == {"n": 2}
    with pytest.raises(FunctionNotFound, match=REGION):  # not in the default region
        await provider.get_function(elsewhere["FunctionName"])


async def test_an_unreachable_endpoint_is_transient():
    provider = AwsLambdaProvider(
        REGION, pool_size=1, endpoint_url=f"http://127.0.0.1:{free_port()}"
    )
    try:
        with pytest.raises(TransientFailure, match="unreachable: EndpointConnectionError"):
            await provider.invoke(target("fn"), {}, call())
    finally:
        await provider.close()


def test_every_region_botocore_knows_is_of_the_region_syntax():
    import re

    from core.aws_clients import available_regions
    from core.targets import AWS_REGION_PATTERN

    known = {region for service in ("lambda", "ec2", "s3") for region in available_regions(service)}
    assert {"us-gov-west-1", "cn-north-1", "eu-isoe-west-1", "us-isob-east-1"} <= known
    assert [region for region in known if not re.match(AWS_REGION_PATTERN, region)] == []
    for region in known:
        assert target("my-fn", region=region).region == region


@pytest.mark.parametrize("region", ["zz-moon-1", "us-east-99", "eu-isoz-north-7"])
def test_a_well_formed_region_botocore_does_not_know_is_taken(region):
    provider = AwsLambdaProvider(REGION, pool_size=1)

    assert provider.resolve(target("my-fn", region=region).function, None, region).region == region
    # the region only names the endpoint's host
    client = provider._new_client(region)
    assert client.meta.endpoint_url == f"https://lambda.{region}.amazonaws.com"
    client.close()


async def test_a_well_formed_unknown_region_fails_as_unreachable_and_keeps_no_client():
    provider = AwsLambdaProvider(
        REGION, pool_size=1, endpoint_url=f"http://127.0.0.1:{free_port()}"
    )
    try:
        with pytest.raises(TransientFailure, match="Lambda in zz-moon-1 unreachable"):
            await provider.invoke(target("fn", region="zz-moon-1"), {}, call())
        assert "zz-moon-1" not in provider._clients  # callers cannot make it keep clients
    finally:
        await provider.close()


# --- error paths and response fields moto cannot produce, with Stubber -------------------


async def test_function_error_fails_the_outcome_with_the_error_payload(provider):
    error = {"errorMessage": "boom", "errorType": "ValueError", "stackTrace": ["line 1"]}
    with stubbed(provider) as stub:
        stub.add_response(
            "invoke",
            invoke_response(orjson.dumps(error), FunctionError="Unhandled", ExecutedVersion="3"),
            sync_params("fn", b"{}"),
        )
        outcome = await provider.invoke(target("fn"), {}, call())

    assert not outcome.success and outcome.settled
    assert outcome.status_code == 200
    assert outcome.error == {"type": "ValueError", "message": "boom", "function_error": "Unhandled"}
    assert outcome.result == error
    assert outcome.info["executed_version"] == "3"


async def test_function_error_without_an_error_type_is_named_by_lambda(provider):
    with stubbed(provider) as stub:
        stub.add_response("invoke", invoke_response(b"null", FunctionError="Handled"))
        outcome = await provider.invoke(target("fn"), {}, call())

    assert outcome.error["type"] == "Handled"
    assert "Handled" in outcome.error["message"]


async def test_qualifier_version_logs_and_execution_id_of_a_sync_call(provider):
    logs = "START RequestId: req-1\nhello from the function\nEND RequestId: req-1\n"
    response = invoke_response(
        b'{"ok": true}', ExecutedVersion="7", LogResult=base64.b64encode(logs.encode()).decode()
    )
    with stubbed(provider) as stub:
        stub.add_response("invoke", response, sync_params("fn", b'{"a":1}', Qualifier="live"))
        outcome = await provider.invoke(target("fn", qualifier="live"), {"a": 1}, call("exec-42"))

    assert outcome.success and outcome.result == {"ok": True}
    assert outcome.logs == logs
    assert outcome.info == {
        "function": "fn",
        "region": REGION,
        "invocation_type": "RequestResponse",
        "qualifier": "live",
        "request_id": "req-1",
        "executed_version": "7",
    }


async def test_the_execution_id_reaches_the_function_in_its_client_context(provider):
    seen: dict[str, Any] = {}

    def capture(params: dict[str, Any], **_: Any) -> None:
        seen.update(params)

    client = provider.client()
    client.meta.events.register("provide-client-params.lambda.Invoke", capture)
    with stubbed(provider) as stub:
        stub.add_response("invoke", invoke_response(b"{}"))
        await provider.invoke(target("fn"), {}, call("exec-42"))

    context = orjson.loads(base64.b64decode(seen["ClientContext"]))
    assert context == {"custom": {EXECUTION_ID_KEY: "exec-42"}}


async def test_the_callers_client_context_reaches_lambda_with_fnproxys_part(provider):
    seen: list[dict[str, Any]] = []
    provider.client().meta.events.register(
        "provide-client-params.lambda.Invoke", lambda params, **_: seen.append(params)
    )
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    caller = {"client": {"app_title": "shop"}, "custom": {"cart": "42"}, "env": {"k": "v"}}
    crowded = {"custom": {"filler": "x" * 2600}}  # 3583 characters at most, once encoded
    contexts = [
        replace(call("exec-1"), traceparent=traceparent, client_context=caller),
        replace(call("exec-2"), traceparent=traceparent, client_context=crowded),
    ]
    with stubbed(provider) as stub:
        for context in contexts:
            stub.add_response("invoke", invoke_response(b"{}"))
            await provider.invoke(target("fn"), {}, context)

    sent = [orjson.loads(base64.b64decode(params["ClientContext"])) for params in seen]
    assert sent[0] == caller | {
        "custom": {"cart": "42", EXECUTION_ID_KEY: "exec-1", "traceparent": traceparent}
    }
    assert sent[1] == {"custom": {"filler": "x" * 2600, EXECUTION_ID_KEY: "exec-2"}}
    assert all(len(params["ClientContext"]) <= 3583 for params in seen)


async def test_a_full_arn_with_qualifier_is_called_as_name_and_qualifier(provider):
    arn = f"arn:aws:lambda:{OTHER_REGION}:123456789012:function:fn"
    with stubbed(provider, OTHER_REGION) as stub:
        stub.add_response("invoke", invoke_response(b"1"), sync_params(arn, b"1", Qualifier="7"))
        outcome = await provider.invoke(target(f"{arn}:7"), 1, call())

    assert outcome.result == 1
    assert outcome.info["region"] == OTHER_REGION and outcome.info["qualifier"] == "7"


async def test_throttling_is_transient_and_carries_retry_after_seconds(provider):
    with stubbed(provider) as stub:
        stub.add_client_error(
            "invoke",
            "TooManyRequestsException",
            "Rate Exceeded.",
            http_status_code=429,
            modeled_fields={
                "retryAfterSeconds": "2.5",
                "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
            },
        )
        with pytest.raises(TransientFailure) as raised:
            await provider.invoke(target("fn"), {}, call())

    assert raised.value.status_code == 429
    assert raised.value.retry_after_s == 2.5
    assert "ReservedFunctionConcurrentInvocationLimitExceeded" in raised.value.reason


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ServiceException", 500),
        ("EC2ThrottledException", 502),
        ("ResourceNotReadyException", 502),
        ("ResourceConflictException", 409),
        ("SnapStartTimeoutException", 408),
    ],
)
async def test_passing_failures_of_lambda_are_transient(provider, code, status):
    with stubbed(provider) as stub:
        stub.add_client_error("invoke", code, "try later", http_status_code=status)
        with pytest.raises(TransientFailure, match=code) as raised:
            await provider.invoke(target("fn"), {}, call())

    assert raised.value.status_code == status
    assert raised.value.retry_after_s is None


async def test_an_unknown_function_is_not_found(provider):
    for invoke in (provider.invoke, provider.dry_run):
        with stubbed(provider) as stub:
            stub.add_client_error("invoke", "ResourceNotFoundException", "Function not found", 404)
            with pytest.raises(FunctionNotFound, match="fn:live"):
                await invoke(target("fn", qualifier="live"), {}, call())


async def test_a_function_that_cannot_start_is_its_failed_outcome(provider):
    with stubbed(provider) as stub:
        stub.add_client_error(
            "invoke", "InvalidRuntimeException", "The runtime is not supported", 502
        )
        outcome = await provider.invoke(target("fn"), {}, call())

    assert isinstance(outcome, InvocationOutcome)
    assert not outcome.success and outcome.status_code == 502
    assert outcome.error == {
        "type": "InvalidRuntimeException",
        "message": "The runtime is not supported",
    }


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("InvalidRequestContentException", 400, InvalidRequest),
        ("InvalidParameterValueException", 400, InvalidRequest),
        ("RequestTooLargeException", 413, PayloadTooLarge),
        ("AccessDeniedException", 403, Forbidden),
        ("UnrecognizedClientException", 403, UpstreamUnavailable),
    ],
)
async def test_refusals_of_lambda_are_the_callers_errors(provider, code, status, expected):
    with stubbed(provider) as stub:
        stub.add_client_error("invoke", code, "refused", http_status_code=status)
        with pytest.raises(expected):
            await provider.invoke(target("fn"), {}, call())


async def test_payloads_over_the_limits_are_refused_before_any_call(provider):
    too_big_for_sync = b"x" * (SYNC_PAYLOAD_LIMIT + 1)
    too_big_for_event = b"x" * (EVENT_PAYLOAD_LIMIT + 1)
    with stubbed(provider):  # nothing queued: a call would fail with UnStubbedResponseError
        with pytest.raises(PayloadTooLarge, match=str(SYNC_PAYLOAD_LIMIT)):
            await provider.invoke(target("fn"), too_big_for_sync, call())
        with pytest.raises(PayloadTooLarge, match=str(EVENT_PAYLOAD_LIMIT)):
            await provider.invoke(target("fn", invocation_type="Event"), too_big_for_event, call())
        with pytest.raises(PayloadTooLarge):
            await provider.dry_run(target("fn", invocation_type="Event"), too_big_for_event, call())


async def test_a_payload_at_the_event_limit_is_sent(provider):
    at_limit = b"x" * EVENT_PAYLOAD_LIMIT
    params = {"FunctionName": "fn", "InvocationType": "Event", "Payload": at_limit}
    with stubbed(provider) as stub:
        stub.add_response("invoke", invoke_response(status=202), params)
        outcome = await provider.invoke(target("fn", invocation_type="Event"), at_limit, call())

    assert outcome.status_code == 202


async def test_a_payload_that_is_not_json_is_the_callers_error(provider):
    with stubbed(provider), pytest.raises(InvalidRequest, match="JSON"):
        await provider.invoke(target("fn"), {"when": object()}, call())


async def test_list_functions_passes_max_items_and_marker_and_returns_the_next_one(provider):
    config = {"FunctionName": "fn", "FunctionArn": "arn:aws:lambda:us-east-1:1:function:fn"}
    with stubbed(provider) as stub:
        stub.add_response(
            "list_functions", {"Functions": [config], "NextMarker": "m2"}, {"MaxItems": 1}
        )
        stub.add_response("list_functions", {"Functions": []}, {"MaxItems": 1, "Marker": "m2"})
        first = await provider.list_functions(limit=1, cursor=None)
        last = await provider.list_functions(limit=1, cursor=first.next_cursor)

    assert [item.name for item in first.items] == ["fn"] and first.next_cursor == "m2"
    assert first.items[0].details["function_arn"] == config["FunctionArn"]
    assert last.items == [] and last.next_cursor is None


async def test_a_throttled_listing_is_answered_429_with_retry_after(provider):
    with stubbed(provider) as stub:
        stub.add_client_error(
            "list_functions", "TooManyRequestsException", "Rate exceeded", 429,
            modeled_fields={"retryAfterSeconds": "3"},
        )  # fmt: skip
        with pytest.raises(RateLimited) as raised:
            await provider.list_functions(limit=10, cursor=None)

    assert raised.value.extra["retry_after_s"] == 3.0


async def test_a_failing_description_is_answered_502(provider):
    with stubbed(provider) as stub:
        stub.add_client_error("get_function_configuration", "ServiceException", "oops", 500)
        with pytest.raises(UpstreamUnavailable, match="ServiceException"):
            await provider.get_function("fn")


# --- names, keys and clients ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "qualifier", "key"),
    [
        ("my-fn", None, "aws_lambda:my-fn"),
        ("my-fn", "live", "aws_lambda:my-fn:live"),
        ("my-fn:3", None, "aws_lambda:my-fn:3"),
        ("my-fn:$LATEST", None, "aws_lambda:my-fn:$LATEST"),
    ],
)
def test_a_bare_name_has_the_short_key_with_its_qualifier(function, qualifier, key):
    provider = AwsLambdaProvider(REGION, pool_size=1)

    assert provider.function_key(target(function, qualifier=qualifier)) == key


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        (
            {"function": "123456789012:function:my-fn"},
            f"aws_lambda:/{REGION}/123456789012/my-fn",
        ),
        (
            {"function": "123456789012:function:my-fn:live", "region": OTHER_REGION},
            f"aws_lambda:/{OTHER_REGION}/123456789012/my-fn:live",
        ),
        (
            {"function": "arn:aws:lambda:eu-west-1:123456789012:function:my-fn:live"},
            "aws_lambda:/eu-west-1/123456789012/my-fn:live",
        ),
        (
            {"function": "arn:aws:lambda:eu-west-1:999999999999:function:my-fn", "qualifier": "2"},
            "aws_lambda:/eu-west-1/999999999999/my-fn:2",
        ),
        ({"function": "my-fn", "region": OTHER_REGION}, f"aws_lambda:/{OTHER_REGION}/self/my-fn"),
        ({"function": "my-fn:3", "region": REGION}, f"aws_lambda:/{REGION}/self/my-fn:3"),
    ],
)
def test_a_target_naming_an_account_or_region_has_a_key_naming_both(fields, key):
    provider = AwsLambdaProvider(REGION, pool_size=1)

    assert provider.function_key(target(**fields)) == key


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"function": "my-fn:1", "qualifier": "2"}, "qualifier '1' but the target '2'"),
        (
            {"function": "arn:aws:lambda:eu-west-1:123456789012:function:f", "region": "us-west-2"},
            "region 'eu-west-1' but the target 'us-west-2'",
        ),
        ({"function": "my-fn", "region": "39"}, "'39' is not an AWS region"),
        ({"function": "my-fn", "region": "evil.example/x"}, "is not an AWS region"),
        ({"function": "my-fn", "region": "us-east-1.evil.example"}, "is not an AWS region"),
    ],
)
def test_a_malformed_or_contradictory_target_is_refused(fields, message):
    provider = AwsLambdaProvider(REGION, pool_size=1)

    with pytest.raises(InvalidRequest, match=message):  # the provider's own check
        provider.resolve(fields["function"], fields.get("qualifier"), fields.get("region"))


@pytest.mark.parametrize(
    "fields",
    [
        {"function": "my fn"},
        {"function": "arn:aws:s3:::bucket"},
        {"function": "0" * 300},
        {"function": "0" * 65},
        {"function": "my-fn", "qualifier": "a b"},
        {"function": "my-fn:1", "qualifier": "2"},  # the name carries its qualifier
        {"function": "my-fn:1", "qualifier": "1"},  # even the same one
        {"function": "arn:aws:lambda:eu-west-1:123456789012:function:f", "region": "eu-west-1"},
        {"function": "my-fn", "region": "39"},  # no AWS region's syntax
        {"function": "my-fn", "region": "us-east-1.evil.example"},
        {"function": "my-fn", "region": "US-EAST-1"},
        {"function": "arn:aws:lambda:39:123456789012:function:f"},
    ],
)
def test_what_the_schema_refuses_is_a_field_error(fields):
    with pytest.raises(ValidationError):  # 422 naming the field; the document states the rule
        AwsLambdaTarget(provider="aws_lambda", **fields)


async def test_a_name_no_function_can_have_is_not_found():
    provider = AwsLambdaProvider(REGION, pool_size=1)
    for name in ("0" * 128, "my fn", "arn:aws:lambda:39:123456789012:function:f"):
        with pytest.raises(FunctionNotFound):
            await provider.get_function(name)


def test_one_client_per_region_built_once_across_threads():
    provider = AwsLambdaProvider(REGION, pool_size=16)
    clients: list[Any] = []
    threads = [
        threading.Thread(target=lambda: clients.append(provider.client(OTHER_REGION)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(client) for client in clients}) == 1
    assert provider.client() is provider.client(REGION) is not clients[0]
    config = clients[0].meta.config
    assert clients[0].meta.region_name == OTHER_REGION
    assert config.max_pool_connections == 16
    assert config.retries["total_max_attempts"] == 1  # fnproxy's runner retries, not botocore
    assert config.read_timeout > 900  # Lambda's longest run is 15 minutes


# --- through the invocation service (SQLite store, Lambda in moto) ------------------------


@pytest.fixture
async def services(tmp_path, moto_url):
    from core.wiring import build_services
    from tests.api.conftest import api_settings

    built = build_services(api_settings(tmp_path, AWS_ENDPOINT_URL=moto_url, AWS_REGION=REGION))
    yield built
    await built.close()


PRINCIPAL = Principal(subject="client:t", scopes=frozenset({"invoke:aws_lambda:*"}), token_id="t")


async def test_an_invocation_is_recorded_with_lambdas_facts(services, function):
    request = InvocationRequest(
        target=target(function["FunctionName"], qualifier="live"), payload=[1]
    )

    invocation = await services.invocations.invoke(request, PRINCIPAL)

    stored = await services.store.executions.get(invocation.execution.execution_id)
    assert stored.status == Status.SUCCEEDED and stored.result == [1]
    assert stored.function == f"aws_lambda:{function['FunctionName']}:live"
    assert stored.provider_info["qualifier"] == "live" and stored.provider_info["request_id"]


@pytest.mark.parametrize(
    "fields",
    [
        {"function": "arn:aws:lambda:eu-west-1:999999999999:function:billing-x"},
        {"function": "999999999999:function:billing-x"},
        {"function": "billing-x", "region": OTHER_REGION},
    ],
)
async def test_a_bare_name_scope_cannot_reach_another_account_or_region(services, fields):
    billing = Principal(
        subject="client:t", scopes=frozenset({"invoke:aws_lambda:billing-*"}), token_id="t"
    )
    provider = services.providers.get("aws_lambda")
    with stubbed(provider), stubbed(provider, OTHER_REGION):  # any call to Lambda fails the test
        with pytest.raises(Forbidden, match="not allowed to invoke 'aws_lambda:/"):
            await services.invocations.invoke(
                InvocationRequest(target=target(**fields), payload={}), billing
            )


async def test_a_throttled_call_is_retried_after_lambdas_retry_after(services):
    provider = services.providers.get("aws_lambda")
    request = InvocationRequest(target=target("fn"), payload={})
    with stubbed(provider) as stub:
        stub.add_client_error(
            "invoke", "TooManyRequestsException", "Rate exceeded", 429,
            modeled_fields={"retryAfterSeconds": "0.3"},
        )  # fmt: skip
        stub.add_response("invoke", invoke_response(b'"done"', ExecutedVersion="4"))
        started = time.monotonic()
        invocation = await services.invocations.invoke(request, PRINCIPAL)
        waited = time.monotonic() - started

    execution = invocation.execution
    assert execution.status == Status.SUCCEEDED and invocation.result == "done"
    assert execution.attempts == 2
    assert execution.provider_info["executed_version"] == "4"
    assert waited >= 0.3  # RETRY_DELAY is 0.01 s: only Lambda's Retry-After explains the wait
