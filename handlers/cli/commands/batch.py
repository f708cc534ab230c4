"""`fnproxy batch`: many invocations, sent in chunks; what ran is printed even when a later
chunk is refused."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from handlers.cli.commands import command
from handlers.cli.context import Cli, current
from handlers.cli.errors import EXIT_FAILED, EXIT_SERVER, ServerError
from handlers.cli.inputs import read_invocations
from handlers.cli.output import note


class Tally:
    """What a batch has run so far."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.responses: list[dict[str, Any]] = []
        self.failures = 0
        self.stopped: str | None = None

    def summary(self) -> dict[str, Any]:
        summary = {
            "responses": self.responses,
            "total_count": len(self.responses),
            "success_count": len(self.responses) - self.failures,
            "failure_count": self.failures,
        }
        if self.stopped:
            summary |= {"not_run_count": self.total - len(self.responses), "error": self.stopped}
        return summary


@contextmanager
def progress_bar(total: int) -> Iterator[Any]:
    """A Rich bar on stderr when it is a terminal; elsewhere (a file, a pipe) nothing is drawn,
    and `run_batch` writes one summary line at the end."""
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("batch"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        console=console,
        disable=not console.is_terminal,
    )
    with progress:
        task = progress.add_task("batch", total=total, failed=0)
        yield lambda tally: progress.update(
            task, completed=len(tally.responses), failed=tally.failures
        )


def refused_item(error: ServerError, places: list[str], start: int) -> str:
    """The place of the item the server named in its refusal of the chunk at `start`."""
    found = re.search(r"invocations\W{1,3}(\d+)", str(error))
    if found and int(found.group(1)) + start < len(places):
        return places[int(found.group(1)) + start]
    return f"one of {places[start]} to {places[-1]}"


def run_batch(
    cli: Cli, invocations: list[dict], places: list[str], chunk: int, concurrency: int
) -> Tally:
    tally = Tally(len(invocations))
    api = cli.api  # a token refused here is not a chunk refused
    with progress_bar(len(invocations)) as advance:
        for start in range(0, len(invocations), chunk):
            items = invocations[start : start + chunk]
            body = {"invocations": items, "concurrency": concurrency}
            try:
                answer = api.call("POST", "/v1/invoke/batch", body)
            except ServerError as error:
                place = refused_item(error, places[: start + len(items)], start)
                tally.stopped = f"batch stopped at {place}: {error}"
                break
            tally.responses += answer["responses"]
            tally.failures += answer["failure_count"]
            advance(tally)
    if not sys.stderr.isatty():
        note(f"batch: {len(tally.responses)}/{tally.total} ran ({tally.failures} failed)")
    return tally


def error_text(error: dict[str, Any] | None) -> str | None:
    """A refused item's detail, or a failed function's message."""
    return (error or {}).get("detail") or (error or {}).get("message")


def show_batch(cli: Cli, places: list[str], summary: dict[str, Any]) -> None:
    rows = [
        (
            place,
            item.get("kind"),
            item.get("status"),
            item.get("execution_id"),
            item.get("duration_ms"),
            error_text(item.get("error")) or item.get("result"),
        )
        for place, item in zip(places, summary["responses"], strict=False)
    ]
    cli.output.table(("item", "kind", "status", "execution", "ms", "result / error"), rows)
    cli.output.line(
        f"{summary['success_count']} succeeded, {summary['failure_count']} failed"
        + (f", {summary['not_run_count']} not run" if "not_run_count" in summary else "")
    )


def batch(
    ctx: typer.Context,
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE",
            help='JSON lines, a JSON list, or {"invocations": [...]}; - for stdin',
            show_default=False,
        ),
    ],
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1)] = 10,
    chunk: Annotated[int, typer.Option(min=1, help="invocations per request")] = 50,
) -> None:
    """Invoke many functions; exit 1 if any failed, 3 if a chunk was refused.

    Progress goes to stderr on a terminal. What ran before a refused chunk is printed."""
    cli = current(ctx)
    invocations, places = read_invocations(file)
    tally = run_batch(cli, invocations, places, chunk, concurrency)
    cli.output.answer(tally.summary(), lambda summary: show_batch(cli, places, summary))
    if tally.stopped:
        ran, left = len(tally.responses), tally.total - len(tally.responses)
        note(f"fnproxy: {tally.stopped} ({ran} ran and are printed above, {left} not run)")
        raise typer.Exit(EXIT_SERVER)
    if tally.failures:
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    command(app)(batch)
