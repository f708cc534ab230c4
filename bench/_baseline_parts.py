"""What the cold-start baselines (`_baseline_app.py`, `_gcp_baseline_app.py`) both serve: the
invoke request's model and the JWT check, written as their users would with pydantic, pyjwt
and FastAPI (which each baseline imports anyway, so sharing them times nothing else)."""

from __future__ import annotations

from typing import Any

import jwt
from fastapi import HTTPException
from pydantic import BaseModel

REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti", "scope"]


class Target(BaseModel):
    provider: str
    url: str


class InvokeBody(BaseModel):
    target: Target
    payload: Any = None


def verify(authorization: str, key: str) -> dict[str, Any]:
    """The claims of a bearer token fnproxy's module key signed; 401 otherwise."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        raise HTTPException(401, "bearer token required")
    try:
        return jwt.decode(token, key, algorithms=["HS256"], audience="fnproxy", issuer="fnproxy",
                          options={"require": REQUIRED_CLAIMS})
    except jwt.InvalidTokenError as error:
        raise HTTPException(401, str(error)) from None
