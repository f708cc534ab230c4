"""The OpenWhisk REST API (`/api/v1`) under `/openwhisk-api`, in front of the function registry:
the npm `openwhisk` client given `apihost: "<fnproxy>/openwhisk-api"` (it resolves every
operation's path relative to `<apihost>/api/v1/`, so a path in apihost is kept) and `wsk` work
unchanged, whichever provider runs the function behind a name.

- Actions are registry functions. Namespace `_` holds every function the caller may see, under
  its own name; any other namespace `ns` holds the functions named `ns.<action>` (registry names
  have no `/`, so `.` separates). Packages (`actions/pkg/name`) are not modelled.
- Invoke: an ordinary invocation (`RegistryService.invoke`: policy, history, stats, events,
  egress, durability). Non-blocking, it is queued and answered 202 with its `activationId`.
  The activation id is the execution's id, so `activations.get` reads the execution from
  history (404 until it has ended, as OpenWhisk answers). `blocking=true` waits `timeout` ms
  (default and most 60 s) for the outcome: a function whose time limit ends it within the
  wait runs now (a run past its limit is OpenWhisk's "developer error", 502); any other is
  queued, since on Lambda or Cloud Run nothing runs after a response, and read back until the
  wait is over. One that outlives the wait (or that its provider left running: OpenWhisk's own
  202) is 202 with its `activationId` and goes on; an action that failed is 502 with its
  activation.
- A trigger fires the function of its name, queued, as OpenWhisk answers it: 202 with an
  activation id (fnproxy has no rules: the trigger is the function).
- Authentication: `Authorization: Basic base64(client_id:client_secret)`, checked and throttled
  as the token grant checks a client; scopes and each function's policy apply as on `/v1`.
- Errors: OpenWhisk's `{"error": ..., "code": <request id>}`.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from core.api.endpoints import Call, QueryParam, source_address
from core.api.fronts import Front, FrontRoute, json_answer, json_body
from core.api.problems import retry_after_header
from core.api.routes.invoke import unreached
from core.auth.basic import basic_credentials
from core.auth.clients import INVALID_CREDENTIALS
from core.auth.principal import Principal
from core.auth.scopes import READ, require
from core.errors import FnproxyError, InvalidRequest, NotFound, Unauthorized, UpstreamTimeout
from core.invoke.service import Invocation
from core.models import Execution, Mode, Status
from core.registry.policy import FunctionPolicy
from core.registry.service import NAME_PATTERN, NamedInvocation

if TYPE_CHECKING:
    from core.models import RegisteredFunction
    from core.wiring import Services

PREFIX = "/openwhisk-api"
NAMESPACE = f"{PREFIX}/api/v1/namespaces/{{namespace}}"
DEFAULT_NAMESPACE = "_"
NAMESPACE_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,127}")
MAX_CLIENT_ID_LENGTH = 128
MAX_CLIENT_SECRET_LENGTH = 256
"""The token route's bounds on client credentials."""
ACTIVATION_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
"""An execution id (core.models.new_id), which is also the form of OpenWhisk's activation ids."""
DEFAULT_LIST_LIMIT = 30
MAX_LIST_LIMIT = 200
MAX_LIST_SKIP = 10_000
REGISTRY_PAGE = 500
MAX_WAIT_MS = 60_000
"""OpenWhisk's longest blocking wait, and its default."""
FIRST_POLL_S = 0.05
LAST_POLL_S = 1.0
"""How often a blocking wait reads a queued run back: from the first pause, doubling, to this."""


def openwhisk_error(error: FnproxyError, request: Request) -> Response:
    """`error` in OpenWhisk's shape; `code` is the request's id, as OpenWhisk's transaction id."""
    body = {"error": error.detail, "code": request.state.request_id}
    headers = retry_after_header(error)
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="fnproxy"'
    return json_answer(body, error.status, headers)


async def authenticate(request: Request, body: bytes, services: Services) -> Principal:
    client_id, client_secret = client_credentials(request.headers.get("authorization"))
    source = source_address(request)
    return await services.auth.authenticate_client(client_id, client_secret, source=source)


def client_credentials(header: str | None) -> tuple[str, str]:
    """The client id and secret of the Basic header, within the token route's bounds."""
    credentials = basic_credentials(header)
    if credentials is None:
        raise Unauthorized("Basic authentication with client_id:client_secret is required")
    client_id, secret = credentials
    if len(client_id) > MAX_CLIENT_ID_LENGTH or len(secret) > MAX_CLIENT_SECRET_LENGTH:
        raise Unauthorized(INVALID_CREDENTIALS)
    return client_id, secret


# --- names -----------------------------------------------------------------------------------


def namespace_of(call: Call) -> str:
    namespace = call.path("namespace")
    if not NAMESPACE_PATTERN.fullmatch(namespace):
        raise NotFound(f"The requested resource does not exist: namespace {namespace[:140]!r}")
    return namespace


def registry_name(namespace: str, action: str) -> str:
    """The registry function an action of `namespace` stands for."""
    name = action if namespace == DEFAULT_NAMESPACE else f"{namespace}.{action}"
    if "/" in action or not NAME_PATTERN.fullmatch(name):
        raise NotFound(f"The requested resource does not exist: {namespace}/{action[:140]}")
    return name


