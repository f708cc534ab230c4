"""Secrets from AWS Secrets Manager, cached for `cache_ttl_s`.

`get(NAME)` reads the secret that `NAME_SECRET` (or `NAME_SECRET_ARN`) refers to: the stage
"current" is the secret's `AWSCURRENT` version, "previous" its `AWSPREVIOUS` version, so a
rotated signing key still verifies. Without a reference, NAME and NAME_PREVIOUS are read from
the environment. A secret or stage that does not exist is None (a secret never rotated has no
`AWSPREVIOUS`). boto3 runs in a small thread pool of its own, never on the event loop.

Own TTL cache rather than powertools' `SecretsProvider`: its cache key ignores `VersionStage`
(AWSCURRENT and AWSPREVIOUS would collide) and it turns every error into one
`GetParameterError(str(error))`, losing the code that tells a missing secret from a failing
call. Values never reach a log, an exception message or a repr: not even botocore's DEBUG log
of response bodies, which is silenced while a secret is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from core.aws_clients import aws_client
from core.errors import ServiceUnavailable
from core.secrets.base import Stage
from core.secrets.cache import CachedSecret, SecretCache
from core.secrets.references import find_reference

if TYPE_CHECKING:
    from boto3.session import Session

logger = logging.getLogger(__name__)

POOL_SIZE = 4
"""Threads and pooled connections: secrets are read rarely, a few at a time."""
VERSION_STAGES: dict[Stage, str] = {"current": "AWSCURRENT", "previous": "AWSPREVIOUS"}
NOT_FOUND = "ResourceNotFoundException"
PING_NAME = "MODULE_SECRET_KEY"
"""The setting whose secret `ping` checks: the one the service cannot work without."""


class _HideSecretResponseBodies(logging.Filter):
    """Drops botocore's DEBUG record of a response body while this thread reads a secret."""

    def __init__(self) -> None:
        super().__init__()
        self._reading = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        hiding = getattr(self._reading, "active", False)
        return not (hiding and str(record.msg).startswith("Response body"))

    @contextlib.contextmanager
    def reading_secret(self) -> Iterator[None]:
        self._reading.active = True
        try:
            yield
        finally:
            self._reading.active = False


_hide_secret_bodies = _HideSecretResponseBodies()
logging.getLogger("botocore.parsers").addFilter(_hide_secret_bodies)


class AwsSecretsManagerSource:
    """The secrets port over AWS Secrets Manager (see the module docstring)."""

    def __init__(
        self,
        region: str,
        endpoint_url: str | None = None,
        cache_ttl_s: int = 300,
        environ: Mapping[str, str] = os.environ,
        *,
        clock: Callable[[], float] = time.monotonic,
        session: Session | None = None,
    ) -> None:
        self._region = region
        self._endpoint_url = endpoint_url or None
        self._environ = environ
        self._session = session
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._cache = SecretCache(cache_ttl_s, clock)
        self._executor = ThreadPoolExecutor(POOL_SIZE, thread_name_prefix="secretsmanager")

    async def get(self, name: str, stage: Stage = "current", *, fresh: bool = False) -> str | None:
        """NAME's value at `stage`, from its referenced secret or else from the environment;
        `fresh` asks Secrets Manager even when the cache holds the value."""
        reference = find_reference(self._environ, name)
        if reference is None:
            return self._environ.get(name if stage == "current" else f"{name}_PREVIOUS") or None
        version_stage = VERSION_STAGES[stage]
        cached = None if fresh else self._cache.fresh((reference.secret_id, version_stage))
        if cached is None:
            cached = await self._in_thread(self._fetch, reference.secret_id, version_stage)
        return None if cached.value is None else reference.select(cached.value)

    def read_current(self, secret_id: str) -> str | None:
        """A secret's whole current value, synchronously (for `resolve_setting_references` at
        cold start); cached like `get`, so the first `get` of the same secret costs no call."""
        cached = self._cache.fresh((secret_id, VERSION_STAGES["current"]))
        return (cached or self._fetch(secret_id, VERSION_STAGES["current"])).value

    async def ping(self) -> None:
        """Describe the secret MODULE_SECRET_KEY refers to; nothing to reach without one."""
        reference = find_reference(self._environ, PING_NAME)
        if reference is not None:
            await self._in_thread(self._describe, reference.secret_id)

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()

    def _fetch(self, secret_id: str, version_stage: str) -> CachedSecret:
        try:
            with _hide_secret_bodies.reading_secret():
                response = self._secrets_client().get_secret_value(
                    SecretId=secret_id, VersionStage=version_stage
                )
        except ClientError as error:
            if _error_code(error) != NOT_FOUND:
                raise _unavailable(secret_id, version_stage, error) from error
            value = None
        except BotoCoreError as error:
            raise _unavailable(secret_id, version_stage, error) from error
        else:
            value = _secret_text(secret_id, response)
        return self._cache.store((secret_id, version_stage), value)

    def _describe(self, secret_id: str) -> None:
        try:
            self._secrets_client().describe_secret(SecretId=secret_id)
        except (ClientError, BotoCoreError) as error:
            raise _unavailable(secret_id, "describe", error) from error

    async def _in_thread(self, call: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call, *args)

    def _secrets_client(self) -> Any:
        """The client, built on first use (a service with no reference never needs it): from
        the session given (tests), else from the process's shared one (`core.aws_clients`)."""
        with self._client_lock:
            if self._client is None:
                config = Config(
                    max_pool_connections=POOL_SIZE,
                    connect_timeout=2,
                    read_timeout=5,
                    retries={"mode": "standard", "max_attempts": 3},
                )
                if self._session is None:
                    self._client = aws_client(
                        "secretsmanager", self._region, self._endpoint_url, config
                    )
                else:
                    self._client = self._session.client(
                        "secretsmanager",
                        region_name=self._region,
                        endpoint_url=self._endpoint_url,
                        config=config,
                    )
            return self._client


def _error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _unavailable(secret_id: str, action: str, error: Exception) -> ServiceUnavailable:
    reason = _error_code(error) if isinstance(error, ClientError) else type(error).__name__
    logger.warning("secret %s (%s) could not be read: %s", secret_id, action, reason)
    return ServiceUnavailable(f"secret {secret_id} ({action}) could not be read: {reason}")


def _secret_text(secret_id: str, response: Mapping[str, Any]) -> str:
    if "SecretString" in response:
        return response["SecretString"]
    try:
        return bytes(response["SecretBinary"]).decode("utf-8")
    except UnicodeDecodeError:
        raise ServiceUnavailable(f"secret {secret_id} holds binary data, not text") from None
