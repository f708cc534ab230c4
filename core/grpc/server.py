"""One `grpc.aio` server on the event loop it is started on, serving the three seed services
on one port, with the standard health service (`grpc.health.v1.Health`: SERVING for the
server and each service while it runs and its ports are healthy, NOT_SERVING while a port
fails, as REST /health then answers 503, and once it drains) and server reflection (so
`grpcurl` and grpc-health-probe need no .proto files)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from core.grpc import gcp_service, lambda_service, openwhisk_service

if TYPE_CHECKING:
    from core.health import HealthChecks
    from core.wiring import Services

SERVICES = (lambda_service.SERVICE, gcp_service.SERVICE, openwhisk_service.SERVICE)
SERVICE_NAMES = tuple(service.descriptor.full_name for service in SERVICES)


class PortsHealth(health.aio.HealthServicer):
    """The standard servicer, whose Check also answers NOT_SERVING while one of fnproxy's
    ports fails its ping (the same cached round REST /health reads). Watch streams tell the
    server's own changes only (serving, draining)."""

    def __init__(self, checks: HealthChecks) -> None:
        super().__init__()
        self._checks = checks

    async def Check(  # noqa: N802 - the generated servicer's method name
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        answer = await super().Check(request, context)
        if answer.status != health_pb2.HealthCheckResponse.SERVING:
            return answer
        results = await self._checks.results()
        if all(result == "ok" for result in results.values()):
            return answer
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.NOT_SERVING)


class GrpcServer:
    """Started and stopped by the app's lifespan (handlers/local.py); `stop` may be called
    more than once (a signal, then the lifespan): every call waits for the same drain."""

    def __init__(self, services: Services, host: str, port: int, shared: bool = False) -> None:
        self._services = services
        self.address = f"{host}:{port}"
        self._shared = shared
        self._server: grpc.aio.Server | None = None
        self._health: PortsHealth | None = None
        self._stopping: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Without SO_REUSEPORT (gRPC's default on Linux), a port another server holds is an
        # error, not a port silently shared with it; `shared`, it is the port of every worker
        # process (handlers/workers.py checked that no other server holds it).
        server = grpc.aio.server(options=[("grpc.so_reuseport", int(self._shared))])
        for service in SERVICES:
            server.add_generic_rpc_handlers((service.handler(self._services),))
        self._health = PortsHealth(self._services.health)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        for name in ("", *SERVICE_NAMES):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        names = (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name)
        reflection.enable_server_reflection((*names, reflection.SERVICE_NAME), server)
        try:
            server.add_insecure_port(self.address)
        except RuntimeError:
            raise OSError(f"cannot listen for gRPC on {self.address} (GRPC_PORT)") from None
        await server.start()
        self._server = server

    def stop(self, grace_s: float) -> asyncio.Task[None]:
        """Refuse new calls at once (health NOT_SERVING), let those running finish for
        `grace_s`, then cancel the rest."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._drain(grace_s))
        return self._stopping

    async def _drain(self, grace_s: float) -> None:
        if self._server is None:
            return
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        await self._server.stop(grace_s)
