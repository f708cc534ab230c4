"""Sessions: small JSON documents owned by a caller, versioned for optimistic updates, with a
TTL. Invocations naming a session read it into the event and write the function's new state
back (see `core.invoke.service`).

A session's id is new (`new_id`) or chosen by its owner. A chosen id is stored under a key of
its owner's (`<id>@<owner digest>`), so two callers may choose the same id without either
learning of, or blocking, the other's session."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from typing import Any

from core.errors import Conflict, NotFound, PreconditionFailed
from core.models import Session, new_id
from core.store.base import SessionRepository

MAX_TTL_S = 30 * 24 * 3600
OWNER_KEY_SEPARATOR = "@"
_generated_id = re.compile(r"[0-9a-f]{32}").fullmatch


def chosen_key(owner: str, session_id: str) -> str:
    """The store key of a session whose owner chose its id."""
    digest = hashlib.sha256(owner.encode()).hexdigest()[:24]
    return f"{session_id}{OWNER_KEY_SEPARATOR}{digest}"


def public_id(session: Session) -> str:
    """The id its owner knows the session by."""
    return session.session_id.partition(OWNER_KEY_SEPARATOR)[0]


class SessionService:
    def __init__(
        self, repo: SessionRepository, default_ttl_s: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._repo = repo
        self._default_ttl_s = default_ttl_s
        self._clock = clock

    async def create(
        self,
        owner: str,
        data: dict[str, Any],
        ttl_s: int | None = None,
        session_id: str | None = None,
    ) -> Session:
        """A new session; `Conflict` when the owner already has a live one of `session_id`."""
        now = self._clock()
        session = Session(
            session_id=new_id() if session_id is None else chosen_key(owner, session_id),
            owner=owner,
            data=data,
            version=1,
            created_at=now,
            updated_at=now,
            expires_at=now + (ttl_s or self._default_ttl_s),
        )
        if session_id is None:
            await self._repo.add(session)
        else:
            await self._add_chosen(session, session_id, now)
        return session

    async def _add_chosen(self, session: Session, session_id: str, now: float) -> None:
        # Under its chosen key, or (an id in the generated form) a generated session of the
        # owner's: either would leave two live sessions answering to the one id.
        for key in self._keys(session.owner, session_id):
            existing = await self._repo.get(key, now)
            if existing is not None and existing.owner == session.owner:
                raise Conflict(f"session {session_id} exists")
        try:
            await self._repo.add(session)
        except Conflict:  # an expired session of that id, not yet purged
            await self._repo.delete(session.session_id)
            await self._repo.add(session)

    async def get(self, owner: str, session_id: str) -> Session:
        """The caller's session; another caller's session is reported missing, not forbidden."""
        now = self._clock()
        for key in self._keys(owner, session_id):
            session = await self._repo.get(key, now)
            if session is not None and session.owner == owner:
                return session
        raise NotFound(f"session {session_id} not found")

    @staticmethod
    def _keys(owner: str, session_id: str) -> list[str]:
        chosen = chosen_key(owner, session_id)
        return [session_id, chosen] if _generated_id(session_id) else [chosen]

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
            session_id=current.session_id,
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
        current = await self.get(owner, session_id)
        await self._repo.delete(current.session_id)
