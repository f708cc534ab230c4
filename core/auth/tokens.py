"""Access tokens: HS256 JWTs signed with the key ring's current key.

Claims: `iss`, `aud`, `sub`, `scope` (space-separated), `iat`, `exp`, `jti`, and `client_id`
(RFC 9068) for a client's token; the header names the signing key in `kid`. Verification picks
the key by `kid` among the current and previous keys (an unknown kid has the key ring read the
keys again first, rate-limited: a rotation this instance has not seen yet) and accepts nothing
but HS256. Every
rejection is an `Unauthorized` with a short detail that never quotes the token.
"""

from __future__ import annotations

import base64
import functools
import secrets
import time
from collections.abc import Callable
from typing import Any

import jwt
import orjson

from core.auth.keys import KeyRing, SigningKey
from core.auth.principal import Principal
from core.auth.scopes import format_scope, parse_scope
from core.errors import Unauthorized

ALGORITHM = "HS256"
ALGORITHMS = [ALGORITHM]
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti", "scope"]
MAX_TOKEN_LENGTH = 4096
VERIFIED_CACHE_SIZE = 4096

_REJECTIONS: tuple[tuple[type[jwt.InvalidTokenError], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.InvalidSignatureError, "invalid token signature"),
    (jwt.InvalidAlgorithmError, "token algorithm not allowed"),
    (jwt.InvalidAudienceError, "invalid token audience"),
    (jwt.InvalidIssuerError, "invalid token issuer"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
)


class Tokens:
    """Issues and verifies access tokens for one issuer and audience."""

    def __init__(
        self,
        keyring: KeyRing,
        *,
        issuer: str,
        audience: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keyring = keyring
        self._issuer = issuer
        self._audience = audience
        self._clock = clock
        # Built once: options given per call would be merged on every decode.
        self._decoder = jwt.PyJWT(options={"require": REQUIRED_CLAIMS})
        self._verified = VerifiedTokens(VERIFIED_CACHE_SIZE)

    async def issue(
        self, subject: str, scopes: list[str], ttl_s: int, client_id: str | None = None
    ) -> tuple[str, int]:
        """A signed token and its lifetime in seconds."""
        key = await self._keyring.signing_key()
        now = int(self._clock())
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "scope": format_scope(scopes),
            "iat": now,
            "exp": now + ttl_s,
            "jti": secrets.token_urlsafe(16),
        }
        if client_id is not None:
            claims["client_id"] = client_id
        token = jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})
        return token, ttl_s

    async def verify(self, token: str) -> Principal:
        """The principal a valid token speaks for; `Unauthorized` otherwise."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise Unauthorized("malformed token")
        kid = _header_kid(token.partition(".")[0])
        key = await self._keyring.verification_key(kid)
        if key is None:
            raise Unauthorized("unknown signing key")
        now = self._clock()
        principal = self._verified.get(token, now)
        if principal is None:
            claims = self._decode(token, key)
            principal = _principal(claims)
            self._verified.put(token, principal, expires_at=claims["exp"])
        return principal

    def _decode(self, token: str, key: SigningKey) -> dict[str, Any]:
        try:
            return self._decoder.decode(
                token,
                key.secret,
                algorithms=ALGORITHMS,
                audience=self._audience,
                issuer=self._issuer,
            )
        except jwt.InvalidTokenError as error:
            raise _rejection(error) from None


class VerifiedTokens:
    """Tokens already verified, kept until they expire, so a caller's repeated requests skip
    the HMAC and base64 work (a few hundred µs each). Only a token whose signing key is still
    live gets here (`verify` looks the kid up first), so retiring a key retires its tokens."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, token: str, now: float) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        principal, expires_at = entry
        if now >= expires_at:
            del self._entries[token]
            return None
        return principal

    def put(self, token: str, principal: Principal, expires_at: float) -> None:
        if len(self._entries) >= self._capacity:
            del self._entries[next(iter(self._entries))]  # the oldest entry
        self._entries[token] = (principal, expires_at)


@functools.lru_cache(maxsize=64)
def _header_kid(segment: str) -> str:
    """The kid of a token's header segment (cached: every token of a key has the same header).

    Only picks the key: pyjwt parses and checks the header again, strictly, when it verifies.
    """
    header = _parse_header(segment)
    if header.get("alg") != ALGORITHM:
        raise Unauthorized("token algorithm not allowed")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise Unauthorized("token has no key id")
    return kid


def _parse_header(segment: str) -> dict[str, Any]:
    try:
        header = orjson.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except ValueError:
        header = None
    if not isinstance(header, dict):
        raise Unauthorized("malformed token")
    return header


def _principal(claims: dict[str, Any]) -> Principal:
    scope, client_id = claims["scope"], claims.get("client_id")
    if not isinstance(scope, str) or not isinstance(client_id, (str, type(None))):
        raise Unauthorized("malformed token")
    return Principal(
        subject=claims["sub"],
        scopes=parse_scope(scope),
        token_id=claims["jti"],
        client_id=client_id,
    )


def _rejection(error: jwt.InvalidTokenError) -> Unauthorized:
    if isinstance(error, jwt.MissingRequiredClaimError):
        return Unauthorized(f"token lacks the {error.claim!r} claim")
    for kind, detail in _REJECTIONS:
        if isinstance(error, kind):
            return Unauthorized(detail)
    return Unauthorized("malformed token")
