"""The GCP Cloud Functions (gen2) entry points, served by functions-framework (>= 3.9):

    functions-framework --target=http --source=handlers/gcp_function.py     # the API
    functions-framework --target=worker --source=handlers/gcp_function.py   # the async worker

- `http` (HTTP trigger) answers every request with fnproxy's own ASGI app
  (`core.api.app.create_app`), the same app the local server and the Lambda serve. It is
  registered with `functions_framework.aio.http`, so functions-framework serves it as ASGI
  (Starlette under uvicorn); the function answers with an `AppCall`, which Starlette then calls
  as an ASGI app with the request's own scope, receive and send: the app reads the body and
  sends its answer itself, routes, problem+json and headers untouched.
- `worker` receives the async topic's pushed messages in either form and hands them to
  `core.events.pubsub.PubSubDelivery`: the CloudEvent Eventarc makes of a message for a
  Pub/Sub-triggered function (`google.cloud.pubsub.topic.v1.messagePublished`, binary mode with
  `ce-` headers or structured mode with a `specversion` in the JSON body), or the JSON body of
  a plain push subscription pointed at the function (`{message, subscription, ...}`). It is an
  HTTP function so that it can take both (functions-framework's CloudEvent functions refuse
  anything but a CloudEvent with 400); registered with the decorator, it is one whatever the
  deployment's signature type. A completed execution is not run again on redelivery; a failure
  is logged at ERROR with the message id and answered 500, so Pub/Sub delivers the message
  again (then dead-letters it); a malformed message is recorded and acknowledged; a request
  that is neither form is refused with 400 and logged.

Event loop. The store, the Pub/Sub publishers and the providers' connection pools are bound to
the event loop they were first used on, so they must live on one loop for the instance's life
(the Lambda handler owns such a loop per container). Here the server owns it: both entries are
registered through `functions_framework.aio`, so functions-framework serves them with uvicorn
(gunicorn's UvicornWorker), whose one loop runs every request of the instance. The services are
built once per instance, on the first request, on that loop, and reused by every request after.
Nothing needs closing when the instance stops: every write and publish is awaited before the
answer.

Logs: one JSON object per line on stdout, as Cloud Logging reads them: `severity`, `message`,
`time`, `logging.googleapis.com/sourceLocation`, and the request's trace
(`logging.googleapis.com/trace` = `projects/{project}/traces/{trace id}`, `spanId`,
`trace_sampled`) from `traceparent` (W3C) or `X-Cloud-Trace-Context` (`TRACE/SPAN;o=1`); the
worker's lines take a CloudEvent's own `traceparent` (its Distributed Tracing extension) before
those. The audit logger's lines carry their fields (request id, principal, action, ...) in the
jsonPayload, and so do the metrics lines (`core.metrics.cloud_logging`: `metric` and its labels,
read by the log-based metrics of terraform/modules/gcp/monitoring.tf). An unexpected error
answered 500 is an Error Reporting event: `@type` ReportedErrorEvent, the stack trace as
`message`, `context.httpRequest` and `serviceContext` (`K_SERVICE`, `K_REVISION`).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import functions_framework.aio
import orjson
from cloudevents.exceptions import GenericException
from cloudevents.http import from_http
from cloudevents.http.event import CloudEvent
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from core import __version__
from core.api.app import create_app
from core.api.unexpected import HTTP_REQUEST
from core.auth.audit import AUDIT_LOGGER
from core.metrics.cloud_logging import JSON_FIELDS
from core.models import iso
from core.redaction import redact_urls_in
from core.tracing import TraceContext, from_lookup, parse_traceparent, trace_headers
from core.wiring import Services, build_pubsub_delivery, build_services, load_gcp_settings

FNPROXY_LOGGER = "fnproxy"
logger = logging.getLogger("fnproxy.gcp")
LOG_HANDLER = "fnproxy-cloud-logging"
TRACE_FIELD = "logging.googleapis.com/trace"
SPAN_FIELD = "logging.googleapis.com/spanId"
SAMPLED_FIELD = "logging.googleapis.com/trace_sampled"
SOURCE_FIELD = "logging.googleapis.com/sourceLocation"
REPORTED_ERROR_EVENT = (
    "type.googleapis.com/google.devtools.clouderrorreporting.v1beta1.ReportedErrorEvent"
)


# --- trace context --------------------------------------------------------------------------


def trace_from_headers(headers: Iterable[tuple[bytes, bytes]]) -> TraceContext | None:
    """The request's trace (`core.tracing`): `traceparent` when it is valid, else
    `X-Cloud-Trace-Context`."""
    found = trace_headers((n.decode("latin-1"), v.decode("latin-1")) for n, v in headers)
    return from_lookup(found.get) if found else None


_current_trace: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar(
    "fnproxy_trace", default=None
)


# --- Cloud Logging's structured JSON --------------------------------------------------------


class CloudLoggingFormatter(logging.Formatter):
    """One log record as one line of Cloud Logging's structured JSON (see the module
    docstring); the audit logger's JSON message and a metrics line's `json_fields` become
    jsonPayload fields; an unexpected error with its request (`core.api.unexpected`) becomes an
    Error Reporting event."""

    def __init__(self, project: str, service: dict[str, str] | None = None) -> None:
        super().__init__()
        self._project = project
        self._service = service or service_context(os.environ)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"severity": record.levelname}
        if record.name == AUDIT_LOGGER:
            entry.update(_audit_fields(record.getMessage()))
        else:
            entry["message"] = record.getMessage()
        entry.update(getattr(record, JSON_FIELDS, None) or {})
        http_request = getattr(record, HTTP_REQUEST, None)
        if record.exc_info and http_request is not None:
            entry.update(self._reported_error(record, http_request))
        elif record.exc_info:
            entry["message"] = (
                f"{entry.get('message', '')}\n{self.formatException(record.exc_info)}"
            )
        entry["time"] = iso(record.created)
        entry[SOURCE_FIELD] = {
            "file": record.pathname,
            "line": record.lineno,
            "function": record.funcName,
        }
        self._add_trace(entry)
        return orjson.dumps(entry, default=str).decode()

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging.Formatter's name
        """The trace as `traceback.format_exc()` writes it, every URL in it redacted
        (`core.redaction`): a library's error can quote a signed URL or a URL's credentials."""
        return redact_urls_in(super().formatException(ei))

    def _reported_error(
        self, record: logging.LogRecord, http_request: dict[str, Any]
    ) -> dict[str, Any]:
        """Error Reporting's ReportedErrorEvent: the stack trace as the message, the request,
        the service."""
        assert record.exc_info is not None
        return {
            "@type": REPORTED_ERROR_EVENT,
            "message": self.formatException(record.exc_info),
            "context": {"httpRequest": http_request},
            "serviceContext": self._service,
        }

    def _add_trace(self, entry: dict[str, Any]) -> None:
        trace = _current_trace.get()
        if trace is None or not self._project:
            return
        entry[TRACE_FIELD] = f"projects/{self._project}/traces/{trace.trace_id}"
        if trace.span_id:
            entry[SPAN_FIELD] = trace.span_id
        entry[SAMPLED_FIELD] = trace.sampled


def service_context(environ: Mapping[str, str]) -> dict[str, str]:
    """Error Reporting's service: the Cloud Run service of the function (`K_SERVICE`) and its
    revision (`K_REVISION`), else fnproxy and its version."""
    return {
        "service": environ.get("K_SERVICE") or FNPROXY_LOGGER,
        "version": environ.get("K_REVISION") or __version__,
    }


def _audit_fields(message: str) -> dict[str, Any]:
    """The audit line's fields, with a short `message` summing them up."""
    try:
        fields = orjson.loads(message)
        summary = f"{fields['action']} -> {fields['outcome']}"
    except (orjson.JSONDecodeError, TypeError, KeyError):
        return {"message": message}
    return {"message": summary, **fields}


