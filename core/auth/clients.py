"""API clients: created with scopes, authenticated by id and secret, revoked at once.

A client also gets a SigV4 secret (its AWS secret access key on the Lambda Invoke API front,
core.api.lambda_api), shown once like its secret. A SigV4 signature can only be checked by
someone holding the secret itself, so it cannot be stored hashed: it is stored sealed
(core.sealing, bound to the client id, so a sealed secret moved to another client does not
open). It is a secret of its own rather than the client secret sealed: reading the store and
the module key then reveals what signs Lambda calls, never what buys bearer tokens. It ends with
the client (revocation); an admin can replace it (`renew_sigv4`), e.g. after a leak, for a
client created before SigV4 secrets existed, or after two rotations of the module key."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable

from core.auth.scopes import validate_scopes
from core.auth.usage import UsageCounter
from core.errors import Conflict, NotFound, ServiceUnavailable, Unauthorized, ValidationFailed
from core.models import Client
from core.sealing import SealBroken, Sealer
from core.store.base import ClientRepository

CLIENT_ID_PREFIX = "cl_"
SECRET_PREFIX = "fps_"
SIGV4_SECRET_PREFIX = "fpsv4_"
INVALID_CREDENTIALS = "invalid client credentials"
UNKNOWN_SIGNER = "The security token included in the request is invalid."
"""AWS's words for an access key id it does not know, for every SigV4 signer refused here."""

logger = logging.getLogger("fnproxy.auth")


class UnknownSigner(Unauthorized):
    """A SigV4 access key id that no active client with a SigV4 secret has."""

    code = "unknown_signer"


def sigv4_context(client_id: str) -> str:
    """What a client's sealed SigV4 secret is bound to."""
    return f"sigv4:{client_id}"


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
    def __init__(
        self,
        repo: ClientRepository,
        clock: Callable[[], float] = time.time,
        sealer: Sealer | None = None,
    ) -> None:
        """Without a `sealer`, clients get no SigV4 secret (the CLI's bootstrap client)."""
        self._repo = repo
        self._clock = clock
        self._sealer = sealer
        self._usage = UsageCounter(repo.record_use, clock)

    async def create(
        self, name: str, scopes: list[str], created_by: str
    ) -> tuple[Client, str, str | None]:
        """A new client, its secret (stored hashed) and its SigV4 secret (stored sealed; None
        without a sealer): both are returned this once."""
        if not name.strip():
            raise ValidationFailed("a client needs a name")
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        client_id = CLIENT_ID_PREFIX + secrets.token_urlsafe(12)
        sigv4_secret = sigv4_sealed = None
        if self._sealer is not None:
            sigv4_secret, sigv4_sealed = await self._new_sigv4(self._sealer, client_id)
        client = Client(
            client_id=client_id,
            name=name,
            scopes=validate_scopes(scopes),
            secret_hash=hash_secret(secret),
            created_at=self._clock(),
            created_by=created_by,
            sigv4_sealed=sigv4_sealed,
        )
        await self._repo.add(client)
        return client, secret, sigv4_secret

    async def renew_sigv4(self, client_id: str) -> str:
        """A new SigV4 secret for the active client `client_id`, in place of its former one
        (which stops signing at once), or its first; returned this once."""
        client = await self._repo.get(client_id)
        if client is None:
            raise NotFound(f"client {client_id!r} not found")
        if not client.active:
            raise Conflict(f"client {client_id!r} is revoked")
        if self._sealer is None:
            raise ServiceUnavailable("SigV4 secrets are not available here")
        secret, sealed = await self._new_sigv4(self._sealer, client_id)
        if not await self._repo.set_sigv4(client_id, sealed):
            raise NotFound(f"client {client_id!r} not found")
        return secret

    @staticmethod
    async def _new_sigv4(sealer: Sealer, client_id: str) -> tuple[str, str]:
        """A new SigV4 secret and its sealed form, bound to `client_id`."""
        secret = SIGV4_SECRET_PREFIX + secrets.token_urlsafe(32)
        return secret, await sealer.seal(secret, sigv4_context(client_id))

    async def sigv4_signer(self, client_id: str) -> tuple[Client, str]:
        """The active client `client_id` and its SigV4 secret; one `UnknownSigner` when there
        is no such client, it is revoked, it has no SigV4 secret or its seal does not open (the
        last logged: an admin renews it)."""
        client = await self._repo.get(client_id)
        if client is None or not client.active or not client.sigv4_sealed or not self._sealer:
            raise UnknownSigner(UNKNOWN_SIGNER)
        try:
            return client, await self._sealer.open(client.sigv4_sealed, sigv4_context(client_id))
        except SealBroken as broken:
            logger.warning(
                "client %s: its SigV4 secret does not open (%s); POST /v1/clients/%s/sigv4 "
                "gives it a new one",
                client_id,
                broken,
                client_id,
            )
            raise UnknownSigner(UNKNOWN_SIGNER) from None

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
