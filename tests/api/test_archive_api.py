"""Large payloads, results and logs kept whole in the local blobs backend (core/invoke/archive.py)
and read back through the API: inline up to a limit, else a signed link whose bytes match the
record's SHA-256."""

from __future__ import annotations

import asyncio
import hashlib
import logging

import orjson
import pytest

from tests.api.conftest import new_client
from tests.api.test_invoke_api import (
    ECHO,
    callback_sink,  # noqa: F401 - the fixture
    wait_for_status,
)

INLINE_BYTES = 4096
READ_INLINE_BYTES = 16384
TWO_MB = "r" * (2 * 1024 * 1024)


@pytest.fixture
def setting_overrides() -> dict[str, str]:
    return {
        "BLOBS_INLINE_BYTES": str(INLINE_BYTES),
        "BLOBS_READ_INLINE_BYTES": str(READ_INLINE_BYTES),
        "MAX_REQUEST_BYTES": str(3 * 1024 * 1024),
    }


def of_json_size(size: int) -> str:
    """A string payload whose JSON form is `size` bytes."""
    return "p" * (size - 2)


async def invoke(client, headers, payload, **fields):
    request = {"target": ECHO, "payload": payload, **fields}
    response = await client.post("/v1/invoke", json=request, headers=headers)
    assert response.status_code in (200, 202), response.text
    return response.json()


