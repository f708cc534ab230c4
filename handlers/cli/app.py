"""The `fnproxy` command: its global options, its commands, and `main`, which turns every
failure into one line on stderr and an exit status (errors.EXIT_CODES_HELP)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from core import __version__
from core.config import ConfigError
from core.errors import FnproxyError
from handlers.cli.api import DEFAULT_TIMEOUT_S
from handlers.cli.commands import (
    api_keys,
    batch,
    clients,
    functions,
    health,
    history,
    invoke,
    profile,
    serve,
    sessions,
    token,
)
from handlers.cli.context import Cli, Options, hoist_global_options
from handlers.cli.errors import (
    EXIT_CODES_HELP,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_SERVER,
    EXIT_USAGE,
    CliError,
)
from handlers.cli.inputs import positive_seconds
from handlers.cli.output import OutputMode, note

HELP = (
    f"fnproxy {__version__}: run fnproxy locally and drive any fnproxy through its HTTP API.\n\n"
    "Global options go before or after the command: `fnproxy history --url U` is "
    "`fnproxy --url U history`. Without a token the CLI fetches one with client credentials "
    "(flags, environment or --profile) or the module key (MODULE_SECRET_KEY, or the one "
    "`fnproxy serve` generated)."
)

app = typer.Typer(
    name="fnproxy",
    help=HELP,
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(envvar="FNPROXY_URL", help="fnproxy's base URL [default: REST_HOST:PORT]"),
    ] = None,
    token_: Annotated[
        str | None, typer.Option("--token", envvar="FNPROXY_TOKEN", help="a bearer token")
    ] = None,
    profile_: Annotated[
        str | None,
        typer.Option(
            "--profile", envvar="FNPROXY_PROFILE", help="a named profile (`fnproxy profile`)"
        ),
    ] = None,
    output: Annotated[
        OutputMode | None,
        typer.Option(
            "--output",
            "-o",
            envvar="FNPROXY_OUTPUT",
            case_sensitive=False,
            help="table (default on a terminal) or json (default otherwise: stable, for scripts)",
        ),
    ] = None,
    timeout: Annotated[
        str,
        typer.Option(envvar="FNPROXY_TIMEOUT", help="seconds to wait for each answer"),
    ] = str(DEFAULT_TIMEOUT_S),
    client_id: Annotated[
        str | None,
        typer.Option(envvar="FNPROXY_CLIENT_ID", help="client credentials for the token"),
    ] = None,
    client_secret: Annotated[
        str | None,
        typer.Option(
            envvar="FNPROXY_CLIENT_SECRET", help="the client's secret", show_default=False
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(help="the module secret key for the token [default: MODULE_SECRET_KEY]"),
    ] = None,
) -> None:
    ctx.obj = Cli(
        Options(
            url=url,
            token=token_,
            profile=profile_,
            output=output,
            timeout=positive_seconds(timeout),
            client_id=client_id,
            client_secret=client_secret,
            api_key=api_key,
        )
    )


serve.register(app)
token.register(app)
health.register(app)
invoke.register(app)
batch.register(app)
history.register(app)
functions.app.add_typer(api_keys.app, name="api-keys")
app.add_typer(functions.app, name="functions")
app.add_typer(clients.app, name="clients")
app.add_typer(sessions.app, name="sessions")
app.add_typer(profile.app, name="profile")


def main(argv: list[str] | None = None) -> int:
    args = hoist_global_options(sys.argv[1:] if argv is None else list(argv))
    command = typer.main.get_command(app)
    try:
        status = command.main(args=args, prog_name="fnproxy", standalone_mode=False)
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
    except CliError as error:
        return fail(str(error), error.status)
    except typer.TyperException as error:  # Click's usage errors (bad option, missing argument)
        return fail(usage_message(error), getattr(error, "exit_code", EXIT_USAGE))
    except typer.Abort:
        status = EXIT_INTERRUPTED
    except ConfigError as error:
        return fail(str(error), EXIT_USAGE)
    except FnproxyError as error:  # the store of `clients bootstrap`
        return fail(str(error), EXIT_SERVER)
    except OSError as error:  # `serve` could not bind, say
        return fail(str(error), EXIT_FAILED)
    if status == EXIT_INTERRUPTED:
        note("fnproxy: interrupted")
    return status if isinstance(status, int) else 0


def usage_message(error: typer.TyperException) -> str:
    """Click's message, with where to read the command's usage."""
    message = error.format_message()
    context = getattr(error, "ctx", None)
    if message.strip() and context is not None:
        return f"{message} (see `{context.command_path} --help`)"
    return message


def fail(message: str, status: int) -> int:
    """`fnproxy: <message>` in one line (nothing when the message was shown already, as the
    help that Click's no-arguments error prints itself)."""
    if message.strip():
        note("fnproxy: " + " ".join(message.split()))
    return status
