"""`fnproxy serve`'s app moves what it built at start out of the garbage collector's reach."""

from __future__ import annotations

import gc

from core.wiring import build_services
from handlers.local import local_app
from tests.api.conftest import api_settings


async def test_the_objects_made_before_serving_are_frozen_once_started(tmp_path) -> None:
    services = build_services(api_settings(tmp_path))
    app = local_app(services)
    gc.unfreeze()
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[dict] = []

    async def receive() -> dict:
        return next(messages)

    async def send(message: dict) -> None:
        sent.append(message)
        if message["type"] == "lifespan.startup.complete":
            frozen.append(gc.get_freeze_count())

    frozen: list[int] = []
    try:
        await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    finally:
        gc.unfreeze()  # the test process's objects go back to the collector
    assert [message["type"] for message in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert frozen and frozen[0] > 10_000
