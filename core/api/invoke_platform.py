"""The Invoke platform's public invocation contract, `GET` and `POST /invoke/{name}`, in front
of the function registry: callers of `curl http://host/invoke/ID?name=John` (with or without
`X-API-Key`) keep their calls, with fnproxy's host and the function's registry name.

- Exposure: a function answers here only when its policy opts in, `public_invoke: "open"` (to
  anyone) or `"api_key"` (to holders of one of its keys, core.auth.api_keys). Without it the
  route answers 404, exactly as for a name no function has, so names cannot be probed: the
  registry's functions are private to /v1 clients by default, and a public URL is the owner's
  explicit choice.
- The event (the function's payload) is the platform's request object: `method`, `body` (the
  JSON body; `{}` when empty), `query` (a parameter given twice is a list), `headers` (lower
  case, without credentials: X-API-Key, Authorization, Cookie, Proxy-Authorization, nor
  hop-by-hop ones), `params.functionId`, `url` (path and query) and `ip` (the source address).
- The answer: the result as JSON, 200; or, for a result of the proxy shape `{"statusCode": N,
  "headers": {...}, "body": ...}` (no other members), that status (200-599), those headers
  (RESULT_HEADERS, or `x-*` but fnproxy's own) and that body (a string as text, anything
  else as JSON). A function that failed is 502 `{"error": <its message>, "execution_id": ...}`;
  one unreachable or timed out, 502/503/504 likewise (with a generic message: the detail may
  name the target); a result of the proxy shape that breaks its rules, 502.
- Every call is an ordinary invocation (`RegistryService.invoke`: history, stats, events,
  egress, durability, and the policy: its callers, timeout, retries and rate limit). The caller
  is `api_key:<key id>`, or `public:<source address>` for an open function, so the policy's
  rate limit counts per key, or per address (429 with Retry-After).
- Errors: `{"error": ...}`: 401 for a missing, wrong or revoked key (one answer for all),
  404, 429 (Retry-After; also for an address with too many wrong keys, core.auth.throttle).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from core.api.endpoints import Call, source_address
from core.api.fronts import Front, FrontRoute, json_answer, json_body
from core.api.problems import retry_after_header
from core.api.routes.invoke import unreached
from core.auth.principal import Principal
from core.auth.scopes import INVOKE_PREFIX
from core.errors import FnproxyError, FunctionNotFound, InvalidRequest, UpstreamUnavailable
from core.models import RegisteredFunction
from core.registry.policy import FunctionPolicy
from core.registry.service import NAME_PATTERN, NamedInvocation
from core.targets import HOP_BY_HOP_HEADERS

if TYPE_CHECKING:
    from core.invoke.service import Invocation
    from core.wiring import Services

PREFIX = "/invoke"
OPEN = "open"
API_KEY = "api_key"
PUBLIC_SUBJECT = "public"
API_KEY_SUBJECT = "api_key"
CREDENTIAL_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie"})
WITHHELD_HEADERS = HOP_BY_HOP_HEADERS | CREDENTIAL_HEADERS
"""Request headers the function never sees: credentials, and hop-by-hop ones."""
RESULT_HEADERS = frozenset(
    {
        "content-type",
        "content-language",
        "content-disposition",
        "cache-control",
        "etag",
        "expires",
        "last-modified",
        "location",
        "vary",
    }
)
"""Response headers a proxy-shaped result may set, besides `x-*` ones."""
OWN_HEADERS = frozenset({"x-request-id", "x-content-type-options"})
"""`x-*` headers fnproxy sets on every answer, which a result may not."""
PROXY_MEMBERS = frozenset({"statusCode", "headers", "body"})
HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}")
HEADER_VALUE = re.compile(r"[\x20-\x7e\t]{0,4096}")
MIN_STATUS, MAX_STATUS = 200, 599


class NotExposed(FunctionNotFound):
    """The one answer for a name no function has and for a function not exposed here."""


class BadFunctionAnswer(UpstreamUnavailable):
    """A proxy-shaped result that breaks its rules: the function's fault, answered 502."""

    status, code, title = 502, "bad_function_answer", "Bad function answer"


def invoke_error(error: FnproxyError, request: Request) -> Response:
    """`{"error": ...}` with the error's status (and Retry-After when there is a wait)."""
    return json_answer({"error": error.detail}, error.status, retry_after_header(error))


async def authenticate(request: Request, body: bytes, services: Services) -> Principal:
    """The caller: the key it sends, for a function that wants one; anyone at its address
    for an open function. The function read is kept on the request for its invocation."""
    function, exposure = await exposed_function(services, request.path_params["name"])
    request.state.function = function
    source = source_address(request)
    if exposure == API_KEY:
        presented = request.headers.get("x-api-key")
        key = await services.api_keys.authenticate(function, presented, source=source)
        subject = f"{API_KEY_SUBJECT}:{key.key_id}"
    else:
        subject = f"{PUBLIC_SUBJECT}:{source}"
    return Principal(subject, frozenset({INVOKE_PREFIX + function.name}), token_id=exposure)


