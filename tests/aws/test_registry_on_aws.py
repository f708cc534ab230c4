"""The function registry on the AWS column (DynamoDB, SNS) served by two fnproxy instances at
once, as two Lambda containers would be: a change made through one is what the other runs, a
rate limit holds across both, and every activation reaches the SNS topic."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from core.wiring import load_aws_settings
from tests.aws.aws_stack import AwsStack, create_stack
from tests.registry_support import (
    LOCAL_FUNCTIONS,
    activations,
    bearer,
    rate_limit_holds_across,
    switch_on_one_run_on_the_other,
    two_instances,
)


@pytest.fixture(scope="module")
def stack(moto_url: str) -> AwsStack:
    return create_stack(moto_url)


@pytest.fixture
async def instances(stack: AwsStack) -> AsyncIterator[list[httpx.AsyncClient]]:
    environ = stack.environment(**LOCAL_FUNCTIONS, QUEUE_BACKEND="local")
    async with two_instances(load_aws_settings, environ) as clients:
        yield clients


def published(stack: AwsStack) -> list[dict]:
    """The CloudEvents the topic's subscribed queue holds."""
    messages = stack.receive(stack.events_queue_url, wait_s=1, count=100)
    return [json.loads(json.loads(message["Body"])["Message"]) for message in messages]


async def test_a_switch_on_one_instance_is_what_the_other_runs(
    instances: list[httpx.AsyncClient], stack: AwsStack
) -> None:
    auth = await bearer(instances[0], stack.module_key)
    await switch_on_one_run_on_the_other(instances, auth, "greet-aws")
    assert activations(published(stack), "greet-aws") == [(None, 1), (1, 2), (2, 1)]


async def test_the_rate_limit_holds_across_instances(
    instances: list[httpx.AsyncClient], stack: AwsStack
) -> None:
    auth = await bearer(instances[0], stack.module_key)
    await rate_limit_holds_across(instances, auth, "limited-aws")
