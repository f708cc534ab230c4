"""The `openwhisk` provider: Apache OpenWhisk actions, sequences, web actions and triggers over
OpenWhisk's REST API (`{api_host}/api/v1`), authenticated with Basic `uuid:key`.

- **action / sequence**: `POST namespaces/{ns}/actions/{name}?blocking=true&result=false&
  timeout=<ms>`; OpenWhisk waits at most `timeout` (capped at `blocking_timeout_ms`, and a
  little shorter than fnproxy's own deadline). 200 is an activation that succeeded; 502 one
  that failed (application or action developer error): a failed outcome carrying the
  activation's error, status code 502, not retried. **202** (or 408) with only an activation id
  means the activation outlived the wait (or the call was non-blocking): the outcome is
  *not settled* (recorded as running, `success` None) and `settle` tells it later from
  `GET namespaces/{ns}/activations/{id}` (404 while it still runs).
- **web**: `web/{ns}/{package}/{action}.json` (package `default` when the name has none) with
  the target's method (POST unless it says GET, PUT, PATCH or DELETE) and headers, and *no*
  credentials (a web action may belong to someone else; it sees every request header). The
  payload goes as JSON, or for GET as the query string (OpenWhisk passes query parameters to
  the action; a value other than text as JSON). fnproxy's own headers (Accept, Content-Type,
  the execution id) replace a caller's of the same name. Its answer is the function's: 2xx
  success, else a failed outcome.
- **trigger**: `POST namespaces/{ns}/triggers/{name}`: 202 with the trigger's activation id
  (204 when no rule is active) is a success; firing is the whole job.

A target's `action` is `name`, `package/name` or `/namespace/[package/]name`; its namespace,
else the provider's (`_` is the credentials' own). The payload must be a JSON object (an
action's parameters). Refusals: 404 `FunctionNotFound`; 401 `UpstreamUnavailable` (OpenWhisk
rejected fnproxy's own credentials: not the caller's mistake, and repeating will not help);
403 `Forbidden` (the credentials are valid but not for the namespace the caller chose); 413
`PayloadTooLarge`; other 4xx `InvalidRequest`; 429, 5xx and a request never sent (cannot
connect) are transient (retried, honouring Retry-After) when invoking, `RateLimited` /
`UpstreamUnavailable` when listing, describing, dry-running or reading an activation (nobody
retries those). A connection lost after the request was sent is `UpstreamUnreachable`, never
retried: the action may have run.

The Basic credentials are encoded once and never logged, recorded, put in an error or shown by
`repr`. `insecure` accepts a self-signed TLS certificate (OPENWHISK_INSECURE).
"""

from __future__ import annotations

import base64
import re
import ssl
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import orjson

from core.config import ConfigError
from core.errors import (
    CursorNotFound,
    Forbidden,
    FunctionNotFound,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    UpstreamUnavailable,
    UpstreamUnreachable,
)
from core.models import Execution, Page
from core.providers._http_client import (
    HttpClient,
    HttpConnectionError,
    HttpNotSentError,
    HttpResponse,
    InvalidRequestError,
)
from core.providers.base import (
    CallContext,
    FunctionInfo,
    InvocationOutcome,
    TransientFailure,
    answered_at_once,
)
from core.providers.http import EXECUTION_ID_HEADER, TRACE_HEADERS, retry_after_seconds
from core.targets import OPENWHISK_ACTIVATION_ID_PATTERN, OPENWHISK_ENTITY, OpenWhiskTarget