async def record_of(client, headers, execution_id, **query):
    response = await client.get(f"/v1/invocations/{execution_id}", params=query, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_part_at_the_threshold_stays_in_the_record_and_one_byte_more_goes_to_blobs(
    client, admin, services
):
    at = await invoke(client, admin, of_json_size(INLINE_BYTES))
    above = await invoke(client, admin, of_json_size(INLINE_BYTES + 1))

    kept = await services.store.executions.get(at["execution_id"])
    archived = await services.store.executions.get(above["execution_id"])
    assert kept.payload == of_json_size(INLINE_BYTES) and kept.payload_blob is None
    assert archived.payload is None and archived.result is None
    assert archived.payload_blob["size"] == INLINE_BYTES + 1
    assert archived.result_blob["key"].endswith(f"/{above['execution_id']}/result")
    assert not (archived.payload_truncated or archived.result_truncated)


async def test_an_archived_part_reads_back_inline_up_to_the_read_limit(client, admin):
    payload = of_json_size(READ_INLINE_BYTES)
    done = await invoke(client, admin, payload)

    record = await record_of(client, admin, done["execution_id"])

    assert record["result"] == payload and record["payload"] == payload
    digest = hashlib.sha256(orjson.dumps(payload)).hexdigest()
    assert record["result_blob"] == {
        "size": READ_INLINE_BYTES,
        "sha256": digest,
        "content_type": "application/json",
    }


async def test_a_2_mb_result_comes_whole_through_its_signed_link(client, admin):
    done = await invoke(client, admin, TWO_MB)
    assert done["result"] == TWO_MB  # the sync answer carries it whole

    record = await record_of(client, admin, done["execution_id"])
    reference = record["result_blob"]
    fetched = await client.get(reference["url"])  # no Bearer token: the link is the grant

    assert record["result"] is None and reference["url_expires_at"]
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "application/json"
    assert hashlib.sha256(fetched.content).hexdigest() == reference["sha256"]
    assert orjson.loads(fetched.content) == TWO_MB


async def test_a_link_read_leaves_no_token_in_the_audit_line(client, admin, caplog):
    done = await invoke(client, admin, of_json_size(INLINE_BYTES + 10))
    url = (await record_of(client, admin, done["execution_id"], inline="false"))["result_blob"]
    caplog.set_level(logging.INFO, logger="fnproxy.audit")
    caplog.clear()  # an earlier test may have left the audit logger at INFO: only this read

    assert (await client.get(url["url"])).status_code == 200

    lines = [orjson.loads(r.getMessage()) for r in caplog.records if r.name == "fnproxy.audit"]
    assert [line["resource"] for line in lines] == ["/v1/blobs/{token}"]
    assert url["url"].removeprefix("/v1/blobs/") not in caplog.text


async def test_inline_false_gives_the_link_even_for_a_small_archived_part(client, admin):
    done = await invoke(client, admin, of_json_size(INLINE_BYTES + 10))

    record = await record_of(client, admin, done["execution_id"], inline="false")

    assert record["result"] is None
    assert record["result_blob"]["url"].startswith(f"{client.base_url}/v1/blobs/")
    assert "key" not in record["result_blob"]
    unclear = await client.get(
        f"/v1/invocations/{done['execution_id']}", params={"inline": "no"}, headers=admin
    )
    assert unclear.status_code == 400 and "inline" in unclear.text


async def test_the_execution_log_entry_shows_archived_parts_alike(client, admin):
    created = await client.post(
        "/v1/functions", json={"name": "big", "target": ECHO}, headers=admin
    )
    assert created.status_code == 201, created.text
    payload = of_json_size(INLINE_BYTES + 10)
    done = await client.post("/v1/functions/big/invoke", json={"payload": payload}, headers=admin)
    entry_url = f"/v1/functions/big/executions/{done.json()['execution_id']}"

    inline = (await client.get(entry_url, headers=admin)).json()
    linked = (await client.get(entry_url, params={"inline": "false"}, headers=admin)).json()

    assert inline["result"] == payload and "url" not in inline["result_blob"]
    assert linked["result"] is None
    assert (await client.get(linked["result_blob"]["url"])).content == orjson.dumps(payload)


async def test_an_async_run_reads_its_archived_payload_back(client, admin, services):
    payload = {"big": "a" * (3 * INLINE_BYTES)}
    queued = await invoke(client, admin, payload, mode="async")

    record = await wait_for_status(client, admin, queued["execution_id"])

    assert record["status"] == "succeeded" and record["result"] == payload
    stored = await services.store.executions.get(queued["execution_id"])
    assert stored.payload_blob is not None and stored.result_blob is not None


async def test_a_callback_gets_archived_parts_as_a_reader_does(
    client,
    admin,
    callback_sink,  # noqa: F811 - the fixture
):
    url, received = callback_sink
    small, large = of_json_size(INLINE_BYTES * 2), {"big": "b" * (READ_INLINE_BYTES * 2)}
    for payload in (small, large):
        await invoke(client, admin, payload, mode="async", callback_url=url)
    for _ in range(100):
        if len(received) == 2:
            break
        await asyncio.sleep(0.05)

    bodies = [body for body, _headers in received]
    by_size = sorted(bodies, key=lambda body: body["result_blob"]["size"])
    assert by_size[0]["result"] == small and "url" not in by_size[0]["result_blob"]
    assert by_size[1]["result"] is None
    assert (await client.get(by_size[1]["result_blob"]["url"])).content == orjson.dumps(large)


async def test_an_idempotent_replay_answers_the_whole_archived_result(client, admin):
    headers = admin | {"Idempotency-Key": "large-1"}
    first = await invoke(client, headers, of_json_size(2 * INLINE_BYTES))

    replay = await client.post(
        "/v1/invoke",
        json={"target": ECHO, "payload": of_json_size(2 * INLINE_BYTES)},
        headers=headers,
    )

    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["result"] == first["result"] == of_json_size(2 * INLINE_BYTES)


async def test_no_link_for_a_caller_who_cannot_read_the_record(client, admin):
    done = await invoke(client, admin, of_json_size(INLINE_BYTES * 2))
    other = await new_client(client, admin, "invoke:local:*")

    response = await client.get(
        f"/v1/invocations/{done['execution_id']}", params={"inline": "false"}, headers=other
    )

    assert response.status_code == 404 and "/v1/blobs/" not in response.text
