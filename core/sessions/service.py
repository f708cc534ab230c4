"""Sessions: small JSON documents owned by a caller, versioned for optimistic updates, with a
TTL. Invocations naming a session read it into the event and write the function's new state
back (see `core.invoke.service`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from core.errors import NotFound, PreconditionFailed
from core.models import Session, new_id
from core.store.base import SessionRepository

MAX_TTL_S = 30 * 24 * 3600


class SessionService:
    def __init__(
        self, repo: SessionRepository, default_ttl_s: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._repo = repo
        self._default_ttl_s = default_ttl_s
        self._clock = clock

    async def create(self, owner: str, data: dict[str, Any], ttl_s: int | None = None) -> Session:
        now = self._clock()
        session = Session(
            session_id=new_id(),
            owner=owner,
            data=data,
            version=1,
            created_at=now,
            updated_at=now,
            expires_at=now + (ttl_s or self._default_ttl_s),
        )
        await self._repo.add(session)
        return session

    async def get(self, owner: str, session_id: str) -> Session:
        """The caller's session; another caller's session is reported missing, not forbidden."""
        session = await self._repo.get(session_id, self._clock())
        if session is None or session.owner != owner:
            raise NotFound(f"session {session_id} not found")
        return session

    async def update(
        self,
        owner: str,
        session_id: str,
        expected_version: int,
        data: dict[str, Any],
        ttl_s: int | None = None,
    ) -> Session:
        current = await self.get(owner, session_id)
        if current.version != expected_version:
            raise PreconditionFailed(
                f"session {session_id} is at version {current.version}, not {expected_version}",
                current_version=current.version,
            )
        now = self._clock()
        updated = Session(
            session_id=session_id,
            owner=owner,
            data=data,
            version=expected_version + 1,
            created_at=current.created_at,
            updated_at=now,
            expires_at=now + ttl_s if ttl_s else current.expires_at,
        )
        if not await self._repo.replace(updated, expected_version):
            raise PreconditionFailed(f"session {session_id} changed meanwhile")
        return updated

    async def delete(self, owner: str, session_id: str) -> None:
        await self.get(owner, session_id)
        await self._repo.delete(session_id)
