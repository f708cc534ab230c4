"""The OpenAPI 3.1 document, built from the route table on first request (the docs page
that renders it is core/api/docs.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic.json_schema import models_json_schema

from core import __version__
from core.api.endpoints import AUTHENTICATED, OPTIONAL_TOKEN, PUBLIC, Endpoint, Reply
from core.api.routes.providers import LISTABLE
from core.api.views import Problem
from core.blobs.links import MAX_TOKEN_LENGTH
from core.history.service import MAX_BUCKETS
from core.registry.aliases import ALIAS_PATTERN

REF_TEMPLATE = "#/components/schemas/{model}"
PATH_PARAM = re.compile(r"{(\w+)}")
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "version": {"type": "integer", "minimum": 1, "maximum": 2**53},
    "alias": {"type": "string", "pattern": ALIAS_PATTERN},
    "provider": {"type": "string", "enum": list(LISTABLE)},
    "token": {"type": "string", "maxLength": MAX_TOKEN_LENGTH},
}
"""Path parameters that are not plain strings."""
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-Id": {
        "description": "The request's id: the caller's own X-Request-Id when sane, else new",
        "required": True,
        "schema": {"type": "string"},
    },
    "X-Content-Type-Options": {
        "description": "Always nosniff",
        "required": True,
        "schema": {"type": "string", "const": "nosniff"},
    },
    "Cache-Control": {
        "description": "no-store on every answer to a request that carries an Authorization "
        "header, and on every token and client secret",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Whole seconds to wait before trying again (the rest of a limit's "
        "window, an open circuit's cool-down, or a backend's expected recovery)",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    },
    "WWW-Authenticate": {
        "description": 'Bearer realm="fnproxy"',
        "required": True,
        "schema": {"type": "string"},
    },
    "Location": {
        "description": "Where the created or accepted resource is read",
        "required": True,
        "schema": {"type": "string"},
    },
    "ETag": {
        "description": 'The session\'s version, quoted (e.g. "3"): send it back as If-Match',
        "required": True,
        "schema": {"type": "string"},
    },
    "Content-Type": {
        "description": "The content type the object was stored with",
        "required": True,
        "schema": {"type": "string"},
    },
    "Content-Disposition": {
        "description": "attachment: a browser saves the object, never shows it as a page",
        "required": True,
        "schema": {"type": "string", "const": "attachment"},
    },
    "Content-Security-Policy": {
        "description": "default-src 'none'; sandbox: nothing in the object runs as fnproxy's",
        "required": True,
        "schema": {"type": "string", "const": "default-src 'none'; sandbox"},
    },
    "Idempotent-Replayed": {
        "description": "true when the answer is the stored one of an earlier request with the "
        "same Idempotency-Key",
        "schema": {"type": "string", "const": "true"},
    },
}
"""Response headers (components/headers); the edge middleware adds the first three."""
EVERY_ANSWER = ("X-Request-Id", "X-Content-Type-Options", "Cache-Control")
EDGE_ANSWER = ("X-Content-Type-Options",)
"""The headers of an answer the server gives before the app (431)."""
STATUS_HEADERS = {
    "401": ("WWW-Authenticate",),
    "429": ("Retry-After",),
    "503": ("Retry-After",),
}
BACKEND_UNAVAILABLE = (
    "A backend is unavailable (store_unavailable, blobs_unavailable, or service_unavailable "
    "for the secrets, events or queue): retry after Retry-After"
)
MALFORMED = (
    "The request cannot be read: a body that is not JSON, not an object or nested more than "
    "128 levels deep, or a query parameter, header or path parameter that is unknown or not of "
    "its type (invalid_request)"
)
MALFORMED_NO_BODY = (
    "The request cannot be read: a query parameter, header or path parameter that is unknown "
    "or not of its type (invalid_request)"
)
FAILED_VALIDATION = (
    "The body is JSON but breaks the request schema (validation_failed, unknown_provider), "
    "each problem listed in `errors`"
)
TOO_LARGE = "The body is over MAX_REQUEST_BYTES (payload_too_large)"
HEAD_TOO_LARGE = (
    "The request head is over REST_MAX_HEADER_BYTES (header_too_large; the local server "
    "answers it before routing, so only nosniff comes with it)"
)
NO_SUCH_PAGE = "A cursor this listing did not give (cursor_not_found)"
STATUS_RULE = """
## Errors

Every error is RFC 9457 problem+json (the `Problem` schema), with a stable `code`.

- **400** the request cannot be read: the body is not JSON, not an object or nested more
  than 128 levels deep, or a query
  parameter, header or path parameter is unknown or not of its type. Unknown query parameters
  are refused, naming the parameter.
