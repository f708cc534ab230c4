"""What runs inside a local worker process (a fresh interpreter started by `LocalProvider`
with an allow-listed environment, so it shares nothing with the server).

The worker caps its address space, confines itself (`_sandbox.confine`: the server's private
paths and `/proc` files are out of reach) once its own imports are done and before any user
code runs, then answers one request at a time on its socket until the server closes it. A
request names a module of the functions folder and a public function defined in it; the
handler is called like an AWS Lambda Python handler, `handler(event, context)`, with everything
written to stdout and stderr (file descriptors 1 and 2) captured as the call's logs. A handler
written `async def` (or returning a coroutine) is awaited on a fresh event loop; its deadline is
the server's, as for any handler: the server kills a worker whose call runs past it.

Messages both ways are JSON, each preceded by its length (4 bytes, big-endian): the event and
the result go through JSON as on Lambda, and the server never unpickles what user code could
have written.
"""

from __future__ import annotations

# asyncio is imported here, before `serve` puts the functions folder first on sys.path: a
# function named asyncio.py must not stand in for it.
import asyncio
import contextlib
import inspect
import os
import resource
import signal
import socket
import struct
import sys
import tempfile
import time
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import orjson

from core.providers._sandbox import confine

HEADER = struct.Struct("!I")
MAX_LOG_BYTES = 1024 * 1024
"""Logs of one call beyond this are cut (the record keeps far less anyway)."""
ASYNCIO_DIR = os.path.dirname(asyncio.__file__) + os.sep


def encode_message(message: Any) -> bytes:
    """Raises TypeError for what JSON cannot carry."""
    body = orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS)
    return HEADER.pack(len(body)) + body


def read_message(stream: BinaryIO) -> Any:
    """The next message, or None once the other end has closed."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    return orjson.loads(stream.read(size))


def serve(channel_fd: int, functions_dir: str, memory_mb: int, private_paths: list[str]) -> None:
    """The worker process's entry point: `channel_fd` is its end of the server's socket."""
    _limit_address_space(memory_mb * 1024 * 1024)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's business
    channel = socket.socket(fileno=channel_fd)
    sys.path.insert(0, functions_dir)
    runner = FunctionRunner(Path(functions_dir), memory_mb)
    confine(Path(path) for path in private_paths)
    with channel, channel.makefile("rb") as requests:
        while (request := read_message(requests)) is not None:
            channel.sendall(runner.run(request))


class Client:
    """Lambda's `context.client_context.client`: the calling app, as its caller described it."""

    FIELDS = (
        "installation_id",
        "app_title",
        "app_version_name",
        "app_version_code",
        "app_package_name",
    )

    def __init__(self, described: dict[str, Any]) -> None:
        for name in self.FIELDS:
            setattr(self, name, described.get(name))


class ClientContext:
    """Lambda's `context.client_context`: the caller's (`client`, `custom`, `env`), with the
    attempt's `traceparent` and `tracestate` in `custom`, as a Lambda function invoked by
    fnproxy finds them."""

    def __init__(self, caller: dict[str, Any], trace: dict[str, str]) -> None:
        self.client = Client(caller["client"]) if caller.get("client") is not None else None
        self.custom = {**caller.get("custom", {}), **trace}
        self.env = caller.get("env")


class LambdaContext:
    """The parts of AWS Lambda's Python context object that make sense locally."""

    function_version = "$LATEST"
    identity = None

    def __init__(
        self,
        function: str,
        request_id: str,
        memory_mb: int,
        timeout_s: float,
        trace: dict[str, str] | None = None,
        client_context: dict[str, Any] | None = None,
    ) -> None:
        self.client_context = ClientContext(client_context or {}, trace or {})
        self.function_name = function
        self.invoked_function_arn = f"local:{function}"
        self.aws_request_id = request_id
        self.memory_limit_in_mb = memory_mb
        self.log_group_name = f"/fnproxy/local/{function}"
        self.log_stream_name = f"worker-{os.getpid()}"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class OutputCapture:
    """Points file descriptors 1 and 2 at one temporary file for the length of a call.

    Working at descriptor level catches what bypasses `sys.stdout` too (C extensions,
    `os.write`, child processes); both descriptors share the file's offset and the streams are
    line-buffered, so stdout and stderr lines keep their order.
    """

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        self._originals = (os.dup(1), os.dup(2))

    def __enter__(self) -> None:
        # Fresh streams each call: a function may have closed or replaced the previous ones.
        sys.stdout, sys.stderr = _line_buffered(1), _line_buffered(2)
        target = self._file.fileno()
        os.dup2(target, 1)
        os.dup2(target, 2)

    def __exit__(self, *exc_info: object) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os.dup2(self._originals[0], 1)
        os.dup2(self._originals[1], 2)

    def take(self) -> str:
        """What the call wrote; the file is emptied for the next one."""
        written = self._file.seek(0, os.SEEK_CUR)
        if not written:
            return ""
        self._file.seek(0)
        text = self._file.read(MAX_LOG_BYTES).decode("utf-8", errors="replace")
        if written > MAX_LOG_BYTES:
            text += f"\n[{written - MAX_LOG_BYTES} more bytes of output were cut]\n"
        self._file.seek(0)
        self._file.truncate()
        return text


