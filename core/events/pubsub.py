"""Pub/Sub: the event bus, the async work queue, and the delivery of the async topic's pushed
messages to the async worker.

`PubSubEventBus` publishes each outcome as one message whose data is the CloudEvent JSON
(structured mode) and whose attributes are the event's filter attributes (type, function,
provider, success), so a subscription's filter can pick what it gets. `PubSubWorkQueue`
publishes fnproxy's execution references to the topic feeding the worker function.

`PubSubDelivery` takes a message in either of the two forms a push brings it: the body of a
plain push subscription's request, `{message: {data, attributes, messageId, publishTime},
subscription, deliveryAttempt?}` (`handle_push`), or the CloudEvent Eventarc makes of it for a
Pub/Sub-triggered function, `google.cloud.pubsub.topic.v1.messagePublished`, whose data is that
body (`handle_cloud_event`). `deliveryAttempt` is there when the subscription has a dead-letter
policy. Returning acknowledges the message (the worker answers 2xx); raising has Pub/Sub
deliver it again (a push subscription's, and Eventarc's with the function's retries on):

- a malformed message is recorded with its reason, copied to the dead-letter topic (when one is
  configured) with a `fnproxy_reason` attribute, and acknowledged: it is never retried;
- a failure on the last allowed delivery (`deliveryAttempt >= max_delivery_attempts`, the
  dead-letter policy's maxDeliveryAttempts) is recorded as DeadLettered before it is raised,
  so the record says what Pub/Sub's dead-letter policy then does with the message; an
  execution a live runner holds is never touched (its runner records the one outcome);
- a redelivered message whose execution already ran is acknowledged without running.

A push delivery has no per-message ack deadline to extend: the push request itself is the
delivery, answered when the run ends, within the subscription's ack deadline (Eventarc's is
600 s, above an event-driven function's longest timeout of 540 s). The execution's lease is
what keeps a redelivery that arrives meanwhile from running it again.

The publisher client is synchronous and batches in its own threads: it is built on first use
in a worker thread (building it may look for credentials on the network), `publish` only adds
to a batch, and its future is awaited with `asyncio.wrap_future`; other calls run in a thread.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
from google.api_core import exceptions as api_exceptions
from google.api_core import retry as api_retry
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.publisher.exceptions import MessageTooLargeError

from core.config import ConfigError
from core.errors import PayloadTooLarge
from core.events.base import CloudEvent, InvocationMessage
from core.events.messages import (
    MalformedMessage,
    ReceivedMessage,
    decode_message,
    encode_message,
)
from core.gcp_credentials import library_credentials
from core.tracing import message_trace_headers, serving

if TYPE_CHECKING:
    from core.invoke.worker import AsyncWorker

logger = logging.getLogger("fnproxy.pubsub")

EMULATOR_VARIABLE = "PUBSUB_EMULATOR_HOST"
"""Set, the client talks to that emulator, anonymously."""
MAX_PUBLISH_REQUEST_BYTES = 10 * 1000 * 1000
"""Pub/Sub's limit on a publish request: the message's data and attributes, and the topic."""
MAX_ATTRIBUTE_VALUE_BYTES = 1024
REASON_ATTRIBUTE = "fnproxy_reason"
EXECUTION_ATTRIBUTE = "fnproxy_execution_id"
PUBSUB_SOURCE_PREFIX = "pubsub:"
PUBSUB_EVENT_SOURCE_PREFIX = "//pubsub.googleapis.com/"
"""How a Pub/Sub CloudEvent's `source` starts: `//pubsub.googleapis.com/projects/P/topics/T`."""

_TOPIC_ID = r"[A-Za-z][A-Za-z0-9_.~+%-]{2,254}"
_TOPIC_PATH = re.compile(rf"projects/[a-z][a-z0-9.:-]*[a-z0-9]/topics/{_TOPIC_ID}")

PUBLISH_DEADLINE_S = 10.0
TRANSIENT_RETRY = api_retry.Retry(
    predicate=api_retry.if_exception_type(
        api_exceptions.Aborted,
        api_exceptions.DeadlineExceeded,
        api_exceptions.InternalServerError,
        api_exceptions.ResourceExhausted,
        api_exceptions.ServiceUnavailable,
    ),
    initial=0.05,
    maximum=1.0,
    timeout=PUBLISH_DEADLINE_S,
)
"""Transient errors are retried for a bounded time; callers (the Recorder, the API, Pub/Sub's
redelivery) retry or report what still fails."""
BATCH_SETTINGS = pubsub_v1.types.BatchSettings(max_latency=0.001)
"""A message waits at most 1 ms for others to share its publish request (the default is 10 ms):
an outcome event is published while its sync caller waits."""
PUBLISHER_OPTIONS = pubsub_v1.types.PublisherOptions(
    retry=TRANSIENT_RETRY, timeout=PUBLISH_DEADLINE_S
)