- **422** the body is JSON but breaks the request schema: `errors` lists each problem
  (`loc`, `msg`, `type`). A reused Idempotency-Key with another body is 422 too.
- **401** no token or a bad one; **403** a scope or policy is missing (`required_scope`).
- **429** and **503** carry `Retry-After`.

## Authentication

`POST /v1/auth/token` with client credentials (JSON, or the OAuth2 form with HTTP Basic or
form credentials) or the module key answers a bearer JWT. Scopes: `admin` (everything),
`read` (history, stats, registry and provider listings), `invoke` (any function) and
`invoke:<glob>` (functions whose key matches the glob, e.g. `invoke:local:*`).
"""
SCOPES = {
    "admin": "Everything, including clients and the registry",
    "read": "History, stats, the registry and provider listings",
    "invoke": "Invoke any function (invoke:<glob> narrows it to matching function keys)",
}
SECURITY_SCHEMES = {
    "oauth2": {
        "type": "oauth2",
        "description": "Client credentials: POST /v1/auth/token",
        "flows": {"clientCredentials": {"tokenUrl": "/v1/auth/token", "scopes": SCOPES}},
    },
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
}


BATCH_LISTS = ("BatchRequest", "GcpBatchRequest", "LambdaBatchRequest")
"""Request bodies whose `invocations` MAX_BATCH_SIZE bounds."""


def build_openapi(
    endpoints: Iterable[Endpoint],
    max_batch_size: int | None = None,
    https_callbacks: bool = False,
    stats_bucket_s: int | None = None,
) -> dict:
    """The document of `endpoints`, stating the deployment's own rules where it is given them:
    `max_batch_size` (MAX_BATCH_SIZE) as the batch bodies' `maxItems`, `https_callbacks`
    (the cloud platforms' egress policy) as the callback URLs' scheme, and `stats_bucket_s`
    (STATS_BUCKET_S) as what a stats series' `step` is a multiple of."""
    endpoints = list(endpoints)
    refs, schemas = _schemas(endpoints)
    for name in BATCH_LISTS:
        if max_batch_size is not None and name in schemas:
            schemas[name]["properties"]["invocations"]["maxItems"] = max_batch_size
    if https_callbacks:
        for schema in schemas.values():
            if "callback_url" in schema.get("properties", {}):
                _https_only(schema["properties"]["callback_url"])
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, refs)
    if stats_bucket_s is not None and SERIES_PATH in paths:
        _step_in_buckets(paths[SERIES_PATH]["get"], stats_bucket_s)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "fnproxy",
            "version": __version__,
            "description": "Invoke serverless functions on any cloud through one API.\n"
            + STATUS_RULE,
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "headers": HEADERS,
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


SERIES_PATH = "/v1/stats/series"


def _step_in_buckets(operation: dict, stats_bucket_s: int) -> None:
    """The series' `step` parameter narrowed to whole stats buckets."""
    for parameter in operation["parameters"]:
        if parameter["name"] == "step":
            parameter["schema"].update(
                minimum=stats_bucket_s,
                maximum=MAX_BUCKETS * stats_bucket_s,
                multipleOf=stats_bucket_s,
            )


def _https_only(schema: Any) -> None:
    """Every URL pattern within `schema` narrowed from http(s) to https."""
    if isinstance(schema, dict):
        if isinstance(schema.get("pattern"), str):
            schema["pattern"] = schema["pattern"].replace("^https?://", "^https://", 1)
        for value in schema.values():
            _https_only(value)
    elif isinstance(schema, list):
        for item in schema:
            _https_only(item)


def _schemas(endpoints: list[Endpoint]) -> tuple[dict[Any, Any], dict[str, Any]]:
    models = {Problem}
    for endpoint in endpoints:
        models |= {endpoint.body, endpoint.response}
        models |= {reply.model for reply in endpoint.replies.values()}
    models.discard(None)
    ordered = sorted(models, key=lambda m: (m.__name__, m.__module__))
    modes = {
        model: "serialization" if model in _answers(endpoints) else "validation"
        for model in ordered
    }
    keyed, schemas = models_json_schema(
        [(model, modes[model]) for model in ordered], ref_template=REF_TEMPLATE
    )
    refs = {model: keyed[(model, modes[model])] for model in ordered}
    return refs, schemas.get("$defs", {})


def _answers(endpoints: list[Endpoint]) -> set[Any]:
    answers = {Problem} | {e.response for e in endpoints}
    return answers | {reply.model for e in endpoints for reply in e.replies.values()}


