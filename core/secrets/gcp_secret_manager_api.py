"""The calls to GCP Secret Manager behind `core.secrets.gcp_secret_manager`, in a module of
their own so that grpc and the Secret Manager library are imported by the first read of a
referenced secret, not with the source: an instance whose secrets are all in its environment
never loads them (about 50 ms of a Cloud Function's cold start, bench/gcp_cold_start.py).

The synchronous client, over gRPC: one channel serves the cold-start read and the async port
alike, whichever event loop calls it (a grpc.aio channel is bound to the loop that created it).
`emulator_host` (SECRETMANAGER_EMULATOR_HOST) points it at a test server over an insecure
channel, without credentials.

Values never reach a log, an exception message or a repr: not even the transport's DEBUG record
of an AccessSecretVersion response (it holds the payload), which is dropped.
"""

from __future__ import annotations

import logging

import grpc
from google.api_core import exceptions as google_errors
from google.api_core.retry import Retry, if_exception_type
from google.auth.exceptions import GoogleAuthError
from google.cloud.secretmanager_v1 import SecretManagerServiceClient
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcTransport,
)

from core.errors import ServiceUnavailable
from core.gcp_credentials import default_credentials

logger = logging.getLogger(__name__)

ENABLED_ONLY = "state:ENABLED"
VERSIONS_LISTED = 2
"""One page of the newest two enabled versions: the current and the previous stage."""
RETRIED = (google_errors.ServiceUnavailable, google_errors.ResourceExhausted)
ACCESS_METHOD = "/google.cloud.secretmanager.v1.SecretManagerService/AccessSecretVersion"


class _DropSecretPayloads(logging.Filter):
    """Drops the gRPC transport's DEBUG record of an AccessSecretVersion response."""

    def filter(self, record: logging.LogRecord) -> bool:
        is_access = getattr(record, "rpcName", "") == ACCESS_METHOD
        return not (is_access and hasattr(record, "response"))


logging.getLogger(SecretManagerServiceGrpcTransport.__module__).addFilter(_DropSecretPayloads())


class SecretManagerApi:
    """Reads of enabled secret versions; every failure but a missing secret is a
    ServiceUnavailable naming the secret and the gRPC status, never the value."""

    def __init__(self, emulator_host: str, timeout_s: float) -> None:
        self._client = _new_client(emulator_host)
        self._timeout_s = timeout_s
        self._retry = Retry(
            predicate=if_exception_type(*RETRIED),
            initial=0.1,
            maximum=1.0,
            multiplier=2.0,
            timeout=timeout_s,
        )

    def enabled_version(self, secret: str, index: int, stage: str) -> str | None:
        """The payload of the `index`-th newest enabled version (`stage` names it in errors);
        None when the secret or that version does not exist. One ListSecretVersions call (the
        API lists versions newest first), one AccessSecretVersion."""
        try:
            return self._read(secret, index)
        except google_errors.NotFound:
            return None
        except (google_errors.GoogleAPIError, GoogleAuthError) as error:
            raise _unavailable(secret, stage, error) from error

    def describe(self, secret: str) -> None:
        """Gets the secret's metadata: is it there, and may this instance see it."""
        try:
            self._client.get_secret(name=secret, retry=self._retry, timeout=self._timeout_s)
        except (google_errors.GoogleAPIError, GoogleAuthError) as error:
            raise _unavailable(secret, "get", error) from error

    def close(self) -> None:
        self._client.transport.close()

    def _read(self, secret: str, index: int) -> str | None:
        request = {"parent": secret, "filter": ENABLED_ONLY, "page_size": VERSIONS_LISTED}
        pager = self._client.list_secret_versions(
            request=request, retry=self._retry, timeout=self._timeout_s
        )
        versions = next(pager.pages).versions
        if len(versions) <= index:
            return None
        response = self._client.access_secret_version(
            name=versions[index].name, retry=self._retry, timeout=self._timeout_s
        )
        return _payload_text(secret, response.payload.data)


def _new_client(emulator_host: str) -> SecretManagerServiceClient:
    """The real service with the process's default credentials (`core.gcp_credentials`), or a
    test server without any."""
    if not emulator_host:
        return SecretManagerServiceClient(credentials=default_credentials())
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
