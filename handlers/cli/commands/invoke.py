"""`fnproxy invoke`: one function, by its registered name or as PROVIDER:NAME."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Annotated, Any

import typer

from handlers.cli.api import Api, query, quoted
from handlers.cli.commands import command
from handlers.cli.context import current
from handlers.cli.errors import EXIT_FAILED, UsageError
from handlers.cli.inputs import DATA_HELP, parse_target, read_data

FINAL_STATUSES = ("succeeded", "failed", "timed_out")
FIRST_POLL_S = 0.2
LONGEST_POLL_S = 2.0


class Mode(StrEnum):
    sync = "sync"
    async_ = "async"
    dry_run = "dry_run"


def invocation_path(target: dict[str, Any] | str, version: int | None) -> str:
    if isinstance(target, str):
        return f"/v1/functions/{quoted(target)}/invoke" + query(version=version)
    if version is not None:
        raise UsageError("--version applies to a registered function's NAME, not PROVIDER:NAME")
    return "/v1/invoke"


def invocation_body(
    target: dict[str, Any] | str,
    payload: Any,
    mode: Mode,
    timeout_s: float | None,
    session: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"payload": payload, "mode": mode.value}
    if not isinstance(target, str):
        body["target"] = target
    if timeout_s is not None:
        body["timeout_s"] = timeout_s
    if session is not None:
        body["session_id"] = session
    return body


def await_execution(api: Api, execution_id: str) -> dict[str, Any]:
    """GET /v1/invocations/{id} until the execution is final (Ctrl-C stops waiting)."""
    pause = FIRST_POLL_S
    while True:
        record = api.call("GET", f"/v1/invocations/{quoted(execution_id)}")
        if record["status"] in FINAL_STATUSES:
            return record
        time.sleep(pause)
        pause = min(pause * 2, LONGEST_POLL_S)


def as_envelope(record: dict[str, Any]) -> dict[str, Any]:
    """An execution record in the shape a sync call answers; a result too large to come inline
    comes as `result_blob` (its size, SHA-256 and signed URL)."""
    archived = {"result_blob": record["result_blob"]} if record.get("result_blob") else {}
    return {
        "execution_id": record["execution_id"],
        "status": record["status"],
        "success": record["success"],
        "status_code": record["status_code"],
        "result": record["result"],
        "error": record["error"],
        "duration_ms": record["duration_ms"],
        "attempts": record["attempts"],
        "function_version": record["function_version"],
        "provider": {
            "name": record["provider"],
            "function": record["function"],
            **record["provider_info"],
        },
        **archived,
    }


def chosen_mode(mode: Mode, async_: bool, wait: bool) -> Mode:
    if (async_ or wait) and mode not in (Mode.sync, Mode.async_):
        raise UsageError(f"--async and --wait do not go with --mode {mode.value}")
    return Mode.async_ if async_ or wait else mode


def invoke(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            metavar="TARGET",
            help="a registered function's NAME, PROVIDER:NAME (local:echo, http:https://...) "
            "or a JSON target object",
            show_default=False,
        ),
    ],
    data: Annotated[
        str | None,
        typer.Option("--data", "-d", "--payload", "-p", help=f"the payload: {DATA_HELP}"),
    ] = None,
    version: Annotated[
        int | None,
        typer.Option(min=1, help="with NAME: run this version instead of the active one"),
    ] = None,
    mode: Annotated[Mode, typer.Option("--mode", "-m", help="how to invoke")] = Mode.sync,
    async_: Annotated[
        bool, typer.Option("--async", help="do not wait: print the execution id (mode async)")
    ] = False,
    wait: Annotated[
        bool,
        typer.Option(help="with --async: poll the execution until it ends, print it as sync"),
    ] = False,
    session: Annotated[str | None, typer.Option(help="a session id to thread through")] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="a repeat with the same key replays the first execution")
    ] = None,
    timeout_s: Annotated[
        float | None,
        typer.Option(
            "--timeout-s",
            "--function-timeout",
            help="seconds the server gives the function; keep --timeout above it",
        ),
    ] = None,
) -> None:
    """Invoke one function; exit 1 when it fails (success: false)."""
    cli = current(ctx)
    parsed = parse_target(target)
    mode = chosen_mode(mode, async_, wait)
    path = invocation_path(parsed, version)
    body = invocation_body(parsed, read_data(data), mode, timeout_s, session)
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    answer = cli.api.call("POST", path, body, headers)
    if mode is Mode.async_ and wait:
        answer = as_envelope(await_execution(cli.api, answer["execution_id"]))
    elif mode is Mode.async_:
        cli.output.answer(answer, lambda value: cli.output.line(value["execution_id"]))
        return
    cli.output.answer(answer)
    if answer.get("success") is False:
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    command(app)(invoke)
