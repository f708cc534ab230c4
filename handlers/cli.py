"""The `fnproxy` command: serve, token, invoke, batch, history, clients bootstrap.

`token`, `invoke`, `batch` and `history` talk to a running fnproxy over HTTP: `--url` (or
FNPROXY_URL, default http://REST_HOST:REST_PORT) with `--token` (or FNPROXY_TOKEN); without a
token, one is fetched with the module secret key (locally, the generated one in the data folder).
`clients bootstrap` writes a client straight into the deployment's store instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.auth.scopes import ADMIN
from core.config import (
    GENERATED_KEY_FILE,
    PLATFORM_DEFAULTS,
    PLATFORMS,
    ConfigError,
    Settings,
    ensure_local_secret_key,
    load_settings,
)
from core.errors import FnproxyError, ValidationFailed

if TYPE_CHECKING:
    from core.models import Client

TARGET_FIELDS = {
    "local": "function",
    "http": "url",
    "aws_lambda": "function",
    "gcp_functions": "function",
    "openwhisk": "action",
}


EXIT_CODES = """exit status:
  0    success: the invocation (or every item of a batch) succeeded
  1    the invoked function failed (success: false), a batch had failures, or the server
       could not be reached or refused the request (the error is printed in one line)
  2    usage error: bad options, an unreadable or invalid payload or batch file, or a
       batch with nothing to run (nothing is sent)
  130  interrupted (Ctrl-C)"""


class CliError(Exception):
    """A failure to report in one line, exit status 1."""

    status = 1


class UsageError(CliError):
    """A mistake in the command line or its input, exit status 2 (as argparse's own)."""

    status = 2


def parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        at = f"line {error.lineno} column {error.colno}"
        raise UsageError(f"payload: invalid JSON at {at} {where}: {error.msg}") from None


def parse_target(text: str) -> dict[str, Any] | str:
    """`local:echo`, `http:https://host/fn`, `aws_lambda:name`, ... or a JSON target object;
    a bare NAME (no colon) is a registered function's name, returned as the string."""
    if text.lstrip().startswith("{"):
        return json.loads(text)
    provider, sep, name = text.partition(":")
    if not sep:
        return text
    if provider not in TARGET_FIELDS:
        raise CliError(
            f"target must be a registered function's NAME or PROVIDER:NAME with PROVIDER in "
            f"{', '.join(TARGET_FIELDS)}"
        )
    field = "url" if provider == "gcp_functions" and "://" in name else TARGET_FIELDS[provider]
    return {"provider": provider, field: name}


PAYLOAD_HELP = (
    "the payload: inline JSON when the value starts with { or [ (after spaces), - for stdin, "
    "a JSON file's path otherwise (write ./{name} for a file whose name starts with { or [)"
)


def read_payload(source: str | None) -> Any:
    """PAYLOAD_HELP's rule: it looks only at the value, never at which files exist."""
    if source is None:
        return None
    if source.lstrip().startswith(("{", "[")):
        text, where = source, "of the inline -p value"
    elif source == "-":
        text, where = sys.stdin.read(), "of stdin"
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as error:
            raise UsageError(f"payload: cannot read {source}: {error.strerror or error}") from None
        where = f"of {source}"
    return parse_json(text, where) if text.strip() else None


DEFAULT_TIMEOUT_S = 120.0


def positive_seconds(text: str) -> float:
    """--timeout's type (argparse applies it to a string default too: FNPROXY_TIMEOUT)."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return seconds


class Api:
    def __init__(self, url: str, token: str | None, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None, headers: dict | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except TimeoutError:
            raise self.timed_out() from None
        except urllib.error.HTTPError as error:
            raw = error.read()
            raise CliError(f"HTTP {error.code}: {raw.decode('utf-8', 'replace')}") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise self.timed_out() from None
            raise CliError(f"cannot reach fnproxy at {self.url}: {error.reason}") from None
        return json.loads(raw) if raw else None

    def timed_out(self) -> CliError:
        return CliError(
            f"no answer from fnproxy at {self.url} within {self.timeout:g} s (--timeout)"
        )

    def ensure_token(self, args: argparse.Namespace) -> None:
        if not self.token:
            self.token = fetch_token(self, args)["access_token"]


def module_key() -> str:
    settings = load_settings()
    if settings.module_secret_key or (settings.data_path / GENERATED_KEY_FILE).is_file():
        return ensure_local_secret_key(settings, lambda _: None).module_secret_key
    raise CliError(
        "no token: set FNPROXY_TOKEN, pass --client-id/--client-secret, or MODULE_SECRET_KEY"
    )


def fetch_token(api: Api, args: argparse.Namespace) -> dict[str, Any]:
    if getattr(args, "client_id", None):
        body = {"client_id": args.client_id, "client_secret": args.client_secret or ""}
    else:
        body = {"api_key": getattr(args, "api_key", None) or module_key()}
    return Api(api.url, None, api.timeout).call("POST", "/v1/auth/token", body)


def cmd_serve(args: argparse.Namespace) -> None:
    from handlers.local import configure_logging, serve

    settings = load_settings()
    overrides = {
        k: v
        for k, v in (
            ("rest_host", args.host),
            ("rest_port", args.port),
            ("local_functions_dir", args.functions),
        )
        if v is not None
    }
    settings = settings.with_overrides(**overrides)
    configure_logging(settings.log_level)
    settings = ensure_local_secret_key(settings, lambda line: print(line, file=sys.stderr))
    print(
        f"fnproxy listening on http://{settings.rest_host}:{settings.rest_port} "
        f"(docs: /docs, functions from {settings.local_functions_dir}/)",
        file=sys.stderr,
    )
    serve(settings)


def cmd_token(args: argparse.Namespace, api: Api) -> None:
    grant = fetch_token(api, args)
    print(grant["access_token"] if args.quiet else json.dumps(grant, indent=2))


def invocation_body(args: argparse.Namespace, payload: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"payload": payload, "mode": args.mode}
    if args.function_timeout:
        body["timeout_s"] = args.function_timeout
    if args.session:
        body["session_id"] = args.session
    return body


def cmd_invoke(args: argparse.Namespace, api: Api) -> int:
    api.ensure_token(args)
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else {}
    target = parse_target(args.target)
    body = invocation_body(args, read_payload(args.payload))
    if isinstance(target, str):
        path = f"/v1/functions/{urllib.parse.quote(target, safe='')}/invoke"
        if args.version is not None:
            path += f"?version={args.version}"
    elif args.version is not None:
        raise CliError("--version applies to a registered function's NAME, not PROVIDER:NAME")
    else:
        path, body = "/v1/invoke", {"target": target, **body}
    result = api.call("POST", path, body, headers)
    print(json.dumps(result, indent=2))
    return 1 if isinstance(result, dict) and result.get("success") is False else 0


def read_invocations(source: str) -> tuple[list[dict[str, Any]], list[str]]:
    """A JSON document `{"invocations": [...]}` / a JSON list, or JSON lines; with each item's
    place ("line 3 of batch.jsonl", "item 3 of batch.json") for error messages."""
    name = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"batch: cannot read {source}: {error.strerror or error}") from None
    stripped = text.strip()
    if stripped.startswith("[") or (stripped.startswith("{") and "\n{" not in stripped):
        document = parse_json(stripped, f"of {name}")
        items = document.get("invocations") if isinstance(document, dict) else document
        if not isinstance(items, list):
            raise UsageError(f'batch: {name} is neither a list nor {{"invocations": [...]}}')
        places = [f"item {n} of {name}" for n in range(1, len(items) + 1)]
    else:
        items, places = [], []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                items.append(parse_json(line, f"of {name} (its line {number})"))
                places.append(f"line {number} of {name}")
    for item, place in zip(items, places, strict=True):
        if not isinstance(item, dict):
            raise UsageError(f"batch: {place} is not a JSON object")
    if not items:
        raise UsageError(f"batch: nothing to run, {name} has no invocations")
    return items, places


def progress(done: int, total: int, failures: int, final: bool = False) -> None:
    """A bar redrawn with \\r on a terminal; elsewhere (a file, a pipe) one summary line."""
    if not sys.stderr.isatty():
        if final:
            print(f"batch: {done}/{total} ran ({failures} failed)", file=sys.stderr)
        return
    if final:
        print(file=sys.stderr)
        return
    width = 30
    filled = width * done // total
    bar = "#" * filled + "-" * (width - filled)
    print(f"\r[{bar}] {done}/{total} ({failures} failed)", end="", file=sys.stderr, flush=True)


def refused_item(error: CliError, places: list[str], start: int) -> str:
    """The place of the item the server named in its refusal of the chunk at `start`."""
    found = re.search(r"invocations\W{1,3}(\d+)", str(error))
    if found and int(found.group(1)) + start < len(places):
        return places[int(found.group(1)) + start]
    return f"one of {places[start]} to {places[-1]}"


def cmd_batch(args: argparse.Namespace, api: Api) -> int:
    if args.chunk < 1:
        raise UsageError("batch: --chunk must be at least 1")
    invocations, places = read_invocations(args.file)
    api.ensure_token(args)
    responses: list[Any] = []
    failures = 0
    stopped = None
    progress(0, len(invocations), 0)
    for start in range(0, len(invocations), args.chunk):
        chunk = invocations[start : start + args.chunk]
        try:
            answer = api.call(
                "POST", "/v1/invoke/batch", {"invocations": chunk, "concurrency": args.concurrency}
            )
        except CliError as error:
            place = refused_item(error, places[: start + len(chunk)], start)
            stopped = f"batch stopped at {place}: {error}"
            break
        responses += answer["responses"]
        failures += answer["failure_count"]
        progress(len(responses), len(invocations), failures)
    progress(len(responses), len(invocations), failures, final=True)
    summary = {
        "responses": responses,
        "total_count": len(responses),
        "success_count": len(responses) - failures,
        "failure_count": failures,
    }
    if stopped:
        summary |= {"not_run_count": len(invocations) - len(responses), "error": stopped}
    print(json.dumps(summary, indent=2))
    if stopped:
        print(
            f"fnproxy: {stopped} ({len(responses)} ran and are printed above, "
            f"{len(invocations) - len(responses)} not run)",
            file=sys.stderr,
        )
    return 1 if failures or stopped else 0


def cmd_history(args: argparse.Namespace, api: Api) -> None:
    api.ensure_token(args)
    if args.execution_id:
        print(json.dumps(api.call("GET", f"/v1/invocations/{args.execution_id}"), indent=2))
        return
    filters = [("function", args.function), ("status", args.status), ("limit", args.limit)]
    filters = [(name, value) for name, value in filters if value]
    query = urllib.parse.urlencode([*filters, ("cursor", args.cursor)] if args.cursor else filters)
    page = api.call("GET", f"/v1/invocations?{query}")
    for item in page["invocations"]:
        print(
            f"{item['created_at']}  {item['execution_id']}  {item['status']:<9}  "
            f"{item['duration_ms'] or 0:>9.1f} ms  {item['function']}"
        )
    if page["next_cursor"]:
        again = " ".join(f"--{name} {shlex.quote(str(value))}" for name, value in filters)
        cursor = shlex.quote(page["next_cursor"])
        print(f"(more: fnproxy history {again} --cursor {cursor})", file=sys.stderr)


BOOTSTRAP_HELP = """Create an API client straight in the deployment's store and print its id
and secret, shown this once (the store keeps a hash of the secret). It needs no running fnproxy
and no signing key, only credentials that may write to the store (the cloud CLI's own): the way
to create the first admin client. The store is the one the function uses, found by the same
settings, from the environment (or .env) or the flags: the platform's store or STORE_BACKEND;
FNPROXY_TABLE and AWS_REGION (DynamoDB, AWS_ENDPOINT_URL for an emulator); GCP_PROJECT_ID,
FIRESTORE_DATABASE and FIRESTORE_COLLECTION_PREFIX (Firestore); FNPROXY_DATA_DIR or SQLITE_PATH
(SQLite)."""
STORE_OPTIONS = {
    "platform": ("FNPROXY_PLATFORM", "the platform, whose store is used"),
    "store": ("STORE_BACKEND", "the store, when not the platform's"),
    "table": ("FNPROXY_TABLE", "the DynamoDB table"),
    "region": ("AWS_REGION", "the DynamoDB table's region"),
    "project": ("GCP_PROJECT_ID", "the Firestore database's project"),
    "database": ("FIRESTORE_DATABASE", "the Firestore database"),
    "prefix": ("FIRESTORE_COLLECTION_PREFIX", "the prefix of fnproxy's Firestore collections"),
}
"""Flag -> (the setting it overrides, its help)."""
STORE_CHOICES = {
    "platform": PLATFORMS,
    "store": tuple(sorted({column["store"] for column in PLATFORM_DEFAULTS.values()})),
}
BOOTSTRAP_CREATOR = "cli"
"""`created_by` of a client the CLI wrote into the store."""


def store_settings(args: argparse.Namespace) -> Settings:
    """The settings as the environment (and .env) has them, the store flags given over them."""
    given = {
        variable: value
        for option, (variable, _) in STORE_OPTIONS.items()
        if (value := getattr(args, option)) is not None
    }
    return load_settings({**os.environ, **given})


async def create_client_in_store(
    settings: Settings, name: str, scopes: list[str]
) -> tuple[Client, str]:
    """A client created by the client service in the settings' store, and its secret."""
    from core.auth.clients import ClientService
    from core.wiring import build_store

    store = build_store(settings)
    try:
        return await ClientService(store.clients).create(name, scopes, BOOTSTRAP_CREATOR)
    finally:
        await store.close()


def cmd_clients_bootstrap(args: argparse.Namespace) -> None:
    settings = store_settings(args)
    scopes = args.scope or [ADMIN]
    try:
        client, secret = asyncio.run(create_client_in_store(settings, args.name, scopes))
    except ValidationFailed as error:  # the client service's rules, as POST /v1/clients has them
        raise UsageError(f"clients bootstrap: {error.detail}") from None
    created = {"client_id": client.client_id, "name": client.name, "scopes": client.scopes}
    print(json.dumps(created | {"client_secret": secret}, indent=2))
    store = settings.backend_for("store")
    print(
        f"fnproxy: client created in the {store} store; its secret is shown this once",
        file=sys.stderr,
    )


def add_clients_commands(commands: Any) -> None:
    clients = commands.add_parser("clients", help="API clients, in the deployment's store")
    actions = clients.add_subparsers(dest="clients_command", required=True)
    bootstrap = actions.add_parser(
        "bootstrap",
        help="create a client (the first admin) straight in the store",
        description=BOOTSTRAP_HELP,
    )
    bootstrap.add_argument("--name", required=True, help="the client's name")
    bootstrap.add_argument(
        "--scope",
        action="append",
        help="a scope of the client (admin, read, invoke, invoke:GLOB); repeat for more "
        "(default: admin)",
    )
    for option, (variable, help_text) in STORE_OPTIONS.items():
        bootstrap.add_argument(
            f"--{option}", choices=STORE_CHOICES.get(option), help=f"{help_text} ({variable})"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fnproxy",
        description=__doc__.split("\n\n")[0],
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run fnproxy locally (SQLite, sample functions)")
    serve.add_argument("--host", help="bind address (REST_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (REST_PORT, default 8080)")
    serve.add_argument("--functions", help="folder of local functions (LOCAL_FUNCTIONS_DIR)")

    def client(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument("--url", default=os.environ.get("FNPROXY_URL"), help="fnproxy base URL")
        sub.add_argument("--token", default=os.environ.get("FNPROXY_TOKEN"), help="bearer token")
        sub.add_argument("--client-id", help="client credentials instead of the module key")
        sub.add_argument("--client-secret", default=os.environ.get("FNPROXY_CLIENT_SECRET"))
        sub.add_argument("--api-key", help="the module secret key (default: MODULE_SECRET_KEY)")
        sub.add_argument(
            "--timeout",
            type=positive_seconds,
            default=os.environ.get("FNPROXY_TIMEOUT") or DEFAULT_TIMEOUT_S,
            help="seconds to wait for each answer from fnproxy (FNPROXY_TIMEOUT, "
            f"default {DEFAULT_TIMEOUT_S:g})",
        )
        return sub

    token = client("token", "get a bearer token")
    token.add_argument("-q", "--quiet", action="store_true", help="print only the token")

    invoke = client("invoke", "invoke one function")
    invoke.add_argument(
        "target",
        help="a registered function's NAME (no colon), PROVIDER:NAME (local:echo, "
        "http:https://...) or a JSON target object",
    )
    invoke.add_argument(
        "--version", type=int, help="with NAME: run this version instead of the active one"
    )
    invoke.add_argument("-p", "--payload", help=PAYLOAD_HELP)
    invoke.add_argument("-m", "--mode", choices=["sync", "async", "dry_run"], default="sync")
    invoke.add_argument(
        "--function-timeout",
        type=float,
        help="seconds the server gives the function (FUNCTION_TIMEOUT by default); "
        "keep --timeout above it",
    )
    invoke.add_argument("--session", help="session id to thread through the call")
    invoke.add_argument("--idempotency-key", help="replays the first execution on repeat")

    batch = client(
        "batch", "invoke many functions, with a progress bar (a summary line when not a terminal)"
    )
    batch.add_argument(
        "file", help='JSON {"invocations": [...]}, a JSON list, or JSON lines; - for stdin'
    )
    batch.add_argument("-c", "--concurrency", type=int, default=10)
    batch.add_argument("--chunk", type=int, default=50, help="invocations per request")

    history = client("history", "recent executions, or one in full")
    history.add_argument("execution_id", nargs="?")
    history.add_argument("--function")
    history.add_argument("--status")
    history.add_argument("--limit", type=int, default=20)
    history.add_argument("--cursor", help="the next page: the value printed after (more: ...)")
    add_clients_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            cmd_serve(args)
            return 0
        if args.command == "clients":
            cmd_clients_bootstrap(args)
            return 0
        settings = load_settings()
        url = args.url or f"http://{settings.rest_host}:{settings.rest_port}"
        api = Api(url, args.token, args.timeout)
        status = {
            "token": cmd_token,
            "invoke": cmd_invoke,
            "batch": cmd_batch,
            "history": cmd_history,
        }[args.command](args, api)
    except KeyboardInterrupt:
        print("fnproxy: interrupted", file=sys.stderr)
        return 130
    except CliError as error:
        print(f"fnproxy: {error}", file=sys.stderr)
        return error.status
    except (ConfigError, FnproxyError, json.JSONDecodeError, OSError) as error:
        print(f"fnproxy: {error}", file=sys.stderr)
        return 1
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
