"""The Lambda Invoke API (botocore's `lambda` service, 2015-03-31) under `/lambda-api`, in front of
the function registry: `boto3.client("lambda", endpoint_url=<fnproxy>/lambda-api)` and
`aws lambda --endpoint-url` work unchanged, whichever provider runs the function behind a name.

A path prefix, not a host name of its own: one deployment (one API Gateway stage, one Cloud
Run URL, the local server) serves it without a DNS name or certificate per front, and the AWS
SDKs keep an endpoint URL's path in front of every operation's (and in what they sign).

- Invoke, GetFunction, ListFunctions and ListVersionsByFunction, answered from the registry;
  every invocation is an ordinary one (`RegistryService.invoke`: policy, history, stats, events,
  egress, durability).
- FunctionName: a registry name, `name:qualifier`, or an ARN (full or partial) whose function
  part is a registry name. Qualifier: a version number, an alias the registry defines
  (core.registry.aliases), or `$LATEST` for what an unqualified call runs (the active version,
  or the canary by its weight); X-Amz-Executed-Version is the number that ran.
- Authentication: SigV4 (core.auth.sigv4); the access key id is a client id, the secret access
  key the client's SigV4 secret. The client's scopes and each function's policy apply as on
  `/v1`; GetFunction and the listings need `read`, as the registry's own reads do.
- Errors: Lambda's JSON shapes, with `x-amzn-ErrorType`, so boto3 raises its modelled exceptions.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import orjson
from starlette.requests import Request
from starlette.responses import Response

from core.api.compat.lambda_module import DEFAULT_LIST_ITEMS, MAX_LIST_ITEMS, payload_text
from core.api.endpoints import Call, QueryParam, source_address, whole_number
from core.api.fronts import Front, FrontRoute, json_body
from core.api.problems import retry_after
from core.api.routes.invoke import unreached
from core.auth.principal import Principal
from core.auth.scopes import require
from core.auth.sigv4 import SignedRequest
from core.auth.throttle import TooManyFailures
from core.errors import (
    FnproxyError,
    Forbidden,
    InvalidRequest,
    NotFound,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from core.invoke.service import Invocation
from core.models import Execution, FunctionVersion, Mode, RegisteredFunction
from core.providers.base import MAX_CLIENT_CONTEXT_LENGTH
from core.registry.service import MAX_VERSION, NAME_PATTERN, NamedInvocation

if TYPE_CHECKING:
    from core.wiring import Services

PREFIX = "/lambda-api"
FUNCTIONS = f"{PREFIX}/2015-03-31/functions"
SERVICE = "lambda"
ACCOUNT_ID = "000000000000"
"""fnproxy has no AWS account of its own: the ARNs it answers carry twelve zeros."""
LATEST = "$LATEST"
LOG_TAIL_BYTES = 4096
CLIENT_CONTEXT_PARTS = ("client", "custom", "env")
MAX_REGISTRY_PAGE = 500
"""The most functions one registry listing returns: a larger MaxItems is answered with this
many and a NextMarker, as ListFunctions may."""
MAX_VERSIONS_PAGE = 50
"""Lambda's own bound on a ListVersionsByFunction page, whatever MaxItems asks."""
VERSIONS_LOOKED_UP_PER_PAGE = 200
MODES = {"RequestResponse": Mode.SYNC, "Event": Mode.ASYNC, "DryRun": Mode.DRY_RUN}
QUALIFIER_PATTERN = r"^(\$LATEST|[A-Za-z0-9_-]{1,128})$"

LAMBDA_ERRORS: dict[str, tuple[str, int]] = {
    "function_not_found": ("ResourceNotFoundException", 404),
    "not_found": ("ResourceNotFoundException", 404),
    "unknown_operation": ("UnknownOperationException", 404),
    "rate_limited": ("TooManyRequestsException", 429),
    "too_many_requests": ("TooManyRequestsException", 429),
    "payload_too_large": ("RequestTooLargeException", 413),
    "invalid_request_content": ("InvalidRequestContentException", 400),
    "invalid_request": ("InvalidParameterValueException", 400),
    "validation_failed": ("InvalidParameterValueException", 400),
    "cursor_not_found": ("InvalidParameterValueException", 400),
    "function_disabled": ("ResourceConflictException", 409),
    "forbidden": ("AccessDeniedException", 403),
    "egress_denied": ("AccessDeniedException", 403),
    "missing_authentication_token": ("MissingAuthenticationTokenException", 403),
    "incomplete_signature": ("IncompleteSignatureException", 403),
    "invalid_signature": ("InvalidSignatureException", 403),
    "unknown_signer": ("UnrecognizedClientException", 403),
}
"""fnproxy's problem codes as Lambda's error types and statuses (any other: `other_error`)."""
CAPITALISED_MESSAGE = frozenset({"ResourceNotFoundException", "ServiceException"})
"""The shapes whose message member is `Message` (the others' is `message`)."""
CALLER_THROTTLED = "CallerRateLimitExceeded"
"""The Reason of a caller whose failed signatures are throttled (core.auth.throttle)."""
THROTTLE_REASONS = {
    "rate_limited": "FunctionInvocationRateLimitExceeded",
    "too_many_requests": "ConcurrentInvocationLimitExceeded",
}