def configure_logging(project: str) -> None:
    """Every Python log record as Cloud Logging JSON on stdout, through one handler of the
    root logger (third-party libraries from WARNING; fnproxy's loggers get LOG_LEVEL when the
    instance starts). `project` names the traces."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.name == LOG_HANDLER:
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    handler.name = LOG_HANDLER
    handler.setFormatter(CloudLoggingFormatter(project))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


configure_logging(os.environ.get("GCP_PROJECT_ID", ""))


# --- the instance ---------------------------------------------------------------------------


class AppCall:
    """What `http` answers: Starlette calls it like a response, as an ASGI app, with the
    request's scope, receive and send; it runs fnproxy's app on them, in the request's trace."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _current_trace.set(trace_from_headers(scope["headers"]))
        try:
            await self._app(scope, receive, send)
        finally:
            _current_trace.reset(token)


@dataclass
class Instance:
    """What one Cloud Functions instance keeps between requests (see the module docstring)."""

    loop: asyncio.AbstractEventLoop
    services: Services
    app: AppCall

    @functools.cached_property
    def delivery(self) -> Any:
        """The Pub/Sub delivery to the worker, built on the first push."""
        return build_pubsub_delivery(self.services)


_instance: Instance | None = None


def current_instance() -> Instance:
    """The instance's services, built on its first request, on the server's event loop."""
    loop = asyncio.get_running_loop()
    instance = _instance or _start_instance(loop)
    if instance.loop is not loop:
        raise RuntimeError(
            "fnproxy's GCP entry points serve one event loop per instance (the server's); "
            "this call came on another loop"
        )
    return instance


