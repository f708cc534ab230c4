"""The floor of a proxy on fnproxy's stack: a raw ASGI app under uvicorn (uvloop, httptools,
one worker, no access log, like `fnproxy serve`) that sends each request's body to one function
URL with fnproxy's own HTTP client (`core/providers/_http_client.py`) and answers the function's
body. No routing, authentication, validation, history, stats or events: what a request through
fnproxy cannot cost less than on this stack.

    python bench/_bare_proxy.py --port 9002 --target http://127.0.0.1:9001/fn
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _fn_server import serve_raw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.providers._http_client import HttpClient  # noqa: E402

CONNECTIONS = 256
JSON = {"content-type": "application/json"}


def bare_proxy_app(target_url: str):
    client = HttpClient(CONNECTIONS)

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        answer = await client.request("POST", target_url, JSON, body)
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(answer.body)).encode())]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target", required=True, help="the function's URL")
    args = parser.parse_args()
    serve_raw(bare_proxy_app(args.target), args.port)


if __name__ == "__main__":
    main()
