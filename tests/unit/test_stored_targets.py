"""A target read back from the store is the one written: the rules requests must meet since
(a name that excludes a separate field, the URL pattern) do not fail it when it runs."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from core.invoke.service import parse_target
from core.targets import Target

ARN = "arn:aws:lambda:eu-west-1:123456789012:function:billing"
STORED_BEFORE = [
    {"provider": "aws_lambda", "function": ARN, "region": "eu-west-1"},
    {"provider": "aws_lambda", "function": "billing:3", "qualifier": "3"},
    {"provider": "openwhisk", "action": "/ns/pkg/act", "namespace": "ns"},
    {"provider": "http", "url": "https://bücher.example/fn"},
]


@pytest.mark.parametrize("stored", STORED_BEFORE)
def test_a_request_may_not_give_it_but_a_stored_target_still_runs(stored):
    with pytest.raises(ValidationError):
        TypeAdapter(Target).validate_python(stored)
    assert parse_target(stored).provider == stored["provider"]
