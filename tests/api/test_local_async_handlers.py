"""`async def` local handlers through the native API: functions/fanout.py, the sample
coroutine handler, run by real worker processes like the sync samples."""

from __future__ import annotations

FANOUT = {"provider": "local", "function": "fanout"}


async def invoke(client, headers, payload, **fields):
    request = {"target": FANOUT, "payload": payload, **fields}
    return await client.post("/v1/invoke", json=request, headers=headers)


async def test_an_async_handler_answers_its_result_and_is_recorded(client, admin):
    response = await invoke(client, admin, {"tasks": 4, "seconds": 0.2})

    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "succeeded" and body["result"]["tasks"] == 4
    assert body["result"]["elapsed_s"] < 0.5  # the four sleeps ran at once
    record = (await client.get(f"/v1/invocations/{body['execution_id']}", headers=admin)).json()
    assert record["result"] == body["result"] and record["function"] == "local:fanout"


async def test_an_async_handler_that_raises_is_a_failed_envelope_with_its_traceback(client, admin):
    response = await invoke(client, admin, {"tasks": "many"})

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "failed" and body["status_code"] == 500
    assert body["error"]["type"] == "ValueError" and "'many'" in body["error"]["message"]
    record = (await client.get(f"/v1/invocations/{body['execution_id']}", headers=admin)).json()
    assert "Traceback" in record["logs"] and "fanout.py" in record["logs"]


async def test_an_async_handler_past_its_timeout_is_504_and_recorded(client, admin):
    response = await invoke(client, admin, {"tasks": 1, "seconds": 5}, timeout_s=0.5)

    body = response.json()
    assert response.status_code == 504 and body["execution_id"]
    record = (await client.get(f"/v1/invocations/{body['execution_id']}", headers=admin)).json()
    assert record["status"] == "timed_out" and record["error"]["type"] == "Timeout"
