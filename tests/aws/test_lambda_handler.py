"""End to end through `handlers.aws_lambda.handler`, against moto: API Gateway events (v2 and v1)
-> token from the module key in Secrets Manager -> a Lambda function invoked -> the record in
DynamoDB -> its CloudEvent delivered through SNS to a subscribed SQS queue; and an async
invocation that goes through the SQS work queue into the worker and completes.

The handler runs as in Lambda: in one thread of its own (one container, one event loop kept
across invocations), configured only by its environment."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

import handlers.aws_lambda as aws_lambda
from core.config import ConfigError
from core.errors import InvalidRequest
from core.metrics.emf import EmfMetrics
from core.models import Execution, new_id
from core.store.dynamodb import DynamoDBStore
from core.wiring import build_services, load_aws_settings
from tests.aws.aws_stack import (
    ACCOUNT,
    REGION,
    AwsStack,
    LambdaContext,
    create_stack,
    http_api_event,
    response_json,
    rest_api_event,
    sns_event,
    sqs_event,
)

# The handler flushes powertools' shared metric set every invocation, often empty (the handler
# silences that warning at import, which pytest's collection undoes).
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

REPO = Path(__file__).resolve().parents[2]
EVENTS = Path(__file__).resolve().parent / "events"
T = TypeVar("T")
HANDLER_TIMEOUT_S = 60
STAGE = "dev"
"""The named stage of the HTTP API the handler is told of (API_GATEWAY_BASE_PATH)."""


class LambdaRuntime:
    """Calls the handler the way Lambda does: always from the same single thread."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="lambda-runtime")

    def invoke(self, event: dict[str, Any], context: LambdaContext | None = None) -> Any:
        call = self._thread.submit(aws_lambda.handler, event, context or LambdaContext())
        return call.result(timeout=HANDLER_TIMEOUT_S)

    def http(self, event: dict[str, Any]) -> tuple[int, Any]:
        response = self.invoke(event)
        return response["statusCode"], response_json(response)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the container's event loop, in the runtime's thread."""
        loop = aws_lambda._container.loop
        call = self._thread.submit(loop.run_until_complete, coroutine)
        return call.result(timeout=HANDLER_TIMEOUT_S)

    def shutdown(self) -> None:
        self._thread.submit(_close_container).result(timeout=HANDLER_TIMEOUT_S)
        self._thread.shutdown()


def _close_container() -> None:
    container = aws_lambda._container
    if container is not None:
        container.loop.run_until_complete(container.services.close())
        container.loop.close()
        aws_lambda._container = None


@pytest.fixture(scope="module")
def stack(moto_url: str) -> AwsStack:
    return create_stack(moto_url)


@pytest.fixture(scope="module")
def runtime(stack: AwsStack) -> Iterator[LambdaRuntime]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in stack.environment(API_GATEWAY_BASE_PATH=STAGE).items():
            patch.setenv(name, value)
        patch.setattr(aws_lambda, "_container", None)
        lambda_runtime = LambdaRuntime()
        try:
            yield lambda_runtime
        finally:
            lambda_runtime.shutdown()


@pytest.fixture(scope="module")
def bearer(stack: AwsStack, runtime: LambdaRuntime) -> dict[str, str]:
    status, grant = runtime.http(
        http_api_event("POST", "/v1/auth/token", {"api_key": stack.module_key})
    )
    assert status == 200, grant
    assert grant["token_type"] == "Bearer"
    return {"authorization": f"Bearer {grant['access_token']}"}


def lambda_target(stack: AwsStack) -> dict[str, str]:
    return {"provider": "aws_lambda", "function": stack.function_name}


def cloud_events(stack: AwsStack) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """The CloudEvents the subscribed queue got: (event, SNS message attributes)."""
    delivered = []
    for message in stack.receive(stack.events_queue_url, wait_s=2):
        envelope = json.loads(message["Body"])
        attributes = {
            name: value["Value"] for name, value in envelope.get("MessageAttributes", {}).items()
        }
        delivered.append((json.loads(envelope["Message"]), attributes))
    return delivered


def events_of(stack: AwsStack, execution_id: str) -> list[tuple[dict, dict]]:
    return [
        (event, attributes)
        for event, attributes in cloud_events(stack)
        if event["data"]["execution_id"] == execution_id
    ]


async def read_from_dynamodb(stack: AwsStack, execution_id: str) -> Execution | None:
    """The execution as a store of its own reads it from the table."""
    store = DynamoDBStore(stack.table, "us-east-1", stack.endpoint_url)
    try:
        return await store.executions.get(execution_id)
    finally:
        await store.close()


@pytest.fixture
def lambda_logs() -> Iterator[io.StringIO]:
    """What powertools' Logger (and fnproxy's loggers through it) writes, one JSON per line."""
    handler = aws_lambda.logger.registered_handler
    captured = io.StringIO()
    previous = handler.setStream(captured)
    try:
        yield captured
    finally:
        handler.setStream(previous)


def test_http_api_event_invokes_lambda_records_and_publishes(
    stack: AwsStack,
    runtime: LambdaRuntime,
    bearer: dict[str, str],
    lambda_logs: io.StringIO,
    capsys: pytest.CaptureFixture[str],
) -> None:
    payload = {"order": 42, "items": ["a", "b"]}
    event = http_api_event(
        "POST", "/v1/invoke", {"target": lambda_target(stack), "payload": payload}, bearer
    )

    status, envelope = runtime.http(event)

    assert status == 200, envelope
    assert envelope["success"] is True and envelope["status"] == "succeeded"
    assert envelope["result"] == payload  # moto's simple Lambda backend echoes the event
    assert envelope["provider"]["name"] == "aws_lambda"
    assert envelope["provider"]["function"] == stack.function_name
    execution_id = envelope["execution_id"]

    status, record = runtime.http(
        http_api_event("GET", f"/v1/invocations/{execution_id}", headers=bearer)
    )
    assert status == 200, record
    assert record["status"] == "succeeded" and record["payload"] == payload
    assert record["function"].endswith(stack.function_name)

    stored = runtime.run(read_from_dynamodb(stack, execution_id))
    assert stored is not None and stored.status == "succeeded" and stored.result == payload

    [(cloud_event, attributes)] = events_of(stack, execution_id)
    assert cloud_event["specversion"] == "1.0"
    assert cloud_event["type"] == "dev.fnproxy.invocation.succeeded"
    assert attributes["success"] == "true"
    assert attributes["function"] == record["function"]

    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    [point] = [m for m in emf if m.get("function") == record["function"]]
    assert point["provider"] == "aws_lambda" and point["invocations"] == [1.0]
    assert "errors" not in point and point["duration"][0] > 0
    [directive] = point["_aws"]["CloudWatchMetrics"]
    assert sorted(directive["Dimensions"][0]) == ["function", "provider", "service"]

    log_lines = [json.loads(line) for line in lambda_logs.getvalue().splitlines()]
    [audit] = [
        line
        for line in log_lines
        if isinstance(line["message"], dict) and line["message"]["action"] == "POST /v1/invoke"
    ]
    assert audit["service"] == "fnproxy" and audit["message"]["outcome"] == 200
    assert audit["correlation_id"] == event["requestContext"]["requestId"]


XRAY_ROOT = "1-5759e988-bd862e3fe1be46a994272793"


def test_api_gateways_xray_header_is_the_trace_of_the_record_and_its_event(
    stack: AwsStack, runtime: LambdaRuntime, bearer: dict[str, str]
) -> None:
    xray = {"x-amzn-trace-id": f"Root={XRAY_ROOT};Parent=53995c3f42cd8ad8;Sampled=1"}
    body = {"target": lambda_target(stack), "payload": {"traced": True}}

    status, envelope = runtime.http(http_api_event("POST", "/v1/invoke", body, bearer | xray))

    assert status == 200, envelope
    status, record = runtime.http(
        http_api_event("GET", f"/v1/invocations/{envelope['execution_id']}", headers=bearer)
    )
    assert record["traceparent"].startswith("00-5759e988bd862e3fe1be46a994272793-")
    [(cloud_event, _)] = events_of(stack, envelope["execution_id"])
    assert cloud_event["traceparent"] == record["traceparent"]


def test_without_a_trace_header_the_lambda_runtimes_trace_is_taken(
    stack: AwsStack,
    runtime: LambdaRuntime,
    bearer: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={XRAY_ROOT};Sampled=0")
    body = {"target": lambda_target(stack), "payload": None}

    status, envelope = runtime.http(http_api_event("POST", "/v1/invoke", body, bearer))

    assert status == 200, envelope
    status, record = runtime.http(
        http_api_event("GET", f"/v1/invocations/{envelope['execution_id']}", headers=bearer)
    )
    assert record["traceparent"].startswith("00-5759e988bd862e3fe1be46a994272793-")
    assert record["traceparent"].endswith("-00")  # not sampled, as X-Ray said


def test_rest_api_event_smoke(runtime: LambdaRuntime, bearer: dict[str, str]) -> None:
    status, health = runtime.http(rest_api_event("GET", "/health", headers=bearer))

    assert status == 200, health
    assert health["status"] == "ok"
    assert set(health["checks"]) == {"store", "secrets", "events", "queue"}


def test_async_invocation_runs_through_sqs_worker(
    stack: AwsStack, runtime: LambdaRuntime, bearer: dict[str, str]
) -> None:
    body = {"target": lambda_target(stack), "payload": {"later": True}, "mode": "async"}

    status, accepted = runtime.http(http_api_event("POST", "/v1/invoke", body, bearer))

    assert status == 202, accepted
    assert accepted["status"] == "queued"
    execution_id = accepted["execution_id"]
    messages = stack.receive(stack.queue_url)
    assert [json.loads(m["Body"])["execution_id"] for m in messages] == [execution_id]
    batch = sqs_event(messages, stack.queue_arn(stack.queue_url))

    assert runtime.invoke(batch) == {"batchItemFailures": []}

    status, record = runtime.http(
        http_api_event("GET", f"/v1/invocations/{execution_id}", headers=bearer)
    )
    assert status == 200, record
    assert record["status"] == "succeeded" and record["result"] == {"later": True}
    assert record["attempts"] == 1
    [(cloud_event, _)] = events_of(stack, execution_id)
    assert cloud_event["type"] == "dev.fnproxy.invocation.succeeded"

    # SQS delivers at least once: a redelivered message never runs the execution again
    assert runtime.invoke(batch) == {"batchItemFailures": []}
    status, again = runtime.http(
        http_api_event("GET", f"/v1/invocations/{execution_id}", headers=bearer)
    )
    assert again["attempts"] == 1 and again["finished_at"] == record["finished_at"]
    assert events_of(stack, execution_id) == []


def test_sqs_batch_names_only_the_records_that_failed(
    stack: AwsStack, runtime: LambdaRuntime, bearer: dict[str, str], lambda_logs: io.StringIO
) -> None:
    body = {"target": lambda_target(stack), "payload": {"batch": 1}, "mode": "async"}
    status, accepted = runtime.http(http_api_event("POST", "/v1/invoke", body, bearer))
    assert status == 202, accepted
    unknown = {"execution_id": new_id(), "payload": None}  # not in the store (yet): retry it
    stack.client("sqs").send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps(unknown))
    messages = stack.receive(stack.queue_url, count=2)
    assert len(messages) == 2
    [failing] = [m["MessageId"] for m in messages if json.loads(m["Body"]) == unknown]

    answer = runtime.invoke(sqs_event(messages, stack.queue_arn(stack.queue_url)))

    assert answer == {"batchItemFailures": [{"itemIdentifier": failing}]}
    status, record = runtime.http(
        http_api_event("GET", f"/v1/invocations/{accepted['execution_id']}", headers=bearer)
    )
    assert record["status"] == "succeeded"
    [logged] = errors_logged(lambda_logs)
    assert logged["message_id"] == failing and "not in the store" in logged["exception"]


def test_invocation_request_from_sns_record_runs(
    stack: AwsStack, runtime: LambdaRuntime, bearer: dict[str, str]
) -> None:
    request = {"target": lambda_target(stack), "payload": {"via": "sns"}}

    assert runtime.invoke(sns_event(json.dumps(request), stack.topic_arn)) is None

    function = f"aws_lambda:{stack.function_name}"
    status, page = runtime.http(
        http_api_event("GET", "/v1/invocations", headers=bearer, query=f"function={function}")
    )
    assert status == 200, page
    [record] = [item for item in page["invocations"] if item["payload"] == {"via": "sns"}]
    assert record["status"] == "succeeded" and record["caller"] == f"sns:{stack.topic_arn}"


def test_malformed_sqs_record_goes_to_dead_letter_queue(
    stack: AwsStack, runtime: LambdaRuntime
) -> None:
    stack.client("sqs").send_message(QueueUrl=stack.queue_url, MessageBody="not json")
    messages = stack.receive(stack.queue_url)

    answer = runtime.invoke(sqs_event(messages, stack.queue_arn(stack.queue_url)))

    assert answer == {"batchItemFailures": []}  # acknowledged: it would never succeed
    [dead] = stack.receive(stack.dlq_url)
    assert dead["Body"] == "not json"
    assert "not JSON" in dead["MessageAttributes"]["fnproxy_reason"]["StringValue"]


# --- the platforms' own sample events (tests/aws/events/README.md) --------------------------


def sample_event(name: str) -> dict[str, Any]:
    """tests/aws/events/`name`, an upstream sample event as it is."""
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def sam_event(name: str, **values: str) -> dict[str, Any]:
    """tests/aws/events/aws-sam-cli/`name`, a template of `sam local generate-event`, with its
    `{{{placeholders}}}` filled as that command does (the values escaped for JSON)."""
    template = (EVENTS / "aws-sam-cli" / name).read_text(encoding="utf-8")
    for placeholder, value in values.items():
        template = template.replace("{{{" + placeholder + "}}}", json.dumps(value)[1:-1])
    assert "{{{" not in template, f"{name}: a placeholder is left"
    return json.loads(template)


def sam_sqs_event(stack: AwsStack, body: str) -> dict[str, Any]:
    """`sam local generate-event sqs receive-message` of `body`, from the stack's work queue."""
    return sam_event(
        "Sqs.json",
        body=body,
        md5_of_body=hashlib.md5(body.encode()).hexdigest(),
        account_id=ACCOUNT,
        partition="aws",
        region=REGION,
        queue_name=stack.queue_url.rsplit("/", 1)[-1],
    )


