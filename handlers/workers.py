"""`fnproxy serve --workers N` (SERVE_WORKERS): N server processes sharing the ports, under a
supervisor (this process) that starts them, replaces one that dies, and stops them all on
SIGTERM or SIGINT.

It follows uvicorn's own supervisor (uvicorn.supervisors.Multiprocess) where that fits: the
supervisor binds the REST socket once and every worker, a fresh interpreter (multiprocessing's
spawn), serves on it, so a worker's restart loses no connection; a worker that fails to start
stops the server, since it would fail alike on every restart; one that dies later is replaced,
so the others' calls in flight go on and the capacity comes back. It is not uvicorn's class
because a worker is not uvicorn's plain Server: it builds its own services and gRPC server and
drains REST and gRPC together (handlers/local.py); because a start-up error must reach the
command line as the same line and exit status as with one process; and because uvicorn's
reports of a death are INFO lines of a logger fnproxy keeps at WARNING. The supervisor sleeps
on the workers' sentinels and a signal wake-up socket; it polls nothing.

grpcio cannot serve on a socket bound by another process, so with a gRPC port each worker binds
it with SO_REUSEPORT and the kernel spreads the connections; the supervisor first checks that
no other server holds the port, which SO_REUSEPORT alone would let pass silently.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType, TracebackType
from typing import Any

from uvicorn.config import STARTUP_FAILURE

from core.config import ConfigError, Settings
from handlers.local import GRACEFUL_SHUTDOWN_S, configure_logging, run_server

logger = logging.getLogger("fnproxy")
SPAWN = multiprocessing.get_context("spawn")
READY = "ready"
"""What a worker says once it serves."""
BACKLOG = 2048
"""The REST socket's accept queue, uvicorn's default."""
STOP_MARGIN_S = 5.0
"""On a stop, how long past its own drain and grace a worker may take before it is killed."""
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
PR_SET_PDEATHSIG = 1
"""prctl's option: the signal a process gets when its parent dies (<linux/prctl.h>)."""


def worker_main(
    settings: Settings, sockets: list[socket.socket], channel: Connection, supervisor: int
) -> None:
    """A worker process: the server of handlers/local.py on the supervisor's REST socket. It
    sends READY once it serves, or the setting or socket error that stopped its start."""
    stop_with_parent(supervisor)
    configure_logging(settings.log_level)
    try:
        run_server(settings, sockets, on_started=lambda: channel.send(READY))
    except (ConfigError, OSError) as error:
        channel.send(error)
        sys.exit(STARTUP_FAILURE)
    except KeyboardInterrupt:  # a terminal's Ctrl-C reaches every worker too: it drained
        pass


def stop_with_parent(supervisor: int) -> None:
    """Have Linux send this worker SIGTERM (a graceful stop) when its supervisor dies: killed,
    it could not stop the workers, which would go on serving its port on their own."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != supervisor:  # it died before the line above
        os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class Worker:
    process: BaseProcess
    channel: Connection | None
    """Where the worker's one word (READY or its start-up error) comes; None once heard."""
    ready: bool = False
    error: BaseException | None = None

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def hear(self) -> None:
        """Take the worker's word; nothing when it died before saying one."""
        assert self.channel is not None
        try:
            word: Any = self.channel.recv()
        except EOFError:
            word = None
        self.channel.close()
        self.channel = None
        if word == READY:
            self.ready = True
            logger.info("fnproxy: worker process %d serving", self.pid)
        elif isinstance(word, BaseException):
            self.error = word


def start_worker(settings: Settings, sockets: list[socket.socket]) -> Worker:
    receiver, sender = SPAWN.Pipe(duplex=False)
    process = SPAWN.Process(
        target=worker_main, args=(settings, sockets, sender, os.getpid()), name="fnproxy-worker"
    )
    process.start()
    sender.close()  # the worker's copy is the only one left: its end is our EOF
    return Worker(process, receiver)


def how_it_ended(exit_code: int | None) -> str:
    if exit_code is not None and exit_code < 0:
        return f"was killed by signal {-exit_code} ({signal.strsignal(-exit_code)})"
    return f"exited with status {exit_code}"


