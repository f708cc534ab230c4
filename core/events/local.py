"""In-process backends: an event bus that logs every CloudEvent and hands it to in-process
subscribers, and the local work queue, which is the store itself (`LocalWorkQueue`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from core.errors import Conflict
from core.events.base import CloudEvent, InvocationMessage
from core.models import Execution
from core.store.base import ExecutionRepository

logger = logging.getLogger("fnproxy.events")

Subscriber = Callable[[CloudEvent], Awaitable[None]]
MessageHandler = Callable[[InvocationMessage], Awaitable[None]]
OutboxSweeper = Callable[[int, float], Awaitable[None]]
"""Delivers what ended executions still owe, up to (records, seconds): `OutboxSweep.sweep`."""


class LocalEventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def publish(self, event: CloudEvent) -> None:
        if logger.isEnabledFor(logging.INFO):
            logger.info(orjson.dumps(event.to_json_dict()).decode())
        for subscriber in self._subscribers:
            await subscriber(event)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._subscribers.clear()


SWEEP_PAGE = 100
OUTBOX_SWEEP_RECORDS = 10_000
"""At most this many outbox records per sweep (and for at most a sweep interval)."""
BUSY_FUNCTIONS = 8
"""How many functions may each run `per_function` executions at once: the queue's total."""
WINDOW_PER_SLOT = 4
"""Executions the queue holds in memory (waiting for a slot or running) per slot of its total."""


class PayloadSpool:
    """Full payloads of queued executions whose record keeps only a cut copy (over
    `max_inline_bytes`, MAX_STORED_BYTES): one file each in a private folder, until it ran."""

    def __init__(self, folder: Path, max_inline_bytes: int) -> None:
        self._folder = folder
        self._max_inline_bytes = max_inline_bytes

    def keep(self, message: InvocationMessage) -> None:
        payload = message.payload
        encoded = payload.encode() if isinstance(payload, str) else orjson.dumps(payload)
        if payload is None or len(encoded) <= self._max_inline_bytes:
            return
        self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self._path(message.execution_id)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(orjson.dumps(payload))

    def read(self, execution_id: str) -> Any:
        """The spooled payload, or None when there is none."""
        try:
            return orjson.loads(self._path(execution_id).read_bytes())
        except FileNotFoundError:
            return None

    def drop(self, execution_id: str) -> None:
        self._path(execution_id).unlink(missing_ok=True)

    def _path(self, execution_id: str) -> Path:
        return self._folder / f"{execution_id}.json"


class FunctionSlots:
    """`per_function` slots for each function, kept only while someone holds or awaits one."""

    def __init__(self, per_function: int) -> None:
        self._per_function = per_function
        self._slots: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def slot(self, function: str) -> AsyncIterator[None]:
        semaphore, users = self._slots.setdefault(
            function, (asyncio.Semaphore(self._per_function), [0])
        )
        users[0] += 1
        try:
            async with semaphore:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._slots[function]


class LocalWorkQueue:
    """The local async queue is the store: an execution recorded `queued` is its message.

    `enqueue` points a new one out at once; a sweep pages through every runnable execution
    (queued, or running under an expired lease: its runner died) when the queue starts, when
    it had to pass some over, and every `sweep_s`. Each execution runs in a task of its own, at
    most `per_function` of one function at once (a hanging function holds only its own slots)
    and `per_function * BUSY_FUNCTIONS` in all. The handler claims the execution with a lease,
    so one found twice still runs once. `close()` lets what runs finish for `grace_s`, then
    cancels it (its handler puts it back in the queue); what waits stays queued. Each sweep
    then runs the outbox sweep it was started with (`core.invoke.outbox`)."""

    def __init__(
        self,
        executions: ExecutionRepository,
        spool: PayloadSpool,
        *,
        per_function: int,
        sweep_s: float,
        grace_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._executions = executions
        self._spool = spool
        self._per_function = per_function
        self._sweep_s = sweep_s
        self._grace_s = grace_s
        self._clock = clock
        self._slots = asyncio.Semaphore(per_function * BUSY_FUNCTIONS)
        self._window = per_function * BUSY_FUNCTIONS * WINDOW_PER_SLOT
        self._function_slots = FunctionSlots(per_function)
        self._held: dict[str, asyncio.Task[None]] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._handler: MessageHandler | None = None
        self._outbox: OutboxSweeper | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._sweep_wanted = asyncio.Event()
        self._passed_over = False

    async def enqueue(self, message: InvocationMessage) -> None:
        self._spool.keep(message)
        self._offer(message.execution_id)

    def start(self, handler: MessageHandler, outbox: OutboxSweeper | None = None) -> None:
        self._handler = handler
        self._outbox = outbox
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="fnproxy-queue-sweep")

    async def drain(self) -> None:
        """Wait until every execution the queue holds has been handled."""
        while self._held:
            await asyncio.wait(list(self._held.values()))
            await asyncio.sleep(0)  # their done callbacks forget them

    def depth(self) -> int:
        """How many executions the queue holds (waiting for a slot or running)."""
        return len(self._held)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        """Stop taking work; let the running executions finish for `grace_s`, then cancel
        them; executions not started stay queued."""
        self._handler = None
        if self._sweeper is not None:
            self._sweeper.cancel()
        waiting = [task for task in self._held.values() if task not in self._running]
        for task in waiting:
            task.cancel()
        if self._running:
            await asyncio.wait(list(self._running), timeout=self._grace_s)
        for task in self._running:
            task.cancel()
        tasks = [*self._held.values(), *([self._sweeper] if self._sweeper else [])]
        await asyncio.gather(*tasks, return_exceptions=True)
        self._sweeper = None

    def _offer(self, execution_id: str, execution: Execution | None = None) -> bool:
        """Hold the execution and run it when it gets a slot; False when the queue is not
        running or its window is full (a later sweep finds it)."""
        if self._handler is None or execution_id in self._held:
            return self._handler is not None
        if len(self._held) >= self._window:
            self._passed_over = True
            return False
        task = asyncio.create_task(self._run(execution_id, execution))
        self._held[execution_id] = task
        task.add_done_callback(lambda _: self._release(execution_id))
        return True

    def _release(self, execution_id: str) -> None:
        self._held.pop(execution_id, None)
        if self._passed_over and len(self._held) <= self._window // 2:
            self._passed_over = False
            self._sweep_wanted.set()

    async def _run(self, execution_id: str, execution: Execution | None) -> None:
        execution = execution or await self._executions.get(execution_id)
        if execution is None:
            return
        async with self._function_slots.slot(execution.function), self._slots:
            handler = self._handler
            if handler is None:
                return
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            try:
                await handler(InvocationMessage(execution_id, self._spool.read(execution_id)))
            except Conflict as busy:  # claimed by another runner meanwhile
                logger.info("%s", busy.detail)
            except Exception:  # the handler records failures; never let one stop the queue
                logger.exception("async worker failed on execution %s", execution_id)
            finally:
                self._running.discard(task)
        await self._forget_spooled(execution_id)

    async def _forget_spooled(self, execution_id: str) -> None:
        if self._spool.read(execution_id) is None:
            return
        execution = await self._executions.get(execution_id)
        if execution is None or execution.is_terminal:
            self._spool.drop(execution_id)

    async def _sweep_forever(self) -> None:
        while True:
            self._sweep_wanted.clear()
            try:
                await self._sweep()
            except Exception:  # the store may be down for a moment: sweep again later
                logger.exception("could not read the queued executions")
            if self._outbox is not None:
                await self._outbox(OUTBOX_SWEEP_RECORDS, self._sweep_s)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._sweep_s):
                    await self._sweep_wanted.wait()

    async def _sweep(self) -> None:
        """Offer every runnable execution, oldest first, page after page, until the window
        is full."""
        cursor = None
        while True:
            page = await self._executions.list_runnable(self._clock(), SWEEP_PAGE, cursor)
            for execution in page.items:
                if not self._offer(execution.execution_id, execution):
                    return
            cursor = page.next_cursor
            if cursor is None:
                return