def log_lines(logs: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in logs.getvalue().splitlines()]


def errors_logged(logs: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in log_lines(logs) if line["level"] == "ERROR"]


def dead_letters(stack: AwsStack, count: int) -> dict[str, str]:
    """The bodies the dead-letter queue got, and each one's fnproxy_reason."""
    received = stack.receive(stack.dlq_url, count=count)
    assert len(received) == count, received
    return {m["Body"]: m["MessageAttributes"]["fnproxy_reason"]["StringValue"] for m in received}


def message_records(runtime: LambdaRuntime, bearer: dict[str, str], caller: str) -> list[dict]:
    """The records of messages that never became an execution, sent by `caller`."""
    status, page = runtime.http(
        http_api_event("GET", "/v1/invocations", headers=bearer, query="function=queue%3Amessage")
    )
    assert status == 200, page
    return [record for record in page["invocations"] if record["caller"] == caller]


def test_powertools_sqs_sample_is_dead_lettered_record_by_record(
    stack: AwsStack, runtime: LambdaRuntime, bearer: dict[str, str]
) -> None:
    """Neither body is a queue message: each is recorded with its reason, copied to the
    dead-letter queue and acknowledged (never retried)."""
    event = sample_event("powertools/sqsEvent.json")

    assert runtime.invoke(event) == {"batchItemFailures": []}

    reasons = dead_letters(stack, 2)
    assert reasons["Test message."].startswith("the body is not JSON: ")
    assert reasons['{"message": "foo1"}'].startswith("expected an execution reference")
    caller = "sqs:arn:aws:sqs:us-east-2:123456789012:my-queue"
    recorded = message_records(runtime, bearer, caller)
    assert sorted(record["payload"] for record in recorded) == [
        "Test message.",
        '{"message": "foo1"}',
    ]
    assert {record["error"]["type"] for record in recorded} == {"MalformedMessage"}


