"""`fnproxy serve`: the app under uvicorn, with the in-process async worker, behind the bounds
uvicorn's httptools protocol lacks (`BoundedHttpProtocol`); with a gRPC port, the seeds' gRPC
services too (core/grpc), in the same process and on the same event loop. With SERVE_WORKERS
above 1, the CLI's `serve` runs several such processes sharing the ports under a supervisor
(handlers/workers.py, which builds each on `run_server`)."""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import resource
import socket
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from core.api.app import create_app
from core.api.problems import MEDIA_TYPE, PROBLEM_BASE
from core.config import ConfigError, Settings
from core.wiring import Services, build_services
from handlers.log_batching import LoopBatchedStreamHandler

if TYPE_CHECKING:
    from core.grpc.server import GrpcServer

logger = logging.getLogger("fnproxy")
LINGER_S = 1.0
"""After a 431, how long the rest of the request is read and dropped before the connection
closes, so that the client, still sending, gets the answer rather than a reset."""
FD_RESERVE = 64
"""File descriptors kept out of the connection cap for the process's own files: SQLite's
database, journal and shared memory (per connection), the log, the listening sockets, the event
loop's and the local workers' pipes and sockets."""
GRACEFUL_SHUTDOWN_S = 10.0
"""On a stop, how long the REST requests and the gRPC calls in flight may take to finish."""
idle_order = itertools.count()
"""Stamps a connection each time it becomes idle: the smallest stamp has been idle longest."""


def configure_logging(level: str) -> None:
    """fnproxy's own loggers at `level`; every other library's at WARNING, whatever `level` is:
    botocore's DEBUG lines print signed requests (session tokens) and whole API answers. Lines
    go to stderr, those of one event-loop iteration in one write (`LoopBatchedStreamHandler`)."""
    handler = LoopBatchedStreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    logger.setLevel(level)


def local_app(services: Services, grpc_server: GrpcServer | None = None):
    """The app with the local queue's worker started in its lifespan: it resumes whatever an
    earlier run left queued or running under an expired lease, and delivers what ended
    executions still owe (their event and stats count, their callback: the outbox). A stop lets
    the running executions and their callbacks finish for SHUTDOWN_GRACE_S, and leaves the rest
    queued. `grpc_server` starts and stops with it: its calls drain before the services close.

    On a cloud's queue (FNPROXY_PLATFORM aws or gcp: the container on Cloud Run, ECS or
    Kubernetes) the app only enqueues: SQS or Pub/Sub delivers the work to that cloud's worker
    (the Lambda's SQS trigger, the worker function), which also sweeps the outbox.

    Once started, everything made so far (modules, services, the app: about 60,000 objects that
    live as long as the process) is moved out of the cyclic garbage collector's generations
    (`gc.freeze`): a full collection, which Python runs now and then under load, walked all of
    them and held the event loop for about 15 ms each time, which every request then in flight
    waited for; it now walks only what requests made."""

    async def stop() -> None:
        if grpc_server is not None:
            await grpc_server.stop(GRACEFUL_SHUTDOWN_S)
        deadline = time.monotonic() + services.settings.shutdown_grace_s
        await services.queue.close()
        await services.worker.finish_callbacks(max(deadline - time.monotonic(), 0.0))
        await services.close()

    async def start() -> None:
        if services.settings.backend_for("queue") == "local":
            services.queue.start(services.worker.handle, services.worker.outbox.sweep)
        if grpc_server is not None:
            await grpc_server.start()
        gc.freeze()

    return create_app(services, on_startup=start, on_shutdown=stop)


