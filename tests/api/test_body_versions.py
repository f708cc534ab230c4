"""A version number in a body has the bounds of the `{version}` path parameter (1 to 2**53), in
the document and in validation: past them is a 422 naming `version`, never a 404 or 409 for a
version no function can have, nor a document that admits what validation refuses."""

from __future__ import annotations

import pytest

from core.api.app import all_endpoints
from core.api.openapi import build_openapi
from tests.api.test_registry_api import register

MAX_VERSION = 2**53
ECHO = {"provider": "local", "function": "echo"}
BODIES = {
    ("post", "active-version"): lambda version: {"version": version},
    ("put", "canary"): lambda version: {"version": version, "weight": 10},
}


@pytest.mark.parametrize(("method", "path"), sorted(BODIES))
@pytest.mark.parametrize("version", [MAX_VERSION + 1, 18446744073709551617])
async def test_a_version_past_2_53_is_422(client, admin, method, path, version):
    await register(client, admin, "fn")
    response = await client.request(
        method, f"/v1/functions/fn/{path}", json=BODIES[method, path](version), headers=admin
    )
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["errors"]] == ["version"]


@pytest.mark.parametrize(("method", "path"), sorted(BODIES))
async def test_a_version_up_to_2_53_is_read_and_found_missing(client, admin, method, path):
    await register(client, admin, "fn")
    response = await client.request(
        method, f"/v1/functions/fn/{path}", json=BODIES[method, path](MAX_VERSION), headers=admin
    )
    assert response.status_code in (404, 409), response.text


@pytest.mark.parametrize("schema", ["ActiveVersion", "CanarySplit"])
def test_the_document_bounds_body_versions_as_the_path_parameter(schema):
    document = build_openapi(all_endpoints())
    version = document["components"]["schemas"][schema]["properties"]["version"]
    assert version["minimum"] == 1 and version["maximum"] == MAX_VERSION
