"""Test helper: one fnproxy deployment's AWS resources, created in the session's moto server.

`create_stack(moto_url)` makes, under unique names: the DynamoDB table, the events topic with an
SQS queue subscribed to it (where a test reads the CloudEvents), the async work queue with its
dead-letter queue, the module key in Secrets Manager and a Lambda function (moto's simple
backend echoes the payload). `AwsStack.environment()` is what the Lambda's configuration would
be. Also: Lambda-shaped events (API Gateway v1 and v2, SQS) and a Lambda context.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any

import boto3

REGION = "us-east-1"
ACCOUNT = "123456789012"
MAX_RECEIVE_COUNT = 3
FUNCTION_SOURCE = "def handler(event, context):\n    return event\n"
LAMBDA_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class AwsStack:
    endpoint_url: str
    table: str
    topic_arn: str
    events_queue_url: str
    queue_url: str
    dlq_url: str
    secret_arn: str
    function_name: str
    module_key: str = field(repr=False)

    def environment(self, **overrides: str) -> dict[str, str]:
        """The fnproxy Lambda's environment for this stack."""
        return {
            "FNPROXY_PLATFORM": "aws",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "FNPROXY_TABLE": self.table,
            "EVENTS_TOPIC_ARN": self.topic_arn,
            "ASYNC_QUEUE_URL": self.queue_url,
            "ASYNC_DLQ_URL": self.dlq_url,
            "ASYNC_MAX_RECEIVE_COUNT": str(MAX_RECEIVE_COUNT),
            "MODULE_SECRET_KEY_SECRET_ARN": self.secret_arn,
            "MAX_RETRIES": "1",
            "RETRY_DELAY": "0.01",
            "FUNCTION_TIMEOUT": "20",
            "LOG_LEVEL": "INFO",
            **overrides,
        }

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint_url)

    def receive(self, queue_url: str, wait_s: int = 5, count: int = 1) -> list[dict[str, Any]]:
        """The messages waiting in `queue_url`, deleted: polls (up to `wait_s` each time) until
        there are at least `count`, or a poll finds none."""
        sqs = self.client("sqs")
        messages: list[dict[str, Any]] = []
        while len(messages) < count:
            answer = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=wait_s,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = answer.get("Messages", [])
            if not received:
                break
            for message in received:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            messages += received
        return messages

    def queue_arn(self, queue_url: str) -> str:
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_url.rsplit('/', 1)[-1]}"


def create_stack(moto_url: str) -> AwsStack:
    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=moto_url)

    from core.store.dynamodb import create_table

    table = unique("fnproxy")
    create_table(client("dynamodb"), table)
    topic_arn = client("sns").create_topic(Name=unique("fnproxy-events"))["TopicArn"]
    events_queue_url = _subscribed_queue(client("sqs"), client("sns"), topic_arn)
    dlq_url, queue_url = _work_queues(client("sqs"))
    module_key = secrets.token_urlsafe(48)
    secret_arn = client("secretsmanager").create_secret(
        Name=unique("fnproxy/module-key"), SecretString=module_key
    )["ARN"]
    function_name = _echo_function(client("iam"), client("lambda"))
    return AwsStack(
        endpoint_url=moto_url,
        table=table,
        topic_arn=topic_arn,
        events_queue_url=events_queue_url,
        queue_url=queue_url,
        dlq_url=dlq_url,
        secret_arn=secret_arn,
        function_name=function_name,
        module_key=module_key,
    )


def _subscribed_queue(sqs: Any, sns: Any, topic_arn: str) -> str:
    """A queue that receives every event of the topic (SNS envelope, message attributes)."""
    url = sqs.create_queue(QueueName=unique("fnproxy-subscriber"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    return url


def _work_queues(sqs: Any) -> tuple[str, str]:
    """The dead-letter queue and the async work queue that redrives into it."""
    dlq_url = sqs.create_queue(QueueName=unique("fnproxy-dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
    queue_url = sqs.create_queue(
        QueueName=unique("fnproxy-work"),
        Attributes={"RedrivePolicy": json.dumps(redrive), "VisibilityTimeout": "30"},
    )["QueueUrl"]
    return dlq_url, queue_url


def _echo_function(iam: Any, lambda_client: Any) -> str:
    role_arn = iam.create_role(
        RoleName=unique("fnproxy-fn-role"),
        AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST_POLICY),
    )["Role"]["Arn"]
    name = unique("echo")
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role_arn,
        Handler="lambda_function.handler",
        Code={"ZipFile": _zipped("lambda_function.py", FUNCTION_SOURCE)},
        Publish=True,
    )
    return name


def _zipped(name: str, source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, source)
    return buffer.getvalue()


# --- Lambda-shaped events and context -------------------------------------------------------


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as `context` (the attributes powertools reads)."""

    function_name: str = "fnproxy"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 128
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def _body(body: Any) -> str | None:
    return None if body is None else json.dumps(body)


def http_api_event(
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: str = "",
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, as a `$default` route delivers it."""
    now = time.time()
    all_headers = {
        "accept": "application/json",
        "content-type": "application/json",
        "host": "api123.execute-api.us-east-1.amazonaws.com",
        "user-agent": "pytest",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **(headers or {}),
    }
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": all_headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "api123",
            "domainName": all_headers["host"],
            "domainPrefix": "api123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "pytest",
            },
            "requestId": unique("apigw-v2"),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": _body(body),
        "isBase64Encoded": False,
    }


def rest_api_event(
    method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """An API Gateway REST API (v1) proxy-integration event on the `prod` stage."""
    all_headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "Host": "api123.execute-api.us-east-1.amazonaws.com",
        "User-Agent": "pytest",
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Proto": "https",
        **(headers or {}),
    }
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "api123",
            "resourceId": "abc123",
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/prod{path}",
            "protocol": "HTTP/1.1",
            "requestId": unique("apigw-v1"),
            "requestTimeEpoch": int(time.time() * 1000),
            "stage": "prod",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "pytest"},
        },
        "body": _body(body),
        "isBase64Encoded": False,
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping delivers for `messages` (as received)."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for message in messages
        ]
    }


def sns_event(message: str, topic_arn: str) -> dict[str, Any]:
    """The event SNS delivers to a Lambda function subscribed to `topic_arn`."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic_arn}:{uuid.uuid4()}",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": str(uuid.uuid4()),
                    "TopicArn": topic_arn,
                    "Subject": None,
                    "Message": message,
                    "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                    "SignatureVersion": "1",
                    "MessageAttributes": {},
                },
            }
        ]
    }


def response_json(response: dict[str, Any]) -> Any:
    """The JSON body of a Mangum (API Gateway) response."""
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body) if body else None
