"""What the three seed route modules share: who calls them (`Caller`: a REST call or a gRPC
one, core/grpc), their failure members on every problem, their body reading, the JSON text of
their payloads, and the base of their health answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol

import orjson
from pydantic import BaseModel

from core.api.endpoints import MAX_JSON_DEPTH, Call, parse_body, too_deep
from core.deferred_model import DeferredModel
from core.errors import FnproxyError, InvalidRequest, ValidationFailed

if TYPE_CHECKING:
    from core.auth.principal import Principal
    from core.invoke.batch import BatchItemResult
    from core.invoke.service import Invocation, InvocationRequest
    from core.wiring import Services


class Caller(Protocol):
    """What the seed mappings need of a call, REST (core.api.endpoints.Call) or gRPC
    (core.grpc.calls.GrpcCall, whose deadline caps each invocation's timeout)."""

    services: Services
    principal: Principal

    async def invoke(self, request: InvocationRequest) -> Invocation: ...

    async def invoke_all(self, requests: list[InvocationRequest]) -> list[BatchItemResult]: ...


def event_from_text(text: str) -> Any:
    """The event a `payload` string stands for: the JSON value it is, else (text that is no
    JSON, "" too) the text itself as a JSON string. Every string is an event, as the document
    says: a seed client's JSON text is read as the seed sent it to Lambda. JSON nesting deeper
    than a request body may (MAX_JSON_DEPTH) is refused, as such a body is."""
    try:
        event = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    if too_deep(event):
        raise ValueError(f"the JSON text nests more than {MAX_JSON_DEPTH} levels deep")
    return event


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


class SeedHealth(DeferredModel):
    """A seed module's health: status and version for anyone; the rest (each module's own
    members) for a `read` token only."""

    status: Literal["healthy", "unhealthy"]
    version: str
    module: str | None = None
    timestamp: str | None = None
