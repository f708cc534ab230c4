"""The events and queue ports.

Events: every invocation outcome is published as a CloudEvents 1.0 JSON event (structured
mode). Queue: async invocations are enqueued as an `InvocationMessage`; whatever delivers them
(in-process worker, SQS, Pub/Sub) hands them to `core.invoke.worker.AsyncWorker`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.models import iso, new_id

EVENT_SOURCE = "/fnproxy"
EVENT_TYPE_PREFIX = "dev.fnproxy.invocation."
"""Every invocation outcome's CloudEvent type: the prefix plus the execution's status."""
SPEC_VERSION = "1.0"


@dataclass(frozen=True)
class CloudEvent:
    type: str
    subject: str
    data: dict[str, Any]
    source: str = EVENT_SOURCE
    id: str = field(default_factory=new_id)
    time: float = field(default_factory=time.time)
    attributes: dict[str, str] = field(default_factory=dict)
    """Flat string attributes for subscribers' filters (SNS message attributes, Pub/Sub
    attributes); not part of the CloudEvent body."""
    extensions: dict[str, str] = field(default_factory=dict)
    """CloudEvents extension attributes (e.g. `traceparent`, the Distributed Tracing
    extension), top-level members of the body."""

    def to_json_dict(self) -> dict[str, Any]:
        """The structured-mode body: `specversion` first, as readers expect, then the other
        context attributes, the extensions (never in place of one of those) and the data."""
        context = {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "subject": self.subject,
            "time": iso(self.time),
            "datacontenttype": "application/json",
        }
        extensions = {name: value for name, value in self.extensions.items() if name not in context}
        return {**context, **extensions, "data": self.data}


class EventBus(Protocol):
    async def publish(self, event: CloudEvent) -> None:
        """Deliver or raise; callers record a failed publish, never drop it silently."""

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class InvocationMessage:
    """What the async queue carries: the queued execution's id and its full payload, or None
    when the record archived it (`core.invoke.archive`: the worker reads it back)."""

    execution_id: str
    payload: Any = None

    def to_json_dict(self) -> dict[str, Any]:
        return {"execution_id": self.execution_id, "payload": self.payload}


class WorkQueue(Protocol):
    async def enqueue(self, message: InvocationMessage) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
