"""Fanout: an `async def` handler; awaits event["tasks"] sleeps of event["seconds"] at once."""

import asyncio
import time


async def handler(event, context):
    event = event or {}
    tasks, seconds = int(event.get("tasks", 3)), float(event.get("seconds", 0.1))
    started = time.monotonic()
    await asyncio.gather(*(asyncio.sleep(seconds) for _ in range(tasks)))
    return {"tasks": tasks, "elapsed_s": round(time.monotonic() - started, 3)}
