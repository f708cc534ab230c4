"""The outbox against a live `fnproxy serve` (platform local, SQLite): an outcome is stored, and
then the process dies or the bus fails before its event, stats count or callback went out.

Two real mechanisms put the crash between the save and the announcement, deterministically:
- the event bus fails: the server publishes to an SNS topic (moto) that does not exist yet, so
  every outcome is saved and then its publish fails; the server is killed -9 in that state, the
  topic is created (with an SQS queue subscribed to count the events) and the server started
  again;
- the callback receiver hangs: every outcome is saved and announced, its callback is in flight
  when the server is killed -9 (or stopped with SIGTERM, past SHUTDOWN_GRACE_S).

Before: each such event was lost (only logged), the stats still counted it (the rollup ran
beside the publish), and each such callback was never sent (the record kept `callback_result`
None for good). Now the record is the outbox: after the restart, its sweep announces every
outcome (each event once here, with a stable id), counts each exactly once and delivers every
callback once.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from typing import Any

import boto3
import pytest

from tests.faults.test_async_durability import (
    accept,
    eventually,
    listener,  # noqa: F401 - the fixture
    published,
    serve,
    stats_count,
    until_ended,
    work_target,
)
from tests.security.support import Listener, Server

REGION = "us-east-1"
N = 12
DRAIN_S = 2.5


def kill(server: Server) -> str:
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    return server.log


def hooked(target: Listener) -> Counter[str]:
    return Counter(json.loads(r.body)["execution_id"] for r in target.hits("/hook"))


def assert_delivered(ended: list[dict[str, Any]], ids: list[str], target: Listener) -> None:
    assert [r["status"] for r in ended] == ["succeeded"] * len(ids)
    assert all(r["callback_result"]["delivered"] for r in ended)
    assert all("announcement_pending" not in r for r in ended)  # internal, never shown
    assert hooked(target) >= Counter(ids)


def sns_events(sqs: Any, queue_url: str, ids: list[str], within_s: float) -> list[dict[str, Any]]:
    """The CloudEvents the queue subscribed to the events topic received: polled until every
    one of `ids` was told, then DRAIN_S longer (to catch any told twice)."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + within_s
    drained_at = None
    while drained_at is None or time.monotonic() < drained_at:
        assert time.monotonic() < deadline, f"events for {len(events)} of {len(ids)}"
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            events.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        told = {event["data"]["execution_id"] for event in events}
        if drained_at is None and told >= set(ids):
            drained_at = time.monotonic() + DRAIN_S
    return events


@pytest.fixture
def topic(moto_url) -> dict[str, Any]:
    """An SNS topic's name and ARN, not created yet, and a way to create it with an SQS queue
    subscribed (raw delivery: each message is the CloudEvent)."""
    sns = boto3.client("sns", region_name=REGION, endpoint_url=moto_url)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_url)
    name = f"outbox-events-{time.time_ns()}"

    def create() -> str:
        arn = sns.create_topic(Name=name)["TopicArn"]
        queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        endpoint = attributes["Attributes"]["QueueArn"]
        raw = {"RawMessageDelivery": "true"}
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=endpoint, Attributes=raw)
        return queue_url

    return {"arn": f"arn:aws:sns:{REGION}:123456789012:{name}", "create": create, "sqs": sqs}


def test_a_bus_down_after_the_save_then_kill_9_each_outcome_told_and_counted_once(
    tmp_path, listener, topic, moto_url  # noqa: F811 - the fixture
):
    target, _ = listener
    data_dir = tmp_path / "data"
    bus = {"EVENTS_BACKEND": "sns", "EVENTS_TOPIC_ARN": topic["arn"], "AWS_ENDPOINT_URL": moto_url}
    request = {"target": work_target(target), "callback_url": f"{target.url}/hook"}
    first = serve(data_dir, **bus)
    headers = first.admin()
    ids = accept(first, headers, N, **request)
    until_ended(first, headers, ids, within_s=30)
    eventually(lambda: "could not record execution" in first.log, bool, 10, "a failed publish")
    kill(first)
    queue_url = topic["create"]()

    second = serve(data_dir, **bus)
    try:
        headers = second.admin()
        events = sns_events(topic["sqs"], queue_url, ids, within_s=40)
        eventually(lambda: hooked(target) >= Counter(ids), bool, 30, "every callback")
        ended = until_ended(second, headers, ids, within_s=5)
        counted = stats_count(second, headers, ended[0]["function"])
    finally:
        second.stop()

    told = Counter(event["data"]["execution_id"] for event in events)
    print(f"\nbus down for {N} outcomes, then kill -9: after the restart {sum(told.values())}"
          f" events for {len(told)} executions, stats {counted}, callbacks {len(hooked(target))}")
    assert told == Counter(ids)  # each outcome told, once here
    assert {event["id"] for event in events} == {f"{i}.succeeded" for i in ids}
    assert counted == N  # counted exactly once each, though the first server's rollups failed
    assert_delivered(ended, ids, target)


def test_kill_9_while_callbacks_hang_delivers_each_callback_after_the_restart(
    tmp_path, listener  # noqa: F811 - the fixture
):
    target, delays = listener
    data_dir = tmp_path / "data"
    delays["/hook"] = 30.0
    request = {"target": work_target(target), "callback_url": f"{target.url}/hook"}
    first = serve(data_dir)
    headers = first.admin()
    ids = accept(first, headers, N, **request)
    until_ended(first, headers, ids, within_s=30)
    eventually(lambda: set(hooked(target)) == set(ids), bool, 10, "every callback in flight")
    first_log = kill(first)
    delays["/hook"] = 0.0
    target.clear()

    second = serve(data_dir)
    try:
        headers = second.admin()
        eventually(lambda: hooked(target) >= Counter(ids), bool, 30, "every callback again")
        ended = until_ended(second, headers, ids, within_s=5)
        time.sleep(2.5)  # two more sweeps: nothing more goes out
        counted = stats_count(second, headers, ended[0]["function"])
        events = published(first_log, second.log)
    finally:
        second.stop()

    print(f"\nkill -9 with {N} callbacks hanging: {len(hooked(target))} delivered after the"
          f" restart ({sum(hooked(target).values())} sent), events {sum(events.values())},"
          f" stats {counted}")
    assert hooked(target) == Counter(ids)  # once each after the restart
    assert events == Counter(ids)
    assert counted == N
    assert_delivered(ended, ids, target)


def test_callbacks_still_hanging_when_the_stop_grace_ends_are_sent_after_the_restart(
    tmp_path, listener  # noqa: F811 - the fixture
):
    target, delays = listener
    data_dir = tmp_path / "data"
    delays["/hook"] = 30.0
    request = {"target": work_target(target), "callback_url": f"{target.url}/hook"}
    first = serve(data_dir, SHUTDOWN_GRACE_S="1")
    headers = first.admin()
    ids = accept(first, headers, N, **request)
    until_ended(first, headers, ids, within_s=30)
    eventually(lambda: set(hooked(target)) == set(ids), bool, 10, "every callback in flight")
    first.process.send_signal(signal.SIGTERM)
    first.process.wait(timeout=20)
    delays["/hook"] = 0.0
    target.clear()

    second = serve(data_dir)
    try:
        headers = second.admin()
        eventually(lambda: hooked(target) >= Counter(ids), bool, 30, "every callback again")
        ended = until_ended(second, headers, ids, within_s=5)
    finally:
        second.stop()

    assert hooked(target) == Counter(ids)
    assert_delivered(ended, ids, target)
