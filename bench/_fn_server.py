"""The benchmark's HTTP function: a raw ASGI app under uvicorn (uvloop, httptools, one worker,
no access log) that reads the request body and answers `{"ok": true}`, after `--delay` seconds.

    python bench/_fn_server.py --port 9001 --delay 0.020
"""

from __future__ import annotations

import argparse
import asyncio

import uvicorn

ANSWER = b'{"ok": true}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]
START = {"type": "http.response.start", "status": 200, "headers": HEADERS}
BODY = {"type": "http.response.body", "body": ANSWER}


def function_app(delay_s: float):
    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        await send(START)
        await send(BODY)

    return app


def serve_raw(app, port: int) -> None:
    """`app` on 127.0.0.1:`port` under uvicorn as the benchmark's servers run: uvloop,
    httptools, one worker, no lifespan, no access log."""
    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                lifespan="off", access_log=False, log_level="warning", workers=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before answering")
    args = parser.parse_args()
    serve_raw(function_app(args.delay), args.port)


if __name__ == "__main__":
    main()