def test_a_batch_whose_every_record_fails_raises_and_logs_each(
    stack: AwsStack, runtime: LambdaRuntime, lambda_logs: io.StringIO
) -> None:
    """What Lambda's Errors metric (the worker-errors alarm) counts: the invocation raised."""
    event = sample_event("powertools/sqsEvent.json")
    for record in event["Records"]:  # references to executions not in the table (yet)
        record["body"] = json.dumps({"execution_id": new_id(), "payload": None})

    with pytest.raises(BatchProcessingError, match="All records failed processing"):
        runtime.invoke(event)

    logged = errors_logged(lambda_logs)
    assert sorted(line["message_id"] for line in logged) == [
        "059f36b4-87a3-44ab-83d2-661975830a7d",
        "2e1424d4-f796-459a-8184-9c92662be6da",
    ]
    for line in logged:
        assert line["message"] == f"the worker failed on aws:sqs message {line['message_id']}"
        assert "NotFound" in line["exception_name"] and "not in the store" in line["exception"]


def test_an_execution_reference_with_a_foreign_id_is_refused_once(
    stack: AwsStack, runtime: LambdaRuntime, lambda_logs: io.StringIO
) -> None:
    """RFC 4122's sample uuid4, whose first 12 digits as a clock are in the year 10488: not
    retried, one line with the reason, the record written on DynamoDB."""
    body = json.dumps({"execution_id": "f47ac10b58cc4372a5670e02b2c3d479", "payload": None})

    assert runtime.invoke(sam_sqs_event(stack, body)) == {"batchItemFailures": []}

    [dead] = stack.receive(stack.dlq_url)
    assert dead["Body"] == body
    attributes = dead["MessageAttributes"]
    reason = attributes["fnproxy_reason"]["StringValue"]
    assert "execution_id: Value error, not an fnproxy id" in reason
    stored = runtime.run(
        read_from_dynamodb(stack, attributes["fnproxy_execution_id"]["StringValue"])
    )
    assert stored is not None and stored.error == {"type": "MalformedMessage", "message": reason}
    assert stored.caller == f"sqs:{stack.queue_arn(stack.queue_url)}"
    assert errors_logged(lambda_logs) == []
    [warned] = [line for line in log_lines(lambda_logs) if "not an fnproxy id" in line["message"]]
    assert warned["level"] == "WARNING"


