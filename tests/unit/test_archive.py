"""The archive's rules on real local blobs: cutting when there are none or they fail, object
keys per function and execution, and reading back an object that is gone."""

from __future__ import annotations

import base64
import logging
import secrets
from pathlib import Path

import pytest

from core.auth.keys import KeyRing
from core.blobs.links import BlobLinks
from core.blobs.local import LocalBlobs
from core.errors import NotFound
from core.invoke.archive import Archive, ArchiveLimits, function_prefix, part_key
from core.models import Execution, Mode, Status, new_id
from core.secrets.env import EnvSecretSource

LIMITS = ArchiveLimits(inline_bytes=100, max_stored_bytes=50, read_inline_bytes=1000, url_ttl_s=60)
LARGE = "z" * 500


def local_blobs(folder: Path) -> LocalBlobs:
    source = EnvSecretSource({"MODULE_SECRET_KEY": secrets.token_urlsafe(48)})
    return LocalBlobs(folder, BlobLinks(KeyRing(source, cache_ttl_s=0)))


def execution(function: str = "local:echo") -> Execution:
    return Execution(
        execution_id=new_id(),
        target={},
        provider="local",
        function=function,
        mode=Mode.SYNC,
        status=Status.RUNNING,
        caller="tester",
        created_at=0.0,
        updated_at=0.0,
        expires_at=0.0,
    )


async def test_without_blobs_a_large_part_is_cut_to_max_stored_bytes():
    record = execution()

    await Archive(None, LIMITS).keep(record, "result", LARGE)

    assert record.result_truncated and record.result_blob is None
    assert len(record.result.encode()) <= LIMITS.max_stored_bytes


async def test_a_failing_archive_keeps_a_cut_copy_and_says_so(tmp_path: Path, caplog):
    (tmp_path / "occupied").write_text("a file where the folder goes")
    record = execution()

    with caplog.at_level(logging.WARNING, "fnproxy.archive"):
        await Archive(local_blobs(tmp_path / "occupied"), LIMITS).keep(record, "logs", LARGE)

    assert record.logs_truncated and record.logs_blob is None
    assert f"logs of {record.execution_id} kept cut" in caplog.text


async def test_objects_are_keyed_by_function_then_execution(tmp_path: Path):
    blobs = local_blobs(tmp_path)
    archive = Archive(blobs, LIMITS)
    mine, other = execution("http:https://example.com/a"), execution("local:echo")
    for record in (mine, other):
        await archive.keep(record, "logs", LARGE)

    segment = base64.urlsafe_b64encode(b"http:https://example.com/a").decode()
    assert part_key(mine, "logs") == f"functions/{segment}/{mine.execution_id}/logs"
    assert mine.logs_blob["content_type"] == "text/plain; charset=utf-8"
    assert await blobs.delete_prefix(function_prefix(mine.function)) == 1
    assert await archive.full(other, "logs") == LARGE


async def test_a_function_key_too_long_for_a_key_is_named_by_its_digest():
    long_key = "http:https://example.com/" + "a" * 400

    prefix = function_prefix(long_key)

    assert prefix.startswith("functions/sha256-") and len(prefix) == len("functions/sha256-/") + 64
    assert function_prefix(long_key + "b") != prefix


async def test_a_part_whose_object_is_gone_is_not_found_and_shown_as_its_link(tmp_path: Path):
    blobs = local_blobs(tmp_path)
    archive = Archive(blobs, LIMITS)
    record = execution()
    await archive.keep(record, "result", {"rows": [LARGE]})
    await blobs.delete_prefix(function_prefix(record.function))

    with pytest.raises(NotFound):
        await archive.full(record, "result")
    shown = await archive.shown(record)

    assert shown["result"] is None and shown["result_blob"]["url"].startswith("/v1/blobs/")
