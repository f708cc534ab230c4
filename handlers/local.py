"""`fnproxy serve`: the app under uvicorn, with the in-process async worker."""

from __future__ import annotations

import logging
import sys

from core.api.app import create_app
from core.config import Settings
from core.wiring import Services, build_services

logger = logging.getLogger("fnproxy")
ABANDONED_REASON = "fnproxy restarted before this execution ran; its queued message was lost"


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, stream=sys.stderr, format="%(message)s")


def local_app(services: Services):
    """The app with the local queue's worker started in its lifespan."""

    async def start() -> None:
        abandoned = await services.worker.abandon_open(ABANDONED_REASON)
        if abandoned:
            logger.warning(
                "marked %d unfinished executions from an earlier run as failed", abandoned
            )
        services.queue.start(services.worker.handle)

    return create_app(services, on_startup=start, on_shutdown=services.close)


def serve(settings: Settings) -> None:
    import uvicorn

    app = local_app(build_services(settings))
    uvicorn.run(
        app,
        host=settings.rest_host,
        port=settings.rest_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=10,
    )