class InvalidRequestContent(InvalidRequest):
    code = "invalid_request_content"


def lambda_error(error: FnproxyError, request: Request) -> Response:
    """`error` in Lambda's shape: its type in the body and in `x-amzn-ErrorType`."""
    kind, status = LAMBDA_ERRORS.get(error.code) or other_error(error.status)
    message_member = "Message" if kind in CAPITALISED_MESSAGE else "message"
    body: dict[str, Any] = {
        "Type": "User" if status < 500 else "Service",
        message_member: error.detail,
    }
    headers = {"x-amzn-ErrorType": kind, "x-amzn-RequestId": request_id(request)}
    if kind == "TooManyRequestsException":
        body["Reason"] = (
            CALLER_THROTTLED if isinstance(error, TooManyFailures) else THROTTLE_REASONS[error.code]
        )
        headers["Retry-After"] = retry_after(error) or "1"  # Lambda always names a wait
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def other_error(status: int) -> tuple[str, int]:
    """A problem Lambda has no type of its own for: the service's (5xx, its status kept), or
    a parameter the caller got wrong."""
    return (
        ("ServiceException", status) if status >= 500 else ("InvalidParameterValueException", 400)
    )


def request_id(request: Request) -> str:
    return request.state.request_id


async def authenticate(request: Request, body: bytes, services: Services) -> Principal:
    signed = SignedRequest(
        request.method, path_as_sent(request), request.url.query, request.headers.getlist, body
    )
    source = source_address(request)
    return await services.auth.authenticate_sigv4(signed, SERVICE, source=source)


def path_as_sent(request: Request) -> str:
    """The path the client signed: the server's raw path (uvicorn's); under API Gateway
    (Mangum, which has none and takes API_GATEWAY_BASE_PATH off the path), the event's own
    path with the stage or base path in front, encoded as the AWS SDKs encode it."""
    raw = request.scope.get("raw_path")
    if raw:
        return raw.decode("latin-1")
    event = request.scope.get("aws.event") or {}
    sent = event.get("rawPath") or (event.get("requestContext") or {}).get("path")
    return quote(unquote(sent or request.url.path), safe="/~")


# --- names and qualifiers --------------------------------------------------------------------


Pin = int | str | None
"""What a qualifier names: a version number, an alias, or (None) what an unqualified call runs."""


def function_and_pin(function_name: str, qualifier: str | None) -> tuple[str, Pin]:
    """The registry name and the version or alias that a FunctionName (name, name:qualifier,
    an ARN) and a Qualifier parameter stand for."""
    name, _, named = function_name.rpartition(":function:")[2].partition(":")
    if named and qualifier and named != qualifier:
        raise InvalidRequest(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidRequest(f"FunctionName {function_name[:140]!r} names no registry function")
    return name, pin_of(name, named or qualifier)


def pin_of(name: str, qualifier: str | None) -> Pin:
    if qualifier is None or qualifier == LATEST:
        return None
    if not (qualifier.isascii() and qualifier.isdigit()):
        return qualifier  # an alias, or none the function has (ResourceNotFoundException)
    if len(qualifier) <= 19 and int(qualifier):
        return int(qualifier)
    raise NotFound(f"Function not found: {arn(name, qualifier)}")


def named_invocation(pin: Pin, **fields: Any) -> NamedInvocation:
    if isinstance(pin, str):
        return NamedInvocation(alias=pin, **fields)
    return NamedInvocation(version=pin, **fields)


def arn(name: str, qualifier: str | int | None = None, region: str = "") -> str:
    suffix = f":{qualifier}" if qualifier is not None else ""
    return f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}{suffix}"


# --- Invoke ----------------------------------------------------------------------------------