DEFAULT_BLOCKING_TIMEOUT_MS = 60_000
"""OpenWhisk's own default and largest blocking wait."""
BLOCKING_MARGIN_S = 0.5
BLOCKING_MARGIN_FRACTION = 0.1
"""OpenWhisk stops waiting this much (the smaller of the two) before fnproxy's deadline, so an
activation that runs longer comes back as its id, to settle later, not as fnproxy's timeout."""
PLATFORM = "OpenWhisk"
ADMIN_TIMEOUT_S = 30.0
"""Per request when listing, describing or reading an activation."""
MAX_LIST_LIMIT = 200
"""OpenWhisk lists at most 200 entities per request."""
WEB_TRANSIENT_STATUSES = frozenset({429, 500, 503, 504})
"""A web action's 502 is the action's own failure (it ran): not retried."""
ACTIVATION_HEADER = "x-openwhisk-activation-id"
ACTIVATION_STATUS_CODES = {
    "success": 200,
    "application error": 502,
    "action developer error": 502,
    "whisk internal error": 500,
}
"""The status code a blocking invocation answers with, by the activation's status."""
ACTIVATION_ERROR_TYPES = {
    "application error": "ApplicationError",
    "action developer error": "ActionDeveloperError",
    "whisk internal error": "WhiskInternalError",
}
MESSAGE_MAX_CHARS = 500
DEFAULT_PACKAGE = "default"
DEFAULT_WEB_METHOD = "POST"
WEB_OWN_HEADERS = frozenset({"accept", "content-type", EXECUTION_ID_HEADER.lower(), *TRACE_HEADERS})
"""Headers fnproxy writes on a web action's request: a caller's of the same name is dropped."""
MAX_WEB_QUERY_CHARS = 8192
"""A GET web action's parameters as a query string, at most (URLs past this are refused by
common front ends)."""

_ENTITY = re.compile(OPENWHISK_ENTITY)
"""An OpenWhisk entity (namespace, package, action, trigger) name: the rule the targets' schema
states (core.targets), so the two cannot drift."""
_ACTIVATION_ID = re.compile(OPENWHISK_ACTIVATION_ID_PATTERN)

V = TypeVar("V")


@dataclass(frozen=True)
class Entity:
    """An action or trigger resolved from a target: namespace, optional package, name."""

    namespace: str
    package: str | None
    name: str

    @property
    def qualified(self) -> str:
        """`package/name` or `name`, as OpenWhisk's API paths take it."""
        return f"{self.package}/{self.name}" if self.package else self.name

    def path(self, collection: str) -> str:
        """`namespaces/{ns}/{collection}/[{package}/]{name}`, percent-encoded."""
        segments = [self.namespace, collection, *self.qualified.split("/")]
        return "namespaces/" + "/".join(_segment(s) for s in segments)


