"""Health: a load balancer's probe and an operator's view of every port.

Without a token (or with one lacking `read`) the answer is the status and the version only,
so nothing about the deployment (backends, region, limits, hosts) reaches an anonymous caller.
A `read` token sees each port's check too, and `circuits`: each target (function key) whose
circuit breaker has failures on record, with its state (`closed`, `open`, `half_open`),
consecutive failures and the seconds until a probe may go. An open circuit is a target's
trouble, not fnproxy's: it never makes health fail. The status code tells the probe: 200 when
every port answers, 503 otherwise. The ports are pinged at most once per HEALTH_CACHE_S seconds."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel
from starlette.responses import Response

from core import __version__
from core.api.endpoints import OPTIONAL_TOKEN, Call, Endpoint, Reply
from core.api.responses import JSONResponse
from core.api.views import Health
from core.auth.scopes import READ, has_scope
from core.models import iso


def sees_checks(call: Call) -> bool:
    """Whether the caller may see what health checked: `read` (or `admin`) holders only."""
    return has_scope(call.principal, READ)


UNHEALTHY_RETRY_AFTER = "5"
"""Seconds a prober should wait after a 503: about one HEALTH_CACHE_S round of pings."""


def unhealthy_reply(model: type[BaseModel], description: str) -> dict[int, Reply]:
    """The 503 `health_answer` gives, as a route declares it: the same body, with Retry-After."""
    return {503: Reply(description, model, ("Retry-After",))}


def health_answer(body: dict[str, Any], healthy: bool) -> JSONResponse:
    if healthy:
        return JSONResponse(body)
    return JSONResponse(body, status_code=503, headers={"Retry-After": UNHEALTHY_RETRY_AFTER})


async def health(call: Call) -> Response:
    checks = await call.services.health.results()
    healthy = all(result == "ok" for result in checks.values())
    body: dict[str, Any] = {"status": "ok" if healthy else "degraded", "version": __version__}
    if sees_checks(call):
        # The seeds' members too; each seed's own shape is at /lambda|/gcp|/openwhisk/health.
        body |= {"checks": checks, "module": "fnproxy", "timestamp": iso(time.time())}
        body["circuits"] = call.services.circuits.states()
    return health_answer(body, healthy)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/health",
        health,
        "Liveness: status and version; each port's check for a `read` token",
        "health",
        scope=OPTIONAL_TOKEN,
        response=Health,
        replies=unhealthy_reply(Health, "A port is failing: the same body, status degraded"),
    ),
]