async def invoke(call: Call) -> Response:
    name, pin = function_and_pin(call.path("FunctionName"), call.query("Qualifier"))
    mode = MODES.get(call.request.headers.get("x-amz-invocation-type", "RequestResponse"))
    if mode is None:
        raise InvalidRequest(f"X-Amz-Invocation-Type must be one of {', '.join(MODES)}")
    tail = log_type(call.request.headers.get("x-amz-log-type"))
    context = client_context(call.request.headers.get("x-amz-client-context"))
    event = json_body(call.body, InvalidRequestContent)
    request = named_invocation(pin, payload=event, mode=mode, client_context=context)
    invocation = await call.services.registry.invoke(name, request, call.principal)
    return invoke_answer(invocation, tail, request_id(call.request))


def log_type(value: str | None) -> bool:
    """Whether the log tail is asked for (`Tail`); `None` or no header: it is not."""
    if value not in (None, "None", "Tail"):
        raise InvalidRequest("X-Amz-Log-Type must be None or Tail")
    return value == "Tail"


def client_context(value: str | None) -> dict[str, Any] | None:
    """X-Amz-Client-Context as Lambda takes it, decoded: base64 of a JSON object, bounded,
    whose `client`, `custom` and `env` (what a Lambda runtime reads) are objects."""
    if value is None:
        return None
    try:
        if len(value) > MAX_CLIENT_CONTEXT_LENGTH:
            raise ValueError
        context = orjson.loads(base64.b64decode(value, validate=True))
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        context = None
    if not isinstance(context, dict) or not all(
        isinstance(context.get(part, {}), dict) for part in CLIENT_CONTEXT_PARTS
    ):
        raise InvalidRequestContent(
            f"Client context must be a valid Base64-encoded JSON object of at most "
            f"{MAX_CLIENT_CONTEXT_LENGTH} characters, its client, custom and env objects"
        )
    return context


def invoke_answer(invocation: Invocation, tail: bool, request_id: str) -> Response:
    """Lambda's answer: 202 for an Event, 204 for a DryRun, else 200 with the result, or
    with Lambda's error body and `X-Amz-Function-Error` when the function failed or timed
    out. Unreached, the call is Lambda's own failure (ServiceException)."""
    execution = invocation.execution
    headers = {"x-amzn-RequestId": request_id}
    if execution.mode == Mode.ASYNC:
        return Response(status_code=202, headers=headers)
    problem = unreached(execution)
    if problem is not None and not isinstance(problem, UpstreamTimeout):
        raise problem
    if execution.mode == Mode.DRY_RUN:
        if not execution.success:
            raise dry_run_refusal(execution)
        return Response(status_code=204, headers=headers)
    headers["X-Amz-Executed-Version"] = str(execution.function_version)
    if tail:
        headers["X-Amz-Log-Result"] = log_tail(invocation.logs or "")
    if execution.success:
        return Response(payload_text(invocation), 200, headers, media_type="application/json")
    headers["X-Amz-Function-Error"] = "Unhandled"
    body = orjson.dumps(function_error(execution.error or {}, problem))
    return Response(body, 200, headers, media_type="application/json")


def dry_run_refusal(execution: Execution) -> FnproxyError:
    """Why the platform said the call would fail: not found and forbidden as Lambda says them,
    anything else as the platform's failure."""
    message = (execution.error or {}).get("message") or "the dry run failed"
    refusal = {403: Forbidden, 404: NotFound}.get(execution.status_code, UpstreamUnavailable)
    return refusal(message, execution_id=execution.execution_id)


def function_error(error: dict[str, Any], timeout: FnproxyError | None) -> dict[str, Any]:
    """Lambda's error payload: the function's error type and message (a timeout is Lambda's
    `Sandbox.Timedout`)."""
    if timeout is not None:
        return {"errorType": "Sandbox.Timedout", "errorMessage": timeout.detail}
    return {
        "errorType": error.get("type") or "Error",
        "errorMessage": error.get("message") or "the function failed",
    }


def log_tail(logs: str) -> str:
    """The last 4 KB of the logs, base64 (cut at a character boundary)."""
    tail = logs.encode()[-LOG_TAIL_BYTES:].decode(errors="ignore")
    return base64.b64encode(tail.encode()).decode("ascii")


# --- GetFunction and the listings ------------------------------------------------------------


def configuration(
    function: RegisteredFunction, version: FunctionVersion, region: str, label: str | None = None
) -> dict[str, Any]:
    """A version as Lambda's FunctionConfiguration (what the registry knows of it), under its
    number or `label` (`$LATEST`)."""
    label = label or str(version.version)
    return {
        "FunctionName": function.name,
        "FunctionArn": arn(function.name, label, region),
        "Description": function.description,
        "Version": label,
        "LastModified": lambda_time(version.created_at),
        "RevisionId": str(function.revision),
        "State": "Active" if function.enabled else "Inactive",
    }