def test_a_malformed_message_in_an_sns_envelope_is_the_topics(
    stack: AwsStack, runtime: LambdaRuntime, bearer: dict[str, str]
) -> None:
    event = sample_event("powertools/snsSqsEvent.json")

    assert runtime.invoke(event) == {"batchItemFailures": []}

    topic = "sns:arn:aws:sns:eu-west-1:231436140809:powertools265"
    [record] = message_records(runtime, bearer, topic)
    assert record["error"]["message"].startswith("expected an execution reference")
    [reason] = dead_letters(stack, 1).values()
    assert reason == record["error"]["message"]


def test_powertools_sns_sample_is_recorded_as_the_topics(
    stack: AwsStack, runtime: LambdaRuntime, bearer: dict[str, str]
) -> None:
    assert runtime.invoke(sample_event("powertools/snsEvent.json")) is None  # acknowledged

    [record] = message_records(runtime, bearer, "sns:arn:aws:sns:us-east-2:123456789012:sns-lambda")
    assert record["payload"] == "Hello from SNS!"
    assert dead_letters(stack, 1) == {"Hello from SNS!": record["error"]["message"]}


def test_a_failing_sns_record_raises_and_is_logged(
    runtime: LambdaRuntime, lambda_logs: io.StringIO
) -> None:
    event = sample_event("powertools/snsEvent.json")
    event["Records"][0]["Sns"]["Message"] = json.dumps({"execution_id": new_id()})

    with pytest.raises(Exception, match="not in the store"):
        runtime.invoke(event)

    [logged] = errors_logged(lambda_logs)
    assert logged["message_id"] == "95df01b4-ee98-5cb9-9903-4c221d41eb5e"
    assert logged["message"].startswith("the worker failed on aws:sns message 95df01b4")


