"""The SNS event bus against moto: each outcome is one CloudEvent delivered to subscribed SQS
queues (raw or in SNS's envelope) with message attributes that filter policies can use."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import orjson
import pytest

from core.events.sns import SnsEventBus
from core.invoke.recorder import Recorder, outcome_event
from core.models import Execution, Status
from core.store.sqlite import SqliteStore

REGION = "us-east-1"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def execution(function: str = "local:echo", success: bool = True) -> Execution:
    return Execution(
        execution_id=uuid.uuid4().hex,
        target={"provider": "local", "function": function.split(":")[1]},
        provider="local",
        function=function,
        mode="sync",
        status=Status.SUCCEEDED if success else Status.FAILED,
        caller="client:tester",
        created_at=1_700_000_000.0,
        updated_at=1_700_000_001.0,
        expires_at=1_800_000_000.0,
        success=success,
        status_code=200,
        duration_ms=3.5,
        attempts=1,
    )


class Topic:
    """A topic in moto and SQS queues subscribed to it."""

    def __init__(self, moto_url: str) -> None:
        self.sns = boto3.client("sns", region_name=REGION, endpoint_url=moto_url)
        self.sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_url)
        self.arn = self.sns.create_topic(Name=unique("events"))["TopicArn"]

    def subscribe(self, raw: bool, filter_policy: dict[str, Any] | None = None) -> str:
        url = self.sqs.create_queue(QueueName=unique("subscriber"))["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        attributes = {"RawMessageDelivery": "true" if raw else "false"}
        if filter_policy is not None:
            attributes["FilterPolicy"] = json.dumps(filter_policy)
        self.sns.subscribe(
            TopicArn=self.arn, Protocol="sqs", Endpoint=queue_arn, Attributes=attributes
        )
        return url

    def receive(self, url: str) -> list[dict[str, Any]]:
        answer = self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
        )
        return answer.get("Messages", [])


@pytest.fixture
def topic(moto_url) -> Topic:
    return Topic(moto_url)


@pytest.fixture
async def bus(topic, moto_url):
    events = SnsEventBus(topic.arn, REGION, moto_url)
    yield events
    await events.close()


async def test_raw_delivery_carries_the_cloudevent_and_its_attributes(topic, bus):
    queue = topic.subscribe(raw=True)
    event = outcome_event(execution())

    await bus.publish(event)

    [message] = topic.receive(queue)
    body = orjson.loads(message["Body"])
    assert body == orjson.loads(orjson.dumps(event.to_json_dict()))
    assert body["specversion"] == "1.0" and body["data"]["execution_id"]
    attributes = {
        name: (value["DataType"], value["StringValue"])
        for name, value in message["MessageAttributes"].items()
    }
    assert attributes == {
        "type": ("String", "dev.fnproxy.invocation.succeeded"),
        "function": ("String", "local:echo"),
        "provider": ("String", "local"),
        "success": ("String", "true"),
    }


async def test_the_sns_envelope_carries_the_cloudevent_and_its_attributes(topic, bus):
    queue = topic.subscribe(raw=False)
    event = outcome_event(execution(success=False))

    await bus.publish(event)

    [message] = topic.receive(queue)
    envelope = orjson.loads(message["Body"])
    assert (envelope["Type"], envelope["TopicArn"]) == ("Notification", topic.arn)
    assert orjson.loads(envelope["Message"])["id"] == event.id
    assert envelope["MessageAttributes"]["success"] == {"Type": "String", "Value": "false"}
    assert envelope["MessageAttributes"]["type"]["Value"] == "dev.fnproxy.invocation.failed"


@pytest.mark.parametrize("raw", [True, False])
async def test_filter_policies_on_function_and_success_are_honoured(topic, bus, raw):
    only_resize = topic.subscribe(raw, {"function": ["aws_lambda:resize"]})
    only_failures = topic.subscribe(raw, {"success": ["false"]})
    published = [
        outcome_event(execution("local:echo")),
        outcome_event(execution("aws_lambda:resize")),
        outcome_event(execution("local:echo", success=False)),
    ]
    for event in published:
        await bus.publish(event)

    def ids(queue: str) -> list[str]:
        bodies = [orjson.loads(m["Body"]) for m in topic.receive(queue)]
        return [orjson.loads(b["Message"])["id"] if not raw else b["id"] for b in bodies]

    assert ids(only_resize) == [published[1].id]
    assert ids(only_failures) == [published[2].id]


async def test_the_recorder_publishes_each_outcome_through_sns(topic, bus, tmp_path):
    queue = topic.subscribe(raw=True)
    store = SqliteStore(tmp_path / "fnproxy.db")
    finished = execution("local:hello")
    try:
        await Recorder(store, bus, stats_bucket_s=3600).finish(finished)
    finally:
        await store.close()

    [message] = topic.receive(queue)
    assert orjson.loads(message["Body"])["data"]["execution_id"] == finished.execution_id


async def test_ping_reaches_the_topic_and_errors_propagate(topic, bus, moto_url):
    await bus.ping()
    missing = SnsEventBus(topic.arn + "-missing", REGION, moto_url)
    try:
        with pytest.raises(Exception, match="NotFound"):
            await missing.ping()
        with pytest.raises(Exception, match="NotFound"):
            await missing.publish(outcome_event(execution()))
    finally:
        await missing.close()
