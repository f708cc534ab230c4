"""`fnproxy sessions ...`: the caller's sessions (/v1/sessions), updated with If-Match."""

from __future__ import annotations

from typing import Annotated

import typer

from handlers.cli.api import quoted
from handlers.cli.commands import command, group
from handlers.cli.context import current
from handlers.cli.inputs import DATA_HELP, read_object
from handlers.cli.output import note

app = group("Sessions: state kept between invocations.")

SessionId = Annotated[
    str, typer.Argument(metavar="SESSION_ID", help="the session's id", show_default=False)
]
Data = Annotated[
    str | None, typer.Option("--data", "-d", help=f"the data, a JSON object: {DATA_HELP}")
]
Ttl = Annotated[int | None, typer.Option(min=1, help="seconds it lives from now on")]


def path(session_id: str) -> str:
    return f"/v1/sessions/{quoted(session_id)}"


@command(app)
def create(
    ctx: typer.Context,
    id_: Annotated[str | None, typer.Option("--id", help="an id of your choosing")] = None,
    data: Data = None,
    ttl_s: Ttl = None,
) -> None:
    """Create a session (with a new id unless --id)."""
    cli = current(ctx)
    given = {"session_id": id_, "data": read_object(data, "data"), "ttl_s": ttl_s}
    body = {name: value for name, value in given.items() if value is not None}
    cli.output.answer(cli.api.call("POST", "/v1/sessions", body))


@command(app)
def get(ctx: typer.Context, session_id: SessionId) -> None:
    """A session's data and version."""
    cli = current(ctx)
    cli.output.answer(cli.api.call("GET", path(session_id)))


@command(app)
def update(
    ctx: typer.Context,
    session_id: SessionId,
    data: Annotated[
        str, typer.Option("--data", "-d", help=f"the new data, a JSON object: {DATA_HELP}")
    ],
    ttl_s: Ttl = None,
    if_match: Annotated[
        str | None,
        typer.Option(help='the ETag read (e.g. "3"); 412 if it changed [default: the current]'),
    ] = None,
) -> None:
    """Replace a session's data, if it is still at the version read (If-Match)."""
    cli = current(ctx)
    body = {"data": read_object(data, "data") or {}}
    if ttl_s is not None:
        body["ttl_s"] = ttl_s
    etag = if_match or cli.api.request("GET", path(session_id)).headers["etag"]
    answer = cli.api.request("PATCH", path(session_id), body, {"If-Match": etag})
    cli.output.answer(answer.body)


@command(app)
def delete(ctx: typer.Context, session_id: SessionId) -> None:
    """Delete a session."""
    current(ctx).api.call("DELETE", path(session_id))
    note(f"session {session_id} deleted")
