"""Health: each port answers a ping within a short timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.responses import Response

from core import __version__
from core.api.endpoints import PUBLIC, Call, Endpoint
from core.api.responses import JSONResponse
from core.models import iso

if TYPE_CHECKING:
    from core.wiring import Services

CHECK_TIMEOUT_S = 2.0


async def check(ping: Callable[[], Awaitable[None]]) -> str:
    """ "ok", "timeout" or "error: <kind>" for one port's ping (never raises)."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await ping()
    except TimeoutError:
        return "timeout"
    except Exception as error:  # noqa: BLE001 - report, never raise: health must answer
        return f"error: {type(error).__name__}"
    return "ok"


async def port_checks(services: Services) -> dict[str, str]:
    """`check` of every port, side by side."""
    pings = {
        "store": services.store.ping,
        "secrets": services.secrets.ping,
        "events": services.events.ping,
        "queue": services.queue.ping,
    }
    results = await asyncio.gather(*(check(ping) for ping in pings.values()))
    return dict(zip(pings, results, strict=True))


async def health(call: Call) -> Response:
    checks = await port_checks(call.services)
    healthy = all(result == "ok" for result in checks.values())
    body = {
        "status": "ok" if healthy else "degraded",
        "version": __version__,
        "checks": checks,
        # The seeds' members too; each seed's own shape is at /lambda|/gcp|/openwhisk/health.
        "module": "fnproxy",
        "timestamp": iso(time.time()),
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/health",
        health,
        "Liveness and the state of each port",
        "health",
        scope=PUBLIC,
        extra_responses={503: "A port is failing"},
    ),
]
