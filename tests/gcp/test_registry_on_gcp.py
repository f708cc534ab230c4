"""The function registry on the GCP column (Firestore, Pub/Sub) served by two fnproxy instances
at once, as two Cloud Function instances would be: a change made through one is what the other
runs, a rate limit holds across both, and every activation reaches the events topic."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from core.wiring import load_gcp_settings
from tests.gcp.gcp_stack import GcpStack, create_stack
from tests.gcp.secret_manager_server import SecretManagerServer
from tests.registry_support import (
    LOCAL_FUNCTIONS,
    activations,
    bearer,
    rate_limit_holds_across,
    switch_on_one_run_on_the_other,
    two_instances,
)


@pytest.fixture(scope="module")
def stack(firestore_host: str, pubsub_host: str, secret_manager: SecretManagerServer) -> GcpStack:
    return create_stack(secret_manager)


@pytest.fixture
async def instances(stack: GcpStack) -> AsyncIterator[list[httpx.AsyncClient]]:
    environ = stack.environment(**LOCAL_FUNCTIONS, QUEUE_BACKEND="local")
    async with two_instances(load_gcp_settings, environ) as clients:
        yield clients


async def test_a_switch_on_one_instance_is_what_the_other_runs(
    instances: list[httpx.AsyncClient], stack: GcpStack
) -> None:
    auth = await bearer(instances[0], stack.module_key)
    await switch_on_one_run_on_the_other(instances, auth, "greet-gcp")
    # Three activations and the two invocations' outcomes.
    events = [event for event, _ in stack.cloud_events(count=5)]
    assert activations(events, "greet-gcp") == [(None, 1), (1, 2), (2, 1)]


async def test_the_rate_limit_holds_across_instances(
    instances: list[httpx.AsyncClient], stack: GcpStack
) -> None:
    auth = await bearer(instances[0], stack.module_key)
    await rate_limit_holds_across(instances, auth, "limited-gcp")