class FunctionRunner:
    """Loads function modules (again when their file changes) and calls their handlers."""

    def __init__(self, functions_dir: Path, memory_mb: int) -> None:
        self._dir = functions_dir
        self._memory_mb = memory_mb
        self._modules: dict[str, tuple[int, types.ModuleType]] = {}
        self._capture = OutputCapture()

    def run(self, request: dict[str, Any]) -> bytes:
        """The encoded reply to a request."""
        with self._capture:
            reply = self._call(request)
        reply["logs"] = self._capture.take()
        try:
            return encode_message(reply)
        except TypeError as exc:  # only a function's result can fail to encode
            error = {"type": "ResultNotSerializable", "message": str(exc)}
            return encode_message({"kind": "error", "error": error, "logs": reply["logs"]})

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            handler = _handler(self._module(request["module"]), request["attr"])
        except BaseException as exc:  # noqa: BLE001 - a failed import is the function's error
            return _failure(exc)
        if handler is None:
            message = f"{request['module']}.py has no function {request['attr']!r}"
            return {"kind": "not_found", "message": message}
        context = LambdaContext(
            request["function"],
            request["execution_id"],
            self._memory_mb,
            request["timeout_s"],
            request.get("trace"),
            request.get("client_context"),
        )
        try:
            return {"kind": "ok", "result": _called(handler, request["event"], context)}
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: the worker lives on
            return _failure(exc)

    def _module(self, name: str) -> types.ModuleType:
        path = self._dir / f"{name}.py"
        mtime = path.stat().st_mtime_ns
        cached = self._modules.get(name)
        if cached is None or cached[0] != mtime:
            cached = self._modules[name] = (mtime, self._execute(name, path))
        return cached[1]

    def _execute(self, name: str, path: Path) -> types.ModuleType:
        """Run the module's source afresh (no bytecode cache: an edit is always seen)."""
        module = types.ModuleType(name)
        module.__file__ = str(path)
        # Registered like an import (dataclasses, pydantic look there), unless it would hide
        # a module the worker imported, e.g. a function file named json.py.
        registered = name not in sys.modules or name in self._modules
        if registered:
            sys.modules[name] = module
        try:
            exec(compile(path.read_bytes(), str(path), "exec"), module.__dict__)  # noqa: S102
        except BaseException:
            if registered:
                del sys.modules[name]
            raise
        return module


def is_public_name(name: str) -> bool:
    """A name a caller may give for a module or a handler: an identifier without a leading `_`."""
    return name.isidentifier() and not name.startswith("_")


def _handler(module: types.ModuleType, name: str) -> Callable[..., Any] | None:
    """The public function `name` defined in `module` itself, else None: never a dunder or
    private attribute (`hello.__setattr__`), a class, a builtin or a function it imported.
    Read from the module's namespace, so that no module `__getattr__` runs either."""
    candidate = module.__dict__.get(name) if is_public_name(name) else None
    if inspect.isfunction(candidate) and candidate.__module__ == module.__name__:
        return candidate
    return None


def _called(handler: Callable[..., Any], event: Any, context: LambdaContext) -> Any:
    """The handler's result; a coroutine's (an `async def` handler) once run to its end."""
    result = handler(event, context)
    if inspect.iscoroutine(result):
        return asyncio.run(result)
    return result


def _failure(exc: BaseException) -> dict[str, Any]:
    """The function's error; its traceback, without the worker's own frames or those of the
    event loop that ran an `async def` handler, goes to the logs."""
    frames = exc.__traceback__
    while frames is not None and _is_runner_frame(frames.tb_frame.f_code.co_filename):
        frames = frames.tb_next
    traceback.print_exception(type(exc), exc, frames)
    message = str(exc).encode("utf-8", "backslashreplace").decode()  # JSON-safe, even surrogates
    return {"kind": "error", "error": {"type": type(exc).__name__, "message": message}}


def _is_runner_frame(filename: str) -> bool:
    return filename == __file__ or filename.startswith(ASYNCIO_DIR)


def _line_buffered(fd: int) -> TextIO:
    return open(fd, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)


def _limit_address_space(limit: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
