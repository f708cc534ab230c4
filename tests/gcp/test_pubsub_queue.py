"""The Pub/Sub work queue and the delivery of Pub/Sub CloudEvents to the worker, against
Google's Pub/Sub emulator: real services over SQLite, fnproxy's async invocations published to
a topic, messages pulled from a subscription of it and turned into the CloudEvent that
functions-framework hands a Pub/Sub-triggered function (through the CloudEvents HTTP binding,
as Eventarc delivers it)."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent, from_http

from core.errors import Conflict, PayloadTooLarge
from core.events.pubsub import (
    EXECUTION_ATTRIBUTE,
    MAX_PUBLISH_REQUEST_BYTES,
    REASON_ATTRIBUTE,
    PubSubDelivery,
    PubSubWorkQueue,
)
from core.invoke.recorder import outcome_event
from core.invoke.worker import MESSAGE_FUNCTION
from core.models import Execution
from core.wiring import build_services
from tests.api.conftest import api_settings
from tests.conftest import GCP_PROJECT
from tests.gcp.test_pubsub_events import PubSubAdmin, pubsub_admin, unique
from tests.queue_support import (
    ECHO,
    every_execution,
    outcomes_of,
    queue_async_invocation,
    stored,
)

MAX_DELIVERY_ATTEMPTS = 5
"""Pub/Sub's smallest allowed maxDeliveryAttempts."""
MESSAGE_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"


@dataclass
class Topics:
    """The worker's topic with a pull subscription standing in for Eventarc's push one, and
    a dead-letter topic with a subscription to read what reaches it."""

    admin: PubSubAdmin
    work: str
    subscription: str
    dead_letters: str
    dead_letter_subscription: str

    def deliveries(self, count: int = 1, subscription: str | None = None) -> list[CloudEvent]:
        """The next `count` messages as their CloudEvents; not acknowledged."""
        subscription = subscription or self.subscription
        return [
            pushed_event(received, subscription, self.work)
            for received in self.admin.pull(subscription, count)
        ]

    def publish(self, body: bytes | str, **attributes: str) -> str:
        data = body.encode() if isinstance(body, str) else body
        return self.admin.publisher.publish(self.work, data, **attributes).result()

    def dead_lettered(self, count: int = 1, wait_s: float = 5.0) -> list[Any]:
        """Messages that reached the dead-letter topic (acknowledged)."""
        received = self.admin.pull(self.dead_letter_subscription, count, wait_s)
        if received:
            self.admin.ack(self.dead_letter_subscription, *received)
        return [r.message for r in received]


def pushed_event(received: Any, subscription: str, topic: str) -> CloudEvent:
    """A pulled message as the CloudEvent a Pub/Sub-triggered function gets: Eventarc's
    messagePublished event (its data is the push body), sent in the CloudEvents HTTP binary
    mode and read back by the cloudevents library as functions-framework does."""
    message = received.message
    publish_time = message.publish_time.rfc3339()
    data: dict[str, Any] = {
        "message": {
            "data": base64.b64encode(message.data).decode(),
            "attributes": dict(message.attributes),
            "messageId": message.message_id,
            "message_id": message.message_id,
            "publishTime": publish_time,
            "publish_time": publish_time,
        },
        "subscription": subscription,
    }
    if received.delivery_attempt:  # set when the subscription has a dead-letter policy
        data["deliveryAttempt"] = received.delivery_attempt
    attributes = {
        "specversion": "1.0",
        "id": message.message_id,
        "source": f"//pubsub.googleapis.com/{topic}",
        "type": MESSAGE_PUBLISHED,
        "time": publish_time,
        "datacontenttype": "application/json",
    }
    headers, body = to_binary(CloudEvent(attributes, data))
    return from_http(headers, body)


def with_attempt(event: CloudEvent, attempt: int) -> CloudEvent:
    """The same delivery with its `deliveryAttempt` (a subscription with a dead-letter policy)."""
    return CloudEvent(event.get_attributes(), {**event.data, "deliveryAttempt": attempt})


@pytest.fixture(scope="module")
def pubsub(pubsub_host) -> Iterator[PubSubAdmin]:
    with pubsub_admin() as admin:
        yield admin


@pytest.fixture
def topics(pubsub) -> Topics:
    work = pubsub.topic("work")
    dead_letters = pubsub.topic("dead-letters")
    return Topics(
        pubsub,
        work,
        pubsub.subscribe(work),
        dead_letters,
        pubsub.subscribe(dead_letters),
    )


@pytest.fixture
def inline_bytes() -> int:
    """BLOBS_INLINE_BYTES of `services` (a test parametrizes it to keep a payload inline)."""
    return 64 * 1024


