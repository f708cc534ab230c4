"""`fnproxy health` and `fnproxy version`: what GET /health says."""

from __future__ import annotations

from typing import Any

import typer

from core import __version__
from handlers.cli.api import Api
from handlers.cli.commands import command
from handlers.cli.context import Cli, current
from handlers.cli.errors import EXIT_SERVER, CliError, UsageError
from handlers.cli.output import note

UNHEALTHY = 503


def read_health(api: Api) -> dict[str, Any]:
    """GET /health: its body when healthy or degraded (503)."""
    return api.request("GET", "/health", accept=(UNHEALTHY,)).body


def show_health(cli: Cli, body: dict[str, Any]) -> None:
    output = cli.output
    output.line(f"fnproxy {body['version']} at {cli.url}: {body['status']}")
    if body.get("checks"):
        output.table(("check", "result"), sorted(body["checks"].items()))
    else:
        note("(a `read` token shows each check)")
    circuits = body.get("circuits") or {}
    if circuits:
        output.table(
            ("target", "circuit", "failures", "retry after (s)"),
            [
                (key, c["state"], c["consecutive_failures"], c["retry_after_s"])
                for key, c in sorted(circuits.items())
            ],
        )


def health(ctx: typer.Context) -> None:
    """Each port's check and the open circuits; exit 3 when unreachable or degraded."""
    cli = current(ctx)
    try:
        api = cli.api  # the checks are shown to a `read` token only
    except UsageError:  # no credentials: the status and version are public
        api = cli.anonymous()
    body = read_health(api)
    cli.output.answer(body, lambda value: show_health(cli, value))
    if body.get("status") != "ok":
        note(f"fnproxy: {cli.url} is {body.get('status')}: a port is failing")
        raise typer.Exit(EXIT_SERVER)


def version(ctx: typer.Context) -> None:
    """The CLI's version, and the server's when it answers."""
    cli = current(ctx)
    try:
        server: str | None = read_health(cli.anonymous())["version"]
    except CliError as error:
        server = None
        note(f"fnproxy: no server version: {error}")
    versions = {"cli": __version__, "server": server, "url": cli.url}
    shown = f"fnproxy {__version__} (server: {server or 'unreachable'} at {cli.url})"
    cli.output.answer(versions, lambda _: cli.output.line(shown))


def register(app: typer.Typer) -> None:
    command(app)(health)
    command(app)(version)
