"""The `local` provider: Python functions of a folder, `handler(event, context)` as on AWS
Lambda (plain or `async def`: the worker awaits a coroutine), run in a pool of worker processes.

Workers are fresh interpreters started on first use (the server is never forked into one), with
an allow-listed environment (`PATH`, `HOME`, `LANG`, `TZ`, `PYTHON*` and the names of
`LOCAL_FUNCTION_ENV`): the server's secrets and cloud credentials are not passed on. Each caps
its own address space (`memory_mb`) and confines itself with Landlock before any user code runs:
the private paths (the data folder, the database, `.env`, cloud credential files) and the
server's `/proc` files are out of its reach (`_sandbox.py`). The server makes itself
non-dumpable before its first worker starts, which closes its `/proc` files to every process of
the same user, Landlock or not.

An invocation borrows an idle worker, writes the request to its socket and awaits the answer on
the event loop (no thread per call). A worker that dies is reported as `WorkerCrashed`; one
whose call is cancelled (the invocation's deadline) is killed at once: a stuck worker is never
reused. Either way a fresh one replaces it on demand.

Module docstrings are read with `ast`: user code is never imported in the server process. A
handler is a public function defined in its module (`hello`, `lambda_context.other`); anything
else is 404 `function_not_found` and is never called: a name with a leading `_`
(`hello.__setattr__`) is refused before it reaches a worker, a class or an imported function by
the worker.
"""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from core.errors import FunctionNotFound, InvalidRequest
from core.models import Page
from core.providers._local_worker import HEADER, encode_message, is_public_name
from core.providers._sandbox import landlock_abi, make_undumpable
from core.providers.base import CallContext, FunctionInfo, InvocationOutcome
from core.targets import LocalTarget

logger = logging.getLogger("fnproxy.local")

DEFAULT_HANDLER = "handler"
WORKER_ENV = ("PATH", "HOME", "LANG", "TZ")
"""Variables every worker gets (when the server has them), with every PYTHON* one."""
CREDENTIAL_FILE_VARIABLES = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GCP_SERVICE_ACCOUNT_KEY",  # a key file's path, or its JSON (then there is no file)
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
)
CREDENTIAL_FOLDERS = ("~/.aws", "~/.config/gcloud")
WORKER_BOOTSTRAP = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "from core.providers._local_worker import serve; serve(*json.loads(sys.argv[2]))"
)
"""The worker's `python -c` program: the server's import path, then `serve(arguments)`."""
CRASH_GRACE_S = 1.0
REAP_TIMEOUT_S = 5.0
REAP_POLL_S = 0.01


