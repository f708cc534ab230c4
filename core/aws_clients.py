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

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from boto3.session import Session
    from botocore.config import Config

__all__ = ["available_regions", "aws_client"]

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
