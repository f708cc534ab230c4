"""`fnproxy functions ...`: the function registry (/v1/functions): functions, their versions,
the active one, the canary split, the change history, enabled or not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import typer

from handlers.cli.api import Api, query, quoted
from handlers.cli.commands import command, group
from handlers.cli.context import Cli, current
from handlers.cli.errors import UsageError
from handlers.cli.inputs import DATA_HELP, provider_target, read_object
from handlers.cli.output import note

app = group("The function registry: versions, activation, rollback, canary, aliases, history.")

Name = Annotated[
    str, typer.Argument(metavar="NAME", help="the function's registered name", show_default=False)
]
Version = Annotated[
    int, typer.Argument(metavar="VERSION", min=1, help="a version number", show_default=False)
]
Target = Annotated[
    str,
    typer.Argument(
        metavar="TARGET",
        help="PROVIDER:NAME (local:echo, http:https://..., aws_lambda:fn) or a JSON target",
        show_default=False,
    ),
]
FUNCTION_COLUMNS = ("name", "active", "latest", "canary", "enabled", "description")
VERSION_COLUMNS = ("version", "target", "created", "by")


def path(name: str, *rest: str | int) -> str:
    return "/".join([f"/v1/functions/{quoted(name)}", *(quoted(part) for part in rest)])


def pages(api: Api, url: str, key: str) -> Iterator[dict[str, Any]]:
    """Every item of a paged listing (`key` names its list), following next_cursor."""
    cursor = None
    while True:
        answer = api.call("GET", url + query(limit=500, cursor=cursor))
        yield from answer[key]
        cursor = answer["next_cursor"]
        if not cursor:
            return


def canary_text(function: dict[str, Any]) -> str | None:
    canary = function.get("canary")
    return f"v{canary['version']} at {canary['weight']}%" if canary else None


def function_row(function: dict[str, Any]) -> tuple[Any, ...]:
    return (
        function["name"],
        function["active_version"],
        function["latest_version"],
        canary_text(function),
        function["enabled"],
        function["description"],
    )


def version_row(version: dict[str, Any]) -> tuple[Any, ...]:
    return (version["version"], version["target"], version["created_at"], version["created_by"])


def show_function(cli: Cli, function: dict[str, Any]) -> None:
    shown = {k: v for k, v in function.items() if k not in ("versions", "canary")}
    cli.output.record(shown | {"canary": canary_text(function)}, title=function["name"])
    if function.get("versions"):
        cli.output.table(VERSION_COLUMNS, map(version_row, function["versions"]), "versions")


def answer_function(cli: Cli, function: dict[str, Any]) -> None:
    cli.output.answer(function, lambda value: show_function(cli, value))


@command(app, "list")
def list_(ctx: typer.Context) -> None:
    """Every registered function, by name."""
    cli = current(ctx)
    functions = list(pages(cli.api, "/v1/functions", "functions"))
    cli.output.answer(
        {"functions": functions},
        lambda value: cli.output.table(FUNCTION_COLUMNS, map(function_row, value["functions"])),
    )


@command(app)
def get(ctx: typer.Context, name: Name) -> None:
    """A function, its policy and its newest versions."""
    cli = current(ctx)
    answer_function(cli, cli.api.call("GET", path(name)))


@command(app)
def create(
    ctx: typer.Context,
    name: Name,
    target: Target,
    description: Annotated[str, typer.Option(help="what it does")] = "",
    policy: Annotated[
        str | None, typer.Option(help=f"the policy, a JSON object: {DATA_HELP}")
    ] = None,
) -> None:
    """Register a function: TARGET becomes version 1, active."""
    cli = current(ctx)
    body = {"name": name, "description": description, "target": provider_target(target)}
    given_policy = read_object(policy, "policy")
    if given_policy is not None:
        body["policy"] = given_policy
    answer_function(cli, cli.api.call("POST", "/v1/functions", body))


@command(app)
def delete(ctx: typer.Context, name: Name) -> None:
    """Delete a function with its versions, change history and archived objects."""
    current(ctx).api.call("DELETE", path(name))
    note(f"deleted function {name}")


@command(app)
def versions(ctx: typer.Context, name: Name) -> None:
    """A function's versions, newest first."""
    cli = current(ctx)
    found = list(pages(cli.api, path(name, "versions"), "versions"))
    cli.output.answer(
        {"versions": found},
        lambda value: cli.output.table(VERSION_COLUMNS, map(version_row, value["versions"])),
    )


