"""In-process backends: an event bus that logs every CloudEvent and hands it to in-process
subscribers, and a work queue served by a few asyncio worker tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import orjson

from core.events.base import CloudEvent, InvocationMessage

logger = logging.getLogger("fnproxy.events")

Subscriber = Callable[[CloudEvent], Awaitable[None]]
MessageHandler = Callable[[InvocationMessage], Awaitable[None]]


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


class LocalWorkQueue:
    """An asyncio queue drained by `workers` tasks once `start(handler)` is called. Messages
    enqueued before start wait for it; `close()` lets the workers finish what they hold."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._queue: asyncio.Queue[InvocationMessage] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def _messages(self) -> asyncio.Queue[InvocationMessage]:
        if self._queue is None:
            self._queue = asyncio.Queue()
        return self._queue

    async def enqueue(self, message: InvocationMessage) -> None:
        self._messages().put_nowait(message)

    def start(self, handler: MessageHandler) -> None:
        queue = self._messages()
        self._tasks = [
            asyncio.create_task(self._serve(queue, handler), name=f"fnproxy-worker-{n}")
            for n in range(self._workers)
        ]

    async def drain(self) -> None:
        """Wait until every enqueued message has been handled."""
        await self._messages().join()

    @staticmethod
    async def _serve(queue: asyncio.Queue[InvocationMessage], handler: MessageHandler) -> None:
        while True:
            message = await queue.get()
            try:
                await handler(message)
            except Exception:  # the handler records failures; never let one kill the worker
                logger.exception("async worker failed on execution %s", message.execution_id)
            finally:
                queue.task_done()

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
