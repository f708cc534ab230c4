"""The SQS work queue and the delivery of SQS records to the worker, against moto: real
services over SQLite, fnproxy's async invocations enqueued to SQS, records received from moto
and shaped as Lambda's SQS event delivers them."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import orjson
import pytest
from aiohttp import web

from core.errors import Conflict, PayloadTooLarge, ServiceUnavailable
from core.events.base import CloudEvent
from core.events.messages import read_message
from core.events.sqs import (
    EXECUTION_ATTRIBUTE,
    MAX_MESSAGE_BYTES,
    REASON_ATTRIBUTE,
    SqsDelivery,
    SqsQueue,
    SqsWorkQueue,
)
from core.invoke.recorder import outcome_event
from core.invoke.worker import MESSAGE_FUNCTION
from core.models import Execution, Status
from core.wiring import build_services
from tests.api.conftest import api_settings
from tests.conftest import free_port
from tests.queue_support import (
    ECHO,
    every_execution,
    outcomes_of,
    queue_async_invocation,
    stored,
)

REGION = "us-east-1"
MAX_RECEIVE_COUNT = 2


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass
class Queues:
    sqs: Any
    sns: Any
    url: str
    arn: str
    dlq_url: str
    dlq_arn: str

    def receive(self, url: str | None = None, wait_s: int = 1) -> list[dict[str, Any]]:
        """Messages of the work queue (or `url`) as Lambda's SQS event records; not deleted."""
        url = url or self.url
        answer = self.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        arn = self.arn if url == self.url else self.dlq_arn
        return [lambda_record(message, arn) for message in answer.get("Messages", [])]

    def send(self, body: str) -> None:
        self.sqs.send_message(QueueUrl=self.url, MessageBody=body)

    def reappear(self, record: dict[str, Any]) -> None:
        """End the visibility the worker gave a received message (as its timeout would): SQS
        delivers it again, as it does after a Lambda failed to delete it."""
        self.sqs.change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
        )


def lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """A ReceiveMessage answer's message in the shape of a Lambda SQS event record."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message["Attributes"],
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": None,
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def _arn(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


@pytest.fixture
def queues(moto_url) -> Queues:
    """A work queue that redrives into a dead-letter queue after MAX_RECEIVE_COUNT receives;
    visibility timeout 0, so a message not deleted is delivered again at once."""
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_url)
    dlq_url = sqs.create_queue(QueueName=unique("dlq"))["QueueUrl"]
    dlq_arn = _arn(sqs, dlq_url)
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
    url = sqs.create_queue(
        QueueName=unique("work"),
        Attributes={"RedrivePolicy": json.dumps(redrive), "VisibilityTimeout": "0"},
    )["QueueUrl"]
    sns = boto3.client("sns", region_name=REGION, endpoint_url=moto_url)
    return Queues(sqs, sns, url, _arn(sqs, url), dlq_url, dlq_arn)


@pytest.fixture
def inline_bytes() -> int:
    """BLOBS_INLINE_BYTES of `services` (a test parametrizes it to keep a payload inline)."""
    return 64 * 1024


@pytest.fixture
async def services(tmp_path, moto_url, queues, inline_bytes):
    """Real services over SQLite whose async queue is the SQS work queue."""
    settings = api_settings(
        tmp_path,
        QUEUE_BACKEND="sqs",
        ASYNC_QUEUE_URL=queues.url,
        AWS_ENDPOINT_URL=moto_url,
        AWS_REGION=REGION,
        BLOBS_INLINE_BYTES=str(inline_bytes),
    )
    built = build_services(settings)
    assert isinstance(built.queue, SqsWorkQueue)
    yield built
    await built.close()


@pytest.fixture
async def delivery(services, moto_url, queues):
    dead_letters = SqsQueue(queues.dlq_url, REGION, moto_url)
    yield SqsDelivery(services.worker, dead_letters, MAX_RECEIVE_COUNT)
    await dead_letters.close()


async def test_an_async_invocation_goes_through_sqs_and_the_worker_runs_it(
    services, delivery, queues, events
):
    queued = await queue_async_invocation(services, {"n": 1})
    [record] = queues.receive()
    assert orjson.loads(record["body"]) == {
        "execution_id": queued.execution_id,
        "payload": {"n": 1},
    }

    await delivery.handle_record(record)

    execution = await stored(services, queued.execution_id)
    assert (execution.status, execution.result, execution.mode) == ("succeeded", {"n": 1}, "async")
    assert len(outcomes_of(events, queued.execution_id)) == 1


async def test_a_redelivered_message_does_not_run_a_completed_execution_again(
    services, delivery, queues, events
):
    queued = await queue_async_invocation(services, "once")
    [first] = queues.receive()
    await delivery.handle_record(first)
    ran = await stored(services, queued.execution_id)
    assert queues.receive(wait_s=0) == []  # hidden while the worker holds it

    queues.reappear(first)  # not deleted: SQS delivers it again
    [again] = queues.receive()
    assert again["messageId"] == first["messageId"]
    assert again["attributes"]["ApproximateReceiveCount"] == "2"
    await delivery.handle_record(again)

    assert await stored(services, queued.execution_id) == ran
    assert len(outcomes_of(events, queued.execution_id)) == 1


async def test_a_payload_over_the_sqs_limit_goes_to_blobs_and_the_worker_reads_it_back(
    services, delivery, queues
):
    big = "x" * MAX_MESSAGE_BYTES
    queued = await queue_async_invocation(services, big)
    [record] = queues.receive()
    assert orjson.loads(record["body"]) == {"execution_id": queued.execution_id, "payload": None}

    await delivery.handle_record(record)

    execution = await stored(services, queued.execution_id)
    assert execution.status == "succeeded" and execution.payload_blob is not None
    assert await services.archive.full(execution, "result") == big


@pytest.mark.parametrize("inline_bytes", [2 * MAX_MESSAGE_BYTES])  # the record keeps it
async def test_a_message_over_the_sqs_limit_is_refused_before_sending(services, queues):
    big = "x" * MAX_MESSAGE_BYTES
    with pytest.raises(PayloadTooLarge) as refused:
        await queue_async_invocation(services, big)
    record = await stored(services, refused.value.extra["execution_id"])
    assert record.status == "failed" and record.error["type"] == "payload_too_large"
    assert queues.receive(wait_s=0) == []


async def test_the_queue_answers_ping_and_a_missing_queue_fails_it(moto_url, queues):
    queue = SqsWorkQueue(queues.url, REGION, moto_url)
    missing = SqsWorkQueue(queues.url + "-missing", REGION, moto_url)
    try:
        await queue.ping()
        with pytest.raises(Exception, match="NonExistentQueue"):
            await missing.ping()
    finally:
        await queue.close()
        await missing.close()


# --- invocation requests from other systems -----------------------------------------------


def request_body(**fields: Any) -> str:
    return json.dumps({"target": ECHO, "payload": {"from": "elsewhere"}, **fields})


async def test_a_request_published_to_sns_runs_once_even_when_delivered_twice(
    services, delivery, queues, events
):
    topic_arn = queues.sns.create_topic(Name=unique("requests"))["TopicArn"]
    queues.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queues.arn)
    queues.sns.publish(TopicArn=topic_arn, Message=request_body())
    [record] = queues.receive()
    assert orjson.loads(record["body"])["Type"] == "Notification"  # the SNS envelope
    queues.send(record["body"])  # SNS delivers at least once: a duplicate with a new SQS id

    duplicates = [r for r in queues.receive() if r["messageId"] != record["messageId"]]
    for delivered in [record, *duplicates]:
        await delivery.handle_record(delivered)

    [execution] = await every_execution(services)
    assert len(duplicates) == 1
    assert (execution.status, execution.result) == ("succeeded", {"from": "elsewhere"})
    assert execution.caller == f"sns:{topic_arn}"
    assert len(outcomes_of(events, execution.execution_id)) == 1


async def test_a_malformed_message_in_an_sns_envelope_is_recorded_as_the_topics(
    services, delivery, queues
):
    """Its caller is the topic whether the message inside is malformed or the envelope is."""
    topic_arn = queues.sns.create_topic(Name=unique("requests"))["TopicArn"]
    queues.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queues.arn)
    queues.sns.publish(TopicArn=topic_arn, Message="not json")
    [record] = queues.receive()
    envelope = orjson.loads(record["body"])
    queues.send(orjson.dumps({**envelope, "Type": "SubscriptionConfirmation"}).decode())
    [confirmation] = [r for r in queues.receive() if r["messageId"] != record["messageId"]]

    await delivery.handle_record(record)
    await delivery.handle_record(confirmation)

    executions = sorted(await every_execution(services), key=lambda e: e.error["message"])
    assert [e.caller for e in executions] == [f"sns:{topic_arn}"] * 2
    assert executions[0].error["message"].startswith("an SNS SubscriptionConfirmation envelope")
    assert executions[1].error["message"].startswith("the body is not JSON")


async def test_a_request_sent_to_the_queue_runs_as_the_queue_with_its_own_key(
    services, delivery, queues
):
    queues.send(request_body(idempotency_key="order-17", timeout_s=5))
    queues.send(request_body(idempotency_key="order-17", timeout_s=5))  # a resend by its sender
    for record in queues.receive():
        await delivery.handle_record(record)

    [execution] = await every_execution(services)
    assert execution.caller == f"sqs:{queues.arn}"
    assert (execution.idempotency_key, execution.timeout_s) == ("order-17", 5)
    assert (execution.mode, execution.status) == ("async", "succeeded")


async def test_a_requests_traceparent_message_attribute_is_its_trace(services, delivery, queues):
    trace_id = uuid.uuid4().hex
    queues.sqs.send_message(
        QueueUrl=queues.url,
        MessageBody=request_body(),
        MessageAttributes={
            "traceparent": {
                "DataType": "String",
                "StringValue": f"00-{trace_id}-00f067aa0ba902b7-01",
            },
            "tracestate": {"DataType": "String", "StringValue": "rojo=1"},
        },
    )
    for record in queues.receive():
        await delivery.handle_record(record)

    [execution] = await every_execution(services)
    assert execution.traceparent.split("-")[1] == trace_id
    assert (execution.parent_span_id, execution.tracestate) == ("00f067aa0ba902b7", "rojo=1")


@pytest.fixture
async def callback_sink():
    received: list[dict] = []

    async def collect(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", collect)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/hook", received
    await runner.cleanup()


async def test_a_requests_callback_gets_the_record_once(services, delivery, queues, callback_sink):
    url, received = callback_sink
    queues.send(request_body(callback_url=url))
    [record] = queues.receive()
    await delivery.handle_record(record)
    await delivery.handle_record(record)

    [execution] = await every_execution(services)
    assert [body["execution_id"] for body in received] == [execution.execution_id]
    assert received[0]["status"] == "succeeded"
    assert execution.callback_result == {"delivered": True, "status_code": 200, "attempts": 1}


# --- what can never run goes to the dead-letter queue at once ------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json at all", "the body is not JSON"),
        ('{"target": {"provider": "local", "function": "echo"}, "mode": "sync"}', "mode: Extra"),
        (
            '{"target": {"provider": "openwhisk", "action": "a"}}',
            "not_supported: provider 'openwhisk' is not enabled",
        ),
    ],
)
async def test_a_message_that_can_never_run_is_recorded_and_dead_lettered_at_once(
    services, delivery, queues, events, body, reason
):
    queues.send(body)
    [record] = queues.receive()

    await delivery.handle_record(record)  # no raise: SQS deletes it, never retried

    [execution] = await every_execution(services)
    assert (execution.status, execution.function, execution.caller) == (
        "failed",
        MESSAGE_FUNCTION,
        f"sqs:{queues.arn}",
    )
    assert execution.error["type"] == "MalformedMessage" and reason in execution.error["message"]
    assert execution.payload == body
    assert len(outcomes_of(events, execution.execution_id)) == 1
    [dead] = queues.receive(queues.dlq_url)
    assert dead["body"] == body
    attributes = dead["messageAttributes"]
    assert reason in attributes[REASON_ATTRIBUTE]["stringValue"]
    assert attributes[EXECUTION_ATTRIBUTE]["stringValue"] == execution.execution_id


async def test_fnproxys_own_events_are_dead_lettered_but_not_recorded(
    services, delivery, queues, events
):
    """A worker queue subscribed to the events topic by mistake must not loop."""
    finished = Execution("e1", ECHO, "local", "local:echo", "sync", "succeeded", "c", 0, 0, 0)
    queues.send(orjson.dumps(outcome_event(finished).to_json_dict()).decode())
    [record] = queues.receive()

    await delivery.handle_record(record)

    assert await every_execution(services) == [] and events == []
    [dead] = queues.receive(queues.dlq_url)
    assert "fnproxy outcome event" in dead["messageAttributes"][REASON_ATTRIBUTE]["stringValue"]


# --- failures: retried by SQS, recorded on the last allowed receive ------------------------


async def running_elsewhere(services) -> Execution:
    """A queued execution another worker has claimed, under a live lease (and not finished)."""
    execution = await queue_async_invocation(services)
    now = time.time()
    claimed = await services.store.executions.claim(
        execution.execution_id, "another-runner", now + 60, now
    )
    assert claimed is not None
    return claimed


async def test_a_live_run_is_left_alone_by_every_receive_the_last_too(
    services, delivery, queues, events
):
    execution = await running_elsewhere(services)

    [first] = queues.receive()
    with pytest.raises(Conflict, match="running elsewhere"):
        await delivery.handle_record(first)
    [last] = queues.receive()
    assert last["attributes"]["ApproximateReceiveCount"] == str(MAX_RECEIVE_COUNT)
    with pytest.raises(Conflict):
        await delivery.handle_record(last)

    assert await stored(services, execution.execution_id) == execution
    assert outcomes_of(events, execution.execution_id) == []
    assert queues.receive(wait_s=0) == []  # SQS's redrive moved it on
    [dead] = queues.receive(queues.dlq_url)
    assert dead["messageId"] == last["messageId"]


async def test_a_run_whose_lease_expired_is_taken_over_and_counted(
    services, delivery, queues, events
):
    execution = await queue_async_invocation(services, "again")
    now = time.time()
    assert await services.store.executions.claim(execution.execution_id, "dead", now - 1, now)
    [record] = queues.receive()

    await delivery.handle_record(record)

    ran = await stored(services, execution.execution_id)
    assert (ran.status, ran.result, ran.lease_takeovers) == ("succeeded", "again", 1)
    assert len(outcomes_of(events, execution.execution_id)) == 1


async def test_a_reference_to_a_missing_execution_is_recorded_dead_lettered_at_last(
    services, delivery, queues
):
    missing = "0190aaaabbbbccccddddeeeeffff0000"
    queues.send(orjson.dumps({"execution_id": missing, "payload": 1}).decode())
    [first] = queues.receive()
    with pytest.raises(Exception, match="not in the store"):
        await delivery.handle_record(first)
    assert await every_execution(services) == []

    [last] = queues.receive()
    with pytest.raises(Exception, match="not in the store"):
        await delivery.handle_record(last)
    recorded = await stored(services, missing)
    assert recorded.error["type"] == "DeadLettered" and recorded.function == MESSAGE_FUNCTION


async def test_an_execution_that_ended_meanwhile_is_not_marked_dead_lettered(
    services, delivery, queues
):
    execution = await queue_async_invocation(services)
    [record] = queues.receive()
    await delivery.handle_record(record)
    ended = await stored(services, execution.execution_id)
    received = read_message(record["body"], record["messageId"], "sqs:x")
    assert await services.worker.record_dead_lettered(received, record["body"], "late") is None
    assert await stored(services, execution.execution_id) == ended


# --- the powertools wiring the Lambda handler uses ------------------------------------------


def sqs_lambda_handler(delivery: SqsDelivery, event: dict[str, Any]) -> dict[str, Any]:
    """How handlers/aws_lambda.py runs a Lambda SQS event: each record to the delivery,
    concurrently; the answer names the records that failed (partial batch response)."""
    from aws_lambda_powertools.utilities.batch import (
        AsyncBatchProcessor,
        EventType,
        async_process_partial_response,
    )
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    processor = AsyncBatchProcessor(event_type=EventType.SQS)

    async def record_handler(record: SQSRecord) -> None:
        await delivery.handle_record(record.raw_event)

    return async_process_partial_response(event, record_handler, processor)


async def test_a_partial_batch_response_names_only_the_failing_record(services, delivery, queues):
    good = await queue_async_invocation(services, "good")
    stuck = await running_elsewhere(services)
    queues.send("malformed: acknowledged, not failed")
    records = queues.receive()
    by_execution = {execution_id_of(record["body"]): record for record in records}
    assert set(by_execution) == {good.execution_id, stuck.execution_id, None}

    # powertools runs its own event loop (as in Lambda), so off this test's loop
    response = await asyncio.to_thread(sqs_lambda_handler, delivery, {"Records": records})

    assert response == {
        "batchItemFailures": [{"itemIdentifier": by_execution[stuck.execution_id]["messageId"]}]
    }
    assert (await stored(services, good.execution_id)).status == "succeeded"
    assert [r["body"] for r in queues.receive(queues.dlq_url)] == [by_execution[None]["body"]]


def execution_id_of(body: str) -> str | None:
    return orjson.loads(body)["execution_id"] if body.startswith("{") else None


async def test_concurrent_duplicates_of_a_request_run_it_once(services, delivery, queues, events):
    queues.send(
        request_body(
            idempotency_key="k1",
            target={"provider": "local", "function": "slow"},
            payload={"seconds": 0.5},
        )
    )
    [record] = queues.receive()
    duplicate = {**record, "messageId": "another-delivery"}

    results = await asyncio.gather(
        delivery.handle_record(record), delivery.handle_record(duplicate), return_exceptions=True
    )

    assert sorted(type(result).__name__ for result in results) == ["Conflict", "NoneType"]
    [execution] = await every_execution(services)
    assert execution.status == "succeeded"
    assert len(outcomes_of(events, execution.execution_id)) == 1


async def test_a_run_the_platform_settles_later_is_not_run_again(
    services, delivery, queues, events
):
    """E.g. a Lambda Event invocation: the run ended (a duration is recorded) still open."""
    execution = await queue_async_invocation(services)
    execution.status, execution.duration_ms = Status.RUNNING, 12.5
    await services.store.executions.save(execution)
    [record] = queues.receive()

    await delivery.handle_record(record)

    assert await stored(services, execution.execution_id) == execution
    assert events == []


async def test_an_outcome_that_could_not_be_recorded_is_delivered_again(services, delivery, queues):
    async def bus_down(event: CloudEvent) -> None:
        raise ConnectionError("the events topic is unreachable")

    services.events.subscribe(bus_down)
    queued = await queue_async_invocation(services, "x")
    [record] = queues.receive()
    with pytest.raises(ServiceUnavailable, match="could not be fully recorded"):
        await delivery.handle_record(record)
    ran = await stored(services, queued.execution_id)
    assert ran.status == "succeeded"

    queues.reappear(record)
    [again] = queues.receive()
    await delivery.handle_record(again)  # it ran: acknowledged, not run again
    assert await stored(services, queued.execution_id) == ran


def sns_lambda_record(topic_arn: str, message: str, message_id: str) -> dict[str, Any]:
    """A Lambda SNS event record (the worker's function subscribed to a topic directly)."""
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": f"{topic_arn}:{uuid.uuid4()}",
        "Sns": {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": topic_arn,
            "Subject": None,
            "Message": message,
            "Timestamp": "2026-01-01T00:00:00.000Z",
            "MessageAttributes": {},
        },
    }