def action_name(namespace: str, function_name: str) -> str:
    return function_name.removeprefix(f"{namespace}.")


def in_namespace(namespace: str, function_name: str) -> bool:
    return namespace == DEFAULT_NAMESPACE or function_name.startswith(f"{namespace}.")


# --- activations -----------------------------------------------------------------------------


def activation_record(execution: Execution, namespace: str) -> dict[str, Any]:
    """An execution as OpenWhisk's activation record (its result and logs as given: the stored
    record may keep them cut; callers pass them whole)."""
    start = execution.started_at or execution.created_at
    end = execution.finished_at
    return {
        "namespace": namespace,
        "name": action_name(namespace, execution.function),
        "version": f"0.0.{execution.function_version or 0}",
        "subject": execution.caller,
        "activationId": execution.execution_id,
        "start": epoch_ms(start),
        "end": epoch_ms(end) if end is not None else 0,
        "duration": round(execution.duration_ms or 0),
        "response": activation_response(execution),
        "logs": execution.logs.splitlines() if execution.logs else [],
        "annotations": [
            {"key": "path", "value": f"{namespace}/{action_name(namespace, execution.function)}"},
            {"key": "kind", "value": execution.provider},
            {"key": "timeout", "value": execution.status == Status.TIMED_OUT},
        ],
        "publish": False,
    }


def activation_response(execution: Execution) -> dict[str, Any]:
    """`response`: OpenWhisk's status words, and the result (for a failure, `{"error": ...}`)."""
    if execution.success:
        status, result = "success", execution.result
    else:
        message = (execution.error or {}).get("message") or "the action failed"
        timed_out = execution.status == Status.TIMED_OUT
        status = "developer error" if timed_out else "application error"
        result = {"error": message}
    return {
        "status": status,
        "statusCode": 0 if execution.success else 1,
        "success": bool(execution.success),
        "result": result if isinstance(result, dict) else {"result": result},
    }


def epoch_ms(seconds: float) -> int:
    return round(seconds * 1000)


async def visible_execution(call: Call) -> Execution:
    """The activation the path names, as history shows it to the caller, restored."""
    activation_id = call.path("activation")
    if not ACTIVATION_ID_PATTERN.fullmatch(activation_id):
        raise NotFound(f"The requested resource does not exist: activation {activation_id[:64]!r}")
    execution = await call.services.history.get(call.principal, activation_id)
    if execution.status in Status.OPEN:
        raise NotFound("The requested resource does not exist: the activation has not ended")
    return await call.services.archive.restored(execution)


async def get_activation(call: Call) -> Response:
    execution = await visible_execution(call)
    return json_answer(activation_record(execution, namespace_of(call)))


async def get_activation_logs(call: Call) -> Response:
    execution = await visible_execution(call)
    return json_answer({"logs": activation_record(execution, namespace_of(call))["logs"]})


async def get_activation_result(call: Call) -> Response:
    execution = await visible_execution(call)
    return json_answer(activation_response(execution))


# --- invoke and fire -------------------------------------------------------------------------


async def invoke_action(call: Call) -> Response:
    """Non-blocking: queued, 202. Blocking: run now when the function's time limit ends the
    run within the wait; else queued (so it runs on whatever its answer leaves behind, even
    on Lambda or Cloud Run) and its outcome awaited for the wait, then 202 if still open."""
    namespace = namespace_of(call)
    name = registry_name(namespace, call.path("action"))
    registry = call.services.registry
    params = params_of(call.body)
    if not flag(call, "blocking"):
        return accepted(await registry.invoke(name, queued(params), call.principal))
    wait_s = call.int_query("timeout", MAX_WAIT_MS, 100, MAX_WAIT_MS) / 1000
    function = await registry.get(name)
    if run_limit_s(call, function) <= wait_s:
        request = NamedInvocation(payload=params, mode=Mode.SYNC)
        invocation = await registry.invoke_function(function, request, call.principal)
        if invocation.execution.status in Status.OPEN:  # its provider left it running
            return accepted(invocation)
        return blocking_answer(call, invocation.execution, invocation, namespace)
    invocation = await registry.invoke_function(function, queued(params), call.principal)
    ended = await ended_within(call, invocation.execution.execution_id, wait_s)
    if ended is None:
        return accepted(invocation)
    return blocking_answer(call, ended, await call.services.archive.restored(ended), namespace)


def queued(params: dict[str, Any]) -> NamedInvocation:
    return NamedInvocation(payload=params, mode=Mode.ASYNC)


def accepted(invocation: Invocation) -> Response:
    return json_answer({"activationId": invocation.execution.execution_id}, 202)


def run_limit_s(call: Call, function: RegisteredFunction) -> float:
    """How long a run of the function may last: its policy's timeout, else the default."""
    limit = FunctionPolicy.model_validate(function.policy).timeout_for(None)
    return limit if limit is not None else call.services.settings.function_timeout


