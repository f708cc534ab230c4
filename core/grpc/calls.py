"""What every RPC needs, done once for all of them (as core.api.endpoints does for the routes):

- authentication: a bearer JWT in the `authorization` metadata, else the message's own `token`
  field where the seed's message has one (the metadata wins when both are given); then the
  RPC's scope;
- the client's deadline caps the timeout of each sync invocation, a little short of it, so
  the invocation ends (and is recorded) before the client gives up;
- `traceparent`, `tracestate` (and the platforms' trace headers) metadata entries are the trace
  the invocation joins, as the REST headers are (`core.tracing`);
- an `idempotency-key` metadata entry is the REST Idempotency-Key header (a replay answers
  with `idempotent-replayed: true` in the initial metadata);
- one audit line per call, as the REST middleware writes per request;
- every error is a gRPC status (`STATUS_CODES`) whose details (google.rpc.Status, in the
  `grpc-status-details-bin` trailer) carry the RPC's own response message with the seeds'
  `success: false`, `error` and, where it has them, `status_code` and `execution_id`: the
  members REST puts on its problem+json.

An RPC's own answer (a function that ran and failed included) is its response message with
status OK.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import grpc
from google.protobuf import any_pb2
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.rpc import status_pb2
from pydantic import ValidationError

from core.api.compat._seed import seed_problem
from core.api.problems import from_validation_error
from core.api.routes.invoke import checked_idempotency_key
from core.auth.principal import Principal
from core.auth.scopes import require
from core.errors import FnproxyError, InvalidRequest, UpstreamTimeout
from core.grpc.messages import message
from core.models import Mode, new_id
from core.tracing import serving, trace_headers

if TYPE_CHECKING:
    from core.invoke.batch import BatchItemResult
    from core.invoke.service import Invocation, InvocationRequest
    from core.wiring import Services

logger = logging.getLogger("fnproxy.grpc")

AUTHENTICATED = "authenticated"
DEADLINE_MARGIN_S = 0.1
"""How much sooner than the client's deadline an invocation is cut off: room for the answer."""
DENIED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
STATUS_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    412: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    428: grpc.StatusCode.FAILED_PRECONDITION,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}
"""The gRPC status of a problem, by its HTTP status (500 and any other: INTERNAL)."""
CODES_BY_PROBLEM = {"response_too_large": grpc.StatusCode.RESOURCE_EXHAUSTED}
"""Problems whose HTTP status says another thing than what a gRPC client should do."""
STATUS_DETAILS_KEY = "grpc-status-details-bin"
REPLAYED = (("idempotent-replayed", "true"),)


def status_code(error: FnproxyError) -> grpc.StatusCode:
    return CODES_BY_PROBLEM.get(error.code) or STATUS_CODES.get(
        error.status, grpc.StatusCode.INTERNAL
    )


def metadata_value(context: grpc.aio.ServicerContext, key: str) -> str | None:
    """The first value of metadata `key` (lower case) the client sent, or None."""
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return value
    return None


@dataclass
class GrpcCall:
    """A call of one RPC: the seed mappings' `Caller` (core.api.compat._seed)."""

    services: Services
    principal: Principal
    context: grpc.aio.ServicerContext
    idempotency_key: str | None = None

    async def invoke(self, request: InvocationRequest) -> Invocation:
        if self.idempotency_key is not None:
            request = replace(request, idempotency_key=self.idempotency_key)
        invocation = await self.services.invocations.invoke(
            self.within_deadline(request), self.principal
        )
        if invocation.replayed:
            await self.context.send_initial_metadata(REPLAYED)
        return invocation

    async def invoke_all(self, requests: list[InvocationRequest]) -> list[BatchItemResult]:
        if self.idempotency_key is not None:
            raise InvalidRequest("an idempotency-key is for one invocation, not a batch")
        capped = [self.within_deadline(request) for request in requests]
        return await self.services.batches.invoke_all(capped, self.principal, None)

    def within_deadline(self, request: InvocationRequest) -> InvocationRequest:
        """`request` with its timeout cut to the client's deadline (less DEADLINE_MARGIN_S),
        when it is a sync invocation and the deadline comes first."""
        remaining = self.context.time_remaining()
        if remaining is None or request.mode != Mode.SYNC:
            return request
        room = remaining - DEADLINE_MARGIN_S
        if room <= 0:
            raise UpstreamTimeout("the call's deadline leaves no time to invoke the function")
        timeout_s = request.timeout_s or self.services.settings.function_timeout
        return replace(request, timeout_s=min(timeout_s, room)) if room < timeout_s else request