async def exposed_function(services: Services, name: str) -> tuple[RegisteredFunction, str]:
    """The function of `name` and how its policy exposes it (`OPEN` or `API_KEY`); one
    `NotExposed` for a name no function has and for a function not exposed."""
    not_exposed = NotExposed(f"no function {name[:140]!r} is exposed on {PREFIX}")
    if not NAME_PATTERN.fullmatch(name):
        raise not_exposed
    try:
        function = await services.registry.get(name)
    except FunctionNotFound:
        raise not_exposed from None
    exposure = FunctionPolicy.model_validate(function.policy).public_invoke
    if exposure not in (OPEN, API_KEY):
        raise not_exposed
    return function, exposure


# --- the event -------------------------------------------------------------------------------


def request_event(call: Call) -> dict[str, Any]:
    """The platform's request object, as the function's payload."""
    request = call.request
    query = request.url.query
    return {
        "method": request.method,
        "body": json_body(call.body, InvalidRequest),
        "query": query_of(request),
        "headers": forwarded_headers(request),
        "params": {"functionId": call.path("name")},
        "url": request.url.path + (f"?{query}" if query else ""),
        "ip": source_address(request),
    }


def query_of(request: Request) -> dict[str, str | list[str]]:
    """The query parameters; one given more than once is the list of its values."""
    query: dict[str, str | list[str]] = {}
    for name, value in request.query_params.multi_items():
        held = query.get(name)
        if held is None:
            query[name] = value
        else:
            query[name] = [*held, value] if isinstance(held, list) else [held, value]
    return query


def forwarded_headers(request: Request) -> dict[str, str]:
    """The request headers the function sees (repeated ones joined with `, `)."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        if name not in WITHHELD_HEADERS:
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


# --- the answer ------------------------------------------------------------------------------


async def invoke_function(call: Call) -> Response:
    request = NamedInvocation(payload=request_event(call))
    function = call.request.state.function  # read by `authenticate`
    invocation = await call.services.registry.invoke_function(function, request, call.principal)
    return function_answer(invocation)


def function_answer(invocation: Invocation) -> Response:
    execution = invocation.execution
    problem = unreached(execution)
    if problem is not None:  # its title only: the detail may name the function's target
        body = {"error": problem.title, "execution_id": execution.execution_id}
        return json_answer(body, problem.status, retry_after_header(problem))
    if not execution.success:
        message = (execution.error or {}).get("message") or "the function failed"
        return json_answer({"error": message, "execution_id": execution.execution_id}, 502)
    result = invocation.result
    if isinstance(result, dict) and "statusCode" in result and result.keys() <= PROXY_MEMBERS:
        return proxy_answer(result)
    return json_answer(result)


def proxy_answer(result: dict[str, Any]) -> Response:
    """The answer a proxy-shaped result describes, within RESULT_HEADERS and 200-599."""
    status = result["statusCode"]
    if type(status) is not int or not MIN_STATUS <= status <= MAX_STATUS:
        raise BadFunctionAnswer(
            f"the function's statusCode must be a whole number from {MIN_STATUS} to {MAX_STATUS}"
        )
    headers = result_headers(result.get("headers") or {})
    body = result.get("body")
    if isinstance(body, str):
        headers.setdefault("content-type", "text/plain; charset=utf-8")
        content = body.encode()
    else:
        headers.setdefault("content-type", "application/json")
        content = b"" if body is None else orjson.dumps(body)
    return Response(content, status, headers)


def result_headers(headers: Any) -> dict[str, str]:
    """A result's headers, lower case; BadFunctionAnswer naming the first one not allowed."""
    if not isinstance(headers, dict):
        raise BadFunctionAnswer("the function's headers must be an object of strings")
    allowed: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if not (lower in RESULT_HEADERS or lower.startswith("x-")) or lower in OWN_HEADERS:
            raise BadFunctionAnswer(f"the function may not set the header {name[:128]!r}")
        if not (HEADER_NAME.fullmatch(name) and isinstance(value, str)):
            raise BadFunctionAnswer(f"the function's header {name[:128]!r} is malformed")
        if not HEADER_VALUE.fullmatch(value):
            raise BadFunctionAnswer(f"the function's header {name!r} has a malformed value")
        allowed[lower] = value
    return allowed


FRONT = Front(
    routes=(
        FrontRoute("GET", f"{PREFIX}/{{name}}", invoke_function, any_query=True),
        FrontRoute("POST", f"{PREFIX}/{{name}}", invoke_function, any_query=True),
    ),
    authenticate=authenticate,
    error_response=invoke_error,
)
