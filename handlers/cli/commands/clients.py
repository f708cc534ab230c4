"""`fnproxy clients ...`: API clients through the API (create, list, revoke), and `bootstrap`,
which writes the first admin client straight into the deployment's store."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from core.auth.scopes import ADMIN
from core.config import PLATFORM_DEFAULTS, PLATFORMS, Settings, load_settings
from core.errors import ValidationFailed
from handlers.cli.api import quoted
from handlers.cli.commands import command, group
from handlers.cli.context import current
from handlers.cli.errors import UsageError
from handlers.cli.output import note

if TYPE_CHECKING:
    from core.models import Client

app = group("API clients: create, list, revoke, renew a SigV4 secret, bootstrap.")

SCOPE_HELP = "a scope (admin, read, invoke, invoke:GLOB); repeat for more"
SHOWN_ONCE = "its secret is shown this once: keep it now (fnproxy stores only a hash)"
SECRETS_SHOWN_ONCE = (
    "its secrets are shown this once: keep them now (fnproxy stores a hash of client_secret, "
    "and sigv4_secret sealed)"
)
CLIENT_COLUMNS = ("client_id", "name", "scopes", "uses", "last used", "created", "revoked")


@command(app)
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="the client's name", show_default=False)],
    scope: Annotated[list[str], typer.Option(help=SCOPE_HELP, show_default=False)],
) -> None:
    """Create a client and print its id and secret."""
    cli = current(ctx)
    created = cli.api.call("POST", "/v1/clients", {"name": name, "scopes": scope})
    cli.output.answer(created)
    note(f"client {created['client_id']} created; {SECRETS_SHOWN_ONCE}")


@command(app, "list")
def list_(ctx: typer.Context) -> None:
    """Every client, with its use count and when it was last used."""
    cli = current(ctx)
    answer = cli.api.call("GET", "/v1/clients")
    rows = (
        (
            c["client_id"],
            c["name"],
            " ".join(c["scopes"]),
            c["uses"],
            c["last_used_at"],
            c["created_at"],
            c["revoked_at"],
        )
        for c in answer["clients"]
    )
    cli.output.answer(answer, lambda _: cli.output.table(CLIENT_COLUMNS, rows))


@command(app)
def revoke(
    ctx: typer.Context,
    client_id: Annotated[
        str, typer.Argument(metavar="CLIENT_ID", help="the client's id", show_default=False)
    ],
) -> None:
    """Revoke a client: its tokens stop working at once."""
    current(ctx).api.call("DELETE", f"/v1/clients/{quoted(client_id)}")
    note(f"client {client_id} revoked")


@command(app)
def sigv4(
    ctx: typer.Context,
    client_id: Annotated[
        str, typer.Argument(metavar="CLIENT_ID", help="the client's id", show_default=False)
    ],
) -> None:
    """Give a client a new SigV4 secret for the Lambda API front (docs/lambda-api.md), shown
    this once; its former one stops signing at once."""
    renewed = current(ctx).api.call("POST", f"/v1/clients/{quoted(client_id)}/sigv4")
    current(ctx).output.answer(renewed)
    note(f"client {client_id} has a new SigV4 secret, shown this once: keep it now")


BOOTSTRAP_HELP = """Create an API client straight in the deployment's store and print its id
and secret, shown this once (the store keeps a hash of the secret). It needs no running fnproxy
and no signing key, only credentials that may write to the store (the cloud CLI's own): the way
to create the first admin client. The store is the one the function uses, found by the same
settings, from the environment (or .env) or the flags: the platform's store or STORE_BACKEND;
FNPROXY_TABLE and AWS_REGION (DynamoDB, AWS_ENDPOINT_URL for an emulator); GCP_PROJECT_ID,
FIRESTORE_DATABASE and FIRESTORE_COLLECTION_PREFIX (Firestore); FNPROXY_DATA_DIR or SQLITE_PATH
(SQLite)."""
BOOTSTRAP_CREATOR = "cli"
"""`created_by` of a client the CLI wrote into the store."""
STORES = tuple(sorted({column["store"] for column in PLATFORM_DEFAULTS.values()}))


def store_option(variable: str, text: str) -> Any:
    return typer.Option(help=f"{text} [default: {variable}]", show_default=False)


def store_settings(given: dict[str, str | None]) -> Settings:
    """The settings as the environment (and .env) has them, the given variables over them."""
    chosen = {variable: value for variable, value in given.items() if value is not None}
    return load_settings({**os.environ, **chosen})


async def create_client_in_store(
    settings: Settings, name: str, scopes: list[str]
) -> tuple[Client, str]:
    """A client created by the client service in the settings' store, and its secret."""
    from core.auth.clients import ClientService
    from core.wiring import build_store

    store = build_store(settings)
    try:
        client, secret, _ = await ClientService(store.clients).create(
            name, scopes, BOOTSTRAP_CREATOR
        )
        return client, secret
    finally:
        await store.close()


@command(app, help=BOOTSTRAP_HELP)
def bootstrap(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="the client's name", show_default=False)],
    scope: Annotated[
        list[str] | None, typer.Option(help=f"{SCOPE_HELP} [default: admin]", show_default=False)
    ] = None,
    platform: Annotated[str | None, store_option("FNPROXY_PLATFORM", "the platform")] = None,
    store: Annotated[str | None, store_option("STORE_BACKEND", "the store")] = None,
    table: Annotated[str | None, store_option("FNPROXY_TABLE", "the DynamoDB table")] = None,
    region: Annotated[str | None, store_option("AWS_REGION", "the table's region")] = None,
    project: Annotated[str | None, store_option("GCP_PROJECT_ID", "the GCP project")] = None,
    database: Annotated[
        str | None, store_option("FIRESTORE_DATABASE", "the Firestore database")
    ] = None,
    prefix: Annotated[
        str | None, store_option("FIRESTORE_COLLECTION_PREFIX", "the collections' prefix")
    ] = None,
) -> None:
    for flag, value, allowed in (("--platform", platform, PLATFORMS), ("--store", store, STORES)):
        if value is not None and value not in allowed:
            raise UsageError(f"clients bootstrap: {flag} must be one of {', '.join(allowed)}")
    settings = store_settings(
        {
            "FNPROXY_PLATFORM": platform,
            "STORE_BACKEND": store,
            "FNPROXY_TABLE": table,
            "AWS_REGION": region,
            "GCP_PROJECT_ID": project,
            "FIRESTORE_DATABASE": database,
            "FIRESTORE_COLLECTION_PREFIX": prefix,
        }
    )
    try:
        client, secret = asyncio.run(create_client_in_store(settings, name, scope or [ADMIN]))
    except ValidationFailed as error:  # the client service's rules, as POST /v1/clients has them
        raise UsageError(f"clients bootstrap: {error.detail}") from None
    created = {"client_id": client.client_id, "name": client.name, "scopes": client.scopes}
    current(ctx).output.answer(created | {"client_secret": secret})
    note(f"fnproxy: client created in the {settings.backend_for('store')} store; {SHOWN_ONCE}")
