"""A session id an owner chooses may look like a generated one: it must never give the owner
two live sessions that answer to the same id."""

from __future__ import annotations

import secrets

import pytest

from core.config import load_settings
from core.errors import Conflict, NotFound
from core.wiring import build_services


@pytest.fixture
async def sessions(tmp_path):
    environ = {"FNPROXY_DATA_DIR": str(tmp_path), "MODULE_SECRET_KEY": secrets.token_urlsafe(48)}
    services = build_services(load_settings(environ, dotenv=None))
    yield services.sessions
    await services.close()


async def test_choosing_the_id_of_ones_own_generated_session_is_a_conflict(sessions):
    generated = await sessions.create("client:a", {"n": 1})
    with pytest.raises(Conflict):
        await sessions.create("client:a", {"n": 2}, session_id=generated.session_id)
    # the one session of that id is the generated one; deleted, it is gone
    assert (await sessions.get("client:a", generated.session_id)).data == {"n": 1}
    await sessions.delete("client:a", generated.session_id)
    with pytest.raises(NotFound):
        await sessions.get("client:a", generated.session_id)


async def test_another_owner_may_choose_that_id_and_neither_sees_the_other(sessions):
    generated = await sessions.create("client:a", {"owner": "a"})
    chosen = await sessions.create("client:b", {"owner": "b"}, session_id=generated.session_id)
    assert (await sessions.get("client:b", generated.session_id)).data == {"owner": "b"}
    assert (await sessions.get("client:a", generated.session_id)).data == {"owner": "a"}
    await sessions.delete("client:b", generated.session_id)
    with pytest.raises(NotFound):
        await sessions.get("client:b", generated.session_id)
    assert (await sessions.get("client:a", generated.session_id)).data == {"owner": "a"}
    assert chosen.session_id != generated.session_id  # stored under b's own key
