"""Test helper: one fnproxy deployment's GCP resources, in the session's emulators, and
functions-framework processes serving fnproxy's GCP entry points.

`create_stack(secret_server)` makes, under unique names: the events topic with a pull
subscription (where a test reads the CloudEvents), the async topic with a pull subscription
(standing in for the push subscription Eventarc gives the worker function: a test pulls a
message and delivers it as Eventarc would), a Firestore collection prefix of its own and the
module key in the Secret Manager test server. `GcpStack.environment()` is what the Cloud
Function's configuration would be. `start_function(...)` runs `functions-framework` on
`handlers/gcp_function.py`; `pubsub_cloud_event(...)` is the HTTP request Eventarc sends a
Pub/Sub-triggered function (binary content mode).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.cloud import pubsub_v1
from google.cloud.secretmanager_v1.types import resources, service

from tests.conftest import GCP_PROJECT, _stop, _wait_until_listening, free_port
from tests.gcp.secret_manager_server import SecretManagerServer

REPO = Path(__file__).resolve().parents[2]
ENTRY_SOURCE = REPO / "handlers" / "gcp_function.py"
MAX_DELIVERY_ATTEMPTS = 5
PUBSUB_EVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
PULL_TIMEOUT_S = 10.0


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class GcpStack:
    project: str
    events_topic: str
    events_subscription: str
    async_topic: str
    async_subscription: str
    collection_prefix: str
    secret: str
    secret_host: str
    module_key: str = field(repr=False)

    def environment(self, **overrides: str) -> dict[str, str]:
        """The fnproxy Cloud Function's environment for this stack (the emulators' addresses
        come from the process environment the session fixtures set)."""
        return {
            "FNPROXY_PLATFORM": "gcp",
            "GCP_PROJECT_ID": self.project,
            "EVENTS_TOPIC": self.events_topic,
            "ASYNC_TOPIC": self.async_topic,
            "ASYNC_MAX_RECEIVE_COUNT": str(MAX_DELIVERY_ATTEMPTS),
            "FIRESTORE_COLLECTION_PREFIX": self.collection_prefix,
            "MODULE_SECRET_KEY_SECRET": self.secret,
            "SECRETMANAGER_EMULATOR_HOST": self.secret_host,
            "GCP_ID_TOKENS": "false",
            "EGRESS_ALLOW": "127.0.0.1/32",  # the test functions listen on loopback
            "MAX_RETRIES": "1",
            "RETRY_DELAY": "0.01",
            "FUNCTION_TIMEOUT": "20",
            "LOG_LEVEL": "INFO",
            **overrides,
        }

    def pull(self, subscription: str, count: int = 1) -> list[Any]:
        """Acknowledged messages of `subscription` (`ReceivedMessage`s): pulls until there are
        at least `count`, or PULL_TIMEOUT_S has passed."""
        subscriber = pubsub_v1.SubscriberClient()
        received: list[Any] = []
        deadline = time.monotonic() + PULL_TIMEOUT_S
        try:
            while len(received) < count and time.monotonic() < deadline:
                answer = subscriber.pull(subscription=subscription, max_messages=10, timeout=5)
                if answer.received_messages:
                    ack_ids = [message.ack_id for message in answer.received_messages]
                    subscriber.acknowledge(subscription=subscription, ack_ids=ack_ids)
                    received += answer.received_messages
        finally:
            subscriber.close()
        return received

    def cloud_events(self, count: int = 1) -> list[tuple[dict[str, Any], dict[str, str]]]:
        """The CloudEvents the events subscription got: (event, message attributes)."""
        return [
            (json.loads(received.message.data), dict(received.message.attributes))
            for received in self.pull(self.events_subscription, count)
        ]


def create_stack(secret_server: SecretManagerServer, project: str = GCP_PROJECT) -> GcpStack:
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    try:
        events_topic, events_subscription = _topic_with_subscription(
            publisher, subscriber, project, "fnproxy-events"
        )
        async_topic, async_subscription = _topic_with_subscription(
            publisher, subscriber, project, "fnproxy-async"
        )
    finally:
        subscriber.close()
    module_key = secrets.token_urlsafe(48)
    return GcpStack(
        project=project,
        events_topic=events_topic,
        events_subscription=events_subscription,
        async_topic=async_topic,
        async_subscription=async_subscription,
        collection_prefix=unique("fnproxy").replace("-", "_"),
        secret=create_secret(secret_server, module_key, project),
        secret_host=secret_server.host,
        module_key=module_key,
    )


def _topic_with_subscription(
    publisher: Any, subscriber: Any, project: str, prefix: str
) -> tuple[str, str]:
    topic = publisher.topic_path(project, unique(prefix))
    publisher.create_topic(name=topic)
    subscription = subscriber.subscription_path(project, unique(f"{prefix}-sub"))
    subscriber.create_subscription(name=subscription, topic=topic, ack_deadline_seconds=30)
    return topic, subscription


def create_secret(server: SecretManagerServer, value: str, project: str = GCP_PROJECT) -> str:
    """A new secret of the test server holding `value`; its name (`projects/P/secrets/S`)."""
    client = server.client()
    try:
        secret = client.create_secret(
            request=service.CreateSecretRequest(
                parent=f"projects/{project}",
                secret_id=unique("fnproxy-module-key"),
                secret=resources.Secret(),
            )
        )
        client.add_secret_version(parent=secret.name, payload={"data": value.encode()})
    finally:
        client.transport.close()
    return secret.name


# --- functions-framework processes ------------------------------------------------------------


@dataclass
class FunctionProcess:
    """`functions-framework` serving one entry point of handlers/gcp_function.py."""

    process: subprocess.Popen
    url: str
    stdout_path: Path
    stderr_path: Path

    def log_lines(self) -> list[str]:
        """What the function wrote on stdout so far, line by line."""
        return self.stdout_path.read_text(encoding="utf-8").splitlines()

    def stop(self) -> None:
        _stop(self.process)


def start_function(
    target: str, environment: dict[str, str], log_dir: Path, signature_type: str = "http"
) -> FunctionProcess:
    """`functions-framework --target=TARGET --source=handlers/gcp_function.py`, as the Cloud
    Functions Python runtime runs it, configured by `environment` only."""
    port = free_port()
    command = [sys.executable, "-m", "functions_framework", f"--target={target}"]
    command += [f"--source={ENTRY_SOURCE}", f"--signature-type={signature_type}"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    stdout_path, stderr_path = log_dir / f"{target}.out", log_dir / f"{target}.err"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env={**os.environ, **environment},
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    _wait_until_listening(process, port, stderr_path)
    return FunctionProcess(process, f"http://127.0.0.1:{port}", stdout_path, stderr_path)


# --- what Eventarc delivers -------------------------------------------------------------------


def pubsub_cloud_event(
    data: bytes,
    topic: str,
    subscription: str,
    *,
    message_id: str | None = None,
    attributes: dict[str, str] | None = None,
    delivery_attempt: int | None = None,
) -> tuple[dict[str, str], bytes]:
    """The headers and body of the request Eventarc sends a Pub/Sub-triggered function for one
    message (binary content mode: the CloudEvent's attributes in `ce-` headers, its data, the
    push body, as the request's body). `deliveryAttempt` is there when the subscription has a
    dead-letter policy."""
    message_id = message_id or str(uuid.uuid4().int)[:16]
    published = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    message = {
        "data": base64.b64encode(data).decode(),
        "attributes": attributes or {},
        "messageId": message_id,
        "publishTime": published,
    }
    body: dict[str, Any] = {"message": message, "subscription": subscription}
    if delivery_attempt is not None:
        body["deliveryAttempt"] = delivery_attempt
    headers = {
        "ce-specversion": "1.0",
        "ce-id": message_id,
        "ce-source": f"//pubsub.googleapis.com/{topic}",
        "ce-type": PUBSUB_EVENT_TYPE,
        "ce-time": published,
        "content-type": "application/json",
    }
    return headers, json.dumps(body).encode()


def received_cloud_event(
    received: Any, topic: str, subscription: str, delivery_attempt: int | None = None
) -> tuple[dict[str, str], bytes]:
    """`pubsub_cloud_event` of a message pulled from `subscription`."""
    return pubsub_cloud_event(
        received.message.data,
        topic,
        subscription,
        message_id=received.message.message_id,
        attributes=dict(received.message.attributes),
        delivery_attempt=delivery_attempt,
    )


class EventInbox:
    """The CloudEvents of the stack's events subscription, kept across pulls, so that each test
    finds its own among those of the others."""

    def __init__(self, stack: GcpStack) -> None:
        self._stack = stack
        self.events: list[tuple[dict[str, Any], dict[str, str]]] = []

    def matching(self, **data: Any) -> list[tuple[dict[str, Any], dict[str, str]]]:
        return [
            (event, attributes)
            for event, attributes in self.events
            if all(event["data"].get(name) == value for name, value in data.items())
        ]

    def wait_for(self, **data: Any) -> list[tuple[dict[str, Any], dict[str, str]]]:
        """The events whose data has these values; pulls until there is one (or time is up)."""
        deadline = time.monotonic() + PULL_TIMEOUT_S
        while not self.matching(**data) and time.monotonic() < deadline:
            self.events += self._stack.cloud_events()
        return self.matching(**data)