@command(app, "add-version")
def add_version(
    ctx: typer.Context,
    name: Name,
    target: Target,
    activate_: Annotated[bool, typer.Option("--activate", help="make it the active one")] = False,
) -> None:
    """Add a version running TARGET (inactive unless --activate)."""
    cli = current(ctx)
    body = {"target": provider_target(target), "activate": activate_}
    cli.output.answer(cli.api.call("POST", path(name, "versions"), body))


def switch(cli: Cli, name: str, version: int) -> None:
    answer_function(cli, cli.api.call("POST", path(name, "active-version"), {"version": version}))


@command(app)
def activate(ctx: typer.Context, name: Name, version: Version) -> None:
    """Make VERSION the active one."""
    switch(current(ctx), name, version)


def previous_version(api: Api, name: str) -> int:
    """The newest version below the active one."""
    active = api.call("GET", path(name))["active_version"]
    older = [v["version"] for v in pages(api, path(name, "versions"), "versions")]
    older = [number for number in older if number < active]
    if not older:
        raise UsageError(f"function {name}: no version below the active v{active} to roll back to")
    return max(older)


@command(app)
def rollback(
    ctx: typer.Context,
    name: Name,
    to: Annotated[
        int | None, typer.Option(min=1, help="this version [default: the newest below active]")
    ] = None,
) -> None:
    """Make an older version the active one again."""
    cli = current(ctx)
    switch(cli, name, to if to is not None else previous_version(cli.api, name))


@command(app)
def canary(
    ctx: typer.Context,
    name: Name,
    version: Annotated[
        int | None,
        typer.Argument(metavar="[VERSION]", min=1, help="the canary version", show_default=False),
    ] = None,
    weight: Annotated[
        int | None, typer.Option(min=1, max=99, help="percent of invocations it runs")
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="end the canary split")] = False,
) -> None:
    """Send WEIGHT percent of invocations to VERSION (`--off` ends the split)."""
    cli = current(ctx)
    if off == (version is not None) or (version is not None) != (weight is not None):
        raise UsageError("functions canary: give VERSION --weight PERCENT, or --off")
    if off:
        answer_function(cli, cli.api.call("DELETE", path(name, "canary")))
    else:
        body = {"version": version, "weight": weight}
        answer_function(cli, cli.api.call("PUT", path(name, "canary"), body))


@command(app)
def alias(
    ctx: typer.Context,
    name: Name,
    alias_name: Annotated[
        str, typer.Argument(metavar="ALIAS", help="the alias's name", show_default=False)
    ],
    version: Annotated[
        int | None,
        typer.Argument(metavar="[VERSION]", min=1, help="the version it names", show_default=False),
    ] = None,
    delete: Annotated[bool, typer.Option("--delete", help="delete the alias")] = False,
) -> None:
    """Point ALIAS at VERSION (a new alias, or one moved); `--delete` deletes it."""
    cli = current(ctx)
    if delete == (version is not None):
        raise UsageError("functions alias: give NAME ALIAS VERSION, or NAME ALIAS --delete")
    if delete:
        answer_function(cli, cli.api.call("DELETE", path(name, "aliases", alias_name)))
    else:
        body = {"version": version}
        answer_function(cli, cli.api.call("PUT", path(name, "aliases", alias_name), body))


@command(app)
def history(ctx: typer.Context, name: Name) -> None:
    """Every change of a function: who, when, from which version to which."""
    cli = current(ctx)
    changes = list(pages(cli.api, path(name, "history"), "changes"))
    columns = ("revision", "action", "at", "by", "from", "to", "detail")
    cli.output.answer(
        {"changes": changes},
        lambda value: cli.output.table(
            columns,
            (
                (
                    c["revision"],
                    c["action"],
                    c["at"],
                    c["by"],
                    c["from_version"],
                    c["to_version"],
                    c["detail"] or None,
                )
                for c in value["changes"]
            ),
        ),
    )


@command(app)
def enable(ctx: typer.Context, name: Name) -> None:
    """Let invocations of the function run again."""
    cli = current(ctx)
    answer_function(cli, cli.api.call("POST", path(name, "enable")))


@command(app)
def disable(ctx: typer.Context, name: Name) -> None:
    """Refuse every invocation (409 function_disabled) until enabled."""
    cli = current(ctx)
    answer_function(cli, cli.api.call("POST", path(name, "disable")))