def test_an_http_api_named_stage_routes_to_the_app(
    runtime: LambdaRuntime, bearer: dict[str, str]
) -> None:
    request = {"target": {"provider": "local", "function": "echo"}, "payload": {"stage": STAGE}}
    event = sam_event(
        "HttpApi.json",
        stage=STAGE,
        path=f"{STAGE}/v1/invoke",
        method="POST",
        body=base64.b64encode(json.dumps(request).encode()).decode(),
        account_id=ACCOUNT,
        dns_suffix=f"{REGION}.amazonaws.com",
    )
    event["headers"].update({"content-type": "application/json", **bearer})
    event["rawQueryString"] = ""  # the sample's parameters, which POST /v1/invoke refuses
    assert event["rawPath"] == "/dev/v1/invoke"

    status, envelope = runtime.http(event)

    assert status == 200, envelope
    assert envelope["result"] == {"stage": STAGE}


def test_the_dashboard_and_its_assets_are_served_under_the_stage(runtime: LambdaRuntime) -> None:
    def get(path: str) -> dict[str, Any]:
        event = sam_event(
            "HttpApi.json",
            stage=STAGE,
            path=f"{STAGE}/{path}",
            method="GET",
            body="",
            account_id=ACCOUNT,
            dns_suffix=f"{REGION}.amazonaws.com",
        )
        event["rawQueryString"] = ""
        return runtime.invoke(event)

    page = get("dashboard")
    assert page["statusCode"] == 200 and page["headers"]["content-type"].startswith("text/html")
    assert "default-src 'none'" in page["headers"]["content-security-policy"]
    script = re.search(r'src="(dashboard/assets/dashboard\.[0-9a-f]{12}\.js)"', page["body"])
    assert script, page["body"]  # relative: the browser asks for /dev/dashboard/assets/...
    asset = get(script.group(1))
    assert asset["statusCode"] == 200, asset
    body = base64.b64decode(asset["body"]) if asset["isBase64Encoded"] else asset["body"].encode()
    assert b"v1/auth/token" in body