@pytest.fixture
async def services(tmp_path, topics, inline_bytes):
    """Real services over SQLite whose async queue is the Pub/Sub work topic."""
    settings = api_settings(
        tmp_path,
        QUEUE_BACKEND="pubsub",
        ASYNC_TOPIC=topics.work,
        GCP_PROJECT_ID=GCP_PROJECT,
        BLOBS_INLINE_BYTES=str(inline_bytes),
    )
    built = build_services(settings)
    assert isinstance(built.queue, PubSubWorkQueue)
    yield built
    await built.close()


@pytest.fixture
async def delivery(services, topics):
    deliver = PubSubDelivery(services.worker, MAX_DELIVERY_ATTEMPTS, topics.dead_letters)
    yield deliver
    await deliver.close()


async def test_an_async_invocation_goes_through_pubsub_and_the_worker_runs_it(
    services, delivery, topics, events
):
    queued = await queue_async_invocation(services, {"n": 1})
    [event] = topics.deliveries()
    assert base64.b64decode(event.data["message"]["data"]) == orjson.dumps(
        {"execution_id": queued.execution_id, "payload": {"n": 1}}
    )

    await delivery.handle_cloud_event(event)

    execution = await stored(services, queued.execution_id)
    assert (execution.status, execution.result, execution.mode) == ("succeeded", {"n": 1}, "async")
    assert len(outcomes_of(events, queued.execution_id)) == 1


async def test_a_redelivered_message_does_not_run_a_completed_execution_again(
    services, delivery, topics, events
):
    queued = await queue_async_invocation(services, "once")
    [first] = topics.admin.pull(topics.subscription)
    await delivery.handle_cloud_event(pushed_event(first, topics.subscription, topics.work))
    ran = await stored(services, queued.execution_id)

    topics.admin.nack(topics.subscription, first)  # e.g. the acknowledgement was lost
    [again] = topics.deliveries()
    assert again["id"] == first.message.message_id
    await delivery.handle_cloud_event(again)

    assert await stored(services, queued.execution_id) == ran
    assert len(outcomes_of(events, queued.execution_id)) == 1


async def test_a_payload_over_the_pubsub_limit_goes_to_blobs_and_the_worker_reads_it_back(
    services, delivery, topics
):
    big = "x" * MAX_PUBLISH_REQUEST_BYTES
    queued = await queue_async_invocation(services, big)
    [event] = topics.deliveries()
    assert base64.b64decode(event.data["message"]["data"]) == orjson.dumps(
        {"execution_id": queued.execution_id, "payload": None}
    )

    await delivery.handle_cloud_event(event)

    execution = await stored(services, queued.execution_id)
    assert execution.status == "succeeded" and execution.payload_blob is not None
    assert await services.archive.full(execution, "result") == big


@pytest.mark.parametrize("inline_bytes", [2 * MAX_PUBLISH_REQUEST_BYTES])  # the record keeps it
async def test_a_message_over_the_pubsub_limit_is_refused_before_publishing(services, topics):
    big = "x" * MAX_PUBLISH_REQUEST_BYTES
    with pytest.raises(PayloadTooLarge) as refused:
        await queue_async_invocation(services, big)
    assert refused.value.extra["limit_bytes"] == MAX_PUBLISH_REQUEST_BYTES
    record = await stored(services, refused.value.extra["execution_id"])
    assert record.status == "failed" and record.error["type"] == "payload_too_large"
    assert topics.admin.pull(topics.subscription, wait_s=1) == []


async def test_the_queue_answers_ping_and_a_missing_topic_fails_it(topics):
    queue = PubSubWorkQueue(topics.work, GCP_PROJECT)
    missing = PubSubWorkQueue(unique("missing"), GCP_PROJECT)
    try:
        await queue.ping()
        with pytest.raises(Exception, match="NotFound|not found"):
            await missing.ping()
    finally:
        await queue.close()
        await missing.close()


# --- invocation requests from other systems -------------------------------------------------


def request_body(**fields: Any) -> str:
    return orjson.dumps({"target": ECHO, "payload": {"from": "elsewhere"}, **fields}).decode()


async def test_a_request_published_to_the_topic_runs_once_even_when_delivered_twice(
    services, delivery, topics, events
):
    message_id = topics.publish(request_body())
    [first] = topics.admin.pull(topics.subscription)
    await delivery.handle_cloud_event(pushed_event(first, topics.subscription, topics.work))
    topics.admin.nack(topics.subscription, first)
    [again] = topics.deliveries()
    await delivery.handle_cloud_event(again)

    [execution] = await every_execution(services)
    assert again["id"] == message_id
    assert (execution.status, execution.result) == ("succeeded", {"from": "elsewhere"})
    assert execution.caller == f"pubsub:{topics.subscription}"
    assert execution.idempotency_key == f"message:{message_id}"
    assert len(outcomes_of(events, execution.execution_id)) == 1