def head_too_large_answer(limit: int) -> bytes:
    """The whole 431 answer (problem+json) to a request head over `limit` bytes."""
    body = orjson.dumps(
        {
            "type": PROBLEM_BASE + "header_too_large",
            "title": "Request header fields too large",
            "status": 431,
            "detail": f"the request head exceeds {limit} bytes (REST_MAX_HEADER_BYTES)",
            "code": "header_too_large",
        }
    )
    head = (
        "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        f"content-type: {MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\n"
        "x-content-type-options: nosniff\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (whose parser takes a head of any size, for any time) with:

    - a head cap: the bytes of a request head are counted as they arrive; past
      `max_head_bytes` the request is answered 431 and the connection closed, the rest of the
      head never parsed nor kept;
    - a head timeout: a head must arrive whole within `head_timeout_s` of its first byte (of
      the connection's opening, for the first one), else the connection is closed;
    - a connection cap: a connection beyond `max_connections` closes the connection that has
      been idle longest (open, with no request running and no byte of the next head), so that
      idle connections never shut a new client out; with none idle, the new one is closed as
      soon as it opens.

    The idle time between requests is uvicorn's keep-alive timeout. `bounded_protocol` sets the
    three bounds from the settings and the file limit."""

    max_head_bytes = 16 * 1024
    head_timeout_s = 10.0
    max_connections = 1000

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._discarding = False
        self._idle_stamp = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._idle_stamp = next(idle_order)
        if len(self.connections) > self.max_connections and not self._evict_longest_idle():
            self.logger.warning("Refused a connection: REST_MAX_CONNECTIONS reached.")
            self._drop()
            return
        self._start_head_timer()

    def _drop(self) -> None:
        """Close this connection and stop counting it now, not when the loop reports it lost:
        uvicorn's 503 for too many connections counts them too."""
        self.transport.close()
        self.connections.discard(self)

    def is_idle(self) -> bool:
        """Open, no request running or queued, and no byte of the next request received."""
        return (
            self._in_head
            and self._head_bytes == 0
            and (self.cycle is None or self.cycle.response_complete)
            and not self.transport.is_closing()
        )

    def _evict_longest_idle(self) -> bool:
        idle = [
            connection
            for connection in self.connections
            if isinstance(connection, BoundedHttpProtocol)
            and connection is not self
            and connection.is_idle()
        ]
        if not idle:
            return False
        min(idle, key=lambda connection: connection._idle_stamp)._drop()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        if not self._in_head:
            super().data_received(data)
            return
        self._start_head_timer()
        room = self.max_head_bytes - self._head_bytes
        self._head_bytes += min(len(data), room)
        super().data_received(data[:room])
        if len(data) <= room or self.transport.is_closing():
            return
        if self._in_head:
            self._refuse_head()
        else:  # the head ended within its room: the rest is its body (or the next request)
            self.data_received(data[room:])

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._idle_stamp = next(idle_order)

    def _refuse_head(self) -> None:
        """Answer 431, then drop whatever else comes for LINGER_S and close."""
        self._stop_head_timer()
        self._discarding = True
        self.transport.write(head_too_large_answer(self.max_head_bytes))
        self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)

    def _start_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self.transport.close()


def connection_cap(configured: int) -> int:
    """REST_MAX_CONNECTIONS, lowered to what the file limit allows: after FD_RESERVE, half of
    the descriptors left for client connections and half for what their requests open (a
    connection to the target, a worker's socket)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    allowed = max(1, (soft - FD_RESERVE) // 2)
    if allowed < configured:
        logger.warning(
            "REST_MAX_CONNECTIONS %d lowered to %d: file limit %d", configured, allowed, soft
        )
    return min(configured, allowed)


def bounded_protocol(settings: Settings) -> type[BoundedHttpProtocol]:
    """`BoundedHttpProtocol` with the bounds of `settings` (REST_MAX_HEADER_BYTES,
    REST_HEADER_TIMEOUT_S, REST_MAX_CONNECTIONS within the file limit)."""
    return type(
        "SettingsBoundedHttpProtocol",
        (BoundedHttpProtocol,),
        {
            "max_head_bytes": settings.rest_max_header_bytes,
            "head_timeout_s": settings.rest_header_timeout_s,
            "max_connections": connection_cap(settings.rest_max_connections),
        },
    )


class RestAndGrpcServer(uvicorn.Server):
    """uvicorn's server that starts draining the gRPC server when it stops taking REST
    connections, so that both drain together (the app's lifespan waits for gRPC's drain), and
    calls `on_started` once it serves both."""

    def __init__(
        self,
        config: uvicorn.Config,
        grpc_server: GrpcServer | None,
        on_started: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config)
        self.grpc_server = grpc_server
        self.on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_started is not None:
            self.on_started()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.grpc_server is not None:
            self.grpc_server.stop(GRACEFUL_SHUTDOWN_S)
        await super().shutdown(sockets)


def grpc_server_for(services: Services) -> GrpcServer | None:
    """The gRPC server of GRPC_PORT, or None when it is unset (grpcio is then not imported);
    with several workers, each binds the port with SO_REUSEPORT."""
    settings = services.settings
    if not settings.grpc_port:
        return None
    from core.grpc.server import GrpcServer

    return GrpcServer(
        services, settings.rest_host, settings.grpc_port, shared=settings.serve_workers > 1
    )


def refuse_unservable(settings: Settings) -> None:
    """What `fnproxy serve` refuses before it starts anything: settings it could only fail on
    later, with a less telling error."""
    refuse_shared_sqlite(settings)
    refuse_shared_port(settings)


def refuse_shared_port(settings: Settings) -> None:
    """REST and gRPC each need a port of their own: on the same one, the second bind fails
    after the first server is up."""
    if settings.grpc_port == settings.rest_port:
        raise ConfigError(
            f"GRPC_PORT={settings.grpc_port} is REST_PORT too: give gRPC a port of its own"
        )


def refuse_shared_sqlite(settings: Settings) -> None:
    """SQLite takes one writer at a time: worker processes writing every invocation's records
    would queue for its lock (each write waiting up to STORE_BUSY_TIMEOUT_S) rather than add
    throughput, so several workers need a store built for them."""
    if settings.serve_workers == 1 or settings.backend_for("store") != "sqlite":
        return
    chosen = (
        "STORE_BACKEND=sqlite"
        if settings.store_backend
        else f"FNPROXY_PLATFORM={settings.platform}, whose store is SQLite"
    )
    raise ConfigError(
        f"SERVE_WORKERS={settings.serve_workers}: worker processes cannot share the SQLite "
        f"store ({chosen}); run one worker, or a store they can share (FNPROXY_PLATFORM=aws "
        "or gcp, or STORE_BACKEND=dynamodb or firestore)"
    )


def run_server(
    settings: Settings,
    sockets: list[socket.socket] | None = None,
    on_started: Callable[[], None] | None = None,
) -> None:
    """The server, on `sockets` (a supervisor's) or binding REST_HOST:REST_PORT itself;
    `on_started` is called once it serves."""
    services = build_services(settings)
    grpc_server = grpc_server_for(services)
    protocol = bounded_protocol(settings)
    config = uvicorn.Config(
        local_app(services, grpc_server),
        host=settings.rest_host,
        port=settings.rest_port,
        http=protocol,
        # Connections never reach this (refused above the cap): it caps the requests still
        # running, those of clients gone included, with a 503.
        limit_concurrency=protocol.max_connections + 1,
        timeout_keep_alive=settings.rest_idle_timeout_s,
        server_header=False,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    server = RestAndGrpcServer(config, grpc_server, on_started)
    server.run(sockets)
    if not server.started:
        sys.exit(STARTUP_FAILURE)
