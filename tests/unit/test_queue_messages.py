"""The queue message format: both kinds of body, SNS envelopes, and every way to be malformed."""

import orjson
import pytest

from core.events.base import InvocationMessage
from core.events.messages import (
    MAX_REASON_CHARS,
    FnproxyEventMessage,
    MalformedMessage,
    RequestedInvocation,
    decode_message,
    encode_message,
    read_message,
)
from core.invoke.recorder import outcome_event
from core.models import Execution
from core.targets import AwsLambdaTarget, HttpTarget

QUEUE = "sqs:arn:aws:sqs:us-east-1:123456789012:work"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:requests"


def envelope(message: str, **overrides) -> str:
    """An SNS notification as SQS receives it with raw message delivery off."""
    document = {
        "Type": "Notification",
        "MessageId": "sns-message-1",
        "TopicArn": TOPIC_ARN,
        "Message": message,
        "Timestamp": "2026-01-01T00:00:00.000Z",
        "SignatureVersion": "1",
        **overrides,
    }
    return orjson.dumps(document).decode()


def test_an_execution_reference_round_trips():
    message = InvocationMessage("0190f1c2a3b4c5d6e7f8a9b0c1d2e3f4", {"a": [1, 2.5, None]})
    assert decode_message(encode_message(message)) == message


def test_an_invocation_request_is_typed_with_its_target():
    body = orjson.dumps(
        {
            "target": {"provider": "aws_lambda", "function": "resize", "qualifier": "live"},
            "payload": {"image": "x.png"},
            "timeout_s": 30,
            "idempotency_key": "order-17",
            "callback_url": "https://example.com/hook",
        }
    )
    request = decode_message(body)
    assert isinstance(request, RequestedInvocation)
    assert request.target == AwsLambdaTarget(
        provider="aws_lambda", function="resize", qualifier="live"
    )
    assert (request.payload, request.timeout_s) == ({"image": "x.png"}, 30)
    assert (request.idempotency_key, request.callback_url) == (
        "order-17",
        "https://example.com/hook",
    )


def test_a_request_needs_only_a_target():
    request = decode_message('{"target": {"provider": "http", "url": "https://fn.example"}}')
    assert request.target == HttpTarget(provider="http", url="https://fn.example")
    assert request.payload is None and request.idempotency_key is None


def test_a_plain_body_keeps_the_queues_id_and_source():
    received = read_message('{"execution_id": "0190f1c2a3b4c5d6e7f8a9b0c1d2e3f4"}', "q1", QUEUE)
    assert received.message == InvocationMessage("0190f1c2a3b4c5d6e7f8a9b0c1d2e3f4")
    assert (received.message_id, received.source) == ("q1", QUEUE)


def test_an_sns_envelope_is_unwrapped_and_names_the_topic_and_its_message_id():
    inner = '{"target": {"provider": "local", "function": "echo"}, "payload": 1}'
    received = read_message(envelope(inner), "sqs-id-1", QUEUE)
    assert isinstance(received.message, RequestedInvocation) and received.message.payload == 1
    assert received.message_id == "sns-message-1"
    assert received.source == f"sns:{TOPIC_ARN}"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "the body is not JSON"),
        ("", "the body is not JSON"),
        ("[1, 2]", "expected a JSON object, got an array"),
        ('"text"', "expected a JSON object, got a string"),
        ("42", "expected a JSON object, got a number"),
        ("null", "expected a JSON object, got null"),
        ("{}", "expected an execution reference"),
        ('{"payload": 1}', "expected an execution reference"),
        ('{"execution_id": ""}', "invalid execution reference: execution_id:"),
        ('{"execution_id": 7}', "invalid execution reference: execution_id:"),
        (
            '{"execution_id": "0190f1c2a3b4c5d6e7f8a9b0c1d2e3f4", "target": {"provider": "local"}}',
            "invalid execution reference: target: Extra inputs are not permitted",
        ),
        (
            '{"target": {"provider": "local", "function": "echo"}, "mode": "sync"}',
            "invalid invocation request: mode: Extra inputs are not permitted",
        ),
        ('{"target": {"provider": "nope"}}', "invalid invocation request: target: Input tag"),
        ('{"target": {"provider": "local"}}', "target.local.function: Field required"),
        (
            '{"target": {"provider": "local", "function": "../etc"}}',
            "target.local.function: String should match pattern",
        ),
        (
            '{"target": {"provider": "local", "function": "echo"}, "timeout_s": 0}',
            "timeout_s: Input should be greater than 0",
        ),
        (
            '{"target": {"provider": "local", "function": "echo"}, "timeout_s": 901}',
            "timeout_s: Input should be less than or equal to 900",
        ),
        (
            '{"target": {"provider": "local", "function": "echo"}, "idempotency_key": "a\\nb"}',
            "idempotency_key: Value error, must be printable characters",
        ),
        (
            '{"target": {"provider": "local", "function": "echo"}, "callback_url": "ftp://x"}',
            "callback_url: String should match pattern",
        ),
    ],
)
def test_a_malformed_body_says_why(body, reason):
    with pytest.raises(MalformedMessage) as raised:
        decode_message(body)
    assert reason in raised.value.reason
    assert raised.value.status == 400 and raised.value.code == "malformed_message"


def test_many_validation_errors_are_summed_up():
    body = orjson.dumps(
        {
            "target": {"provider": "http", "url": "ftp://x", "method": "FETCH", "extra": 1},
            "timeout_s": -1,
            "idempotency_key": "",
            "callback_url": "x",
            "mode": "sync",
        }
    )
    with pytest.raises(MalformedMessage) as raised:
        decode_message(body)
    assert raised.value.reason.endswith("more")
    assert raised.value.reason.count(";") == 5


def test_a_long_reason_is_cut():
    with pytest.raises(MalformedMessage) as raised:
        read_message(envelope("{}", Type="x" * 10_000), "id", QUEUE)
    assert len(raised.value.reason) == MAX_REASON_CHARS
    assert raised.value.reason.endswith("...")


def test_a_reason_never_quotes_the_payload():
    body = orjson.dumps({"target": {"provider": "local"}, "payload": "s3cr3t-value", "x": 1})
    with pytest.raises(MalformedMessage) as raised:
        decode_message(body)
    assert "s3cr3t" not in raised.value.reason


def test_fnproxys_own_outcome_event_is_told_apart():
    execution = Execution("e1", {}, "local", "local:echo", "sync", "succeeded", "c", 0, 0, 0)
    body = orjson.dumps(outcome_event(execution).to_json_dict())
    with pytest.raises(FnproxyEventMessage, match="dev.fnproxy.invocation.succeeded"):
        decode_message(body)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"Type": "SubscriptionConfirmation"}, "an SNS SubscriptionConfirmation envelope"),
        ({"Message": 5}, "an SNS envelope needs string Message, TopicArn and MessageId"),
        ({"MessageId": ""}, "an SNS envelope needs string Message, TopicArn and MessageId"),
    ],
)
def test_a_bad_sns_envelope_is_malformed(overrides, reason):
    with pytest.raises(MalformedMessage, match=reason):
        read_message(envelope('{"execution_id": "e1"}', **overrides), "id", QUEUE)


def test_the_message_inside_an_envelope_is_checked_too():
    with pytest.raises(MalformedMessage, match="the body is not JSON"):
        read_message(envelope("hello"), "id", QUEUE)
