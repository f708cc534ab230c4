"""SQS: the async work queue, and the delivery of SQS (or SNS) records to the async worker.

`SqsWorkQueue` sends fnproxy's execution references to the queue. `SqsDelivery` takes each
record as AWS Lambda delivers it (the handler runs it under powertools' AsyncBatchProcessor, so
a raised error fails that record alone and SQS delivers it again):

- a malformed message is recorded with its reason, copied to the dead-letter queue with a
  `fnproxy_reason` attribute, and acknowledged: it is never retried;
- a failure on the last allowed receive (`ApproximateReceiveCount >= max_receive_count`, the
  redrive policy's maxReceiveCount) is recorded as DeadLettered before it is raised, so the
  record says what SQS's redrive then does with the message; an execution a live runner
  holds is never touched (its runner records the one outcome);
- a redelivered message whose execution already ran is acknowledged without running;
- while the worker runs a message's execution, it extends the message's visibility with the
  execution's lease (ChangeMessageVisibility with the record's receipt handle), so SQS does
  not deliver it again while it runs.

boto3 is synchronous: its calls run on a dedicated thread pool as large as the client's
connection pool, never on the event loop.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from core.aws_clients import PooledClient
from core.errors import PayloadTooLarge
from core.events.base import InvocationMessage
from core.events.messages import (
    SNS_SOURCE_PREFIX,
    MalformedMessage,
    encode_message,
    read_message,
)
from core.tracing import message_trace_headers, serving

if TYPE_CHECKING:
    from core.invoke.worker import AsyncWorker, KeepAlive

logger = logging.getLogger("fnproxy.sqs")

MAX_VISIBILITY_S = 12 * 3600
"""SQS's longest visibility timeout."""
MAX_MESSAGE_BYTES = 256 * 1024
"""SQS's message size limit (body and attributes)."""
REASON_ATTRIBUTE = "fnproxy_reason"
EXECUTION_ATTRIBUTE = "fnproxy_execution_id"
SQS_SOURCE_PREFIX = "sqs:"


def string_attributes(attributes: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """SQS/SNS message attributes of DataType String; empty values are left out (both
    services refuse them)."""
    return {
        name: {"DataType": "String", "StringValue": value}
        for name, value in attributes.items()
        if value
    }


class SqsQueue:
    """One SQS queue: send messages with string attributes."""

    def __init__(
        self, queue_url: str, region: str, endpoint_url: str | None = None, pool_size: int = 32
    ) -> None:
        self.queue_url = queue_url
        self._sqs = PooledClient("sqs", region, endpoint_url, pool_size)
        self._urls: dict[str, str] = {}

    async def url_of(self, queue_arn: str) -> str:
        """The URL of the queue `queue_arn` (`arn:aws:sqs:REGION:ACCOUNT:NAME`), looked up once."""
        if queue_arn not in self._urls:
            *_, account, name = queue_arn.split(":")
            answer = await self._sqs.call(
                "get_queue_url", QueueName=name, QueueOwnerAWSAccountId=account
            )
            self._urls[queue_arn] = answer["QueueUrl"]
        return self._urls[queue_arn]

    async def extend_visibility(self, queue_arn: str, receipt_handle: str, seconds: float) -> None:
        """Hide the received message of queue `queue_arn` `seconds` more from now."""
        await self._sqs.call(
            "change_message_visibility",
            QueueUrl=await self.url_of(queue_arn),
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=min(math.ceil(seconds), MAX_VISIBILITY_S),
        )

    async def send(self, body: str, attributes: Mapping[str, str] | None = None) -> str:
        """Send one message; its SQS message id."""
        params: dict[str, Any] = {"QueueUrl": self.queue_url, "MessageBody": body}
        if attributes:
            params["MessageAttributes"] = string_attributes(attributes)
        return (await self._sqs.call("send_message", **params))["MessageId"]

    async def ping(self) -> None:
        await self._sqs.call(
            "get_queue_attributes", QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )

    async def close(self) -> None:
        await self._sqs.close()


class SqsWorkQueue(SqsQueue):
    """The WorkQueue port on SQS."""

    async def enqueue(self, message: InvocationMessage) -> None:
        body = encode_message(message)
        if len(body) > MAX_MESSAGE_BYTES:
            raise PayloadTooLarge(
                f"an async invocation's message is {len(body)} bytes; SQS takes at most "
                f"{MAX_MESSAGE_BYTES}",
                limit_bytes=MAX_MESSAGE_BYTES,
            )
        await self.send(body.decode())


class SqsDelivery:
    """Hands SQS records (and SNS records, when the worker's function is subscribed to a
    topic directly) to the async worker, deciding what becomes of each message."""

    def __init__(self, worker: AsyncWorker, dead_letters: SqsQueue, max_receive_count: int) -> None:
        self._worker = worker
        self._dead_letters = dead_letters
        self._max_receive_count = max_receive_count

    async def handle_record(self, record: Mapping[str, Any]) -> None:
        """One Lambda SQS event record (`body`, `messageId`, `eventSourceARN`,
        `attributes.ApproximateReceiveCount`); raises when it must be delivered again."""
        receive_count = int(record.get("attributes", {}).get("ApproximateReceiveCount", 1))
        with serving(message_trace_headers(record.get("messageAttributes"))):
            await self._deliver(
                record["body"],
                record["messageId"],
                SQS_SOURCE_PREFIX + record["eventSourceARN"],
                final=receive_count >= self._max_receive_count,
                keep_alive=self._visibility_keeper(record),
            )

    def _visibility_keeper(self, record: Mapping[str, Any]) -> KeepAlive | None:
        """What extends the record's message visibility (None without a receipt handle)."""
        receipt_handle = record.get("receiptHandle")
        if not receipt_handle:
            return None
        queue_arn = record["eventSourceARN"]

        async def keep_alive(seconds: float) -> None:
            await self._dead_letters.extend_visibility(queue_arn, receipt_handle, seconds)

        return keep_alive

    async def handle_sns_record(self, record: Mapping[str, Any]) -> None:
        """One Lambda SNS event record (`Sns.Message`, `Sns.MessageId`, `Sns.TopicArn`).
        SNS gives no receive count: a raised failure is left to Lambda's async retries and the
        function's on-failure destination."""
        notification = record["Sns"]
        with serving(message_trace_headers(notification.get("MessageAttributes"))):
            await self._deliver(
                notification["Message"],
                notification["MessageId"],
                SNS_SOURCE_PREFIX + notification["TopicArn"],
                final=False,
            )

    async def _deliver(
        self,
        body: str,
        message_id: str,
        source: str,
        final: bool,
        keep_alive: KeepAlive | None = None,
    ) -> None:
        try:
            received = read_message(body, message_id, source)
        except MalformedMessage as malformed:
            await self._reject(body, malformed.source or source, malformed)
            return
        try:
            await self._worker.run_delivery(received, body, final, keep_alive)
        except MalformedMessage as malformed:
            await self._reject(body, received.source, malformed)

    async def _reject(self, body: str, source: str, malformed: MalformedMessage) -> None:
        execution = await self._worker.reject(body, source, malformed)
        attributes = {REASON_ATTRIBUTE: malformed.reason}
        if execution is not None:
            attributes[EXECUTION_ATTRIBUTE] = execution.execution_id
        await self._dead_letters.send(body, attributes)
        logger.warning("message from %s dead-lettered: %s", source, malformed.reason)