def test_a_bad_api_gateway_base_path_is_named(stack: AwsStack) -> None:
    with pytest.raises(ConfigError, match="API_GATEWAY_BASE_PATH: expected path segments"):
        load_aws_settings(stack.environment(API_GATEWAY_BASE_PATH="dev stage"))


def function_url_event(headers: dict[str, str], query: str = "") -> dict[str, Any]:
    """tests/aws/events/function_url_post.json: a Lambda function URL request (auth type NONE,
    payload format 2.0: base64 body, cookies) of POST /v1/invoke for local:echo, with `headers`
    added; with a `query`, the GET /v1/invocations?`query` of the same caller instead."""
    event = json.loads((EVENTS / "function_url_post.json").read_text(encoding="utf-8"))
    event["headers"].update(headers)
    if query:
        event["requestContext"]["http"]["method"] = "GET"
        event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/invocations"
        event["rawQueryString"] = query
        del event["body"]
    return event


def test_a_function_url_request_invokes_with_a_token(
    runtime: LambdaRuntime, bearer: dict[str, str]
) -> None:
    event = function_url_event(bearer)
    assert aws_lambda.event_kind(event) == "http"

    response = runtime.invoke(event)

    assert response["statusCode"] == 200, response_json(response)
    envelope = response_json(response)
    assert envelope["success"] is True and envelope["result"] == {"order": 42}
    assert envelope["provider"]["function"] == "local:echo"
    listed = runtime.invoke(function_url_event(bearer, query="function=local%3Aecho&limit=1"))
    assert listed["statusCode"] == 200, response_json(listed)
    [newest] = response_json(listed)["invocations"]
    assert newest["execution_id"] == envelope["execution_id"]


def test_a_function_url_request_without_a_token_is_401(runtime: LambdaRuntime) -> None:
    response = runtime.invoke(function_url_event({}))

    assert response["statusCode"] == 401, response_json(response)
    assert response["headers"]["content-type"].startswith("application/problem+json")
    assert response["headers"]["www-authenticate"].startswith("Bearer")
    assert response_json(response)["code"] == "unauthorized"


def test_unknown_event_is_refused(runtime: LambdaRuntime) -> None:
    with pytest.raises(InvalidRequest, match="API Gateway"):
        runtime.invoke({"detail-type": "Scheduled Event", "source": "aws.events"})