class LocalProvider:
    name = "local"

    def __init__(
        self,
        functions_dir: Path,
        workers: int,
        memory_mb: int,
        function_env: Iterable[str] = (),
        private_paths: Iterable[Path] = (),
    ) -> None:
        """`function_env` names the server variables passed on to functions besides
        `WORKER_ENV`; `private_paths` are what they must not reach (the data folder...)."""
        self._root = Path(functions_dir).resolve()
        self._memory_mb = memory_mb
        self._function_env = frozenset(function_env)
        self._private_paths = _private_paths(private_paths, self._root)
        make_undumpable()
        if not landlock_abi():
            logger.warning(
                "this kernel has no Landlock: local functions can read the data folder "
                "and the other private paths of the server (docs/security.md)"
            )
        # Last in, first out: a warm worker is reused before an empty slot starts a new one.
        self._slots: asyncio.LifoQueue[_Worker | None] = asyncio.LifoQueue()
        for _ in range(workers):
            self._slots.put_nowait(None)  # a worker is started when its slot is first used
        self._workers: set[_Worker] = set()
        self._reaping: set[asyncio.Task[int | None]] = set()

    def function_key(self, target: LocalTarget) -> str:
        return f"local:{target.function}"

    async def invoke(
        self, target: LocalTarget, payload: Any, context: CallContext
    ) -> InvocationOutcome:
        module, attr, path = self._locate(target.function)
        request = _encode_request(
            {
                "function": target.function,
                "module": module,
                "attr": attr,
                "event": payload,
                "execution_id": context.execution_id,
                "timeout_s": context.timeout_s,
                "trace": context.trace_fields(),
                "client_context": context.client_context,
            }
        )
        worker = await self._acquire()
        info = {"path": path.name, "worker_pid": worker.pid}
        try:
            reply = await worker.call(request)
        except (EOFError, OSError):
            self._slots.put_nowait(None)
            exit_code = await asyncio.shield(self._retire(worker, grace_s=CRASH_GRACE_S))
            return _crashed(exit_code, info)
        except BaseException:  # cancelled (the deadline) or broken: never reuse this worker
            self._slots.put_nowait(None)
            self._retire(worker)
            raise
        self._slots.put_nowait(worker)
        return _outcome(reply, info)

    async def dry_run(
        self, target: LocalTarget, payload: Any, context: CallContext
    ) -> InvocationOutcome:
        _, _, path = self._locate(target.function)
        return InvocationOutcome(success=True, status_code=204, info={"path": path.name})

    async def list_functions(self, limit: int, cursor: str | None) -> Page[FunctionInfo]:
        names = [name for name in self._module_names() if cursor is None or name > cursor]
        page = names[:limit]
        next_cursor = page[-1] if page and len(names) > len(page) else None
        return Page(items=[self._info(name) for name in page], next_cursor=next_cursor)

    async def get_function(self, name: str) -> FunctionInfo:
        return self._info(name)

    async def close(self) -> None:
        for worker in list(self._workers):
            self._retire(worker)
        await asyncio.gather(*self._reaping)

    def _locate(self, function: str) -> tuple[str, str, Path]:
        """(module, handler attribute, file) of `module` or `module.func`."""
        module, _, attr = function.partition(".")
        attr = attr or DEFAULT_HANDLER
        path = self._module_file(module) if is_public_name(attr) else None
        if path is None:
            raise FunctionNotFound(f"no local function {function!r}")
        return module, attr, path

    def _module_file(self, module: str) -> Path | None:
        """The module's file if it is a function of the folder (not a helper, not a link out)."""
        if not is_public_name(module):
            return None
        path = (self._root / f"{module}.py").resolve()
        return path if path.parent == self._root and path.is_file() else None

    def _module_names(self) -> list[str]:
        if not self._root.is_dir():
            return []
        return sorted(path.stem for path in self._root.glob("*.py") if self._module_file(path.stem))

    def _info(self, name: str) -> FunctionInfo:
        _, attr, path = self._locate(name)
        details = {"handler": attr, "description": _description(path), "path": path.name}
        return FunctionInfo(name=name, provider=self.name, details=details)

    async def _acquire(self) -> _Worker:
        worker = await self._slots.get()
        if worker is not None and worker.alive:
            return worker
        if worker is not None:  # it died while idle
            self._retire(worker, grace_s=CRASH_GRACE_S)
        try:
            return self._spawn()
        except BaseException:
            self._slots.put_nowait(None)
            raise

    def _spawn(self) -> _Worker:
        ours, theirs = socket.socketpair()
        arguments = [theirs.fileno(), str(self._root), self._memory_mb, self._private_paths]
        command = [sys.executable, "-c", WORKER_BOOTSTRAP, json.dumps(sys.path)]
        try:
            process = subprocess.Popen(
                [*command, json.dumps(arguments)],
                env=worker_environment(os.environ, self._function_env),
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        worker = _Worker(process, ours)
        self._workers.add(worker)
        return worker

    def _retire(self, worker: _Worker, grace_s: float = 0.0) -> asyncio.Task[int | None]:
        """Stop the worker and reap it in the background; the task gives its exit code."""
        self._workers.discard(worker)
        reaping = worker.stop(grace_s)
        self._reaping.add(reaping)
        reaping.add_done_callback(self._reaping.discard)
        return reaping


class _Worker:
    """One worker process and the server's end of its socket."""

    def __init__(self, process: subprocess.Popen[bytes], channel: socket.socket) -> None:
        channel.setblocking(False)
        self._process = process
        self._channel = channel
        self._stopping: asyncio.Task[int | None] | None = None
        self.pid = process.pid

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    async def call(self, request: bytes) -> dict[str, Any]:
        """Send an encoded request, await the reply; EOFError or OSError if the worker dies."""
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(self._channel, request)
        (size,) = HEADER.unpack(await self._receive(loop, HEADER.size))
        return orjson.loads(await self._receive(loop, size))

    async def _receive(self, loop: asyncio.AbstractEventLoop, size: int) -> bytearray:
        buffer = bytearray(size)
        view = memoryview(buffer)
        received = 0
        while received < size:
            count = await loop.sock_recv_into(self._channel, view[received:])
            if not count:
                raise EOFError("the worker closed its socket")
            received += count
        return buffer

    def stop(self, grace_s: float) -> asyncio.Task[int | None]:
        """End the process (once): SIGKILL now, or after `grace_s` for one that is exiting by
        itself (so that its own exit code is kept); the task reaps it and gives the code."""
        if self._stopping is None:
            self._channel.close()
            if not grace_s:
                self._process.kill()
            self._stopping = asyncio.ensure_future(self._reap(grace_s))
        return self._stopping

    async def _reap(self, grace_s: float) -> int | None:
        await self._ended_within(grace_s)
        self._process.kill()  # a no-op once the process has ended
        await self._ended_within(REAP_TIMEOUT_S)
        return self._process.returncode

    async def _ended_within(self, timeout_s: float) -> bool:
        """Poll without blocking the loop; `poll` reaps an ended process."""
        deadline = time.monotonic() + timeout_s
        while self._process.poll() is None:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(REAP_POLL_S)
        return True


def worker_environment(environ: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """What a worker gets of the server's environment: `WORKER_ENV`, PYTHON* and `names`."""
    allowed = {*WORKER_ENV, *names}
    return {
        name: value
        for name, value in environ.items()
        if name in allowed or name.startswith("PYTHON")
    }


def _private_paths(given: Iterable[Path], functions_dir: Path) -> list[str]:
    """The given paths, the cloud credential files of the server's environment and the usual
    credential folders, resolved; but never one holding the functions, which workers read."""
    named = (os.environ.get(variable, "") for variable in CREDENTIAL_FILE_VARIABLES)
    candidates = [
        *given,
        *(Path(path) for path in named if path and os.path.isfile(path)),
        *(Path(folder).expanduser() for folder in CREDENTIAL_FOLDERS),
    ]
    private = []
    for path in map(Path, map(os.path.realpath, candidates)):
        if functions_dir.is_relative_to(path):
            logger.warning("%s holds the local functions: they can read all of it", path)
        else:
            private.append(str(path))
    return private


def _encode_request(request: dict[str, Any]) -> bytes:
    try:
        return encode_message(request)
    except TypeError as exc:
        raise InvalidRequest(f"a local function's event must be JSON: {exc}") from None


def _outcome(reply: dict[str, Any], info: dict[str, Any]) -> InvocationOutcome:
    kind = reply["kind"]
    if kind == "not_found":
        raise FunctionNotFound(reply["message"])
    if kind == "ok":
        return InvocationOutcome(
            success=True, status_code=200, result=reply["result"], logs=reply["logs"], info=info
        )
    return InvocationOutcome(
        success=False, status_code=500, error=reply["error"], logs=reply["logs"], info=info
    )


def _crashed(exit_code: int | None, info: dict[str, Any]) -> InvocationOutcome:
    if exit_code is not None and exit_code < 0:
        how = f"was killed by {signal.Signals(-exit_code).name}"
    else:
        how = f"exited with code {exit_code}"
    error = {"type": "WorkerCrashed", "message": f"the worker process {how}"}
    return InvocationOutcome(success=False, status_code=500, error=error, info=info)


def _description(path: Path) -> str:
    """First line of the module docstring, read without importing the module."""
    try:
        docstring = ast.get_docstring(ast.parse(path.read_bytes()))
    except (OSError, SyntaxError, ValueError):
        return ""
    return docstring.strip().splitlines()[0] if docstring else ""
