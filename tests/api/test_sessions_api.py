"""Sessions over HTTP, and stateful conversations through invocations."""

from __future__ import annotations

from tests.api.conftest import new_client

COUNTER = {"provider": "local", "function": "counter"}


async def create(client, headers, data=None, ttl_s=None):
    body = {"data": data or {}} | ({"ttl_s": ttl_s} if ttl_s else {})
    response = await client.post("/v1/sessions", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response


async def test_create_get_update_delete(client, admin):
    created = await create(client, admin, {"step": 1})
    session = created.json()
    assert session["version"] == 1 and created.headers["etag"] == '"1"' and session["expires_at"]
    url = f"/v1/sessions/{session['session_id']}"
    read = await client.get(url, headers=admin)
    assert read.json()["data"] == {"step": 1} and read.headers["etag"] == '"1"'
    updated = await client.patch(
        url, json={"data": {"step": 2}}, headers=admin | {"If-Match": '"1"'}
    )
    assert (
        updated.status_code == 200
        and updated.json()["version"] == 2
        and updated.headers["etag"] == '"2"'
    )
    assert (await client.delete(url, headers=admin)).status_code == 204
    assert (await client.get(url, headers=admin)).status_code == 404


async def test_stale_if_match_is_412_and_missing_is_428(client, admin):
    session = (await create(client, admin, {"v": 1})).json()
    url = f"/v1/sessions/{session['session_id']}"
    await client.patch(url, json={"data": {"v": 2}}, headers=admin | {"If-Match": '"1"'})
    stale = await client.patch(url, json={"data": {"v": 3}}, headers=admin | {"If-Match": '"1"'})
    missing = await client.patch(url, json={"data": {"v": 3}}, headers=admin)
    assert stale.status_code == 412 and missing.status_code == 428
    assert (await client.get(url, headers=admin)).json()["data"] == {"v": 2}


async def test_sessions_belong_to_their_owner(client, admin):
    session = (await create(client, admin, {"secret": 1})).json()
    other = await new_client(client, admin, "invoke")
    url = f"/v1/sessions/{session['session_id']}"
    assert (await client.get(url, headers=other)).status_code == 404
    assert (await client.delete(url, headers=other)).status_code == 404
    assert (await client.get(url, headers=admin)).status_code == 200


async def test_invocations_thread_session_state_through_a_function(client, admin):
    session_id = (await create(client, admin, {"count": 0})).json()["session_id"]
    request = {"target": COUNTER, "payload": {}, "session_id": session_id}
    first = (await client.post("/v1/invoke", json=request, headers=admin)).json()
    second = (await client.post("/v1/invoke", json=request, headers=admin)).json()
    assert first["result"]["count"] == 1 and second["result"]["count"] == 2
    stored = (await client.get(f"/v1/sessions/{session_id}", headers=admin)).json()
    assert stored["data"] == {"count": 2} and stored["version"] == 3


async def test_session_needs_an_object_payload_and_an_existing_session(client, admin):
    session_id = (await create(client, admin)).json()["session_id"]
    not_object = {"target": COUNTER, "payload": [1], "session_id": session_id}
    unknown = {"target": COUNTER, "payload": {}, "session_id": "nope"}
    assert (await client.post("/v1/invoke", json=not_object, headers=admin)).status_code == 422
    assert (await client.post("/v1/invoke", json=unknown, headers=admin)).status_code == 404


async def test_a_chosen_id_is_the_callers_own_and_taken_once(client, admin):
    created = await client.post(
        "/v1/sessions", json={"session_id": "chat-42", "data": {"n": 1}}, headers=admin
    )
    assert created.status_code == 201 and created.json()["session_id"] == "chat-42"
    assert created.headers["location"] == "/v1/sessions/chat-42"
    again = await client.post("/v1/sessions", json={"session_id": "chat-42"}, headers=admin)
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    other = await new_client(client, admin, "invoke")
    assert (await client.get("/v1/sessions/chat-42", headers=other)).status_code == 404
    theirs = await client.post(
        "/v1/sessions", json={"session_id": "chat-42", "data": {"n": 9}}, headers=other
    )
    assert theirs.status_code == 201  # the same id, another owner: neither sees the other
    assert (await client.get("/v1/sessions/chat-42", headers=admin)).json()["data"] == {"n": 1}
    assert (await client.get("/v1/sessions/chat-42", headers=other)).json()["data"] == {"n": 9}
    updated = await client.patch(
        "/v1/sessions/chat-42", json={"data": {"n": 2}}, headers=admin | {"If-Match": '"1"'}
    )
    assert updated.status_code == 200 and updated.json()["session_id"] == "chat-42"
    assert (await client.delete("/v1/sessions/chat-42", headers=admin)).status_code == 204
    assert (await client.get("/v1/sessions/chat-42", headers=other)).status_code == 200


async def test_a_chosen_id_threads_state_through_invocations(client, admin):
    await client.post(
        "/v1/sessions", json={"session_id": "tally", "data": {"count": 0}}, headers=admin
    )
    request = {"target": COUNTER, "payload": {}, "session_id": "tally"}
    await client.post("/v1/invoke", json=request, headers=admin)
    assert (await client.get("/v1/sessions/tally", headers=admin)).json()["data"]["count"] == 1


async def test_a_chosen_id_outside_its_pattern_is_422(client, admin):
    for bad in ("", "has space", "x" * 65, "a/b", "a@b"):
        response = await client.post("/v1/sessions", json={"session_id": bad}, headers=admin)
        assert response.status_code == 422, bad
