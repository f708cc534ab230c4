"""Who is calling: the verified subject of a bearer token."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    subject: str
    """`client:<client_id>` for a client, `module` for the module secret key's holder."""
    scopes: frozenset[str]
    token_id: str
    client_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes
