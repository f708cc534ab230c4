"""A small route table: each endpoint declares its path, scope, body model and documentation,
and one wrapper does for all of them what every route needs - authentication, the scope check,
body limits and parsing, and problem+json for every error. The OpenAPI document is built from
the same table, so it cannot drift from the routes."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from core.api.problems import from_validation_error, problem_response
from core.api.unexpected import HTTP_REQUEST, http_request_context
from core.auth.principal import Principal
from core.auth.scopes import require
from core.errors import FnproxyError, InvalidRequest, PayloadTooLarge

if TYPE_CHECKING:
    from core.invoke.batch import BatchItemResult
    from core.invoke.service import Invocation, InvocationRequest
    from core.wiring import Services

logger = logging.getLogger("fnproxy.api")

PUBLIC = "public"
OPTIONAL_TOKEN = "optional token"
"""Anonymous without an Authorization header; with one, the token must be valid."""
AUTHENTICATED = "authenticated"
CLIENT_CLOSED_REQUEST = 499
"""The status (nginx's) of a request whose client left before sending its whole body: an answer
no one receives, which the audit line records."""


@dataclass
class Call:
    """What a handler gets: the request, the services, the caller and the parsed body."""

    request: Request
    services: Services
    principal: Principal
    body: Any = None

    def path(self, name: str) -> str:
        return self.request.path_params[name]

    def query(self, name: str) -> str | None:
        """The parameter's value ("" when given empty), None when absent: an empty value is
        one the route's declaration checked (`check_query`) like any other."""
        return self.request.query_params.get(name)

    def int_query(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.query(name)
        return default if raw is None else whole_number(raw, f"query parameter {name!r}", low, high)

    async def invoke(self, request: InvocationRequest) -> Invocation:
        """`request` run (or queued) for the caller."""
        return await self.services.invocations.invoke(request, self.principal)

    async def invoke_all(self, requests: list[InvocationRequest]) -> list[BatchItemResult]:
        """`requests` run concurrently for the caller, results in their order."""
        return await self.services.batches.invoke_all(requests, self.principal, None)

    @property
    def source(self) -> str:
        return source_address(self.request)


def source_address(request: Request) -> str:
    """The caller's address: the ASGI client address (the local server's peer; on AWS, the
    source address API Gateway reports). Never a header the caller writes."""
    client = request.client
    return client.host if client is not None else "unknown"


MAX_NUMBER_LENGTH = 20


def whole_number(raw: str, what: str, low: int, high: int) -> int:
    """`raw` as a whole number from `low` to `high` (ASCII digits, an optional minus), checked
    for its length before it is converted; `InvalidRequest` naming `what` otherwise."""
    digits = raw[1:] if raw.startswith("-") else raw
    if not (digits.isascii() and digits.isdigit() and len(raw) <= MAX_NUMBER_LENGTH):
        raise InvalidRequest(f"{what} must be a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise InvalidRequest(f"{what} must be between {low} and {high}")
    return value


Handler = Callable[[Call], Awaitable[Response]]


def _integer_refusal(raw: str, low: int | None, high: int | None) -> str | None:
    try:
        whole_number(raw, "it", -(10**19) if low is None else low, 10**19 if high is None else high)
    except InvalidRequest as refused:
        return refused.detail.removeprefix("it ")
    return None


@dataclass(frozen=True)
class QueryParam:
    """A query parameter: its JSON Schema is what the handler accepts, no more, no less."""

    name: str
    description: str
    type: str = "string"
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    json_schema: dict[str, Any] | None = None
    """The whole schema, for a parameter the fields above cannot describe."""

    def refusal(self, value: str) -> str | None:
        """Why `value` breaks this parameter's schema, or None (a `json_schema` parameter is
        left to its handler, which reads it whole)."""
        if self.json_schema is not None:
            return None
        if self.type == "integer":
            return _integer_refusal(value, self.minimum, self.maximum)
        if self.enum and value not in self.enum:
            return f"must be one of {', '.join(self.enum)}"
        if self.max_length is not None and len(value) > self.max_length:
            return f"is longer than {self.max_length} characters"
        if self.pattern is not None and not re.search(self.pattern, value):
            return f"must match {self.pattern}"
        return None

    def schema(self) -> dict[str, Any]:
        if self.json_schema is not None:
            return self.json_schema
        schema: dict[str, Any] = {"type": self.type}
        optional = {
            "enum": list(self.enum) or None,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "maxLength": self.max_length,
            "pattern": self.pattern,
        }
        schema.update((key, value) for key, value in optional.items() if value is not None)
        return schema


@dataclass(frozen=True)
class HeaderParam:
    """A request header the handler reads."""

    name: str
    description: str
    required: bool = False
    max_length: int | None = None
    pattern: str | None = None

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string"}
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        return schema


@dataclass(frozen=True)
class Reply:
    """An answer that is not a problem, besides the endpoint's main one (e.g. 202 Accepted):
    its description, body model and response headers."""

    description: str
    model: type[BaseModel] | None = None
    headers: tuple[str, ...] = ()
    raw: str = ""
    """The description of a body of bytes of any content type (instead of a `model`)."""
    media_type: str = ""
    """The one content type of a `raw` body, when it has one."""


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    scope: str = AUTHENTICATED
    """PUBLIC, OPTIONAL_TOKEN, AUTHENTICATED (any valid token) or a scope the caller must
    hold."""
    body: type[BaseModel] | None = None
    custom_body: bool = False
    """The handler reads the body itself (e.g. JSON or a form); `body` only documents it."""
    response: type[BaseModel] | None = None
    """The model of the main answer's JSON body; None for an answer without one (204) or
    with a `raw_response`."""
    raw_response: str = ""
    """The description of the main answer's body when it is bytes of any content type."""
    raw_media_type: str = ""
    """The content type of a `raw_response` that always has the same one."""
    status: int = 200
    response_headers: tuple[str, ...] = ()
    """Headers of the main answer besides those on every answer (e.g. ETag, Location)."""
    replies: dict[int, Reply] = field(default_factory=dict)
    query: tuple[QueryParam, ...] = ()
    headers: tuple[HeaderParam, ...] = ()
    extra_responses: dict[int, str] = field(default_factory=dict)
    """The problem+json answers particular to this endpoint, by status (those every endpoint
    of its kind can give - 400, 401, 403, 413, 422, 503 - are added by `core.api.openapi`)."""
    invalid_body_status: int = 422
    """The status of a JSON body that breaks the schema: 422, but 400 on the seed routes (the
    seeds answered their malformed bodies so; `core.api.compat._seed.seed_problem`)."""
    problem_fields: Callable[[FnproxyError], FnproxyError] | None = None
    """Reshapes every error of this endpoint, the wrapper's own (401, 403, body) included:
    the seed routes add their old failure members this way."""

    @property
    def name(self) -> str:
        """The route's name and OpenAPI operationId: its handler's."""
        return self.handler.__name__


ANONYMOUS = Principal(subject="anonymous", scopes=frozenset(), token_id="")


def route_for(endpoint: Endpoint, services: Services) -> Route:
    limit = services.settings.max_request_bytes
    action = f"{endpoint.method} {endpoint.path}"
    shaped = endpoint.problem_fields or (lambda error: error)
    declared_query = {param.name: param for param in endpoint.query}

    async def serve(request: Request) -> Response:
        request.state.action = action
        try:
            if request.scope["query_string"]:
                check_query(request, declared_query)
            principal = await _authenticate(request, endpoint, services)
            body = None
            if endpoint.body is not None and not endpoint.custom_body:
                body = await parse_body(request, endpoint.body, limit)
            return await endpoint.handler(Call(request, services, principal, body))
        except FnproxyError as error:
            return problem_response(shaped(error), request.url.path)
        except ValidationError as error:
            return problem_response(shaped(from_validation_error(error)), request.url.path)
        except ClientDisconnect:
            return Response(status_code=CLIENT_CLOSED_REQUEST)
        except Exception:  # logged for Error Reporting (core.api.unexpected), answered bare
            context = {HTTP_REQUEST: http_request_context(request)}
            logger.exception("unhandled error on %s", action, extra=context)
            return problem_response(FnproxyError("an internal error occurred"), request.url.path)

    return Route(endpoint.path, serve, methods=[endpoint.method], name=endpoint.name)


def check_query(request: Request, declared: dict[str, QueryParam]) -> None:
    """Every query parameter against its declaration, before any work: `InvalidRequest`
    naming the first one the endpoint does not read (a misspelt filter must not silently
    answer everything) or whose value its schema does not admit."""
    for name, value in request.query_params.multi_items():
        param = declared.get(name)
        if param is None:
            allowed = ", ".join(sorted(declared)) or "none"
            raise InvalidRequest(f"unknown query parameter {name[:64]!r} (allowed: {allowed})")
        problem = param.refusal(value)
        if problem is not None:
            raise InvalidRequest(f"query parameter {name!r} {problem}")


async def _authenticate(request: Request, endpoint: Endpoint, services: Services) -> Principal:
    header = request.headers.get("authorization")
    if endpoint.scope == PUBLIC or (endpoint.scope == OPTIONAL_TOKEN and header is None):
        return ANONYMOUS
    principal = await services.auth.authenticate(header)
    request.state.principal = principal
    if endpoint.scope not in (AUTHENTICATED, OPTIONAL_TOKEN):
        require(principal, endpoint.scope)
    return principal


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    while True:  # the ASGI messages themselves: Starlette's stream() is an async generator
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


MAX_JSON_DEPTH = 128
"""How deep a request body may nest: well within what a record holding it can be written with
(orjson writes 254 levels, and reads 1024)."""


async def read_json(request: Request, limit: int) -> Any:
    raw = await read_body(request, limit)
    if not raw.strip():
        raise InvalidRequest("request body is empty; expected a JSON object")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise InvalidRequest(f"request body is not valid JSON: {error}") from None
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and too_deep(document):
        raise InvalidRequest(f"request body nests more than {MAX_JSON_DEPTH} levels deep")
    return document


def too_deep(document: Any, most: int = MAX_JSON_DEPTH) -> bool:
    """Whether `document` nests more than `most` arrays and objects deep (without recursion:
    the depth is what is in question)."""
    level = [document]
    for _ in range(most):
        level = [
            child
            for node in level
            if isinstance(node, dict | list)
            for child in (node.values() if isinstance(node, dict) else node)
        ]
        if not level:
            return False
    return any(isinstance(node, dict | list) for node in level)


async def parse_body(request: Request, model: type[BaseModel], limit: int) -> BaseModel:
    document = await read_json(request, limit)
    if not isinstance(document, dict):
        raise InvalidRequest("request body must be a JSON object")
    return model.model_validate(document)
