"""Request bodies are validated strictly: a JSON value of another type than the document says is
refused (422 on the native API, the seed's 400 on the compat routes), never coerced - `0` or
`false` is no number and no boolean, `"1"` no number. What JSON legitimately sends still
passes: an integer where a number is asked, nested objects, a Literal's string."""

from __future__ import annotations

import pytest

from tests.api.test_registry_api import register

ECHO = {"provider": "local", "function": "echo"}
OPENWHISK = {"provider": "openwhisk", "action": "hello"}


@pytest.mark.parametrize(
    "policy",
    [
        {"retry": {"max_retries": 1, "base_delay_s": False}},
        {"retry": {"max_retries": True}},
        {"retry": {"max_retries": "1"}},
        {"timeout_s": False},
        {"timeout_s": "5"},
        {"rate_limit": {"requests": 1.5, "per_s": 60}},
    ],
)
async def test_a_policy_value_of_another_type_is_422(client, admin, policy):
    await register(client, admin, "strict")
    response = await client.patch("/v1/functions/strict", json={"policy": policy}, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"
    created = await client.post(
        "/v1/functions", json={"name": "other", "target": ECHO, "policy": policy}, headers=admin
    )
    assert created.status_code == 422, created.text


async def test_an_integer_is_a_number_in_a_policy(client, admin):
    await register(client, admin, "ints")
    policy = {"timeout_s": 5, "retry": {"max_retries": 2, "base_delay_s": 1}}
    response = await client.patch("/v1/functions/ints", json={"policy": policy}, headers=admin)
    assert response.status_code == 200, response.text
    stored = response.json()["policy"]
    assert stored["timeout_s"] == 5 and stored["retry"] == {"max_retries": 2, "base_delay_s": 1}


@pytest.mark.parametrize("activate", [0, 1, "true", None])
async def test_activate_must_be_a_boolean(client, admin, activate):
    await register(client, admin, "versions")
    response = await client.post(
        "/v1/functions/versions/versions",
        json={"target": ECHO, "activate": activate},
        headers=admin,
    )
    assert response.status_code == 422, response.text


async def test_activate_true_is_a_boolean(client, admin):
    await register(client, admin, "versions")
    response = await client.post(
        "/v1/functions/versions/versions", json={"target": ECHO, "activate": True}, headers=admin
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("blocking", [0, 1, "false"])
async def test_an_openwhisk_targets_blocking_must_be_a_boolean(client, admin, blocking):
    request = {"target": {**OPENWHISK, "blocking": blocking}, "mode": "dry_run"}
    response = await client.post("/v1/invoke", json=request, headers=admin)
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["errors"]] == ["target.openwhisk.blocking"]


@pytest.mark.parametrize(
    "body",
    [
        {"target": ECHO, "timeout_s": False},
        {"target": ECHO, "timeout_s": "5"},
        {"target": ECHO, "mode": 1},
        {"target": {"provider": "aws_lambda", "function": 7}},
    ],
)
async def test_invoke_values_of_another_type_are_422(client, admin, body):
    response = await client.post("/v1/invoke", json=body, headers=admin)
    assert response.status_code == 422, response.text


async def test_an_integer_timeout_is_a_number(client, admin):
    response = await client.post(
        "/v1/invoke", json={"target": ECHO, "payload": {"a": 1}, "timeout_s": 5}, headers=admin
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"] == {"a": 1}


@pytest.mark.parametrize("version", [1.5, "1", True])
async def test_a_version_number_must_be_an_integer(client, admin, version):
    await register(client, admin, "numbered")
    response = await client.post(
        "/v1/functions/numbered/active-version", json={"version": version}, headers=admin
    )
    assert response.status_code == 422, response.text


async def test_a_whole_float_is_an_integer_as_json_schema_says(client, admin):
    await register(client, admin, "whole")
    response = await client.post(
        "/v1/functions/whole/active-version", json={"version": 1.0}, headers=admin
    )
    assert response.status_code == 200, response.text
    session = await client.post("/v1/sessions", json={"ttl_s": 60.0}, headers=admin)
    assert session.status_code == 201, session.text


@pytest.mark.parametrize("blocking", [0, "false"])
async def test_openwhisk_compat_blocking_must_be_a_boolean(client, admin, blocking):
    response = await client.post(
        "/openwhisk/api/v1/actions/invoke",
        json={"action_name": "hello", "blocking": blocking},
        headers=admin,
    )
    assert response.status_code == 400, response.text
    assert [e["loc"] for e in response.json()["errors"]] == ["blocking"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/lambda/api/v1/invoke",
            {"function_name": "x", "payload": "{}", "invocation_type": 1},
            "invocation_type",
        ),
        ("/lambda/api/v1/invoke-async", {"function_name": 1, "payload": "{}"}, "function_name"),
        (
            "/gcp/api/v1/functions/invoke-http",
            {"url": "https://a.example/f", "timeout": "5"},
            "timeout",
        ),
        (
            "/gcp/api/v1/functions/invoke-http",
            {"url": "https://a.example/f", "timeout": False},
            "timeout",
        ),
    ],
)
async def test_seed_bodies_of_another_type_are_the_seeds_400(client, admin, path, body, field):
    response = await client.post(path, json=body, headers=admin)
    assert response.status_code == 400, response.text
    assert [e["loc"] for e in response.json()["errors"]] == [field]