class OpenWhiskProvider:
    name = "openwhisk"

    def __init__(
        self,
        api_host: str,
        namespace: str,
        auth_key: str,
        pool_size: int,
        insecure: bool = False,
        blocking_timeout_ms: int = DEFAULT_BLOCKING_TIMEOUT_MS,
        max_response_bytes: int | None = None,
    ) -> None:
        """`max_response_bytes` caps every answer read (an activation's result is a target's
        answer): past it the call fails with `ResponseTooLarge`."""
        if not api_host:
            raise ConfigError("OPENWHISK_API_HOST: required by the openwhisk provider")
        if ":" not in auth_key:
            raise ConfigError("OPENWHISK_AUTH_KEY: must be the credentials as uuid:key")
        self._api_url = _api_url(api_host)
        self._namespace = namespace or "_"
        self._authorization = "Basic " + base64.b64encode(auth_key.encode()).decode("ascii")
        self._pool_size = pool_size
        self._insecure = insecure
        self._blocking_timeout_ms = blocking_timeout_ms
        self._max_response_bytes = max_response_bytes
        self._http: HttpClient | None = None

    def __repr__(self) -> str:
        return f"OpenWhiskProvider(api_url={self._api_url!r}, namespace={self._namespace!r})"

    def function_key(self, target: OpenWhiskTarget) -> str:
        entity = self.resolve(target.action, target.namespace, target.kind)
        prefix = "openwhisk:trigger:" if target.kind == "trigger" else "openwhisk:"
        return f"{prefix}{entity.namespace}/{entity.qualified}"

    async def invoke(
        self, target: OpenWhiskTarget, payload: Any, context: CallContext
    ) -> InvocationOutcome:
        entity = self.resolve(target.action, target.namespace, target.kind)
        if target.kind == "web":
            return await self._call_web(entity, target, payload, context)
        body = _body(payload, context.trace_fields())
        if target.kind == "trigger":
            return await self._fire(entity, body, context)
        return await self._run_action(entity, target.kind, body, target.blocking, context)

    async def dry_run(
        self, target: OpenWhiskTarget, payload: Any, context: CallContext
    ) -> InvocationOutcome:
        """The name resolved, the payload checked and the action (or trigger) looked up;
        nothing runs. A web target must be a web action."""
        entity = self.resolve(target.action, target.namespace, target.kind)
        body = _body(payload)
        collection = "triggers" if target.kind == "trigger" else "actions"
        subject = _subject(target.kind, entity)
        found = await answered_at_once(
            self._get_json(entity.path(collection), subject, context.timeout_s), PLATFORM
        )
        if target.kind == "web" and not _is_web_action(found):
            raise FunctionNotFound(f"{subject} is not a web action")
        info = _info(target.kind, entity)
        info["payload_bytes"] = len(body)
        return InvocationOutcome(success=True, status_code=204, info=info)

    async def list_functions(
        self, limit: int, cursor: str | None, namespace: str | None = None
    ) -> Page[FunctionInfo]:
        """A page of actions (`cursor`: how many to skip, as OpenWhisk's `skip`)."""
        namespace = self._checked_namespace(namespace)
        limit = min(limit, MAX_LIST_LIMIT)
        skip = _skip(cursor)
        path = f"namespaces/{_segment(namespace)}/actions?limit={limit}&skip={skip}"
        subject = f"the actions of namespace {namespace}"
        listing = await answered_at_once(self._get_json(path, subject, ADMIN_TIMEOUT_S), PLATFORM)
        if not isinstance(listing, list):
            raise UpstreamUnavailable(f"OpenWhisk answered no list of {subject}")
        items = [_action_summary(action) for action in listing if isinstance(action, dict)]
        return Page(items=items, next_cursor=str(skip + limit) if len(listing) >= limit else None)

    async def get_function(self, name: str) -> FunctionInfo:
        """`FunctionNotFound` for a name no action can have, too: it names none."""
        try:
            entity = self.resolve(name, None, "action")
        except InvalidRequest as malformed:
            raise FunctionNotFound(f"no action {name[:256]!r}") from malformed
        subject = _subject("action", entity)
        action = await answered_at_once(
            self._get_json(entity.path("actions"), subject, ADMIN_TIMEOUT_S), PLATFORM
        )
        return _action_details(action, entity)

    async def get_activation(
        self, activation_id: str, namespace: str | None = None
    ) -> dict[str, Any]:
        """The activation as OpenWhisk records it; `NotFound` while it runs or when unknown,
        or for an id no activation can have."""
        if not _ACTIVATION_ID.fullmatch(activation_id):
            raise NotFound(f"no activation {activation_id[:64]!r}")
        namespace = self._checked_namespace(namespace)
        path = f"namespaces/{_segment(namespace)}/activations/{activation_id}"
        subject = f"activation {activation_id} in namespace {namespace}"
        try:
            return await answered_at_once(self._get_json(path, subject, ADMIN_TIMEOUT_S), PLATFORM)
        except FunctionNotFound:
            raise NotFound(f"no finished {subject}") from None

    async def settle(self, execution: Execution) -> InvocationOutcome | None:
        """The outcome of an activation that outlived the wait, from the activation itself;
        None while it runs (OpenWhisk records an activation when it ends)."""
        info = dict(execution.provider_info)
        activation_id = info.get("activation_id")
        if not activation_id:
            return None
        try:
            activation = await self.get_activation(activation_id, info.get("namespace"))
        except NotFound:
            return None
        status = (activation.get("response") or {}).get("status")
        return _activation_outcome(activation, ACTIVATION_STATUS_CODES.get(status, 502), info)

    async def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def resolve(self, name: str, namespace: str | None, kind: str) -> Entity:
        """`name`, `package/name` or `/namespace/[package/]name` with the target's namespace,
        else the provider's; `InvalidRequest` when malformed or contradictory."""
        segments = name.split("/")
        if name.startswith("/"):
            named = segments[1]
            if namespace and namespace != named:
                raise InvalidRequest(
                    f"the name {name!r} is in namespace {named!r} but the target says {namespace!r}"
                )
            namespace, segments = named, segments[2:]
        most = 1 if kind == "trigger" else 2
        if not 1 <= len(segments) <= most or not all(map(_ENTITY.fullmatch, segments)):
            raise InvalidRequest(f"{name!r} is not an OpenWhisk {kind} name")
        package = segments[0] if len(segments) == 2 else None
        return Entity(self._checked_namespace(namespace), package, segments[-1])

    def _checked_namespace(self, namespace: str | None) -> str:
        namespace = namespace or self._namespace
        if namespace != "_" and not _ENTITY.fullmatch(namespace):
            raise InvalidRequest(f"{namespace!r} is not an OpenWhisk namespace")
        return namespace

    def _wait_ms(self, timeout_s: float) -> int:
        """How long OpenWhisk may wait for a blocking activation."""
        margin_s = min(BLOCKING_MARGIN_S, timeout_s * BLOCKING_MARGIN_FRACTION)
        return max(1, min(self._blocking_timeout_ms, int((timeout_s - margin_s) * 1000)))

    async def _run_action(
        self, entity: Entity, kind: str, body: bytes, blocking: bool, context: CallContext
    ) -> InvocationOutcome:
        if blocking:
            query = f"blocking=true&result=false&timeout={self._wait_ms(context.timeout_s)}"
        else:
            query = "blocking=false"
        path = f"{entity.path('actions')}?{query}"
        response = await self._send("POST", path, body, context.timeout_s)
        answer = _json(response)
        info = _info(kind, entity)
        if response.status in (200, 502) and _is_activation(answer):
            return _activation_outcome(answer, response.status, info)
        activation_id = answer.get("activationId") if isinstance(answer, dict) else None
        if response.status in (202, 408) and activation_id:
            info["activation_id"] = activation_id
            return InvocationOutcome(
                success=None, status_code=response.status, info=info, settled=False
            )
        raise _refusal(response, answer, _subject(kind, entity))

    async def _fire(self, entity: Entity, body: bytes, context: CallContext) -> InvocationOutcome:
        response = await self._send("POST", entity.path("triggers"), body, context.timeout_s)
        answer = _json(response)
        if response.status not in (200, 202, 204):
            raise _refusal(response, answer, _subject("trigger", entity))
        info = _info("trigger", entity)
        info["activation_id"] = answer.get("activationId") if isinstance(answer, dict) else None
        return InvocationOutcome(success=True, status_code=response.status, info=info)

    async def _call_web(
        self, entity: Entity, target: OpenWhiskTarget, payload: Any, context: CallContext
    ) -> InvocationOutcome:
        method = target.method or DEFAULT_WEB_METHOD
        segments = (entity.namespace, entity.package or DEFAULT_PACKAGE, entity.name + ".json")
        path = "web/" + "/".join(_segment(s) for s in segments)
        body: bytes | None = _body(payload)
        if method == "GET":
            path, body = path + _query(payload or {}), None
        headers = _web_headers(target.headers or {}, context)
        response = await self._send(
            method, path, body, context.timeout_s, headers=headers, authenticated=False
        )
        subject = _subject("web", entity)
        info = _info("web", entity)
        info["activation_id"] = response.headers.get(ACTIVATION_HEADER)
        info["response_headers"] = response.headers
        if response.status == 404:
            raise FunctionNotFound(f"no {subject}")
        if response.status in WEB_TRANSIENT_STATUSES:
            raise _transient(response, _json(response), subject)
        return _web_outcome(response, info)

    async def _get_json(self, path: str, subject: str, timeout_s: float) -> Any:
        response = await self._send("GET", path, None, timeout_s)
        answer = _json(response)
        if response.status != 200:
            raise _refusal(response, answer, subject)
        if answer is None:
            raise UpstreamUnavailable(f"OpenWhisk answered no JSON for {subject}")
        return answer

    async def _send(
        self,
        method: str,
        path: str,
        body: bytes | None,
        timeout_s: float,
        *,
        headers: dict[str, str] | None = None,
        authenticated: bool = True,
    ) -> HttpResponse:
        headers = {"Accept": "application/json", **(headers or {})}
        if authenticated:
            headers["Authorization"] = self._authorization
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            return await self._client().request(
                method, f"{self._api_url}/{path}", headers, body, timeout_s
            )
        except InvalidRequestError as exc:
            raise InvalidRequest(f"cannot call OpenWhisk: {exc}") from exc
        except HttpNotSentError as exc:  # nothing left: safe to send again
            raise TransientFailure(f"OpenWhisk unreachable: {exc}") from exc
        except HttpConnectionError as exc:  # sent, then lost: the action may have run
            raise UpstreamUnreachable(
                f"OpenWhisk: {exc}; not retried, the request had been sent"
            ) from exc

    def _client(self) -> HttpClient:
        if self._http is None:
            context = _unverified_tls() if self._insecure else None
            self._http = HttpClient(
                self._pool_size, ssl_context=context, max_response_bytes=self._max_response_bytes
            )
        return self._http


