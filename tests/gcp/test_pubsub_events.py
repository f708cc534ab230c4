"""The Pub/Sub event bus against Google's Pub/Sub emulator: each outcome is one message whose
data is the CloudEvent JSON and whose attributes are the filter attributes. The emulator does
not apply subscription filters, so the attributes are checked, not the filtering."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from google.api_core import exceptions as api_exceptions
from google.cloud import pubsub_v1

from core.config import ConfigError
from core.events.pubsub import PubSubEventBus, topic_path
from core.invoke.recorder import Recorder, outcome_event
from core.models import Execution, Status
from core.store.sqlite import SqliteStore
from tests.conftest import GCP_PROJECT

PULL_WAIT_S = 5.0


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass
class PubSubAdmin:
    """Topics and pull subscriptions in the emulator, through the official clients."""

    publisher: Any
    subscriber: Any

    def topic(self, prefix: str = "topic") -> str:
        return self.publisher.create_topic(name=topic_path(unique(prefix), GCP_PROJECT)).name

    def subscribe(self, topic: str, **settings: Any) -> str:
        name = self.subscriber.subscription_path(GCP_PROJECT, unique("sub"))
        self.subscriber.create_subscription(
            request={"name": name, "topic": topic, "ack_deadline_seconds": 60, **settings}
        )
        return name

    def pull(self, subscription: str, count: int = 1, wait_s: float = PULL_WAIT_S) -> list[Any]:
        """Up to `count` received messages (fewer once `wait_s` has passed); not acknowledged."""
        received: list[Any] = []
        deadline = time.monotonic() + wait_s
        while len(received) < count and time.monotonic() < deadline:
            answer = self.subscriber.pull(
                request={"subscription": subscription, "max_messages": count - len(received)},
                timeout=max(deadline - time.monotonic(), 0.1),
            )
            received.extend(answer.received_messages)
        return received

    def ack(self, subscription: str, *received: Any) -> None:
        ack_ids = [message.ack_id for message in received]
        self.subscriber.acknowledge(request={"subscription": subscription, "ack_ids": ack_ids})

    def nack(self, subscription: str, *received: Any) -> None:
        """Give the messages back at once (a failed push delivery): Pub/Sub delivers them
        again and counts an attempt."""
        self.subscriber.modify_ack_deadline(
            request={
                "subscription": subscription,
                "ack_ids": [message.ack_id for message in received],
                "ack_deadline_seconds": 0,
            }
        )


@contextmanager
def pubsub_admin() -> Iterator[PubSubAdmin]:
    """Emulator clients (PUBSUB_EMULATOR_HOST set by the `pubsub_host` fixture)."""
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    try:
        yield PubSubAdmin(publisher, subscriber)
    finally:
        subscriber.close()
        publisher.transport.close()


@pytest.fixture(scope="module")
def pubsub(pubsub_host) -> Iterator[PubSubAdmin]:
    with pubsub_admin() as admin:
        yield admin


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


@pytest.fixture
async def topic(pubsub) -> str:
    return pubsub.topic("events")


@pytest.fixture
async def bus(topic):
    events = PubSubEventBus(topic, GCP_PROJECT)
    yield events
    await events.close()


async def test_each_outcome_is_one_cloud_event_with_its_filter_attributes(pubsub, topic, bus):
    subscription = pubsub.subscribe(topic)
    published = [
        outcome_event(execution("local:echo")),
        outcome_event(execution("local:fail", False)),
    ]

    for event in published:
        await bus.publish(event)

    received = [m.message for m in pubsub.pull(subscription, 2)]
    by_event_id = {orjson.loads(message.data)["id"]: message for message in received}
    assert set(by_event_id) == {event.id for event in published}
    for event in published:
        message = by_event_id[event.id]
        assert orjson.loads(message.data) == event.to_json_dict()
        assert dict(message.attributes) == event.attributes
    failed = by_event_id[published[1].id].attributes
    assert (failed["type"], failed["function"], failed["provider"], failed["success"]) == (
        "dev.fnproxy.invocation.failed",
        "local:fail",
        "local",
        "false",
    )


async def test_concurrent_publishes_all_arrive(pubsub, topic, bus):
    subscription = pubsub.subscribe(topic)
    published = [outcome_event(execution()) for _ in range(40)]

    await asyncio.gather(*(bus.publish(event) for event in published))

    received = pubsub.pull(subscription, len(published))
    assert sorted(orjson.loads(m.message.data)["id"] for m in received) == sorted(
        event.id for event in published
    )


async def test_the_recorder_publishes_each_outcome_through_pubsub(pubsub, topic, bus, tmp_path):
    subscription = pubsub.subscribe(topic)
    store = SqliteStore(tmp_path / "fnproxy.db")
    finished = execution("local:hello")
    try:
        await Recorder(store, bus, stats_bucket_s=3600).finish(finished)
    finally:
        await store.close()

    [received] = pubsub.pull(subscription)
    assert orjson.loads(received.message.data)["data"]["execution_id"] == finished.execution_id
    assert received.message.attributes["function"] == "local:hello"


async def test_ping_reaches_the_topic_and_errors_propagate(pubsub, topic, bus):
    await bus.ping()
    missing = PubSubEventBus(unique("missing"), GCP_PROJECT)
    try:
        with pytest.raises(api_exceptions.NotFound):
            await missing.ping()
        with pytest.raises(api_exceptions.NotFound):
            await missing.publish(outcome_event(execution()))
    finally:
        await missing.close()


def test_a_short_topic_name_is_completed_with_the_project():
    assert topic_path("fnproxy-events", "demo-p") == "projects/demo-p/topics/fnproxy-events"
    full = "projects/other-project/topics/fnproxy-events"
    assert topic_path(full, "demo-p") == full
    assert PubSubEventBus("fnproxy-events", "demo-p").topic == (
        "projects/demo-p/topics/fnproxy-events"
    )


@pytest.mark.parametrize(
    ("topic", "project", "complaint"),
    [
        ("fnproxy-events", "", "needs GCP_PROJECT_ID"),
        ("", "demo-p", "not a Pub/Sub topic name"),
        ("has space", "demo-p", "not a Pub/Sub topic name"),
        ("projects/demo-p/subscriptions/s1", "", "not a Pub/Sub topic path"),
        ("projects/demo-p/topics/", "", "not a Pub/Sub topic path"),
    ],
)
def test_a_bad_topic_is_refused_with_a_reason(topic, project, complaint):
    with pytest.raises(ConfigError, match=complaint):
        PubSubEventBus(topic, project)
