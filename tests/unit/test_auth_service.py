"""The auth service and the client service, over an in-memory client repository."""

from __future__ import annotations

import dataclasses
import re
import secrets
from typing import Any

import jwt
import pytest

from core.auth.clients import ClientService, UnknownSigner, hash_secret
from core.auth.keys import KeyRing, key_id
from core.auth.service import AuthService, TokenGrant
from core.auth.throttle import TokenThrottle
from core.auth.tokens import Tokens
from core.config import Settings
from core.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from core.models import Client
from core.sealing import Sealer
from core.secrets.env import EnvSecretSource
from tests.rotation_support import FakeClock
from tests.unit.test_token_throttle import InMemoryCounters

MODULE_KEY = secrets.token_urlsafe(48)
NEW_KEY = secrets.token_urlsafe(48)
SOURCE = "198.51.100.7"


class InMemoryClients:
    """A ClientRepository kept in a dict; hands out copies as a real store would."""

    def __init__(self) -> None:
        self.rows: dict[str, Client] = {}

    async def add(self, client: Client) -> None:
        self.rows[client.client_id] = dataclasses.replace(client)

    async def get(self, client_id: str) -> Client | None:
        client = self.rows.get(client_id)
        return dataclasses.replace(client) if client else None

    async def list(self) -> list[Client]:
        return [dataclasses.replace(client) for client in self.rows.values()]

    async def revoke(self, client_id: str, at: float) -> bool:
        return self._change(client_id, revoked_at=at)

    async def set_sigv4(self, client_id: str, sealed: str) -> bool:
        return self._change(client_id, sigv4_sealed=sealed)

    async def record_use(self, client_id: str, uses: int, last_used_at: float) -> bool:
        client = self.rows.get(client_id)
        if client is None:
            return False
        latest = max(client.last_used_at or last_used_at, last_used_at)
        return self._change(client_id, uses=client.uses + uses, last_used_at=latest)

    def _change(self, client_id: str, **fields: Any) -> bool:
        client = self.rows.get(client_id)
        if client is None:
            return False
        self.rows[client_id] = dataclasses.replace(client, **fields)
        return True


@pytest.fixture
def repo() -> InMemoryClients:
    return InMemoryClients()


@pytest.fixture
def clients(repo: InMemoryClients) -> ClientService:
    return ClientService(repo, clock=lambda: 1234.5)