def _api_url(api_host: str) -> str:
    """`{api_host}/api/v1`; a bare host name (as `wsk` takes it) is https."""
    host = api_host.rstrip("/")
    if not host.startswith(("https://", "http://")):
        host = f"https://{host}"
    return f"{host}/api/v1"


def _unverified_tls() -> ssl.SSLContext:
    """TLS that accepts any certificate (a self-signed OpenWhisk installation)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _segment(value: str) -> str:
    return quote(value, safe="@")


def _skip(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not (cursor.isascii() and cursor.isdigit()):
        raise CursorNotFound("no such page: cursor must be the next_cursor of the previous page")
    return int(cursor)


def _body(payload: Any, trace: dict[str, str] | None = None) -> bytes:
    """The payload as a JSON object: an action's parameters, plus `trace` (the attempt's
    `traceparent` and `tracestate` parameters, replacing the payload's own)."""
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise InvalidRequest("OpenWhisk takes a JSON object payload (the action's parameters)")
    try:
        return orjson.dumps({**payload, **trace} if trace else payload)
    except TypeError as exc:
        raise InvalidRequest(f"payload is not JSON-serializable: {exc}") from None


def _query(params: dict[str, Any]) -> str:
    """`?` and the parameters as a query string ("" for none): text as it is, other values as
    JSON; `PayloadTooLarge` past MAX_WEB_QUERY_CHARS."""
    query = urlencode(
        {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in params.items()}
    )
    if len(query) > MAX_WEB_QUERY_CHARS:
        raise PayloadTooLarge(
            f"a GET web action's parameters make a query string of {len(query)} characters, "
            f"more than {MAX_WEB_QUERY_CHARS}: send them with POST"
        )
    return f"?{query}" if query else ""


