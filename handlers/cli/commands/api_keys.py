"""`fnproxy functions api-keys ...`: a function's API keys for the Invoke platform front's
`/invoke/{name}` (docs/invoke-platform.md): create (the key shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated

import typer

from handlers.cli.commands import command, group
from handlers.cli.commands.functions import Name, path
from handlers.cli.context import current
from handlers.cli.output import note

app = group("A function's API keys for /invoke/{name}: create, list, revoke.")

KEY_COLUMNS = ("key_id", "uses", "last used", "created", "by", "revoked")


@command(app)
def create(ctx: typer.Context, name: Name) -> None:
    """Create an API key of the function and print it (X-API-Key on /invoke/NAME)."""
    cli = current(ctx)
    created = cli.api.call("POST", path(name, "api-keys"))
    cli.output.answer(created)
    note(
        f"API key {created['key_id']} of {name} created; it is shown this once: keep it now "
        "(fnproxy stores only a hash)"
    )


@command(app, "list")
def list_(ctx: typer.Context, name: Name) -> None:
    """The function's API keys (never the keys themselves), with their use counts."""
    cli = current(ctx)
    answer = cli.api.call("GET", path(name, "api-keys"))
    fields = ("key_id", "uses", "last_used_at", "created_at", "created_by", "revoked_at")
    rows = (tuple(key[field] for field in fields) for key in answer["api_keys"])
    cli.output.answer(answer, lambda _: cli.output.table(KEY_COLUMNS, rows))


@command(app)
def revoke(
    ctx: typer.Context,
    name: Name,
    key_id: Annotated[
        str, typer.Argument(metavar="KEY_ID", help="the key's id", show_default=False)
    ],
) -> None:
    """Revoke an API key of the function: it stops working at once."""
    current(ctx).api.call("DELETE", path(name, "api-keys", key_id))
    note(f"API key {key_id} of {name} revoked")
