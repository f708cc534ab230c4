"""Blobs in the data folder (FNPROXY_DATA_DIR/blobs), private like the store: folders 0700,
files 0600.

The key `a/b` is the file `a/b@`: `@` is never in a key's segment, so an object's file and a
folder of longer keys never share a name. The file holds the content type on its first line,
then the bytes; it is written to a temporary file and renamed, so a reader sees the old object
or the new one, never half of one. The signed URL is fnproxy's own link (core/blobs/links.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from pathlib import Path

from core.blobs.base import Blob, checked_content_type, checked_key, reported
from core.blobs.links import BlobLinks

SUFFIX = "@"
FAILURES = (OSError,)


class LocalBlobs:
    def __init__(self, root: Path, links: BlobLinks) -> None:
        self.root = root
        self._links = links

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        header = checked_content_type(content_type).encode() + b"\n"
        await reported(asyncio.to_thread(self._write, path, header + data), FAILURES, "store")

    async def get(self, key: str) -> Blob | None:
        return await reported(asyncio.to_thread(_read, self._path(key)), FAILURES, "read")

    async def delete_prefix(self, prefix: str) -> int:
        work = asyncio.to_thread(self._delete_prefix, checked_key(prefix, prefix=True))
        return await reported(work, FAILURES, "delete")

    async def signed_url(self, key: str, expires_in_s: int) -> str:
        return await self._links.link(key, expires_in_s)

    async def ping(self) -> None:
        await asyncio.to_thread(self._make_folder, self.root)
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise PermissionError(f"{self.root} is not writable")

    async def close(self) -> None:
        return None

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*checked_key(key).split("/")).with_name(
            key.rpartition("/")[2] + SUFFIX
        )

    def _write(self, path: Path, content: bytes) -> None:
        self._make_folder(path.parent)
        temporary = path.with_name(f".{secrets.token_hex(8)}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(content)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def _make_folder(self, folder: Path) -> None:
        """`folder` and the folders between it and the root, each made 0700."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        current = self.root
        for part in folder.relative_to(self.root).parts:
            current = current / part
            current.mkdir(mode=0o700, exist_ok=True)

    def _delete_prefix(self, prefix: str) -> int:
        folder = self.root.joinpath(*prefix.split("/")[:-1])
        if not folder.is_dir():
            return 0
        deleted = 0
        for path in list(folder.rglob(f"*{SUFFIX}")):
            key = path.relative_to(self.root).as_posix().removesuffix(SUFFIX)
            if key.startswith(prefix):
                path.unlink(missing_ok=True)
                deleted += 1
        _remove_empty_folders(folder)
        return deleted


def _read(path: Path) -> Blob | None:
    try:
        stored = path.read_bytes()
    except FileNotFoundError:
        return None
    content_type, _, data = stored.partition(b"\n")
    return Blob(data, content_type.decode())


def _remove_empty_folders(top: Path) -> None:
    """The folders under `top` that deleting left empty, deepest first (not `top`)."""
    for folder in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):  # not empty: other objects, or a put just now
            folder.rmdir()
