"""What the security tests share: a live `fnproxy serve` and a loopback listener standing in
for the cloud metadata services, Google's token endpoint and any server a caller points at.

Every byte stays on 127.0.0.1. The listener records each request it gets, so a test can prove
that a refused destination saw no connection at all.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.conftest import _wait_until_listening as wait_until_listening
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
FNPROXY = str(Path(sys.executable).with_name("fnproxy"))

PLANTED_METADATA_TOKEN = "ya29.PLANTED-METADATA-ACCESS-TOKEN"
PLANTED_IMDS_SESSION = "PLANTED-IMDSV2-SESSION-TOKEN"
PLANTED_AWS_SECRET = "PLANTEDawsSECRETkey0123456789"

CLOUD_PLATFORM = {
    # The cloud's egress rules (loopback and private closed) over the embedded backends.
    "FNPROXY_PLATFORM": "aws",
    "STORE_BACKEND": "sqlite",
    "SECRETS_BACKEND": "env",
    "EVENTS_BACKEND": "local",
    "QUEUE_BACKEND": "local",
}
LOCAL_PLATFORM = {"FNPROXY_PLATFORM": "local"}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Route = Callable[["_Handler"], None]


@dataclass
class Listener:
    """A loopback HTTP server: metadata endpoints, redirects on demand, an echo, a recorder."""

    port: int = 0
    requests: list[Recorded] = field(default_factory=list)
    routes: dict[str, Route] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Listener:
        listener = self

        class Handler(_Handler):
            owner = listener

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def clear(self) -> None:
        self.requests.clear()

    def hits(self, path_prefix: str = "/") -> list[Recorded]:
        return [request for request in self.requests if request.path.startswith(path_prefix)]


class _Handler(BaseHTTPRequestHandler):
    owner: Listener
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.owner.requests.append(
            Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )
        path = urlsplit(self.path).path
        route = self.owner.routes.get(path) or DEFAULT_ROUTES.get(path) or _echo
        route(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    def answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if not any(name.lower() == "content-type" for name in headers or {}):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def _echo(handler: _Handler) -> None:
    last = handler.owner.requests[-1]
    handler.answer(200, {"method": last.method, "path": last.path, "headers": last.headers})


def _gce_token(handler: _Handler) -> None:
    if handler.headers.get("Metadata-Flavor") != "Google":
        handler.answer(403, {"error": "Missing Metadata-Flavor:Google header"})
        return
    handler.answer(200, {"access_token": PLANTED_METADATA_TOKEN, "expires_in": 3599})


def _imds_session(handler: _Handler) -> None:
    handler.answer(200, PLANTED_IMDS_SESSION.encode(), {"Content-Type": "text/plain"})


def _imds_credentials(handler: _Handler) -> None:
    if handler.headers.get("X-aws-ec2-metadata-token") != PLANTED_IMDS_SESSION:
        handler.answer(401, {"error": "no session"})
        return
    handler.answer(200, {"AccessKeyId": "ASIAPLANTED", "SecretAccessKey": PLANTED_AWS_SECRET})


def _redirect(handler: _Handler) -> None:
    """/redirect?to=URL&status=302 answers that redirect."""
    query = parse_qs(urlsplit(handler.path).query)
    status = int(query.get("status", ["302"])[0])
    handler.answer(status, {"redirect": True}, {"Location": query["to"][0]})


METADATA_TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
IMDS_TOKEN_PATH = "/latest/api/token"
IMDS_CREDENTIALS_PATH = "/latest/meta-data/iam/security-credentials/role"
DEFAULT_ROUTES: dict[str, Route] = {
    METADATA_TOKEN_PATH: _gce_token,
    IMDS_TOKEN_PATH: _imds_session,
    IMDS_CREDENTIALS_PATH: _imds_credentials,
    "/redirect": _redirect,
}


@dataclass
class Server:
    """A running `fnproxy serve` and what a test needs to talk to it."""

    url: str
    env: dict[str, str]
    data_dir: Path
    log_path: Path
    process: subprocess.Popen
    module_key: str

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def admin_token(self) -> str:
        with self.http() as http:
            answer = http.post("/v1/auth/token", json={"api_key": self.module_key})
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token()}"}

    def client(self, *scopes: str) -> dict[str, str]:
        """Authorization headers of a new API client holding `scopes`."""
        with self.http() as http:
            created = http.post(
                "/v1/clients", json={"name": "t", "scopes": list(scopes)}, headers=self.admin()
            )
            assert created.status_code == 201, created.text
            body = created.json()
            answer = http.post(
                "/v1/auth/token",
                json={"client_id": body["client_id"], "client_secret": body["client_secret"]},
            )
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(data_dir: Path, env: dict[str, str] | None = None, **popen: Any) -> Server:
    """`fnproxy serve` on a free loopback port over `data_dir` (the cloud egress rules unless
    `env` says otherwise); returns once it accepts connections."""
    port = free_port()
    module_key = secrets.token_urlsafe(48)
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("FNPROXY_", "MODULE_SECRET"))
    }
    environ |= CLOUD_PLATFORM | {
        "FNPROXY_DATA_DIR": str(data_dir),
        "MODULE_SECRET_KEY": module_key,
        "REST_PORT": str(port),
        "LOG_LEVEL": "INFO",
        "LOCAL_FUNCTIONS_DIR": str(REPO / "functions"),
        "LOCAL_WORKERS": "1",
        "MAX_RETRIES": "0",
        "FUNCTION_TIMEOUT": "10",
    }
    environ |= env or {}
    log_path = data_dir.parent / f"{data_dir.name}-server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [FNPROXY, "serve"], cwd=data_dir.parent, env=environ, stdout=log, stderr=log, **popen
        )
    server = Server(f"http://127.0.0.1:{port}", environ, data_dir, log_path, process, module_key)
    try:
        wait_until_listening(process, port, log_path)
    except BaseException:
        server.stop()
        raise
    return server