RpcHandler = Callable[[GrpcCall, Message], Awaitable[Message]]


@dataclass(frozen=True)
class Rpc:
    handler: RpcHandler
    scope: str = AUTHENTICATED
    """AUTHENTICATED (any valid token) or a scope the caller must hold."""


@dataclass(frozen=True)
class Service:
    """A seed service: its descriptor (from the generated module) and an Rpc per method."""

    descriptor: ServiceDescriptor
    rpcs: dict[str, Rpc]

    def handler(self, services: Services) -> grpc.GenericRpcHandler:
        """The service's method handlers; every method of the descriptor must have an Rpc."""
        methods = {method.name: method for method in self.descriptor.methods}
        if set(methods) != set(self.rpcs):
            raise ValueError(
                f"{self.descriptor.full_name}: methods {sorted(methods)}, "
                f"handlers {sorted(self.rpcs)}"
            )
        handlers = {}
        for name, method in methods.items():
            request_class = GetMessageClass(method.input_type)
            response_class = GetMessageClass(method.output_type)
            handlers[name] = grpc.unary_unary_rpc_method_handler(
                serve(
                    self.rpcs[name],
                    f"/{self.descriptor.full_name}/{name}",
                    response_class,
                    services,
                ),
                request_deserializer=request_class.FromString,
                response_serializer=response_class.SerializeToString,
            )
        return grpc.method_handlers_generic_handler(self.descriptor.full_name, handlers)


async def authenticate(
    services: Services, context: grpc.aio.ServicerContext, request: Message, scope: str
) -> Principal:
    header = metadata_value(context, "authorization")
    token = getattr(request, "token", "") if "token" in request.DESCRIPTOR.fields_by_name else ""
    if header is None and token:
        header = f"Bearer {token}"
    principal = await services.auth.authenticate(header)
    if scope != AUTHENTICATED:
        require(principal, scope)
    return principal


def as_problem(error: Exception, action: str) -> FnproxyError:
    if isinstance(error, FnproxyError):
        return error
    if isinstance(error, ValidationError):
        return from_validation_error(error)
    logger.error("unhandled error on %s", action, exc_info=error)
    return FnproxyError("an internal error occurred")


def failure_trailer(
    code: grpc.StatusCode, problem: FnproxyError, response_class: type[Message]
) -> tuple[tuple[str, bytes], ...]:
    """The `grpc-status-details-bin` trailer: a google.rpc.Status whose details hold the RPC's
    response message with the seed members of `problem` (`seed_problem` gave them)."""
    answer = message(response_class, problem.extra)
    details = any_pb2.Any()
    details.Pack(answer)
    status = status_pb2.Status(code=code.value[0], message=problem.detail, details=[details])
    return ((STATUS_DETAILS_KEY, status.SerializeToString()),)


def serve(
    rpc: Rpc, action: str, response_class: type[Message], services: Services
) -> Callable[[Message, grpc.aio.ServicerContext], Awaitable[Message]]:
    async def handle(request: Message, context: grpc.aio.ServicerContext) -> Message:
        started = time.perf_counter()
        principal = None
        outcome = grpc.StatusCode.OK
        try:
            principal = await authenticate(services, context, request, rpc.scope)
            key = checked_idempotency_key(metadata_value(context, "idempotency-key"))
            with serving(trace_headers(context.invocation_metadata() or ())):
                return await rpc.handler(GrpcCall(services, principal, context, key), request)
        except asyncio.CancelledError:
            outcome = grpc.StatusCode.CANCELLED
            raise
        except Exception as error:  # noqa: BLE001 - every error is a status, none a crash
            problem = seed_problem(as_problem(error, action))
            outcome = status_code(problem)
            trailer = failure_trailer(outcome, problem, response_class)
            await context.abort(outcome, problem.detail, trailer)
        finally:
            services.audit.record(
                request_id=new_id(),
                principal=principal,
                action=f"RPC {action}",
                resource=None,
                decision="deny" if outcome in DENIED else "allow",
                outcome=outcome.name,
                duration_ms=(time.perf_counter() - started) * 1000,
            )

    return handle