def topic_path(topic: str, project: str) -> str:
    """`projects/{project}/topics/{topic}` for a short name; a full path is checked and kept."""
    if topic.startswith("projects/"):
        if not _TOPIC_PATH.fullmatch(topic):
            raise ConfigError(f"{topic!r} is not a Pub/Sub topic path (projects/P/topics/T)")
        return topic
    if not re.fullmatch(_TOPIC_ID, topic):
        raise ConfigError(f"{topic!r} is not a Pub/Sub topic name")
    if not project:
        raise ConfigError(f"Pub/Sub topic {topic!r}: a short name needs GCP_PROJECT_ID")
    return f"projects/{project}/topics/{topic}"


class TopicPublisher:
    """Publishes to one topic through a `PublisherClient` built on first use, with the
    process's default credentials (`core.gcp_credentials`) unless PUBSUB_EMULATOR_HOST is set."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self._lock = threading.Lock()
        self._client: pubsub_v1.PublisherClient | None = None

    async def publish(self, data: bytes, attributes: Mapping[str, str] | None = None) -> str:
        """Publish one message; its message id. Raises what Pub/Sub answered, or
        `PayloadTooLarge` (nothing sent) for a message over Pub/Sub's limit."""
        client = await self._ready_client()
        try:
            future = client.publish(self.topic, data, **(attributes or {}))
        except MessageTooLargeError as too_large:
            raise PayloadTooLarge(
                f"a message of {len(data)} bytes is over Pub/Sub's limit: {too_large}",
                limit_bytes=MAX_PUBLISH_REQUEST_BYTES,
            ) from None
        return await asyncio.wrap_future(future)

    async def get_topic(self) -> None:
        client = await self._ready_client()
        await asyncio.to_thread(
            client.get_topic, topic=self.topic, retry=TRANSIENT_RETRY, timeout=PUBLISH_DEADLINE_S
        )

    async def close(self) -> None:
        if self._client is not None:
            await asyncio.to_thread(self._shut_down)

    async def _ready_client(self) -> pubsub_v1.PublisherClient:
        if self._client is not None:
            return self._client
        return await asyncio.to_thread(self._build_client)

    def _build_client(self) -> pubsub_v1.PublisherClient:
        with self._lock:
            if self._client is None:
                self._client = pubsub_v1.PublisherClient(
                    batch_settings=BATCH_SETTINGS,
                    publisher_options=PUBLISHER_OPTIONS,
                    credentials=library_credentials(EMULATOR_VARIABLE),
                )
            return self._client

    def _shut_down(self) -> None:
        """Send what is batched, then close the channel."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.stop()
            client.transport.close()


class PubSubEventBus:
    """The EventBus port on Pub/Sub: one message per CloudEvent, attributes for filters."""

    def __init__(self, topic: str, project: str) -> None:
        self._publisher = TopicPublisher(topic_path(topic, project))

    @property
    def topic(self) -> str:
        return self._publisher.topic

    async def publish(self, event: CloudEvent) -> None:
        await self._publisher.publish(orjson.dumps(event.to_json_dict()), event.attributes)

    async def ping(self) -> None:
        await self._publisher.get_topic()

    async def close(self) -> None:
        await self._publisher.close()


class PubSubWorkQueue:
    """The WorkQueue port on Pub/Sub: execution references published to the worker's topic."""

    def __init__(self, topic: str, project: str) -> None:
        self._publisher = TopicPublisher(topic_path(topic, project))

    @property
    def topic(self) -> str:
        return self._publisher.topic

    async def enqueue(self, message: InvocationMessage) -> None:
        await self._publisher.publish(encode_message(message))

    async def ping(self) -> None:
        await self._publisher.get_topic()

    async def close(self) -> None:
        await self._publisher.close()


