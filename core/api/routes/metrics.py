"""`GET /metrics`: the metrics in Prometheus' text format (`core.metrics.prometheus`), for a
`read` token (Bearer), as every other operator's view (/v1/stats, /health's checks) is. A
scraper holds a client credential with the `read` scope (Prometheus' `authorization` with a
token from /v1/auth/token, or its `oauth2` client credentials). On a platform whose metrics
go elsewhere (EMF on AWS, log lines on GCP) the route answers 404."""

from __future__ import annotations

from starlette.responses import Response

from core.api.endpoints import Call, Endpoint
from core.auth.scopes import READ
from core.errors import NotFound

PROMETHEUS_TEXT = "text/plain"


async def metrics(call: Call) -> Response:
    exposition = call.services.metrics.exposition()
    if exposition is None:
        platform = call.services.settings.platform
        raise NotFound(f"the metrics of this deployment ({platform}) go to its cloud's monitoring")
    return Response(exposition.body, headers={"Content-Type": exposition.content_type})


ENDPOINTS = [
    Endpoint(
        "GET",
        "/metrics",
        metrics,
        "Metrics in Prometheus' text format: invocations, latency, retries, circuits, "
        "queue depth, store errors",
        "health",
        scope=READ,
        raw_response="Prometheus' text exposition format",
        raw_media_type=PROMETHEUS_TEXT,
        extra_responses={404: "This platform's metrics go to its cloud's monitoring (not_found)"},
    ),
]