def _web_headers(caller: dict[str, str], context: CallContext) -> dict[str, str]:
    """The caller's headers (already through the deny-list) but those fnproxy writes, the
    execution id and the attempt's trace context."""
    headers = {k: v for k, v in caller.items() if k.lower() not in WEB_OWN_HEADERS}
    headers[EXECUTION_ID_HEADER] = context.execution_id
    headers.update(context.trace_fields())
    return headers


def _json(response: HttpResponse) -> Any:
    if not response.body:
        return None
    try:
        return orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return None


def _subject(kind: str, entity: Entity) -> str:
    what = "web action" if kind == "web" else kind
    return f"OpenWhisk {what} {entity.qualified} in namespace {entity.namespace}"


def _info(kind: str, entity: Entity) -> dict[str, Any]:
    return {"kind": kind, "namespace": entity.namespace, "action": entity.qualified}


def _is_activation(answer: Any) -> bool:
    return isinstance(answer, dict) and "activationId" in answer and "response" in answer


def _is_web_action(action: Any) -> bool:
    annotations = action.get("annotations") if isinstance(action, dict) else None
    return _annotation(annotations, "web-export") is True


def _annotation(annotations: Any, key: str) -> Any:
    for annotation in annotations if isinstance(annotations, list) else ():
        if isinstance(annotation, dict) and annotation.get("key") == key:
            return annotation.get("value")
    return None


def _activation_outcome(
    activation: dict[str, Any], status_code: int, info: dict[str, Any]
) -> InvocationOutcome:
    response = activation.get("response") or {}
    status = response.get("status")
    result = response.get("result")
    success = response.get("success") is True
    info.update(
        activation_id=activation.get("activationId"),
        status=status,
        duration_ms=activation.get("duration"),
        start=activation.get("start"),
        end=activation.get("end"),
    )
    logs = activation.get("logs")
    return InvocationOutcome(
        success=success,
        status_code=status_code,
        result=result,
        error=None if success else _activation_error(status, result),
        logs="\n".join(map(str, logs)) if logs else None,
        info=info,
    )