async def ended_within(call: Call, execution_id: str, wait_s: float) -> Execution | None:
    """The execution once it has ended, read back from history until `wait_s` has passed
    (None: it has not ended by then)."""
    deadline = time.monotonic() + wait_s
    pause_s = FIRST_POLL_S
    while True:
        execution = await call.services.history.get(call.principal, execution_id)
        if execution.status not in Status.OPEN:
            return execution
        left_s = deadline - time.monotonic()
        if left_s <= 0:
            return None
        await asyncio.sleep(min(pause_s, left_s))
        pause_s = min(pause_s * 2, LAST_POLL_S)


def blocking_answer(
    call: Call, execution: Execution, whole: Invocation | Execution, namespace: str
) -> Response:
    """The ended activation (its result and logs from `whole`, which has them in full): the
    result or the record, 502 with the record when the action failed; a run that never
    reached its function is the platform's error."""
    problem = unreached(execution)
    if problem is not None and not isinstance(problem, UpstreamTimeout):
        raise problem
    complete = replace(execution, result=whole.result, logs=whole.logs)
    record = activation_record(complete, namespace)
    if execution.success:
        return json_answer(record["response"]["result"] if flag(call, "result") else record)
    return json_answer(record, 502)


async def fire_trigger(call: Call) -> Response:
    name = registry_name(namespace_of(call), call.path("trigger"))
    invocation = await call.services.registry.invoke(
        name, queued(params_of(call.body)), call.principal
    )
    return accepted(invocation)


def flag(call: Call, name: str) -> bool:
    return call.query(name) == "true"


def params_of(body: bytes) -> dict[str, Any]:
    """The action's parameters: a JSON object (an empty body is `{}`)."""
    params = json_body(body, InvalidRequest)
    if not isinstance(params, dict):
        raise InvalidRequest("The request content was malformed: parameters must be an object")
    return params


# --- actions ---------------------------------------------------------------------------------


def action_summary(function: RegisteredFunction, namespace: str) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "name": action_name(namespace, function.name),
        "version": f"0.0.{function.active_version}",
        "publish": False,
        "annotations": [{"key": "description", "value": function.description}],
        "updated": epoch_ms(function.updated_at),
    }


async def list_actions(call: Call) -> Response:
    require(call.principal, READ)
    namespace = namespace_of(call)
    limit = call.int_query("limit", DEFAULT_LIST_LIMIT, 0, MAX_LIST_LIMIT) or MAX_LIST_LIMIT
    skip = call.int_query("skip", 0, 0, MAX_LIST_SKIP)
    functions = await namespace_functions(call.services, namespace, skip + limit)
    return json_answer([action_summary(f, namespace) for f in functions[skip:]])


async def namespace_functions(
    services: Services, namespace: str, wanted: int
) -> list[RegisteredFunction]:
    """The first `wanted` functions of the namespace, in the registry's order."""
    found: list[RegisteredFunction] = []
    cursor: str | None = None
    while len(found) < wanted:
        page = await services.registry.list(REGISTRY_PAGE, cursor)
        found += [f for f in page.items if in_namespace(namespace, f.name)]
        cursor = page.next_cursor
        if cursor is None:
            break
    return found[:wanted]


async def get_action(call: Call) -> Response:
    require(call.principal, READ)
    namespace = namespace_of(call)
    function = await call.services.registry.get(registry_name(namespace, call.path("action")))
    return json_answer(action_summary(function, namespace))


def query_flag(name: str, description: str) -> QueryParam:
    return QueryParam(name, description, enum=("true", "false"))


INVOKE_QUERY = (
    query_flag("blocking", "wait for the activation's outcome"),
    query_flag("result", "answer only the result (with blocking)"),
    QueryParam(
        "timeout",
        f"the blocking wait in ms (100-{MAX_WAIT_MS})",
        "integer",
        minimum=100,
        maximum=MAX_WAIT_MS,
    ),
)
LIST_QUERY = (
    QueryParam(
        "limit", f"page size (0: {MAX_LIST_LIMIT})", "integer", minimum=0, maximum=MAX_LIST_LIMIT
    ),
    QueryParam(
        "skip", f"entries to skip (0-{MAX_LIST_SKIP})", "integer", minimum=0, maximum=MAX_LIST_SKIP
    ),
)

FRONT = Front(
    routes=(
        FrontRoute("POST", f"{NAMESPACE}/actions/{{action:path}}", invoke_action, INVOKE_QUERY),
        FrontRoute("GET", f"{NAMESPACE}/actions", list_actions, LIST_QUERY),
        FrontRoute("GET", f"{NAMESPACE}/actions/{{action:path}}", get_action),
        FrontRoute("GET", f"{NAMESPACE}/activations/{{activation}}", get_activation),
        FrontRoute("GET", f"{NAMESPACE}/activations/{{activation}}/logs", get_activation_logs),
        FrontRoute("GET", f"{NAMESPACE}/activations/{{activation}}/result", get_activation_result),
        FrontRoute("POST", f"{NAMESPACE}/triggers/{{trigger}}", fire_trigger),
    ),
    authenticate=authenticate,
    error_response=openwhisk_error,
    prefix=PREFIX,
)