async def test_a_request_resent_by_its_sender_runs_once_under_its_own_key(
    services, delivery, topics
):
    topics.publish(request_body(idempotency_key="order-17", timeout_s=5))
    topics.publish(request_body(idempotency_key="order-17", timeout_s=5))  # a new message id
    for event in topics.deliveries(2):
        await delivery.handle_cloud_event(event)

    [execution] = await every_execution(services)
    assert (execution.idempotency_key, execution.timeout_s) == ("order-17", 5)
    assert (execution.mode, execution.status) == ("async", "succeeded")


async def test_a_requests_traceparent_attribute_is_its_trace(services, delivery, topics):
    trace_id = uuid.uuid4().hex
    topics.publish(request_body(), traceparent=f"00-{trace_id}-00f067aa0ba902b7-01")
    [event] = topics.deliveries()

    await delivery.handle_cloud_event(event)

    [execution] = await every_execution(services)
    assert execution.traceparent.split("-")[1] == trace_id
    assert execution.parent_span_id == "00f067aa0ba902b7"


async def test_a_message_pushed_straight_to_the_function_runs_as_its_topic(services, delivery):
    """A push subscription pointed at the function itself: functions-framework turns the push
    body into a CloudEvent whose data has the message only (no subscription)."""
    topic = f"projects/{GCP_PROJECT}/topics/requests"
    message = {
        "@type": "type.googleapis.com/google.pubsub.v1.PubsubMessage",
        "data": base64.b64encode(request_body().encode()).decode(),
        "attributes": {},
        "messageId": "4242",
        "publishTime": "2026-01-01T00:00:00.000Z",
    }
    event = CloudEvent(
        {"id": "4242", "source": f"//pubsub.googleapis.com/{topic}", "type": MESSAGE_PUBLISHED},
        {"message": message},
    )

    await delivery.handle_cloud_event(event)

    [execution] = await every_execution(services)
    assert (execution.status, execution.caller) == ("succeeded", f"pubsub:{topic}")
    assert execution.idempotency_key == "message:4242"


# --- what can never run is recorded, copied to the dead-letter topic and acknowledged -------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json at all", "the body is not JSON"),
        ("", "the body is not JSON"),
        ('{"target": {"provider": "local", "function": "echo"}, "mode": "sync"}', "mode: Extra"),
        (
            '{"target": {"provider": "openwhisk", "action": "a"}}',
            "not_supported: provider 'openwhisk' is not enabled",
        ),
    ],
)
async def test_a_message_that_can_never_run_is_recorded_and_dead_lettered_at_once(
    services, delivery, topics, events, body, reason
):
    topics.publish(body, origin="billing")
    [event] = topics.deliveries()

    await delivery.handle_cloud_event(event)  # no raise: acknowledged, never retried

    [execution] = await every_execution(services)
    assert (execution.status, execution.function, execution.caller) == (
        "failed",
        MESSAGE_FUNCTION,
        f"pubsub:{topics.subscription}",
    )
    assert execution.error["type"] == "MalformedMessage" and reason in execution.error["message"]
    assert execution.payload == body
    assert len(outcomes_of(events, execution.execution_id)) == 1
    [dead] = topics.dead_lettered()
    assert dead.data == body.encode()
    assert reason in dead.attributes[REASON_ATTRIBUTE]
    assert dead.attributes[EXECUTION_ATTRIBUTE] == execution.execution_id


async def test_data_that_is_not_base64_is_recorded_and_acknowledged(services, delivery, topics):
    topics.publish("{}")
    [event] = topics.deliveries()
    broken = CloudEvent(
        event.get_attributes(),
        {**event.data, "message": {**event.data["message"], "data": "%%% not base64"}},
    )

    await delivery.handle_cloud_event(broken)

    [execution] = await every_execution(services)
    assert execution.error == {
        "type": "MalformedMessage",
        "message": "the Pub/Sub message's data is not base64",
    }
    assert orjson.loads(execution.payload)["message"]["data"] == "%%% not base64"
    [dead] = topics.dead_lettered()
    assert orjson.loads(dead.data) == broken.data


async def test_an_event_that_carries_no_pubsub_message_is_recorded_and_acknowledged(
    services, delivery
):
    """The worker triggered by something else than its topic (e.g. a Storage event)."""
    event = CloudEvent(
        {
            "id": "e1",
            "source": "//storage.googleapis.com/projects/_/buckets/b",
            "type": "google.cloud.storage.object.v1.finalized",
        },
        {"bucket": "b", "name": "cat.jpg"},
    )

    await delivery.handle_cloud_event(event)

    [execution] = await every_execution(services)
    assert "has no Pub/Sub message" in execution.error["message"]
    assert execution.caller == "pubsub://storage.googleapis.com/projects/_/buckets/b"


