"""Redelivery races on the real queues: moto's SQS and Google's Pub/Sub emulator, with real
services over SQLite and the local `slow` function as the target.

A message is delivered again while its first run is still going, as its last allowed delivery.
Before: that delivery marked the running execution failed "DeadLettered" (a failed event, a
stats failure), then the real run finished and overwrote it as succeeded: two outcomes. Now the
running execution holds a lease its worker renews (EXECUTION_LEASE_S is short here, so the run
outlives several leases), the racing delivery changes nothing, and the run's one outcome is
recorded, published and counted once. On SQS the worker also keeps the message hidden while it
runs (ChangeMessageVisibility with the lease).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import boto3
import pytest

from core.errors import Conflict
from core.events.base import CloudEvent
from core.events.pubsub import PubSubDelivery
from core.events.sqs import SqsDelivery, SqsQueue
from core.invoke.service import InvocationRequest
from core.models import Execution, Mode, Status
from core.targets import LocalTarget
from core.wiring import Services, build_services
from tests.api.conftest import api_settings
from tests.aws.test_sqs_queue import REGION, Queues, unique
from tests.conftest import GCP_PROJECT
from tests.gcp.test_pubsub_events import pubsub_admin
from tests.gcp.test_pubsub_queue import pushed_event, with_attempt
from tests.queue_support import ADMIN, outcomes_of

LEASE_S = "0.6"
RUN_S = 2.0
"""The run outlasts three leases: only renewals keep it."""
LAST_DELIVERY = 5


def published(services: Services) -> list[CloudEvent]:
    """Every outcome event the services publish from now on."""
    collected: list[CloudEvent] = []

    async def collect(event: CloudEvent) -> None:
        collected.append(event)

    services.events.subscribe(collect)
    return collected


async def queue_slow_run(services: Services) -> Execution:
    invocation = await services.invocations.invoke(
        InvocationRequest(
            target=LocalTarget(provider="local", function="slow"),
            payload={"seconds": RUN_S},
            mode=Mode.ASYNC,
        ),
        ADMIN,
    )
    return invocation.execution


async def until_running(services: Services, execution_id: str) -> Execution:
    for _ in range(100):
        execution = await services.store.executions.get(execution_id)
        if execution is not None and execution.status == Status.RUNNING:
            return execution
        await asyncio.sleep(0.05)
    raise AssertionError("the first run never started")


async def stats_count(services: Services, execution: Execution) -> tuple[int, int]:
    bucket_s = services.settings.stats_bucket_s
    bucket = int(execution.created_at // bucket_s) * bucket_s
    [rollup] = await services.store.stats.read([bucket], execution.function)
    return rollup.count, rollup.failures


async def assert_one_outcome(services: Services, execution_id: str, events: list) -> None:
    ended = await services.store.executions.get(execution_id)
    assert ended is not None
    assert (ended.status, ended.error, ended.lease_takeovers) == ("succeeded", None, 0)
    assert [e.type for e in outcomes_of(events, execution_id)] == [
        "dev.fnproxy.invocation.succeeded"
    ]
    assert await stats_count(services, ended) == (1, 0)


# --- SQS (moto) ------------------------------------------------------------------------------


@pytest.fixture
def queues(moto_url) -> Queues:
    """A work queue whose messages reappear at once unless hidden (visibility 0), redriven to
    its dead-letter queue after the second receive."""
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_url)
    dlq_url = sqs.create_queue(QueueName=unique("dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
    redrive = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": "2"}
    url = sqs.create_queue(
        QueueName=unique("work"),
        Attributes={"RedrivePolicy": json.dumps(redrive), "VisibilityTimeout": "0"},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return Queues(sqs, None, url, arn["Attributes"]["QueueArn"], dlq_url, "")


@pytest.fixture
async def sqs_services(tmp_path, moto_url, queues):
    built = build_services(
        api_settings(
            tmp_path,
            QUEUE_BACKEND="sqs",
            ASYNC_QUEUE_URL=queues.url,
            AWS_ENDPOINT_URL=moto_url,
            AWS_REGION=REGION,
            EXECUTION_LEASE_S=LEASE_S,
        )
    )
    yield built
    await built.close()


async def test_sqs_a_last_delivery_during_a_live_run_changes_nothing(
    sqs_services, queues, moto_url
):
    services = sqs_services
    events = published(services)
    dead_letters = SqsQueue(queues.dlq_url, REGION, moto_url)
    delivery = SqsDelivery(services.worker, dead_letters, max_receive_count=2)
    queued = await queue_slow_run(services)
    [first] = queues.receive()
    running = asyncio.create_task(delivery.handle_record(first))
    await until_running(services, queued.execution_id)
    await asyncio.sleep(float(LEASE_S) * 1.5)  # past the first lease: renewed since

    assert queues.receive(wait_s=0) == []  # hidden while it runs, visibility 0 or not
    queues.reappear(first)  # as if its visibility ran out all the same
    [last] = await asyncio.to_thread(queues.receive)
    assert last["attributes"]["ApproximateReceiveCount"] == "2"  # the last allowed one
    with pytest.raises(Conflict, match="running elsewhere"):
        await delivery.handle_record(last)
    during = await services.store.executions.get(queued.execution_id)
    assert (during.status, during.error) == ("running", None)
    assert outcomes_of(events, queued.execution_id) == []

    await running
    await assert_one_outcome(services, queued.execution_id, events)
    await dead_letters.close()


# --- Pub/Sub (emulator) ----------------------------------------------------------------------


@pytest.fixture
def pubsub_topic(pubsub_host) -> Any:
    with pubsub_admin() as admin:
        work = admin.topic("race")
        yield admin, work, admin.subscribe(work)


@pytest.fixture
async def pubsub_services(tmp_path, pubsub_topic):
    _, work, _ = pubsub_topic
    built = build_services(
        api_settings(
            tmp_path,
            QUEUE_BACKEND="pubsub",
            ASYNC_TOPIC=work,
            GCP_PROJECT_ID=GCP_PROJECT,
            EXECUTION_LEASE_S=LEASE_S,
        )
    )
    yield built
    await built.close()


async def test_pubsub_a_last_delivery_during_a_live_run_changes_nothing(
    pubsub_services, pubsub_topic
):
    services = pubsub_services
    events = published(services)
    admin, work, subscription = pubsub_topic
    delivery = PubSubDelivery(services.worker, LAST_DELIVERY)
    queued = await queue_slow_run(services)
    [received] = await asyncio.to_thread(admin.pull, subscription, 1)
    event = pushed_event(received, subscription, work)
    running = asyncio.create_task(delivery.handle_cloud_event(with_attempt(event, 1)))
    await until_running(services, queued.execution_id)
    await asyncio.sleep(float(LEASE_S) * 1.5)  # past the first lease: renewed since

    with pytest.raises(Conflict, match="running elsewhere"):
        await delivery.handle_cloud_event(with_attempt(event, LAST_DELIVERY))
    during = await services.store.executions.get(queued.execution_id)
    assert (during.status, during.error) == ("running", None)
    assert outcomes_of(events, queued.execution_id) == []

    await running
    await assert_one_outcome(services, queued.execution_id, events)
    await delivery.close()
