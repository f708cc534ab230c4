"""What every seed route shares: its failures carry the seeds' members, the wrapper's own
401s and malformed bodies included."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "path",
    ["/lambda/api/v1/invoke", "/gcp/api/v1/functions/invoke", "/openwhisk/api/v1/actions/invoke"],
)
async def test_a_missing_token_is_a_401_with_the_seed_failure_members(client, path):
    response = await client.post(path, json={})
    body = response.json()
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert body["success"] is False and body["status_code"] == 401 and body["error"]


@pytest.mark.parametrize(
    "path",
    ["/lambda/api/v1/invoke", "/gcp/api/v1/functions/invoke", "/openwhisk/api/v1/actions/invoke"],
)
async def test_a_malformed_body_is_a_400_with_the_seed_failure_members(client, admin, path):
    response = await client.post(path, content=b"{not json", headers=admin)
    body = response.json()
    assert response.status_code == 400 and body["success"] is False and body["status_code"] == 400


async def test_native_routes_keep_the_plain_problem_shape(client):
    body = (await client.post("/v1/invoke", json={})).json()
    assert body["status"] == 401 and "success" not in body
