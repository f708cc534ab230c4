"""The async queue's message format, shared by every queue backend (SQS, SNS, Pub/Sub).

A message body is one JSON object of one of two kinds (documented in docs/queue-messages.md):

- an execution reference, what fnproxy enqueues for its own async invocations:
  `{"execution_id": "...", "payload": ...}` -> `InvocationMessage`;
- an invocation request, what other systems publish to the topic or queue feeding the worker:
  `{"target": {...}, "payload": ..., "timeout_s"?, "idempotency_key"?, "callback_url"?}`
  -> `RequestedInvocation`.

Anything else is a `MalformedMessage` naming the reason. An SQS body that is an SNS
notification envelope (raw message delivery off) is unwrapped first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.deferred_model import DeferredModel
from core.errors import InvalidRequest
from core.events.base import EVENT_TYPE_PREFIX, InvocationMessage
from core.models import id_time
from core.targets import Target

MAX_TIMEOUT_S = 900.0
MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_REASON_CHARS = 1000
MAX_REPORTED_ERRORS = 5

SNS_SOURCE_PREFIX = "sns:"


class MalformedMessage(InvalidRequest):
    """A message the worker can never run; retrying it would not help."""

    code, title = "malformed_message", "Malformed queue message"

    def __init__(self, reason: str, **extra: Any) -> None:
        super().__init__(_shorten(reason), **extra)
        self.source: str | None = None
        """Who sent the message, when the message says so itself (an SNS envelope's topic)."""

    @property
    def reason(self) -> str:
        return self.detail


class FnproxyEventMessage(MalformedMessage):
    """One of fnproxy's own outcome events: the worker's queue is subscribed to the events
    topic. Recording it would publish another event that comes back: a loop."""


class RequestedInvocation(DeferredModel):
    """An invocation another system asks for through the queue; it runs in the worker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: Target
    payload: Any = None
    timeout_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S)
    idempotency_key: str | None = Field(
        default=None, min_length=1, max_length=MAX_IDEMPOTENCY_KEY_LENGTH
    )
    callback_url: str | None = Field(default=None, pattern=r"^https?://", max_length=2048)

    @field_validator("idempotency_key")
    @classmethod
    def _printable(cls, key: str | None) -> str | None:
        if key is not None and not key.isprintable():
            raise ValueError("must be printable characters")
        return key


class _ExecutionReference(DeferredModel):
    model_config = ConfigDict(extra="forbid")

    execution_id: str
    payload: Any = None

    @field_validator("execution_id")
    @classmethod
    def _fnproxy_id(cls, execution_id: str) -> str:
        """Only fnproxy makes execution references: another id can name no execution (and
        the stores key records by its clock)."""
        id_time(execution_id)
        return execution_id


QueueMessage = InvocationMessage | RequestedInvocation


@dataclass(frozen=True)
class ReceivedMessage:
    """A decoded message and where it came from."""

    message: QueueMessage
    message_id: str
    """The id every duplicate of this message shares (the SNS MessageId inside an envelope)."""
    source: str
    """Who sent it, e.g. `sqs:<queue arn>` or `sns:<topic arn>`; the caller of what it runs."""


def encode_message(message: InvocationMessage) -> bytes:
    return orjson.dumps(message.to_json_dict())


def read_message(body: str | bytes, message_id: str, source: str) -> ReceivedMessage:
    """Decode a delivered body, unwrapping an SNS envelope; raises `MalformedMessage`, whose
    `source` is the envelope's topic when the body is an envelope naming one, malformed or
    not."""
    document = _json_object(body)
    if document.get("Type") is None or "TopicArn" not in document:
        return ReceivedMessage(decode_document(document), message_id, source)
    topic_arn = document["TopicArn"]
    sender = SNS_SOURCE_PREFIX + topic_arn if isinstance(topic_arn, str) and topic_arn else source
    try:
        inner, sns_message_id = _unwrap_sns(document)
        return ReceivedMessage(decode_document(_json_object(inner)), sns_message_id, sender)
    except MalformedMessage as malformed:
        malformed.source = sender
        raise


def decode_message(body: str | bytes) -> QueueMessage:
    """Decode a body that is no envelope (e.g. Pub/Sub data); raises `MalformedMessage`."""
    return decode_document(_json_object(body))


def decode_document(document: dict[str, Any]) -> QueueMessage:
    if "execution_id" in document:
        reference = _validated(_ExecutionReference, document, "execution reference")
        return InvocationMessage(reference.execution_id, reference.payload)
    if "target" in document:
        return _validated(RequestedInvocation, document, "invocation request")
    if str(document.get("type", "")).startswith(EVENT_TYPE_PREFIX) and "specversion" in document:
        raise FnproxyEventMessage(f"an fnproxy outcome event ({document['type']}), not a request")
    raise MalformedMessage(
        "expected an execution reference {execution_id, payload} or an invocation request "
        "{target, payload, ...}"
    )


def _json_object(body: str | bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise MalformedMessage(f"the body is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise MalformedMessage(f"expected a JSON object, got {_json_kind(document)}")
    return document


def _unwrap_sns(envelope: dict[str, Any]) -> tuple[str, str]:
    """The message and message id of an SNS notification envelope (checked: its topic ARN
    too)."""
    kind = envelope.get("Type")
    if kind != "Notification":
        raise MalformedMessage(f"an SNS {kind} envelope, not a Notification")
    message, topic_arn = envelope.get("Message"), envelope.get("TopicArn")
    message_id = envelope.get("MessageId")
    if not all(isinstance(value, str) and value for value in (message, topic_arn, message_id)):
        raise MalformedMessage("an SNS envelope needs string Message, TopicArn and MessageId")
    return message, message_id


def _validated(model: type[BaseModel], document: dict[str, Any], kind: str) -> Any:
    try:
        return model.model_validate(document)
    except ValidationError as invalid:
        raise MalformedMessage(f"invalid {kind}: {_describe(invalid)}") from None


def _describe(invalid: ValidationError) -> str:
    errors = invalid.errors(include_url=False, include_input=False)
    described = [
        f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
        for error in errors[:MAX_REPORTED_ERRORS]
    ]
    more = len(errors) - len(described)
    return "; ".join(described) + (f"; and {more} more" if more > 0 else "")


def _json_kind(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _shorten(reason: str) -> str:
    if len(reason) <= MAX_REASON_CHARS:
        return reason
    return reason[: MAX_REASON_CHARS - 3] + "..."
