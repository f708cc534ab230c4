"""An async invocation whose failure the runner recorded (a 5xx refusal such as fnproxy having
no AWS credentials, a provider bug) is done: the record says failed, the worker does not treat
it as an outcome it could not record (no traceback logged, no redelivery)."""

from __future__ import annotations

import logging

import pytest

from core import aws_clients
from tests.api.test_invoke_api import wait_for_status

AWS_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


@pytest.fixture
def no_aws_credentials(tmp_path, monkeypatch):
    """No credential anywhere in boto3's chain, and a fresh shared session to look for them."""
    for name in AWS_CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(aws_clients, "_session", None)


def tracebacks(caplog) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.exc_info or "Traceback" in record.getMessage()
    ]


async def test_async_lambda_call_without_credentials_is_failed_without_a_traceback(
    no_aws_credentials, services, client, admin, caplog
):
    caplog.set_level(logging.INFO)
    request = {
        "target": {"provider": "aws_lambda", "function": "x"},
        "payload": {},
        "mode": "async",
    }
    response = await client.post("/v1/invoke", json=request, headers=admin)
    assert response.status_code == 202, response.text
    await services.queue.drain()
    record = await wait_for_status(client, admin, response.json()["execution_id"])
    assert record["status"] == "failed" and record["success"] is False
    assert record["error"]["type"] == "upstream_unavailable"
    assert "credentials" in record["error"]["message"]
    assert tracebacks(caplog) == []
    assert not [r for r in caplog.records if "async worker failed" in r.getMessage()]


async def test_a_recorded_provider_bug_is_logged_once(services, client, admin, caplog):
    async def broken(target, payload, context):
        raise KeyError("bug")

    services.providers.get("local").invoke = broken
    caplog.set_level(logging.INFO)
    request = {"target": {"provider": "local", "function": "echo"}, "mode": "async"}
    response = await client.post("/v1/invoke", json=request, headers=admin)
    assert response.status_code == 202, response.text
    await services.queue.drain()
    record = await wait_for_status(client, admin, response.json()["execution_id"])
    assert record["status"] == "failed" and record["error"]["type"] == "InternalError"
    assert len(tracebacks(caplog)) == 1  # the runner's, naming the provider
    assert not [r for r in caplog.records if "async worker failed" in r.getMessage()]
