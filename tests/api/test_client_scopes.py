"""A client's scopes are validated as the document says: each one that is no scope is a 422
naming its item (`scopes.N`)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "scope", ["", "invoke:", "invoke: x", "invoke:a\u3000b", "write", "invoke:" + "x" * 250]
)
async def test_a_scope_that_is_no_scope_is_a_422_naming_its_item(client, admin, scope):
    response = await client.post(
        "/v1/clients", json={"name": "x", "scopes": ["read", scope]}, headers=admin
    )
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["errors"]] == ["scopes.1"]


@pytest.mark.parametrize("scope", ["admin", "read", "invoke", "invoke:aws_lambda:billing-*"])
async def test_known_scopes_make_a_client(client, admin, scope):
    response = await client.post(
        "/v1/clients", json={"name": "x", "scopes": [scope]}, headers=admin
    )
    assert response.status_code == 201, response.text
    assert response.json()["scopes"] == [scope]
