"""The auth service: token grants (client credentials, module API key) and request
authentication from an `Authorization: Bearer <jwt>` header, from a client's SigV4
signature (core.auth.sigv4), or from a client's own credentials sent with each request (the
OpenWhisk front's Basic auth)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core.auth.clients import ClientService
from core.auth.keys import KeyRing
from core.auth.principal import Principal
from core.auth.scopes import ADMIN, format_scope
from core.auth.sigv4 import (
    InvalidSignature,
    SignedRequest,
    check_scope,
    parse_authorization,
    verify,
)
from core.auth.throttle import TokenThrottle, address_identity, client_identity
from core.auth.tokens import Tokens
from core.config import Settings
from core.errors import Unauthorized
from core.models import Client

MODULE_SUBJECT = "module"
CLIENT_SUBJECT_PREFIX = "client:"


@dataclass(frozen=True, kw_only=True)
class TokenGrant:
    access_token: str = field(repr=False)
    token_type: str = "Bearer"
    expires_in: int
    scope: str


class AuthService:
    def __init__(
        self,
        tokens: Tokens,
        keyring: KeyRing,
        clients: ClientService,
        throttle: TokenThrottle,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tokens = tokens
        self._keyring = keyring
        self._clients = clients
        self._throttle = throttle
        self._ttl_s = settings.token_ttl_s
        self._region = settings.aws_region
        self._clock = clock

    async def token_for_client(
        self, client_id: str, client_secret: str, *, source: str
    ) -> TokenGrant:
        """OAuth2 client credentials: a token with the client's scopes. Failures are throttled
        per client id and per `source` address (`RateLimited` once either has too many)."""
        identities = (client_identity(client_id), address_identity(source))
        async with self._throttle.attempt(*identities):
            client = await self._clients.authenticate(client_id, client_secret)
        subject = CLIENT_SUBJECT_PREFIX + client.client_id
        return await self._grant(subject, client.scopes, client_id=client.client_id)

    async def token_for_api_key(self, api_key: str, *, source: str) -> TokenGrant:
        """The seeds' grant: the module secret key itself buys an admin token (a key this
        instance does not know yet has the key ring read the keys again, as after a rotation).
        Failures are throttled per `source` address only: a count for the one module key would
        let anyone lock its holder out, and the key (64 characters at least) is beyond
        guessing."""
        async with self._throttle.attempt(address_identity(source)):
            if not await self._keyring.is_current_secret(api_key):
                raise Unauthorized("invalid api key")
        return await self._grant(MODULE_SUBJECT, [ADMIN])

    async def authenticate(self, authorization_header: str | None) -> Principal:
        """The caller of a request; a revoked client's tokens stop working at once, and a
        client's requests are counted (`ClientService.used`)."""
        principal = await self._tokens.verify(bearer_token(authorization_header))
        client_id = principal.client_id
        if client_id is not None:
            if not await self._clients.is_active(client_id):
                raise Unauthorized("token revoked")
            await self._clients.used(client_id)
        return principal

    async def authenticate_sigv4(
        self, request: SignedRequest, service: str, *, source: str
    ) -> Principal:
        """The client whose SigV4 signature `request` carries, for `service` in this
        deployment's region (AWS_REGION); counted as a client's request is. Failed signatures
        (and unknown access keys) are throttled per access key id and per `source` address
        as failed Basic credentials are, a throttled one refused before any HMAC is computed;
        the scope and date are checked before the store is read."""
        authorization = parse_authorization(_one(request.header("authorization")))
        identities = (client_identity(authorization.access_key), address_identity(source))
        async with self._throttle.attempt(*identities, counted=(InvalidSignature, Unauthorized)):
            amz_date = _one(request.header("x-amz-date")) or ""
            check_scope(authorization, amz_date, self._region, service, self._clock())
            client, secret = await self._clients.sigv4_signer(authorization.access_key)
            verify(secret, authorization, request)
        return await self._client_principal(client, "sigv4")

    async def authenticate_client(
        self, client_id: str, client_secret: str, *, source: str
    ) -> Principal:
        """The client whose id and secret a request carries (HTTP Basic auth), checked and
        throttled as the token grant checks them; counted as a client's request is."""
        identities = (client_identity(client_id), address_identity(source))
        async with self._throttle.attempt(*identities):
            client = await self._clients.authenticate(client_id, client_secret)
        return await self._client_principal(client, "basic")

    async def _client_principal(self, client: Client, token_id: str) -> Principal:
        await self._clients.used(client.client_id)
        return Principal(
            subject=CLIENT_SUBJECT_PREFIX + client.client_id,
            scopes=frozenset(client.scopes),
            token_id=token_id,
            client_id=client.client_id,
        )

    async def _grant(
        self, subject: str, scopes: list[str], client_id: str | None = None
    ) -> TokenGrant:
        token, expires_in = await self._tokens.issue(subject, scopes, self._ttl_s, client_id)
        return TokenGrant(access_token=token, expires_in=expires_in, scope=format_scope(scopes))


def _one(values: list[str]) -> str | None:
    """A header's one value (None when absent; repeated, it is no signature's)."""
    return values[0] if len(values) == 1 else None


def bearer_token(authorization_header: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive)."""
    if not authorization_header or not authorization_header.strip():
        raise Unauthorized("missing bearer token")
    scheme, _, token = authorization_header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized("authorization scheme must be Bearer")
    token = token.strip()
    if not token:
        raise Unauthorized("missing bearer token")
    return token