def lambda_time(epoch_s: float) -> str:
    """Lambda's LastModified: `2024-01-31T12:00:00.000+0000`."""
    moment = datetime.fromtimestamp(epoch_s, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


async def get_function(call: Call) -> Response:
    require(call.principal, "read")
    name, pin = function_and_pin(call.path("FunctionName"), call.query("Qualifier"))
    registry = call.services.registry
    function = await registry.get(name)
    pinned = registry.pinned_version(function, named_invocation(pin))
    version = await registry.version(name, pinned or function.active_version)
    region = call.services.settings.aws_region
    return json_answer({"Configuration": configuration(function, version, region)}, call)


async def list_functions(call: Call) -> Response:
    require(call.principal, "read")
    registry = call.services.registry
    page = await registry.list(page_size(call), call.query("Marker"))
    region = call.services.settings.aws_region
    actives = await asyncio.gather(
        *(registry.version(function.name, function.active_version) for function in page.items)
    )
    functions = [
        configuration(function, version, region)
        for function, version in zip(page.items, actives, strict=True)
    ]
    return json_answer(listing("Functions", functions, page.next_cursor), call)


async def list_versions(call: Call) -> Response:
    """Lambda's order: `$LATEST` (the active version) first, then the versions oldest first.
    Numbers are never reused, so the versions are among 1..latest_version: a page reads them
    by number from its Marker, at most VERSIONS_LOOKED_UP_PER_PAGE of them (a page that meets
    many deleted ones ends early, with a NextMarker)."""
    require(call.principal, "read")
    name, _ = function_and_pin(call.path("FunctionName"), None)
    registry = call.services.registry
    function = await registry.get(name)
    region = call.services.settings.aws_region
    start = version_marker(call.query("Marker"))
    limit = min(page_size(call), MAX_VERSIONS_PAGE)
    listed = []
    if start == 1:
        active = await registry.version(name, function.active_version)
        listed.append(configuration(function, active, region, LATEST))
    number, end = start, min(function.latest_version + 1, start + VERSIONS_LOOKED_UP_PER_PAGE)
    while len(listed) < limit and number < end:
        numbers = range(number, min(end, number + limit - len(listed)))
        found = await registry.existing_versions(name, numbers)
        listed += [configuration(function, version, region) for version in found]
        number = numbers.stop
    marker = str(number) if number <= function.latest_version else None
    return json_answer(listing("Versions", listed, marker), call)


def version_marker(marker: str | None) -> int:
    """The version number a ListVersionsByFunction page starts from (its Marker)."""
    if marker is None:
        return 1
    return whole_number(marker, "Marker", 1, MAX_VERSION)


def page_size(call: Call) -> int:
    return min(call.int_query("MaxItems", DEFAULT_LIST_ITEMS, 1, MAX_LIST_ITEMS), MAX_REGISTRY_PAGE)


def listing(member: str, items: list[dict[str, Any]], marker: str | None) -> dict[str, Any]:
    return {member: items} | ({"NextMarker": marker} if marker else {})


def json_answer(body: dict[str, Any], call: Call) -> Response:
    headers = {"x-amzn-RequestId": request_id(call.request)}
    return Response(orjson.dumps(body), 200, headers, media_type="application/json")


QUALIFIER = QueryParam(
    "Qualifier", "a version number, an alias or $LATEST", max_length=128, pattern=QUALIFIER_PATTERN
)
PAGING = (
    QueryParam("Marker", "NextMarker of the previous page", max_length=1024),
    QueryParam(
        "MaxItems", f"page size (1-{MAX_LIST_ITEMS})", "integer", minimum=1, maximum=MAX_LIST_ITEMS
    ),
)

FRONT = Front(
    routes=(
        FrontRoute("POST", f"{FUNCTIONS}/{{FunctionName}}/invocations", invoke, (QUALIFIER,)),
        FrontRoute("GET", f"{FUNCTIONS}/{{FunctionName}}", get_function, (QUALIFIER,)),
        FrontRoute("GET", f"{FUNCTIONS}/{{FunctionName}}/versions", list_versions, PAGING),
        FrontRoute("GET", FUNCTIONS, list_functions, PAGING),
        FrontRoute("GET", f"{FUNCTIONS}/", list_functions, PAGING),
    ),
    authenticate=authenticate,
    error_response=lambda_error,
    prefix=PREFIX,
)
