"""`fnproxy token`: a bearer token, for FNPROXY_TOKEN or another client."""

from __future__ import annotations

from typing import Annotated

import typer

from handlers.cli.commands import command
from handlers.cli.context import current


def token(
    ctx: typer.Context,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print only the token")] = False,
) -> None:
    """Get a bearer token with client credentials, a profile's, or the module key."""
    cli = current(ctx)
    grant = cli.fetch_token()
    if quiet:
        cli.output.line(grant["access_token"])
    else:
        cli.output.answer(grant)


def register(app: typer.Typer) -> None:
    command(app)(token)
