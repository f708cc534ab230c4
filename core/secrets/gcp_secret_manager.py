"""Secrets from GCP Secret Manager, cached for `cache_ttl_s`.

`get(NAME)` reads the secret that `NAME_SECRET` (or `NAME_SECRET_ARN`) refers to: its id is
`projects/P/secrets/S`, or a short `S` for a secret of the project given (GCP_PROJECT_ID). The
stage "current" is the secret's newest ENABLED version, "previous" the enabled version before
it: adding a version rotates, disabling the newest rolls back to the one before, disabling an
old one stops it verifying. (The `latest` alias names the newest version whatever its state,
and has no "previous".) Without a reference, NAME and NAME_PREVIOUS are read from the
environment. A secret or stage that does not exist is None.

A read is one ListSecretVersions call (filter `state:ENABLED`, one page of two: the API lists
versions newest first) and one AccessSecretVersion call. Reads need the roles
`secretmanager.secretAccessor` and `secretmanager.viewer` (versions.list, and secrets.get for
`ping`) on each referenced secret.

The calls themselves are in `core.secrets.gcp_secret_manager_api`, imported with grpc and the
Secret Manager library by the first read of a referenced secret: an instance whose secrets are
all in its environment never loads them. They run in a small thread pool of this source's own,
never on the event loop.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from core.config import ConfigError
from core.secrets.base import Stage
from core.secrets.cache import CachedSecret, SecretCache
from core.secrets.references import SecretReference, find_reference

if TYPE_CHECKING:
    from core.secrets.gcp_secret_manager_api import SecretManagerApi

POOL_SIZE = 4
"""Threads: secrets are read rarely, a few at a time."""
TIMEOUT_S = 5.0
"""Deadline of one read, retries included."""
STAGE_INDEX: dict[Stage, int] = {"current": 0, "previous": 1}
"""Position of a stage's version among the enabled versions, newest first."""
PING_NAME = "MODULE_SECRET_KEY"
"""The setting whose secret `ping` checks: the one the service cannot work without."""
SECRET_ID = re.compile(r"(?P<path>projects/[^/]+/secrets/)?[A-Za-z0-9_-]{1,255}")


def secret_path(secret_id: str, project: str) -> str:
    """`projects/P/secrets/S` from a full secret id, or from a short name S of `project`."""
    match = SECRET_ID.fullmatch(secret_id)
    if match is None:
        raise ConfigError(f"secret {secret_id}: expected projects/PROJECT/secrets/NAME or NAME")
    if match["path"]:
        return secret_id
    if not project:
        raise ConfigError(f"secret {secret_id}: a short secret name needs GCP_PROJECT_ID")
    return f"projects/{project}/secrets/{secret_id}"


class GcpSecretManagerSource:
    """The secrets port over GCP Secret Manager (see the module docstring)."""

    def __init__(
        self,
        project: str,
        emulator_host: str = "",
        cache_ttl_s: int = 300,
        environ: Mapping[str, str] = os.environ,
        *,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self._project = project
        self._emulator_host = emulator_host
        self._environ = environ
        self._timeout_s = timeout_s
        self._cache = SecretCache(cache_ttl_s, clock)
        self._api: SecretManagerApi | None = None
        self._api_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(POOL_SIZE, thread_name_prefix="secretmanager")

    async def get(self, name: str, stage: Stage = "current", *, fresh: bool = False) -> str | None:
        """NAME's value at `stage`, from its referenced secret or else from the environment;
        `fresh` asks Secret Manager even when the cache holds the value."""
        reference = find_reference(self._environ, name)
        if reference is None:
            return self._environ.get(name if stage == "current" else f"{name}_PREVIOUS") or None
        secret = self._referenced_path(reference)
        cached = None if fresh else self._cache.fresh((secret, stage))
        if cached is None:
            cached = await self._in_thread(self._fetch, secret, stage)
        return None if cached.value is None else reference.select(cached.value)

    def read_current(self, secret_id: str) -> str | None:
        """A secret's whole current value, synchronously (for `resolve_setting_references` at
        cold start); cached like `get`, so the first `get` of the same secret costs no call."""
        secret = secret_path(secret_id, self._project)
        return (self._cache.fresh((secret, "current")) or self._fetch(secret, "current")).value

    async def ping(self) -> None:
        """Get the secret MODULE_SECRET_KEY refers to; nothing to reach without one."""
        reference = find_reference(self._environ, PING_NAME)
        if reference is not None:
            await self._in_thread(self._describe, self._referenced_path(reference))

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._api is not None:
            self._api.close()

    def _referenced_path(self, reference: SecretReference) -> str:
        try:
            return secret_path(reference.secret_id, self._project)
        except ConfigError as error:
            raise ConfigError(f"{reference.variable}: {error}") from None

    def _fetch(self, secret: str, stage: Stage) -> CachedSecret:
        value = self._secrets_api().enabled_version(secret, STAGE_INDEX[stage], stage)
        return self._cache.store((secret, stage), value)

    def _describe(self, secret: str) -> None:
        self._secrets_api().describe(secret)

    async def _in_thread(self, call: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call, *args)

    def _secrets_api(self) -> SecretManagerApi:
        """The calls, their module imported and client built on first use (a service with no
        reference never needs them)."""
        with self._api_lock:
            if self._api is None:
                from core.secrets.gcp_secret_manager_api import SecretManagerApi

                self._api = SecretManagerApi(self._emulator_host, self._timeout_s)
            return self._api