async def test_without_a_dead_letter_topic_a_malformed_message_is_still_acknowledged(
    services, topics
):
    delivery = PubSubDelivery(services.worker, MAX_DELIVERY_ATTEMPTS)
    topics.publish("[]")
    [event] = topics.deliveries()

    await delivery.handle_cloud_event(event)

    [execution] = await every_execution(services)
    assert execution.error["message"] == "expected a JSON object, got an array"
    assert topics.dead_lettered(wait_s=0.5) == []


async def test_fnproxys_own_events_are_dead_lettered_but_not_recorded(
    services, delivery, topics, events
):
    """A worker subscribed to the events topic by mistake must not loop."""
    finished = Execution("e1", ECHO, "local", "local:echo", "sync", "succeeded", "c", 0, 0, 0)
    topics.publish(orjson.dumps(outcome_event(finished).to_json_dict()))
    [event] = topics.deliveries()

    await delivery.handle_cloud_event(event)

    assert await every_execution(services) == [] and events == []
    [dead] = topics.dead_lettered()
    assert "fnproxy outcome event" in dead.attributes[REASON_ATTRIBUTE]


# --- failures: raised for Pub/Sub to retry, recorded on the last allowed delivery -----------


async def running_elsewhere(services) -> Execution:
    """A queued execution another worker has claimed, under a live lease (and not finished)."""
    execution = await queue_async_invocation(services)
    now = time.time()
    claimed = await services.store.executions.claim(
        execution.execution_id, "another-runner", now + 60, now
    )
    assert claimed is not None
    return claimed


async def test_a_live_run_is_left_alone_by_every_attempt_the_last_too(
    services, delivery, topics, events
):
    execution = await running_elsewhere(services)
    [event] = topics.deliveries()

    for attempt in range(1, MAX_DELIVERY_ATTEMPTS + 1):
        with pytest.raises(Conflict, match="running elsewhere"):
            await delivery.handle_cloud_event(with_attempt(event, attempt))

    assert await stored(services, execution.execution_id) == execution
    assert outcomes_of(events, execution.execution_id) == []


async def test_without_a_delivery_attempt_a_failure_is_only_raised(services, delivery, topics):
    """A subscription with no dead-letter policy gives no attempt count: nothing is final."""
    execution = await running_elsewhere(services)
    [event] = topics.deliveries()
    assert "deliveryAttempt" not in event.data

    with pytest.raises(Conflict):
        await delivery.handle_cloud_event(event)

    assert await stored(services, execution.execution_id) == execution


async def test_a_reference_to_a_missing_execution_is_recorded_dead_lettered_at_last(
    services, delivery, topics
):
    missing = "0190aaaabbbbccccddddeeeeffff0000"
    topics.publish(orjson.dumps({"execution_id": missing, "payload": 1}))
    [event] = topics.deliveries()
    with pytest.raises(Exception, match="not in the store"):
        await delivery.handle_cloud_event(with_attempt(event, 1))
    assert await every_execution(services) == []

    with pytest.raises(Exception, match="not in the store"):
        await delivery.handle_cloud_event(with_attempt(event, MAX_DELIVERY_ATTEMPTS))
    recorded = await stored(services, missing)
    assert recorded.error["type"] == "DeadLettered" and recorded.function == MESSAGE_FUNCTION


async def test_the_emulators_dead_letter_policy_counts_attempts_and_moves_the_message(
    services, delivery, topics, events
):
    """A real dead-letter policy: each failed delivery is given back (as a failed push is),
    Pub/Sub counts the attempts, and after the last one moves the message to the dead-letter
    topic; the execution, which a live runner holds, is left to it, on that last attempt too."""
    subscription = topics.admin.subscribe(
        topics.work,
        dead_letter_policy={
            "dead_letter_topic": topics.dead_letters,
            "max_delivery_attempts": MAX_DELIVERY_ATTEMPTS,
        },
    )
    execution = await running_elsewhere(services)

    attempts = []
    for _ in range(MAX_DELIVERY_ATTEMPTS):
        [received] = topics.admin.pull(subscription)
        attempts.append(received.delivery_attempt)
        with pytest.raises(Conflict):
            await delivery.handle_cloud_event(pushed_event(received, subscription, topics.work))
        topics.admin.nack(subscription, received)

    assert attempts == list(range(1, MAX_DELIVERY_ATTEMPTS + 1))
    assert await stored(services, execution.execution_id) == execution
    assert topics.admin.pull(subscription, wait_s=1) == []  # not delivered a 6th time
    [dead] = topics.dead_lettered()
    assert orjson.loads(dead.data)["execution_id"] == execution.execution_id
