"""One boto3 session for every AWS client of the process.

Each boto3 session loads botocore's data (endpoints, partitions, service models) and resolves
the credentials for itself; the AWS backends (DynamoDB store, SNS bus, SQS queues, Lambda
provider, Secrets Manager source) all make their clients here, from one session, so that this
is paid once per process rather than once per backend (it weighs on a Lambda's cold start and
its memory).

The session is made on the first client, and credentials are resolved as boto3 always does
(its default chain: environment, shared files, container or instance role), lazily, when that
client is made. botocore's `Session.create_client` is not thread-safe and clients are made on
first use from worker threads, so the session and every client are made under one lock; the
clients themselves are thread-safe.

boto3 is imported by the first call, not at the top of this module: `core` imports no cloud
SDK at module level, and only an AWS backend calls this.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from boto3.session import Session
    from botocore.config import Config

__all__ = ["PooledClient", "available_regions", "aws_client"]

T = TypeVar("T")

_lock = threading.Lock()
_session: Session | None = None


def aws_client(
    service: str, region: str, endpoint_url: str | None, config: Config | None = None
) -> Any:
    """A new client of `service` in `region` (through `endpoint_url` when given, e.g. an
    emulator), made from the process's one boto3 session."""
    with _lock:
        return _shared_session().client(
            service, region_name=region, endpoint_url=endpoint_url or None, config=config
        )


def available_regions(service: str) -> frozenset[str]:
    """The regions of every AWS partition in which `service` is offered (botocore's data)."""
    with _lock:
        session = _shared_session()
        return frozenset(
            region
            for partition in session.get_available_partitions()
            for region in session.get_available_regions(service, partition_name=partition)
        )


def _shared_session() -> Session:
    """The process's session, made on first use; the caller holds `_lock`."""
    global _session
    if _session is None:
        import boto3.session

        _session = boto3.session.Session()
    return _session


class PooledClient:
    """One boto3 client (of the process's shared session, `core.aws_clients`), built on
    first use, whose calls run on its own thread pool."""

    def __init__(
        self,
        service: str,
        region: str,
        endpoint_url: str | None,
        pool_size: int,
        max_attempts: int = 3,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        """`config`: botocore `Config` options of this service besides the pool's (S3's
        addressing style and signature version)."""
        self._service = service
        self._region = region
        self._endpoint_url = endpoint_url or None
        self._config = {
            "region_name": region,
            "max_pool_connections": pool_size,
            "connect_timeout": 5,
            "read_timeout": 20,
            "retries": {"mode": "standard", "total_max_attempts": max_attempts},
            **(config or {}),
        }
        """botocore `Config` options, made into one with the client (botocore is imported
        then, not with this module)."""
        self._executor = ThreadPoolExecutor(pool_size, thread_name_prefix=f"fnproxy-{service}")
        self._lock = threading.Lock()
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The boto3 client (thread-safe lazy construction)."""
        with self._lock:
            if self._client is None:
                from botocore.config import Config

                self._client = aws_client(
                    self._service, self._region, self._endpoint_url, Config(**self._config)
                )
            return self._client

    async def call(self, operation: str, **params: Any) -> Any:
        return await self.run(self._call, operation, params)

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` on the client's thread pool (several calls of the client in one go)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(work, *args))

    def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        return getattr(self.client, operation)(**params)

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