class PubSubDelivery:
    """Hands Pub/Sub messages, as CloudEvents of a Pub/Sub-triggered function, to the async
    worker, deciding what becomes of each message."""

    def __init__(
        self,
        worker: AsyncWorker,
        max_delivery_attempts: int,
        dead_letter_topic: str | None = None,
        *,
        project: str = "",
    ) -> None:
        """`dead_letter_topic` (a path, or a short name in `project`) gets a copy of each
        malformed message; the subscription's own dead-letter policy moves the others."""
        self._worker = worker
        self._max_delivery_attempts = max_delivery_attempts
        self._dead_letters = (
            TopicPublisher(topic_path(dead_letter_topic, project)) if dead_letter_topic else None
        )

    async def handle_cloud_event(self, event: Any) -> None:
        """One `cloudevents.http.CloudEvent` of a Pub/Sub message (its data is the push body);
        returns to acknowledge it, raises when it must be delivered again."""
        await self._handle(
            event.data,
            sender=str(event["source"]).removeprefix(PUBSUB_EVENT_SOURCE_PREFIX),
            default_id=str(event["id"]),
            no_message=f"a {event['type']} CloudEvent whose data has no Pub/Sub message: is the "
            "worker triggered by something other than its topic?",
        )

    async def handle_push(self, push: Mapping[str, Any]) -> None:
        """The JSON body of a push subscription's request, `{message, subscription,
        deliveryAttempt?}`; returns to acknowledge it, raises when it must be delivered
        again."""
        await self._handle(
            push, sender="push", default_id="", no_message="a Pub/Sub push body with no message"
        )

    async def close(self) -> None:
        if self._dead_letters is not None:
            await self._dead_letters.close()

    async def _handle(self, push: Any, sender: str, default_id: str, no_message: str) -> None:
        """What a push delivered: `sender` is the source when it names no subscription,
        `default_id` the message id when the message has none, `no_message` the reason when
        it carries no message."""
        source = _source_of(push, sender)
        try:
            body, message_id = _message_of(push, default_id, no_message)
        except MalformedMessage as malformed:
            await self._reject(_event_data_bytes(push), source, malformed)
            return
        attempt = _delivery_attempt(push)
        final = attempt is not None and attempt >= self._max_delivery_attempts
        with serving(message_trace_headers(push["message"].get("attributes"))):
            await self._deliver(body, message_id, source, final)

    async def _deliver(self, body: bytes, message_id: str, source: str, final: bool) -> None:
        try:
            received = ReceivedMessage(decode_message(body), message_id, source)
        except MalformedMessage as malformed:
            await self._reject(body, source, malformed)
            return
        try:
            await self._worker.run_delivery(received, _text(body), final)
        except MalformedMessage as malformed:
            await self._reject(body, source, malformed)

    async def _reject(self, body: bytes, source: str, malformed: MalformedMessage) -> None:
        execution = await self._worker.reject(_text(body), source, malformed)
        if self._dead_letters is not None:
            attributes = {REASON_ATTRIBUTE: _attribute_value(malformed.reason)}
            if execution is not None:
                attributes[EXECUTION_ATTRIBUTE] = execution.execution_id
            await self._dead_letters.publish(body, attributes)
        logger.warning("message from %s rejected: %s", source, malformed.reason)


def _source_of(push: Any, sender: str) -> str:
    """`pubsub:` and the subscription that delivered the message, else `sender` (the topic of
    a CloudEvent that names no subscription)."""
    subscription = push.get("subscription") if isinstance(push, Mapping) else None
    if isinstance(subscription, str) and subscription:
        return PUBSUB_SOURCE_PREFIX + subscription
    return PUBSUB_SOURCE_PREFIX + sender


def pushed_message_id(push: Any, default_id: str = "") -> str:
    """The id of the message a push body carries (`messageId`, or `message_id`), else
    `default_id`."""
    message = push.get("message") if isinstance(push, Mapping) else None
    if not isinstance(message, Mapping):
        return default_id
    return str(message.get("messageId") or message.get("message_id") or default_id)


def _message_of(push: Any, default_id: str, no_message: str) -> tuple[bytes, str]:
    """The message's decoded data and its id; `MalformedMessage` if there is no message (the
    reason `no_message`), or no id or base64 data."""
    message = push.get("message") if isinstance(push, Mapping) else None
    if not isinstance(message, Mapping):
        raise MalformedMessage(no_message)
    message_id = pushed_message_id(push, default_id)
    if not message_id:
        raise MalformedMessage("the Pub/Sub message has no messageId")
    try:
        return base64.b64decode(message.get("data", ""), validate=True), message_id
    except (TypeError, ValueError):  # binascii.Error is a ValueError
        raise MalformedMessage("the Pub/Sub message's data is not base64") from None


def _delivery_attempt(push: Mapping[str, Any]) -> int | None:
    attempt = push.get("deliveryAttempt")
    try:
        return int(attempt) if attempt is not None else None
    except (TypeError, ValueError):
        return None


def _event_data_bytes(data: Any) -> bytes:
    """What was delivered, as bytes, to record and dead-letter a delivery that carried no
    usable Pub/Sub message."""
    if isinstance(data, bytes):
        return data
    return orjson.dumps(data, default=str)


def _text(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


def _attribute_value(value: str) -> str:
    """`value` cut to Pub/Sub's attribute value limit (in bytes, on a character boundary)."""
    return value.encode()[:MAX_ATTRIBUTE_VALUE_BYTES].decode("utf-8", errors="ignore")