def _operation(endpoint: Endpoint, refs: dict[Any, Any]) -> dict[str, Any]:
    responses = _responses(endpoint, refs)
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "operationId": endpoint.name,
        "parameters": _parameters(endpoint),
        "responses": responses,
    }
    security = _security(endpoint)
    if security:
        operation["security"] = security
        operation["description"] = _scope_note(endpoint)
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[endpoint.body]}},
        }
    return operation


def _responses(endpoint: Endpoint, refs: dict[Any, Any]) -> dict[str, Any]:
    main = Reply(
        "OK" if endpoint.status < 300 else "Done",
        endpoint.response,
        endpoint.response_headers,
        endpoint.raw_response,
        endpoint.raw_media_type,
    )
    answers = {endpoint.status: main, **endpoint.replies}
    responses = {str(status): _reply(reply, refs) for status, reply in answers.items()}
    for status, description in _problems(endpoint).items():
        responses.setdefault(str(status), _problem(status, description, refs))
    return dict(sorted(responses.items()))


def _reply(reply: Reply, refs: dict[Any, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": reply.description}
    if reply.model is not None:
        answer["content"] = {"application/json": {"schema": refs[reply.model]}}
    elif reply.raw and reply.media_type:
        text = {"schema": {"type": "string", "description": reply.raw}}
        answer["content"] = {reply.media_type: text}
    elif reply.raw:  # any type; octet-stream named too, for generators that need one
        raw = {"schema": {"type": "string", "format": "binary", "description": reply.raw}}
        answer["content"] = {"*/*": raw, "application/octet-stream": raw}
    answer["headers"] = _headers(EVERY_ANSWER + reply.headers)
    return answer


def _problem(status: int, description: str, refs: dict[Any, Any]) -> dict[str, Any]:
    names = EDGE_ANSWER if status == 431 else EVERY_ANSWER + STATUS_HEADERS.get(str(status), ())
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": refs[Problem]}},
        "headers": _headers(names),
    }


def _headers(names: tuple[str, ...]) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _problems(endpoint: Endpoint) -> dict[int, str]:
    """Every problem the endpoint can answer: those of its kind, then its own."""
    problems: dict[int, str] = {503: BACKEND_UNAVAILABLE}
    if endpoint.body is not None and endpoint.invalid_body_status == 422:
        problems |= {400: MALFORMED, 413: TOO_LARGE, 422: FAILED_VALIDATION}
    elif endpoint.body is not None:
        problems |= {400: f"{MALFORMED}; or: {FAILED_VALIDATION}", 413: TOO_LARGE}
    elif endpoint.query or endpoint.headers or PATH_PARAM.search(endpoint.path):
        problems[400] = MALFORMED_NO_BODY
    if endpoint.scope == OPTIONAL_TOKEN:
        problems[401] = "Invalid token (a token is optional)"
    elif endpoint.scope != PUBLIC:
        problems[401] = "Missing or invalid token"
    problems[431] = HEAD_TOO_LARGE
    own = dict(endpoint.extra_responses)
    if any(param.name == "cursor" for param in endpoint.query):
        own[404] = f"{own[404]}; or: {NO_SUCH_PAGE}" if 404 in own else NO_SUCH_PAGE
    if endpoint.scope not in (PUBLIC, OPTIONAL_TOKEN, AUTHENTICATED):
        refused = own.pop(403, None)  # the route's own 403, besides the scope
        problems[403] = "Missing scope (required_scope)" + (f"; or: {refused}" if refused else "")
    return problems | own


def _security(endpoint: Endpoint) -> list[dict[str, list[str]]]:
    if endpoint.scope == PUBLIC:
        return []
    scopes = [] if endpoint.scope in (AUTHENTICATED, OPTIONAL_TOKEN) else [endpoint.scope]
    required = [{"oauth2": scopes}, {"bearer": []}]
    return [{}, *required] if endpoint.scope == OPTIONAL_TOKEN else required


def _scope_note(endpoint: Endpoint) -> str:
    if endpoint.scope == OPTIONAL_TOKEN:
        return "A token is optional; an invalid one is refused."
    if endpoint.scope == AUTHENTICATED:
        return "Needs a valid token; what it may reach is checked on the resource."
    implied = "" if endpoint.scope == "admin" else " (or `admin`)"
    return f"Needs the `{endpoint.scope}` scope{implied}."


def _parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": PATH_PARAMETERS.get(name, {"type": "string"}),
        }
        for name in PATH_PARAM.findall(endpoint.path)
    ]
    parameters += [
        {
            "name": q.name,
            "in": "query",
            "required": False,
            "description": q.description,
            "schema": q.schema(),
        }
        for q in endpoint.query
    ]
    parameters += [
        {
            "name": h.name,
            "in": "header",
            "required": h.required,
            "description": h.description,
            "schema": h.schema(),
        }
        for h in endpoint.headers
    ]
    return parameters
