"""What the SQS and Pub/Sub delivery tests share: the caller, a queued async invocation, and
reading back what the worker recorded and published."""

from __future__ import annotations

from typing import Any

import pytest

from core.auth.principal import Principal
from core.events.base import CloudEvent
from core.invoke.service import InvocationRequest
from core.models import Execution, Mode
from core.targets import LocalTarget

ECHO = {"provider": "local", "function": "echo"}
ADMIN = Principal(subject="client:tester", scopes=frozenset({"admin"}), token_id="t1")


@pytest.fixture
def events(services) -> list[CloudEvent]:
    """Every outcome event the services publish (one per recorded run)."""
    published: list[CloudEvent] = []

    async def collect(event: CloudEvent) -> None:
        published.append(event)

    services.events.subscribe(collect)
    return published


async def queue_async_invocation(services, payload: Any = None, **request: Any) -> Execution:
    invocation = await services.invocations.invoke(
        InvocationRequest(target=LocalTarget(**ECHO), payload=payload, mode=Mode.ASYNC, **request),
        ADMIN,
    )
    return invocation.execution


async def stored(services, execution_id: str) -> Execution:
    execution = await services.store.executions.get(execution_id)
    assert execution is not None
    return execution


async def every_execution(services) -> list[Execution]:
    return (await services.store.executions.list(limit=100)).items


def outcomes_of(events: list[CloudEvent], execution_id: str) -> list[CloudEvent]:
    return [event for event in events if event.data["execution_id"] == execution_id]