def _start_instance(loop: asyncio.AbstractEventLoop) -> Instance:
    global _instance
    settings, secrets = load_gcp_settings()
    logging.getLogger(FNPROXY_LOGGER).setLevel(settings.log_level)
    services = build_services(settings, secrets=secrets)
    _instance = Instance(loop, services, AppCall(create_app(services)))
    return _instance


# --- the entry points -----------------------------------------------------------------------


@functions_framework.aio.http
async def http(request: Request) -> AppCall:
    """The HTTP function: fnproxy's API (see the module docstring)."""
    return current_instance().app


@functions_framework.aio.http
async def worker(request: Request) -> Response:
    """The async topic's push: one message to the async worker (see the module docstring);
    500 when Pub/Sub must deliver it again."""
    if request.method != "POST":
        return PlainTextResponse("POST a Pub/Sub push", status_code=405, headers={"allow": "POST"})
    instance = current_instance()
    try:
        pushed = read_push(request.headers, await request.body())
    except NotAPush as refused:
        logger.error("the worker refused a request: %s", refused)
        return PlainTextResponse(str(refused), status_code=400)
    token = _current_trace.set(delivery_trace(pushed, request.scope["headers"]))
    try:
        await deliver(instance.delivery, pushed)
    except Exception:
        logger.exception(
            "the worker failed on Pub/Sub message %s; Pub/Sub delivers it again",
            message_id_of(pushed),
        )
        return PlainTextResponse("delivery failed", status_code=500)
    finally:
        _current_trace.reset(token)
    return PlainTextResponse("OK")


# --- what a push to the worker carries ------------------------------------------------------

Pushed = CloudEvent | dict[str, Any]
"""A CloudEvent, or the JSON body of a plain push subscription's request."""


_PUSHED = (
    "a CloudEvent (ce- headers, or a JSON body with specversion) or a Pub/Sub push body "
    "{message, subscription}"
)


class NotAPush(ValueError):
    """A request to the worker that carries neither form of a pushed message."""


def read_push(headers: Mapping[str, str], body: bytes) -> Pushed:
    """A CloudEvent (binary mode: a `ce-specversion` header; structured mode: a JSON body with
    `specversion`), else a push subscription's JSON body (an object with `message`)."""
    if "ce-specversion" in headers:
        return _cloud_event(headers, body)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise NotAPush(f"expected {_PUSHED}; the body is not JSON") from None
    if isinstance(document, dict) and "specversion" in document:
        return _cloud_event(headers, body)
    if isinstance(document, dict) and "message" in document:
        return document
    raise NotAPush(f"expected {_PUSHED}; the JSON body has neither specversion nor message")


def _cloud_event(headers: Mapping[str, str], body: bytes) -> CloudEvent:
    try:
        return from_http(headers, body)
    except GenericException as invalid:
        raise NotAPush(f"an invalid CloudEvent: {invalid}") from None


async def deliver(delivery: Any, pushed: Pushed) -> None:
    if isinstance(pushed, CloudEvent):
        await delivery.handle_cloud_event(pushed)
    else:
        await delivery.handle_push(pushed)


def delivery_trace(pushed: Pushed, headers: Iterable[tuple[bytes, bytes]]) -> TraceContext | None:
    """A CloudEvent's own `traceparent` (the Distributed Tracing extension) when it is valid,
    else the push request's trace headers."""
    if isinstance(pushed, CloudEvent):
        trace = parse_traceparent(str(pushed.get("traceparent") or ""))
        if trace is not None:
            return trace
    return trace_from_headers(headers)


def message_id_of(pushed: Pushed) -> str:
    """The pushed message's id, for the log (a CloudEvent's own id when its data names none)."""
    # Imported here: the API function of this module never loads the Pub/Sub client.
    from core.events.pubsub import pushed_message_id

    if isinstance(pushed, CloudEvent):
        return pushed_message_id(pushed.data, str(pushed["id"]))
    return pushed_message_id(pushed, "(none)")