async def test_sns_records_run_requests_once_and_dead_letter_malformed_ones(
    services, delivery, queues
):
    topic_arn = f"arn:aws:sns:{REGION}:123456789012:{unique('requests')}"
    record = sns_lambda_record(topic_arn, request_body(), "sns-1")
    await delivery.handle_sns_record(record)
    await delivery.handle_sns_record(record)
    await delivery.handle_sns_record(sns_lambda_record(topic_arn, "[]", "sns-2"))

    ran, malformed = sorted(await every_execution(services), key=lambda e: e.function)
    assert (ran.function, ran.status, ran.caller) == ("local:echo", "succeeded", f"sns:{topic_arn}")
    assert malformed.error == {
        "type": "MalformedMessage",
        "message": "expected a JSON object, got an array",
    }
    assert [r["body"] for r in queues.receive(queues.dlq_url)] == ["[]"]


async def test_an_sns_records_traceparent_attribute_is_its_requests_trace(services, delivery):
    topic_arn = f"arn:aws:sns:{REGION}:123456789012:{unique('requests')}"
    record = sns_lambda_record(topic_arn, request_body(), "sns-traced")
    trace_id = uuid.uuid4().hex
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
    record["Sns"]["MessageAttributes"] = {"traceparent": {"Type": "String", "Value": traceparent}}

    await delivery.handle_sns_record(record)

    [execution] = await every_execution(services)
    assert execution.traceparent.split("-")[1] == trace_id


async def test_a_delivery_then_announces_what_the_outbox_holds(services, delivery, queues, events):
    """A Lambda worker outlives no delivery: each one ends with a bounded outbox sweep, which
    announces an outcome stored before its event went out (its process died in between)."""
    unannounced = await queue_async_invocation(services, "told late")
    [stale_message] = queues.receive()
    unannounced.status, unannounced.success, unannounced.duration_ms = "succeeded", True, 5.0
    unannounced.announcement_pending = True
    unannounced.updated_at = time.time() - 60
    await services.store.executions.save(unannounced)
    queued = await queue_async_invocation(services, "now")
    [record] = [r for r in queues.receive() if r["messageId"] != stale_message["messageId"]]

    await delivery.handle_record(record)

    [told] = outcomes_of(events, unannounced.execution_id)
    assert told.id == f"{unannounced.execution_id}.succeeded"
    assert len(outcomes_of(events, queued.execution_id)) == 1
    assert not (await stored(services, unannounced.execution_id)).announcement_pending
    size = services.settings.stats_bucket_s
    buckets = {int(e.created_at // size) * size for e in (unannounced, queued)}
    rollups = await services.store.stats.read(buckets, unannounced.function)
    assert sum(rollup.count for rollup in rollups) == 2
