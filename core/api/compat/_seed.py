"""What the three seed route modules share: their failure members on every problem, their
body reading, and the base of their health answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from core.api.endpoints import Call, parse_body
from core.errors import FnproxyError, InvalidRequest, ValidationFailed


def seed_problem(error: FnproxyError) -> FnproxyError:
    """The seeds' `success: false`, `error` and `status_code` on top of the problem members;
    their malformed bodies were 400s, so a validation failure is one here too."""
    if isinstance(error, ValidationFailed):
        error = InvalidRequest(error.detail, **error.extra)
    error.extra.setdefault("status_code", error.status)
    error.extra.update(success=False, error=error.detail)
    return error


async def read_body(call: Call, model: type[BaseModel]) -> Any:
    """The request body as `model` (seed bodies are read by their handlers, which pick the
    model; errors reach `seed_problem` through the endpoint wrapper)."""
    return await parse_body(call.request, model, call.services.settings.max_request_bytes)


class SeedHealth(BaseModel):
    """A seed module's health: status and version for anyone; the rest (each module's own
    members) for a `read` token only."""

    status: Literal["healthy", "unhealthy"]
    version: str
    module: str | None = None
    timestamp: str | None = None
