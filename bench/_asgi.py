"""A minimal in-process ASGI client for the cold-start children: the lifespan protocol and one
HTTP request through hand-built scope/receive/send, so neither side pays for an HTTP client
library it would not otherwise import. Standard library only."""

from __future__ import annotations

import asyncio
from typing import Any

ASGI = {"version": "3.0", "spec_version": "2.3"}


class Lifespan:
    """`async with Lifespan(app):` runs the app's startup on entry and its shutdown on exit."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._to_app: asyncio.Queue[dict] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> Lifespan:
        scope = {"type": "lifespan", "asgi": ASGI, "state": {}}
        self._task = asyncio.create_task(self._app(scope, self._to_app.get, self._from_app.put))
        await self._exchange("startup")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._exchange("shutdown")
        await self._task

    async def _exchange(self, phase: str) -> None:
        await self._to_app.put({"type": f"lifespan.{phase}"})
        answer = await self._from_app.get()
        if answer["type"] != f"lifespan.{phase}.complete":
            raise RuntimeError(f"lifespan {phase} failed: {answer.get('message', answer)}")


async def post(app: Any, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST `body` to `path` of `app`; the status and the whole answer's body."""
    raw_headers = [(b"host", b"localhost"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    scope = {
        "type": "http", "asgi": ASGI, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": raw_headers, "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 80),
        "state": {},
    }
    requests = [{"type": "http.request", "body": body, "more_body": False}]
    answer: dict[str, Any] = {"status": 0, "body": []}
    finished = asyncio.Event()

    async def receive() -> dict:
        if requests:
            return requests.pop()
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"].append(message.get("body", b""))
            if not message.get("more_body"):
                finished.set()

    await app(scope, receive, send)
    return answer["status"], b"".join(answer["body"])