def auth_over(keyring: KeyRing, clients: ClientService) -> AuthService:
    settings = Settings(jwt_issuer="fnproxy-test", jwt_audience="fnproxy-api", token_ttl_s=900)
    tokens = Tokens(keyring, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    throttle = TokenThrottle(InMemoryCounters(), max_failures=100, window_s=300)
    return AuthService(tokens, keyring, clients, throttle, settings)


@pytest.fixture
def auth(clients: ClientService) -> AuthService:
    return auth_over(KeyRing(EnvSecretSource({"MODULE_SECRET_KEY": MODULE_KEY})), clients)


# --- clients ------------------------------------------------------------------------------------


async def test_create_stores_only_a_hash_of_the_secret(
    clients: ClientService, repo: InMemoryClients
) -> None:
    client, secret, _ = await clients.create(
        "billing", ["invoke:local:*", "read"], created_by="module"
    )

    assert re.fullmatch(r"cl_[A-Za-z0-9_-]{16}", client.client_id)
    assert re.fullmatch(r"fps_[A-Za-z0-9_-]{43}", secret)
    stored = repo.rows[client.client_id]
    assert stored.secret_hash == hash_secret(secret)
    assert secret not in repr(stored.to_dict())
    assert (stored.name, stored.scopes, stored.created_by) == (
        "billing",
        ["invoke:local:*", "read"],
        "module",
    )
    assert (stored.created_at, stored.revoked_at) == (1234.5, None)


async def test_create_refuses_unknown_scopes_and_blank_names(clients: ClientService) -> None:
    with pytest.raises(ValidationFailed):
        await clients.create("x", ["superuser"], created_by="module")
    with pytest.raises(ValidationFailed):
        await clients.create("  ", ["read"], created_by="module")


async def test_list_revoke_and_is_active(clients: ClientService) -> None:
    first, _, _ = await clients.create("a", ["read"], created_by="module")
    second, _, _ = await clients.create("b", ["read"], created_by="module")
    assert {client.client_id for client in await clients.list()} == {
        first.client_id,
        second.client_id,
    }

    await clients.revoke(first.client_id)
    assert not await clients.is_active(first.client_id)
    assert await clients.is_active(second.client_id)
    assert not await clients.is_active("cl_unknown")
    with pytest.raises(NotFound):
        await clients.revoke("cl_unknown")


async def test_authenticate_gives_one_answer_for_every_failure(clients: ClientService) -> None:
    client, secret, _ = await clients.create("a", ["read"], created_by="module")
    assert (await clients.authenticate(client.client_id, secret)).client_id == client.client_id

    await clients.revoke(client.client_id)
    failures = [
        (client.client_id, secret),  # revoked
        (client.client_id, secret + "x"),
        ("cl_unknown", secret),
        ("", ""),
    ]
    for client_id, attempt in failures:
        with pytest.raises(Unauthorized) as caught:
            await clients.authenticate(client_id, attempt)
        assert caught.value.detail == "invalid client credentials"


# --- client credentials grant -------------------------------------------------------------------


async def test_client_credentials_happy_path(auth: AuthService, clients: ClientService) -> None:
    client, secret, _ = await clients.create("a", ["read", "invoke:local:*"], created_by="module")

    grant = await auth.token_for_client(client.client_id, secret, source=SOURCE)

    assert isinstance(grant, TokenGrant)
    assert (grant.token_type, grant.expires_in, grant.scope) == (
        "Bearer",
        900,
        "read invoke:local:*",
    )
    assert grant.access_token not in repr(grant)
    claims = jwt.decode(
        grant.access_token, MODULE_KEY, algorithms=["HS256"], audience="fnproxy-api"
    )
    assert claims["iss"] == "fnproxy-test"
    assert claims["exp"] - claims["iat"] == 900

    principal = await auth.authenticate(f"Bearer {grant.access_token}")
    assert principal.subject == f"client:{client.client_id}"
    assert principal.client_id == client.client_id
    assert principal.scopes == frozenset({"read", "invoke:local:*"})


async def test_client_credentials_wrong_secret(auth: AuthService, clients: ClientService) -> None:
    client, _, _ = await clients.create("a", ["read"], created_by="module")
    with pytest.raises(Unauthorized, match="^invalid client credentials$"):
        await auth.token_for_client(client.client_id, "fps_wrong", source=SOURCE)


async def test_client_credentials_unknown_client(auth: AuthService) -> None:
    with pytest.raises(Unauthorized, match="^invalid client credentials$"):
        await auth.token_for_client("cl_nobody", "fps_whatever", source=SOURCE)


async def test_revoked_client_token_is_rejected_at_once(
    auth: AuthService, clients: ClientService
) -> None:
    client, secret, _ = await clients.create("a", ["invoke"], created_by="module")
    grant = await auth.token_for_client(client.client_id, secret, source=SOURCE)
    header = f"Bearer {grant.access_token}"
    await auth.authenticate(header)

    await clients.revoke(client.client_id)

    with pytest.raises(Unauthorized, match="^token revoked$"):
        await auth.authenticate(header)
    with pytest.raises(Unauthorized, match="^invalid client credentials$"):
        await auth.token_for_client(client.client_id, secret, source=SOURCE)


async def test_a_sigv4_secret_is_stored_sealed_to_its_client_and_ends_with_it(
    repo: InMemoryClients, caplog: pytest.LogCaptureFixture
) -> None:
    sealer = Sealer(KeyRing(EnvSecretSource({"MODULE_SECRET_KEY": MODULE_KEY})))
    clients = ClientService(repo, sealer=sealer)
    client, _, sigv4_secret = await clients.create("a", ["invoke"], created_by="module")
    other, _, _ = await clients.create("b", ["invoke"], created_by="module")

    assert re.fullmatch(r"fpsv4_[A-Za-z0-9_-]{43}", sigv4_secret)
    assert sigv4_secret not in repr(repo.rows[client.client_id].to_dict())
    assert (await clients.sigv4_signer(client.client_id))[1] == sigv4_secret
    # bound to its client: copied to another client's record, it does not open
    repo.rows[other.client_id].sigv4_sealed = repo.rows[client.client_id].sigv4_sealed
    with pytest.raises(UnknownSigner):
        await clients.sigv4_signer(other.client_id)
    assert f"client {other.client_id}: its SigV4 secret does not open" in caplog.text
    assert sigv4_secret not in caplog.text
    await clients.revoke(client.client_id)
    with pytest.raises(UnknownSigner):
        await clients.sigv4_signer(client.client_id)


async def test_a_renewed_sigv4_secret_replaces_the_former_one(repo: InMemoryClients) -> None:
    sealer = Sealer(KeyRing(EnvSecretSource({"MODULE_SECRET_KEY": MODULE_KEY})))
    bare, _, _ = await ClientService(repo).create("old", ["invoke"], created_by="module")
    clients = ClientService(repo, sealer=sealer)
    client, _, former = await clients.create("a", ["invoke"], created_by="module")

    renewed = await clients.renew_sigv4(client.client_id)
    first = await clients.renew_sigv4(bare.client_id)  # a client made without one gets one

    assert renewed != former
    assert (await clients.sigv4_signer(client.client_id))[1] == renewed
    assert (await clients.sigv4_signer(bare.client_id))[1] == first
    with pytest.raises(NotFound):
        await clients.renew_sigv4("cl_nobody")
    await clients.revoke(client.client_id)
    with pytest.raises(Conflict):
        await clients.renew_sigv4(client.client_id)


async def test_a_client_created_without_a_sealer_has_no_sigv4_secret(
    clients: ClientService,
) -> None:
    client, _, sigv4_secret = await clients.create("a", ["invoke"], created_by="module")

    assert sigv4_secret is None
    with pytest.raises(UnknownSigner):
        await clients.sigv4_signer(client.client_id)


# --- api key grant ------------------------------------------------------------------------------


async def test_api_key_grants_an_admin_module_token(auth: AuthService) -> None:
    grant = await auth.token_for_api_key(MODULE_KEY, source=SOURCE)
    assert grant.scope == "admin"

    principal = await auth.authenticate(f"bearer {grant.access_token}")
    assert (principal.subject, principal.client_id, principal.is_admin) == ("module", None, True)


@pytest.mark.parametrize("api_key", ["", "wrong", MODULE_KEY[:-1], MODULE_KEY + "x", "ключ"])
async def test_a_wrong_api_key_is_refused(auth: AuthService, api_key: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        await auth.token_for_api_key(api_key, source=SOURCE)
    assert caught.value.detail == "invalid api key"


# --- bearer parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (None, "missing bearer token"),
        ("", "missing bearer token"),
        ("   ", "missing bearer token"),
        ("Bearer", "missing bearer token"),
        ("Bearer    ", "missing bearer token"),
        ("Basic dXNlcjpwYXNz", "authorization scheme must be Bearer"),
        ("Token abc.def.ghi", "authorization scheme must be Bearer"),
        ("abc.def.ghi", "authorization scheme must be Bearer"),
        ("Bearer not-a-jwt", "malformed token"),
    ],
)
async def test_bearer_header_errors(auth: AuthService, header: str | None, detail: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        await auth.authenticate(header)
    assert caught.value.detail == detail


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
async def test_bearer_scheme_is_case_insensitive(auth: AuthService, scheme: str) -> None:
    grant = await auth.token_for_api_key(MODULE_KEY, source=SOURCE)
    assert (await auth.authenticate(f"  {scheme}  {grant.access_token} ")).subject == "module"


async def test_a_rotated_in_api_key_is_taken_before_the_cache_expires(
    clients: ClientService,
) -> None:
    values, clock = {"MODULE_SECRET_KEY": MODULE_KEY}, FakeClock()
    auth = auth_over(KeyRing(EnvSecretSource(values), cache_ttl_s=300, clock=clock), clients)
    await auth.token_for_api_key(MODULE_KEY, source=SOURCE)  # the keys are cached from here
    clock.now += 60

    values["MODULE_SECRET_KEY"], values["MODULE_SECRET_KEY_PREVIOUS"] = NEW_KEY, MODULE_KEY

    grant = await auth.token_for_api_key(NEW_KEY, source=SOURCE)
    assert jwt.get_unverified_header(grant.access_token)["kid"] == key_id(NEW_KEY)
    with pytest.raises(Unauthorized, match="^invalid api key$"):  # the old key buys nothing
        await auth.token_for_api_key(MODULE_KEY, source=SOURCE)
