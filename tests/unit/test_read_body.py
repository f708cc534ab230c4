"""`read_body`: a request body read from its ASGI messages, refused as soon as it passes the
limit, whatever Content-Length said."""

from __future__ import annotations

import pytest
from starlette.requests import ClientDisconnect, Request

from core.api.endpoints import read_body
from core.errors import PayloadTooLarge


def request_of(messages: list[dict], headers: list[tuple[bytes, bytes]] = ()) -> tuple:
    pending = list(messages)
    received: list[dict] = []

    async def receive() -> dict:
        received.append(pending.pop(0))
        return received[-1]

    scope = {"type": "http", "method": "POST", "path": "/", "headers": list(headers)}
    return Request(scope, receive), received


def chunk(body: bytes, more: bool) -> dict:
    return {"type": "http.request", "body": body, "more_body": more}


async def test_a_body_in_several_messages_is_joined() -> None:
    request, _ = request_of([chunk(b'{"a"', True), chunk(b"", True), chunk(b": 1}", False)])
    assert await read_body(request, 100) == b'{"a": 1}'


async def test_a_body_past_the_limit_is_refused_before_the_rest_is_read() -> None:
    request, received = request_of(
        [chunk(b"x" * 60, True), chunk(b"x" * 60, True), chunk(b"", False)]
    )
    with pytest.raises(PayloadTooLarge):
        await read_body(request, 100)
    assert len(received) == 2


async def test_a_declared_length_past_the_limit_is_refused_before_any_read() -> None:
    request, received = request_of([chunk(b"", False)], [(b"content-length", b"101")])
    with pytest.raises(PayloadTooLarge):
        await read_body(request, 100)
    assert received == []


async def test_a_client_gone_mid_body_is_a_disconnect() -> None:
    request, _ = request_of([chunk(b"x", True), {"type": "http.disconnect"}])
    with pytest.raises(ClientDisconnect):
        await read_body(request, 100)
