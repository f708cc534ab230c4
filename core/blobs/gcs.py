"""Blobs in a Cloud Storage bucket (BLOBS_BUCKET), under BLOBS_PREFIX, through
`google-cloud-storage`; signed URLs are V4 signed GETs.

Signing needs fnproxy's Google identity (core/gcp_credentials.py). A service account key
(GCP_SERVICE_ACCOUNT_KEY) signs locally. Without one (on Cloud Functions: the metadata server's
compute credentials, which hold no private key) the credentials are refreshed and the string to
sign goes to the IAM Credentials API's `signBlob` as the service account itself (its email from
GCP_SERVICE_ACCOUNT_EMAIL, else the one the credentials name): the account needs the Service
Account Token Creator role on itself. That is google-cloud-storage's own path when it is given
`service_account_email` and `access_token`.

With STORAGE_EMULATOR_HOST set the client talks to that emulator anonymously, and signed URLs
point at it (a key still signs them; the emulator does not check signatures).

The client is synchronous: its calls run in threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

from core.blobs.base import Blob, checked_content_type, checked_key, reported
from core.gcp_credentials import default_credentials, key_credentials

EMULATOR_VARIABLE = "STORAGE_EMULATOR_HOST"
T = TypeVar("T")


@functools.cache
def _failures() -> tuple[type[BaseException], ...]:
    """What google-cloud-storage and google-auth raise when Google fails or refuses (imported
    with the first call, as the client is)."""
    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import GoogleAuthError
    from requests import RequestException

    return GoogleAPIError, GoogleAuthError, RequestException, OSError


async def _reported(work: Awaitable[T], action: str) -> T:
    return await reported(work, _failures(), action)


class GcsBlobs:
    def __init__(
        self,
        bucket: str,
        prefix: str,
        project: str = "",
        *,
        service_account_key: str = "",
        service_account_email: str = "",
    ) -> None:
        self.bucket_name = bucket
        self._prefix = f"{prefix}/" if prefix else ""
        self._project = project or None
        self._key = service_account_key
        self._email = service_account_email
        self._emulator = os.environ.get(EMULATOR_VARIABLE, "")
        self._lock = threading.Lock()
        self._bucket: Any = None
        self._signer: Any = None

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        work = asyncio.to_thread(
            self._upload, self._object(key), data, checked_content_type(content_type)
        )
        await _reported(work, "store")

    async def get(self, key: str) -> Blob | None:
        return await _reported(asyncio.to_thread(self._get, self._object(key)), "read")

    async def delete_prefix(self, prefix: str) -> int:
        full = self._prefix + checked_key(prefix, prefix=True)
        return await _reported(asyncio.to_thread(self._delete_prefix, full), "delete")

    async def signed_url(self, key: str, expires_in_s: int) -> str:
        work = asyncio.to_thread(self._signed_url, self._object(key), expires_in_s)
        return await _reported(work, "sign")

    async def ping(self) -> None:
        """Lists one object under the prefix: the service account may list only there (the
        bucket's own metadata would need storage.buckets.get)."""
        await asyncio.to_thread(self._list_one)

    async def close(self) -> None:
        return None

    def _object(self, key: str) -> str:
        return self._prefix + checked_key(key)

    def _bucket_handle(self) -> Any:
        """The bucket of a client made on first use (in a thread: google-auth may look up
        the default credentials)."""
        with self._lock:
            if self._bucket is None:
                from google.cloud import storage

                credentials = None if self._emulator else self._signing_credentials()
                client = storage.Client(project=self._project, credentials=credentials)
                self._bucket = client.bucket(self.bucket_name)
            return self._bucket

    def _signing_credentials(self) -> Any:
        if self._signer is None:
            self._signer = key_credentials(self._key) or default_credentials()
        return self._signer

    def _upload(self, name: str, data: bytes, content_type: str) -> None:
        self._bucket_handle().blob(name).upload_from_string(data, content_type=content_type)

    def _get(self, name: str) -> Blob | None:
        from google.api_core.exceptions import NotFound

        blob = self._bucket_handle().blob(name)
        try:
            data = blob.download_as_bytes()
        except NotFound:
            return None
        return Blob(data, blob.content_type)

    def _list_one(self) -> None:
        bucket = self._bucket_handle()
        list(bucket.client.list_blobs(bucket, prefix=self._prefix, max_results=1))

    def _delete_prefix(self, prefix: str) -> int:
        bucket = self._bucket_handle()
        deleted = 0
        for blob in bucket.client.list_blobs(bucket, prefix=prefix):
            blob.delete()
            deleted += 1
        return deleted

    def _signed_url(self, name: str, expires_in_s: int) -> str:
        from google.auth.credentials import Signing

        blob = self._bucket_handle().blob(name)
        with self._lock:
            credentials = self._signing_credentials()
        options: dict[str, Any] = {}
        if not isinstance(credentials, Signing):  # no private key here: IAM signBlob
            from google.auth.transport.requests import Request

            if not credentials.valid:
                credentials.refresh(Request())
            options["service_account_email"] = self._email or credentials.service_account_email
            options["access_token"] = credentials.token
        if self._emulator:
            options["api_access_endpoint"] = self._emulator
        return blob.generate_signed_url(
            version="v4",
            expiration=timedelta(seconds=expires_in_s),
            method="GET",
            credentials=credentials,
            **options,
        )