def _activation_error(status: str | None, result: Any) -> dict[str, Any]:
    """The error of a failed activation: its result's `error` (text, or an object's message)."""
    error = result.get("error") if isinstance(result, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        message = error["message"]
    elif isinstance(error, str):
        message = error
    elif error is not None:
        message = orjson.dumps(error).decode()
    else:
        message = f"the activation ended with status {status!r}"
    return {
        "type": ACTIVATION_ERROR_TYPES.get(status or "", "ActivationFailed"),
        "message": message[:MESSAGE_MAX_CHARS],
        "activation_status": status,
    }


def _web_outcome(response: HttpResponse, info: dict[str, Any]) -> InvocationOutcome:
    status = response.status
    result = _web_result(response)
    if status == 202:  # OpenWhisk stopped waiting: the activation id is all there is
        if info["activation_id"]:
            return InvocationOutcome(success=None, status_code=202, info=info, settled=False)
        error = {"type": "ResponseNotReady", "message": "no activation id to follow"}
        return InvocationOutcome(success=False, status_code=202, error=error, info=info)
    if 200 <= status < 300:
        return InvocationOutcome(success=True, status_code=status, result=result, info=info)
    error = {"type": "HttpError", "message": f"HTTP {status}: {_message(_json(response), status)}"}
    return InvocationOutcome(
        success=False, status_code=status, result=result, error=error, info=info
    )


def _web_result(response: HttpResponse) -> Any:
    """JSON when it parses, else text; None when empty."""
    if not response.body:
        return None
    answer = _json(response)
    if answer is not None:
        return answer
    return response.body.decode("utf-8", errors="replace")


def _message(answer: Any, status: int) -> str:
    """OpenWhisk's `{"error": "...", "code": "..."}` message, capped."""
    error = answer.get("error") if isinstance(answer, dict) else None
    return (error if isinstance(error, str) else f"HTTP {status}")[:MESSAGE_MAX_CHARS]


def _refusal(response: HttpResponse, answer: Any, subject: str) -> Exception:
    """What an answer other than the expected ones means for fnproxy."""
    status = response.status
    message = _message(answer, status)
    if status in (408, 429) or status >= 500:
        return _transient(response, answer, subject)
    if status == 404:
        return FunctionNotFound(f"no {subject}")
    if status == 401:
        return UpstreamUnavailable(f"OpenWhisk rejected fnproxy's credentials ({message})")
    if status == 403:
        return Forbidden(f"fnproxy's OpenWhisk credentials may not use {subject}: {message}")
    if status == 413:
        return PayloadTooLarge(f"{subject}: {message}")
    return InvalidRequest(f"{subject}: OpenWhisk answered {status}: {message}")


def _transient(response: HttpResponse, answer: Any, subject: str) -> TransientFailure:
    status = response.status
    return TransientFailure(
        f"{subject}: OpenWhisk answered {status} ({_message(answer, status)})",
        status_code=status,
        retry_after_s=retry_after_seconds(response.headers.get("retry-after")),
    )


def _action_summary(action: dict[str, Any]) -> FunctionInfo:
    """A listed action: its invocable name (`package/name` inside a package) and namespace."""
    namespace, _, package = str(action.get("namespace", "")).partition("/")
    name = f"{package}/{action.get('name')}" if package else str(action.get("name"))
    details = {
        "name": name,
        "namespace": namespace,
        "package": package or None,
        "version": action.get("version"),
        "published": bool(action.get("publish", False)),
        "kind": _annotation(action.get("annotations"), "exec"),
        "web": _is_web_action(action),
        "updated": action.get("updated"),
    }
    return FunctionInfo(name=name, provider="openwhisk", details=details)


def _action_details(action: Any, entity: Entity) -> FunctionInfo:
    """An action's description: parameter names only, never their values (bound parameters
    often hold credentials), and no annotation values but kind and web export."""
    if not isinstance(action, dict):
        raise UpstreamUnavailable(f"OpenWhisk answered no action for {entity.qualified}")
    info = _action_summary({**action, "namespace": _listed_namespace(action, entity)})
    exec_ = action.get("exec") or {}
    limits = action.get("limits") or {}
    info.details.update(
        kind=exec_.get("kind") or info.details["kind"],
        components=exec_.get("components"),
        timeout_ms=limits.get("timeout"),
        memory_mb=limits.get("memory"),
        concurrency=limits.get("concurrency"),
        parameters=sorted(
            p["key"] for p in action.get("parameters") or () if isinstance(p, dict) and "key" in p
        ),
    )
    return info


def _listed_namespace(action: dict[str, Any], entity: Entity) -> str:
    """`namespace[/package]` as OpenWhisk lists it (a GET may answer without the package)."""
    namespace = str(action.get("namespace") or entity.namespace)
    if entity.package and "/" not in namespace:
        namespace = f"{namespace}/{entity.package}"
    return namespace
