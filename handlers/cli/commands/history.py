"""`fnproxy history` (alias `logs`): executions, newest first, page by page, all of them, or
followed as they come; and `fnproxy stats`."""

from __future__ import annotations

import shlex
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import typer

from handlers.cli.api import Api, query, quoted
from handlers.cli.commands import command
from handlers.cli.context import Cli, current
from handlers.cli.inputs import parse_since
from handlers.cli.output import dumps, note


class Status(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    timed_out = "timed_out"


COLUMNS = ("created", "execution", "status", "ms", "function", "version")


def row(record: dict[str, Any]) -> tuple[Any, ...]:
    return (
        record["created_at"],
        record["execution_id"],
        record["status"],
        record["duration_ms"],
        record["function"],
        record.get("function_version"),
    )


def line(record: dict[str, Any]) -> str:
    """A followed execution as one plain line."""
    duration = record["duration_ms"]
    shown = f"{duration:9.1f} ms" if duration is not None else " " * 12
    return (
        f"{record['created_at']}  {record['execution_id']}  {record['status']:<9}  {shown}  "
        f"{record['function']}"
    )


def page(api: Api, filters: dict[str, Any], cursor: str | None) -> dict[str, Any]:
    return api.call("GET", "/v1/invocations" + query(**filters, cursor=cursor))


def list_all(api: Api, filters: dict[str, Any], cursor: str | None) -> dict[str, Any]:
    """Every page from `cursor` on, as one."""
    records: list[dict[str, Any]] = []
    while True:
        answer = page(api, filters, cursor)
        records += answer["invocations"]
        cursor = answer["next_cursor"]
        if not cursor:
            return {"invocations": records, "next_cursor": None}


def more_hint(command: str, filters: dict[str, Any], cursor: str) -> str:
    """The command for the next page, ready to paste."""
    again = [f"--{name} {shlex.quote(str(value))}" for name, value in filters.items() if value]
    return f"(more: fnproxy {command} {' '.join([*again, '--cursor', shlex.quote(cursor)])})"


def follow(cli: Cli, filters: dict[str, Any], interval: float) -> NoReturn:
    """Print each execution of the newest page, oldest first, then each new one, and again
    when its status changes, until Ctrl-C."""
    seen: dict[str, str] = {}
    api = cli.api
    while True:
        records = page(api, filters, None)["invocations"]
        for record in reversed(records):
            if seen.get(record["execution_id"]) != record["status"]:
                cli.output.line(dumps(record, None) if cli.output.json else line(record))
        seen = {record["execution_id"]: record["status"] for record in records}
        time.sleep(interval)


def history(
    ctx: typer.Context,
    execution_id: Annotated[
        str | None,
        typer.Argument(
            metavar="[EXECUTION_ID]", help="show this execution in full", show_default=False
        ),
    ] = None,
    function: Annotated[
        str | None, typer.Option(help="only this function key (local:echo) or registered name")
    ] = None,
    status: Annotated[Status | None, typer.Option(help="only executions in this status")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="per page")] = 20,
    cursor: Annotated[str | None, typer.Option(help="the page a (more: ...) hint names")] = None,
    all_: Annotated[bool, typer.Option("--all", help="every page, to the end")] = False,
    follow_: Annotated[
        bool, typer.Option("--follow", "-f", help="print new executions as they come (Ctrl-C)")
    ] = False,
    interval: Annotated[float, typer.Option(min=0.1, help="seconds between polls (-f)")] = 2.0,
) -> None:
    """Executions, newest first; the next page's command goes to stderr."""
    cli = current(ctx)
    if execution_id:
        cli.output.answer(cli.api.call("GET", f"/v1/invocations/{quoted(execution_id)}"))
        return
    filters = {"function": function, "status": status.value if status else None, "limit": limit}
    if follow_:
        follow(cli, filters, interval)
    answer = list_all(cli.api, filters, cursor) if all_ else page(cli.api, filters, cursor)
    cli.output.answer(
        answer, lambda value: cli.output.table(COLUMNS, map(row, value["invocations"]))
    )
    if answer["next_cursor"]:
        note(more_hint(ctx.info_name or "history", filters, answer["next_cursor"]))


def show_stats(cli: Cli, summary: dict[str, Any]) -> None:
    since = datetime.fromtimestamp(summary["since"], UTC).isoformat(timespec="seconds")
    figures = ("count", "successes", "failures", "success_rate", "p50_ms", "p95_ms", "p99_ms")
    rows = [("(all)", *(summary[name] for name in figures))]
    rows += [
        (function, *(numbers[name] for name in figures))
        for function, numbers in sorted(summary["by_function"].items())
    ]
    columns = ("function", "count", "ok", "failed", "success rate", "p50 ms", "p95 ms", "p99 ms")
    cli.output.table(columns, rows, title=f"since {since}")


def stats(
    ctx: typer.Context,
    function: Annotated[str | None, typer.Option(help="only this function key or name")] = None,
    since: Annotated[
        str | None,
        typer.Option(help="30m, 1h, 2d (ago), epoch seconds or ISO 8601 [default: 24 h ago]"),
    ] = None,
) -> None:
    """Counts, success rate and latency percentiles, per function."""
    cli = current(ctx)
    since_value = parse_since(since) if since is not None else None
    summary = cli.api.call("GET", "/v1/stats" + query(function=function, since=since_value))
    cli.output.answer(summary, lambda value: show_stats(cli, value))


def register(app: typer.Typer) -> None:
    command(app)(history)
    command(app, "logs", help="The same as `history` (`logs -f` follows).")(history)
    command(app)(stats)
