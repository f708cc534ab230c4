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

The synchronous client runs in a small thread pool of its own, never on the event loop: one gRPC
channel serves the cold-start `read_current` and the async port alike, whichever event loop
calls it (a grpc.aio channel is bound to the loop that created it). `emulator_host`
(SECRETMANAGER_EMULATOR_HOST) points the client at a test server over an insecure channel,
without credentials.

Values never reach a log, an exception message or a repr: not even the transport's DEBUG record
of an AccessSecretVersion response (it holds the payload), which is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from google.api_core import exceptions as google_errors
from google.api_core.retry import Retry, if_exception_type
from google.auth.exceptions import GoogleAuthError
from google.cloud.secretmanager_v1 import SecretManagerServiceClient
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcTransport,
)

from core.config import ConfigError
from core.errors import ServiceUnavailable
from core.secrets.base import Stage
from core.secrets.cache import CachedSecret, SecretCache
from core.secrets.references import SecretReference, find_reference

logger = logging.getLogger(__name__)

POOL_SIZE = 4
"""Threads: secrets are read rarely, a few at a time."""
TIMEOUT_S = 5.0
"""Deadline of one read, retries included."""
STAGE_INDEX: dict[Stage, int] = {"current": 0, "previous": 1}
"""Position of a stage's version among the enabled versions, newest first."""
ENABLED_ONLY = "state:ENABLED"
PING_NAME = "MODULE_SECRET_KEY"
"""The setting whose secret `ping` checks: the one the service cannot work without."""
SECRET_ID = re.compile(r"(?P<path>projects/[^/]+/secrets/)?[A-Za-z0-9_-]{1,255}")
RETRIED = (google_errors.ServiceUnavailable, google_errors.ResourceExhausted)
ACCESS_METHOD = "/google.cloud.secretmanager.v1.SecretManagerService/AccessSecretVersion"


class _DropSecretPayloads(logging.Filter):
    """Drops the gRPC transport's DEBUG record of an AccessSecretVersion response."""

    def filter(self, record: logging.LogRecord) -> bool:
        is_access = getattr(record, "rpcName", "") == ACCESS_METHOD
        return not (is_access and hasattr(record, "response"))


logging.getLogger(SecretManagerServiceGrpcTransport.__module__).addFilter(_DropSecretPayloads())


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
        self._retry = Retry(
            predicate=if_exception_type(*RETRIED),
            initial=0.1,
            maximum=1.0,
            multiplier=2.0,
            timeout=timeout_s,
        )
        self._cache = SecretCache(cache_ttl_s, clock)
        self._client: SecretManagerServiceClient | None = None
        self._client_lock = threading.Lock()
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
        if self._client is not None:
            self._client.transport.close()

    def _referenced_path(self, reference: SecretReference) -> str:
        try:
            return secret_path(reference.secret_id, self._project)
        except ConfigError as error:
            raise ConfigError(f"{reference.variable}: {error}") from None

    def _fetch(self, secret: str, stage: Stage) -> CachedSecret:
        try:
            value = self._read(secret, STAGE_INDEX[stage])
        except google_errors.NotFound:
            value = None
        except (google_errors.GoogleAPIError, GoogleAuthError) as error:
            raise _unavailable(secret, stage, error) from error
        return self._cache.store((secret, stage), value)

    def _read(self, secret: str, index: int) -> str | None:
        """The payload of the `index`-th newest enabled version, None when there is none."""
        request = {"parent": secret, "filter": ENABLED_ONLY, "page_size": len(STAGE_INDEX)}
        pager = self._secrets_client().list_secret_versions(
            request=request, retry=self._retry, timeout=self._timeout_s
        )
        versions = next(pager.pages).versions
        if len(versions) <= index:
            return None
        response = self._secrets_client().access_secret_version(
            name=versions[index].name, retry=self._retry, timeout=self._timeout_s
        )
        return _payload_text(secret, response.payload.data)

    def _describe(self, secret: str) -> None:
        try:
            self._secrets_client().get_secret(
                name=secret, retry=self._retry, timeout=self._timeout_s
            )
        except (google_errors.GoogleAPIError, GoogleAuthError) as error:
            raise _unavailable(secret, "get", error) from error

    async def _in_thread(self, call: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call, *args)

    def _secrets_client(self) -> SecretManagerServiceClient:
        """The client, built on first use (a service with no reference never needs it)."""
        with self._client_lock:
            if self._client is None:
                self._client = _new_client(self._emulator_host)
            return self._client


def _new_client(emulator_host: str) -> SecretManagerServiceClient:
    """The real service with the ambient credentials, or a test server without any."""
    if not emulator_host:
        return SecretManagerServiceClient()
    channel = grpc.insecure_channel(emulator_host)
    return SecretManagerServiceClient(transport=SecretManagerServiceGrpcTransport(channel=channel))


def _unavailable(secret: str, action: str, error: Exception) -> ServiceUnavailable:
    reason = _reason(error)
    logger.warning("secret %s (%s) could not be read: %s", secret, action, reason)
    return ServiceUnavailable(f"secret {secret} ({action}) could not be read: {reason}")


def _reason(error: Exception) -> str:
    """The gRPC status of a failed call (of its last attempt, when retries ran out)."""
    if isinstance(error, google_errors.RetryError) and error.cause is not None:
        error = error.cause
    status = getattr(error, "grpc_status_code", None)
    return status.name if status is not None else type(error).__name__


def _payload_text(secret: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ServiceUnavailable(f"secret {secret} holds binary data, not text") from None
