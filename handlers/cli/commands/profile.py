"""`fnproxy profile ...`: named profiles (`--profile NAME` or FNPROXY_PROFILE) in the user's
config folder. A client secret is stored only with --store-secret, in plain text."""

from __future__ import annotations

from typing import Annotated

import typer

from handlers.cli.commands import command, group
from handlers.cli.context import current
from handlers.cli.errors import UsageError
from handlers.cli.output import note
from handlers.cli.profiles import (
    Profile,
    check_name,
    config_path,
    load,
    load_all,
    missing,
    save_all,
)

app = group("Named profiles (url, client id) in the user's config folder, for --profile NAME.")

ProfileName = Annotated[
    str, typer.Argument(metavar="NAME", help="the profile's name", show_default=False)
]


@command(app, "set")
def set_(
    name: ProfileName,
    url: Annotated[str | None, typer.Option(help="fnproxy's base URL")] = None,
    client_id: Annotated[str | None, typer.Option(help="the client to get tokens as")] = None,
    client_secret: Annotated[
        str | None,
        typer.Option(help="the client's secret (only with --store-secret)", show_default=False),
    ] = None,
    store_secret: Annotated[
        bool, typer.Option(help="store --client-secret in the file, in plain text (0600)")
    ] = False,
) -> None:
    """Create a profile, or change the fields given of an existing one."""
    check_name(name)
    if client_secret is not None and not store_secret:
        raise UsageError(
            "profile set: a secret is stored only with --store-secret (in plain text); or "
            "give it when needed: FNPROXY_CLIENT_SECRET or --client-secret"
        )
    if store_secret and client_secret is None:
        raise UsageError("profile set: --store-secret needs --client-secret")
    profiles = load_all()
    profile = profiles.get(name, Profile())
    for field, value in (("url", url), ("client_id", client_id), ("client_secret", client_secret)):
        if value is not None:
            setattr(profile, field, value)
    profiles[name] = profile
    path = save_all(profiles)
    note(f"profile {name} saved in {path}")
    if store_secret:
        note(f"profile {name}: its client secret is stored in plain text in {path} (mode 0600)")


@command(app, "list")
def list_(ctx: typer.Context) -> None:
    """Every profile's name, url and client id."""
    output = current(ctx).output
    profiles = {name: profile.shown() for name, profile in load_all().items()}
    output.answer(
        profiles,
        lambda value: output.table(
            ("profile", "url", "client_id", "secret"),
            (
                (name, p.get("url"), p.get("client_id"), "stored" if "client_secret" in p else "")
                for name, p in sorted(value.items())
            ),
            title=str(config_path()),
        ),
    )


@command(app)
def show(ctx: typer.Context, name: ProfileName) -> None:
    """One profile (a stored secret is shown as stored, never printed)."""
    current(ctx).output.answer(load(name).shown())


@command(app)
def delete(name: ProfileName) -> None:
    """Delete a profile."""
    profiles = load_all()
    if name not in profiles:
        raise missing(name, profiles)
    del profiles[name]
    save_all(profiles)
    note(f"profile {name} deleted")
