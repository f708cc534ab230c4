"""A failed invocation leaves its session as it was, even when the failed result carries a
`session`: only a successful result's `session` becomes the session's new data. The function is
an OpenWhisk action on the OpenWhisk-protocol test server (an action's result with an `error`
field is an application error, a failure whose result fnproxy still reads)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.openwhisk_fixture import (  # noqa: F401 - fixtures
    RunningOpenWhisk,
    openwhisk_server,
    openwhisk_session,
)
from tests.fixtures.openwhisk_server import Action

STATEFUL = {"provider": "openwhisk", "action": "stateful"}
NEW_STATE = {"count": 99}


def stateful(params: dict[str, Any]) -> dict[str, Any]:
    """Always answers a new session; fails (application error) when asked to."""
    failure = {"error": "refused on purpose"} if params.get("fail") else {}
    return {"session": NEW_STATE, **failure}


@pytest.fixture
def setting_overrides(openwhisk_server: RunningOpenWhisk, monkeypatch) -> dict[str, str]:  # noqa: F811
    monkeypatch.setitem(openwhisk_server.server.actions, "stateful", Action("stateful", stateful))
    return {
        "OPENWHISK_API_HOST": openwhisk_server.url,
        "OPENWHISK_AUTH_KEY": openwhisk_server.server.auth_key,
        "OPENWHISK_NAMESPACE": "guest",
    }


async def invoke(client, admin, session_id: str, payload: dict) -> dict:
    request = {"target": STATEFUL, "payload": payload, "session_id": session_id}
    response = await client.post("/v1/invoke", json=request, headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_failed_result_carrying_a_session_leaves_the_session_untouched(client, admin):
    created = await client.post("/v1/sessions", json={"data": {"count": 0}}, headers=admin)
    session_id = created.json()["session_id"]
    url = f"/v1/sessions/{session_id}"

    failed = await invoke(client, admin, session_id, {"fail": True})
    assert failed["success"] is False and failed["result"]["session"] == NEW_STATE
    stored = (await client.get(url, headers=admin)).json()
    assert (stored["data"], stored["version"]) == ({"count": 0}, 1)

    succeeded = await invoke(client, admin, session_id, {})  # the same answer, a success
    assert succeeded["success"] is True
    stored = (await client.get(url, headers=admin)).json()
    assert (stored["data"], stored["version"]) == (NEW_STATE, 2)
