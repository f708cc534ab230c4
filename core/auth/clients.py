"""API clients: created with scopes, authenticated by id and secret, revoked at once."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from core.auth.scopes import validate_scopes
from core.auth.usage import UsageCounter
from core.errors import NotFound, Unauthorized, ValidationFailed
from core.models import Client
from core.store.base import ClientRepository

CLIENT_ID_PREFIX = "cl_"
SECRET_PREFIX = "fps_"
INVALID_CREDENTIALS = "invalid client credentials"


def hash_secret(secret: str) -> str:
    """The stored form of a client secret.

    Secrets are 256 bits from `secrets.token_urlsafe(32)`, far beyond any guessing, so a fast
    hash is as strong as a slow password hash would be here; it is unkeyed so that rotating the
    signing key leaves client secrets valid.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


# Compared against when the client does not exist, so that both paths do the same work.
_NO_CLIENT_HASH = hash_secret(secrets.token_urlsafe(32))


class ClientService:
    def __init__(self, repo: ClientRepository, clock: Callable[[], float] = time.time) -> None:
        self._repo = repo
        self._clock = clock
        self._usage = UsageCounter(repo, clock)

    async def create(self, name: str, scopes: list[str], created_by: str) -> tuple[Client, str]:
        """A new client and its secret; the secret is returned this once and stored hashed."""
        if not name.strip():
            raise ValidationFailed("a client needs a name")
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        client = Client(
            client_id=CLIENT_ID_PREFIX + secrets.token_urlsafe(12),
            name=name,
            scopes=validate_scopes(scopes),
            secret_hash=hash_secret(secret),
            created_at=self._clock(),
            created_by=created_by,
        )
        await self._repo.add(client)
        return client, secret

    async def authenticate(self, client_id: str, secret: str) -> Client:
        """The active client with these credentials; one `Unauthorized` for every failure."""
        client = await self._repo.get(client_id)
        expected = client.secret_hash if client is not None else _NO_CLIENT_HASH
        matches = hmac.compare_digest(hash_secret(secret), expected)
        if client is None or not matches or not client.active:
            raise Unauthorized(INVALID_CREDENTIALS)
        return client

    async def list(self) -> list[Client]:
        return await self._repo.list()

    async def revoke(self, client_id: str) -> None:
        if not await self._repo.revoke(client_id, self._clock()):
            raise NotFound(f"client {client_id!r} not found")

    async def is_active(self, client_id: str) -> bool:
        client = await self._repo.get(client_id)
        return client is not None and client.active

    async def used(self, client_id: str) -> None:
        """Count a request the client's token authenticated (`core.auth.usage`)."""
        await self._usage.used(client_id)
