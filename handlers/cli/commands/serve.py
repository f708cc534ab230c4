"""`fnproxy serve`: fnproxy as one local process (SQLite, the sample functions)."""

from __future__ import annotations

from typing import Annotated

import typer

from core.config import ensure_local_secret_key, load_settings
from handlers.cli.commands import command
from handlers.cli.output import note


def serve(
    host: Annotated[str | None, typer.Option(help="bind address [default: REST_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="port [default: REST_PORT]")] = None,
    grpc_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="also serve the seeds' gRPC services on this port [default: GRPC_PORT]",
        ),
    ] = None,
    functions: Annotated[
        str | None, typer.Option(help="folder of local functions [default: LOCAL_FUNCTIONS_DIR]")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="server processes sharing the ports; more than one needs a cloud store, not "
            "SQLite [default: SERVE_WORKERS]",
        ),
    ] = None,
) -> None:
    """Run fnproxy locally: SQLite, the sample functions, a generated key on first run; with a
    gRPC port, the seeds' gRPC services too; with --workers, several server processes on a
    cloud store."""
    from handlers.local import configure_logging, refuse_unservable, run_server

    given = {
        "rest_host": host,
        "rest_port": port,
        "grpc_port": grpc_port,
        "local_functions_dir": functions,
        "serve_workers": workers,
    }
    settings = load_settings().with_overrides(
        **{name: value for name, value in given.items() if value is not None}
    )
    refuse_unservable(settings)
    configure_logging(settings.log_level)
    settings = ensure_local_secret_key(settings, note)
    note(
        f"fnproxy listening on http://{settings.rest_host}:{settings.rest_port} "
        f"(dashboard: /dashboard, docs: /docs, functions from {settings.local_functions_dir}/)"
    )
    if settings.grpc_port:
        note(f"gRPC listening on {settings.rest_host}:{settings.grpc_port}")
    if settings.serve_workers > 1:
        note(f"{settings.serve_workers} worker processes, each its own event loop and services")
    if settings.serve_workers == 1:
        run_server(settings)
        return
    from handlers.workers import Supervisor

    Supervisor(settings).run()


def register(app: typer.Typer) -> None:
    command(app)(serve)
