"""The secrets port. A source answers a secret by name, in its current or previous version, so
that signing keys can rotate: the current version signs, the previous one still verifies."""

from __future__ import annotations

from typing import Literal, Protocol

Stage = Literal["current", "previous"]


class SecretSource(Protocol):
    async def get(self, name: str, stage: Stage = "current", *, fresh: bool = False) -> str | None:
        """The secret's value, or None when it (or that stage) does not exist; `fresh` reads
        it from where it lives, past any cache (and caches what it read)."""

    async def ping(self) -> None:
        """Raise if the source cannot be reached."""