def bound_socket(host: str, port: int, protocol: str, variable: str) -> socket.socket:
    """A TCP socket bound to `host`:`port` with SO_REUSEADDR, as uvicorn and grpcio bind; the
    error is one line naming `protocol` and `variable`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    bound = socket.socket(family, socket.SOCK_STREAM)
    try:
        bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        bound.bind((host, port))
    except OSError as error:
        bound.close()
        raise OSError(
            f"cannot listen for {protocol} on {host}:{port} ({variable}): {error.strerror}"
        ) from None
    return bound


def listening_socket(host: str, port: int) -> socket.socket:
    """REST_HOST:REST_PORT listening, for every worker to accept on."""
    listening = bound_socket(host, port, "REST", "REST_PORT")
    listening.listen(BACKLOG)
    return listening


def check_port_free(host: str, port: int) -> None:
    """That no server holds the gRPC port, with or without SO_REUSEPORT: a bind without the
    option fails then."""
    bound_socket(host, port, "gRPC", "GRPC_PORT").close()


class StopSignals:
    """Within `with`: SIGTERM and SIGINT are recorded, and wake a `wait` on this object (the
    wake-up file descriptor of the signal module); the handlers before are put back after."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self._reader, self._writer = socket.socketpair()
        self._previous: dict[int, Any] = {}
        self._previous_wakeup = -1

    def __enter__(self) -> StopSignals:
        for end in (self._reader, self._writer):
            end.setblocking(False)
        self._previous_wakeup = signal.set_wakeup_fd(
            self._writer.fileno(), warn_on_full_buffer=False
        )
        self._previous = {sig: signal.signal(sig, self._record) for sig in STOP_SIGNALS}
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self._previous_wakeup)
        self._reader.close()
        self._writer.close()

    def _record(self, sig: int, frame: FrameType | None) -> None:
        self.received.append(sig)

    def fileno(self) -> int:
        return self._reader.fileno()

    def drain(self) -> None:
        try:
            while self._reader.recv(64):
                pass
        except BlockingIOError:
            pass


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.workers: list[Worker] = []
        self.sockets: list[socket.socket] = []

    def run(self) -> None:
        """Serve until SIGTERM or SIGINT, then stop every worker and end as that signal does
        with one process (uvicorn raises it again: SIGINT is a KeyboardInterrupt). A worker
        that could not start stops them all: its error is raised, or the exit is uvicorn's
        STARTUP_FAILURE."""
        settings = self.settings
        if settings.grpc_port:
            check_port_free(settings.rest_host, settings.grpc_port)
        self.sockets = [listening_socket(settings.rest_host, settings.rest_port)]
        with StopSignals() as signals:
            try:
                for _ in range(settings.serve_workers):
                    self.workers.append(self._start())
                failed = self._watch(signals)
            finally:
                self._stop_all()
        if failed is not None:
            self._fail(failed)
        signal.raise_signal(signals.received[0])

    def _start(self) -> Worker:
        return start_worker(self.settings, self.sockets)

    def _watch(self, signals: StopSignals) -> Worker | None:
        """Until a stop signal (None) or a worker that ended before it served (that one)."""
        while not signals.received:
            ended = {worker.process.sentinel: worker for worker in self.workers}
            talking = {worker.channel: worker for worker in self.workers if worker.channel}
            ready = wait([signals, *talking, *ended])
            for channel in talking.keys() & set(ready):
                talking[channel].hear()
            for sentinel in ended.keys() & set(ready):
                worker = ended[sentinel]
                if worker.channel is not None:
                    worker.hear()
                if not worker.ready:
                    return worker
                self._replace(worker)
            signals.drain()
        return None

    def _replace(self, worker: Worker) -> None:
        replacement = self._start()
        logger.warning(
            "fnproxy: worker process %d %s; started worker process %d in its place",
            worker.pid,
            how_it_ended(worker.process.exitcode),
            replacement.pid,
        )
        self.workers[self.workers.index(worker)] = replacement

    def _stop_all(self) -> None:
        """Close our REST socket (it stops taking connections once the workers close theirs),
        SIGTERM every worker (each drains as one process does) and wait for them; kill one
        still running past its drain and grace."""
        for listening in self.sockets:
            listening.close()
        running = [worker for worker in self.workers if worker.process.exitcode is None]
        for worker in running:
            worker.process.terminate()
        bound_s = GRACEFUL_SHUTDOWN_S + self.settings.shutdown_grace_s + STOP_MARGIN_S
        deadline = time.monotonic() + bound_s
        for worker in running:
            worker.process.join(max(deadline - time.monotonic(), 0.0))
            if worker.process.exitcode is None:
                logger.warning(
                    "fnproxy: worker process %d still running %g s after SIGTERM: killed",
                    worker.pid,
                    bound_s,
                )
                worker.process.kill()
                worker.process.join()

    def _fail(self, worker: Worker) -> None:
        if worker.error is not None:
            raise worker.error
        logger.error(
            "fnproxy: worker process %d %s before it served; the others are stopped",
            worker.pid,
            how_it_ended(worker.process.exitcode),
        )
        sys.exit(STARTUP_FAILURE)
