"""The CLI's commands, one module per command or group."""

from collections.abc import Callable
from typing import Any

import typer

from handlers.cli.errors import EXIT_CODES_HELP


def command(app: typer.Typer, name: str | None = None, **settings: Any) -> Callable:
    """`app.command`, its help ending with the exit codes."""
    return app.command(name, epilog=EXIT_CODES_HELP, **settings)


def group(help_text: str) -> typer.Typer:
    """A command group, shown with its help when given no command."""
    return typer.Typer(help=help_text, epilog=EXIT_CODES_HELP, no_args_is_help=True)