def test_an_unexpected_error_is_logged_with_the_lambda_request_id_and_no_secret(
    runtime: LambdaRuntime,
    bearer: dict[str, str],
    lambda_logs: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken() -> dict[str, str]:
        raise RuntimeError("the health checks broke at https://u:pw@db.example/p?sig=s3cr3t")

    monkeypatch.setattr(aws_lambda._container.services.health, "results", broken)
    context = LambdaContext()

    response = runtime.invoke(http_api_event("GET", "/health", headers=bearer), context)

    assert response["statusCode"] == 500
    assert response_json(response)["detail"] == "an internal error occurred"
    [error] = errors_logged(lambda_logs)
    assert error["function_request_id"] == context.aws_request_id
    assert error["message"] == "unhandled error on GET /health"
    assert "RuntimeError: the health checks broke" in error["exception"]
    assert error["http_request"] == {
        "method": "GET",
        "url": "https://api123.execute-api.us-east-1.amazonaws.com/health",
        "responseStatusCode": 500,
        "userAgent": "pytest",
        "remoteIp": "203.0.113.7",
    }
    token = bearer["authorization"].removeprefix("Bearer ")
    assert token not in lambda_logs.getvalue()
    assert "s3cr3t" not in lambda_logs.getvalue() and "pw@" not in lambda_logs.getvalue()


def emf_points(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if '"_aws"' in line]


def test_emf_records_carry_the_ports_names_and_their_own_dimensions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics = EmfMetrics()

    metrics.invocation("local:fail", "local", "failed", False, 12.5)
    metrics.retry("http:x", "http")
    metrics.circuit("http:x", "open")
    metrics.store_error("count in stats")

    outcome, retry, circuit, store = emf_points(capsys.readouterr().out)
    assert (outcome["provider"], outcome["function"]) == ("local", "local:fail")
    assert outcome["invocations"] == [1.0] and outcome["errors"] == [1.0]
    assert outcome["duration"] == [12.5]
    assert (retry["retries"], retry["function"]) == ([1.0], "http:x")
    assert (circuit["circuit_state"], circuit["target"]) == ([2.0], "http:x")
    assert (store["store_errors"], store["operation"]) == ([1.0], "count in stats")
    for point in (outcome, retry, circuit, store):
        [directive] = point["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "fnproxy" and "service" in directive["Dimensions"][0]


async def test_aws_column_and_single_port_overrides(stack: AwsStack) -> None:
    environ = stack.environment(SECRETS_BACKEND="env", MODULE_SECRET_KEY=stack.module_key)

    settings, secrets = load_aws_settings(environ)
    services = build_services(settings, secrets=secrets)
    await services.close()

    kinds = {
        port: type(getattr(services, port)).__name__
        for port in ("store", "secrets", "events", "queue")
    }
    assert kinds == {
        "store": "DynamoDBStore",
        "secrets": "EnvSecretSource",
        "events": "SnsEventBus",
        "queue": "SqsWorkQueue",
    }
    assert {"aws_lambda", "http", "local"} <= set(services.providers.enabled)


def test_secret_references_resolve_before_settings_are_read(stack: AwsStack) -> None:
    limits_secret = stack.client("secretsmanager").create_secret(
        Name=f"fnproxy/limits-{stack.table}", SecretString=json.dumps({"batch": 7})
    )["ARN"]

    settings, _ = load_aws_settings(
        stack.environment(MAX_BATCH_SIZE_SECRET_ARN=f"{limits_secret}#batch")
    )

    assert settings.max_batch_size == 7
    assert settings.module_secret_key == stack.module_key


def test_a_missing_aws_resource_setting_is_named(stack: AwsStack) -> None:
    settings, _ = load_aws_settings(stack.environment(EVENTS_TOPIC_ARN=""))

    with pytest.raises(ConfigError, match="EVENTS_TOPIC_ARN"):
        build_services(settings)


IMPORT_PROBE = """
import json, sys
at_start = set(sys.modules)  # e.g. namespace packages that .pth files set up
import handlers.aws_lambda as aws_lambda
from tests.aws.aws_stack import LambdaContext, rest_api_event
response = aws_lambda.handler(rest_api_event("GET", "/health"), LambdaContext())
loaded = sorted({name.split(".")[0] for name in set(sys.modules) - at_start})
print("PROBE " + json.dumps({"status": response["statusCode"], "loaded": loaded}))
"""


def probe(stack: AwsStack, **overrides: str) -> dict[str, Any]:
    """A fresh Lambda container: import the handler, answer one event; what it loaded."""
    environment = {**os.environ, **stack.environment(**overrides)}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=HANDLER_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("PROBE ")]
    return json.loads(line.removeprefix("PROBE "))


def test_xray_sdk_only_when_tracing_and_never_google_libraries(stack: AwsStack) -> None:
    plain = probe(stack)
    assert plain["status"] == 200
    assert "aws_xray_sdk" not in plain["loaded"]
    assert not [name for name in plain["loaded"] if name in ("google", "grpc")]

    traced = probe(stack, FNPROXY_TRACING="true")
    assert traced["status"] == 200
    assert "aws_xray_sdk" in traced["loaded"]
