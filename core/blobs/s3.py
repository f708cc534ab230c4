"""Blobs in an S3 bucket (BLOBS_BUCKET), under BLOBS_PREFIX; signed URLs are presigned GETs
(SigV4, made locally from the role's credentials: no request to AWS).

boto3 is synchronous: its calls run on the client's own thread pool (`PooledClient`). With an
emulator endpoint (AWS_ENDPOINT_URL) the bucket is addressed by path, which needs no DNS name per
bucket; on AWS, by virtual host as boto3 chooses.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from core.aws_clients import PooledClient
from core.blobs.base import Blob, checked_content_type, checked_key, reported

T = TypeVar("T")

DELETE_BATCH = 1000
"""S3's most keys per DeleteObjects."""


def _failures() -> tuple[type[BaseException], ...]:
    """botocore's errors, imported with the first call (the AWS SDK is no start-up cost of an
    entry that never reaches S3)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


async def _reported(work: Awaitable[T], action: str) -> T:
    return await reported(work, _failures(), action)


class S3Blobs:
    def __init__(
        self,
        bucket: str,
        prefix: str,
        region: str,
        endpoint_url: str | None = None,
        pool_size: int = 32,
    ) -> None:
        self.bucket = bucket
        self._prefix = f"{prefix}/" if prefix else ""
        config: dict[str, Any] = {"signature_version": "s3v4"}
        if endpoint_url:
            config["s3"] = {"addressing_style": "path"}
        self._s3 = PooledClient("s3", region, endpoint_url, pool_size, config=config)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        work = self._s3.call(
            "put_object",
            Bucket=self.bucket,
            Key=self._object(key),
            Body=data,
            ContentType=checked_content_type(content_type),
        )
        await _reported(work, "store")

    async def get(self, key: str) -> Blob | None:
        return await _reported(self._s3.run(self._get, self._object(key)), "read")

    async def delete_prefix(self, prefix: str) -> int:
        full = self._prefix + checked_key(prefix, prefix=True)
        return await _reported(self._s3.run(self._delete_prefix, full), "delete")

    async def signed_url(self, key: str, expires_in_s: int) -> str:
        work = self._s3.call(
            "generate_presigned_url",
            ClientMethod="get_object",
            Params={"Bucket": self.bucket, "Key": self._object(key)},
            ExpiresIn=expires_in_s,
        )
        return await _reported(work, "sign")

    async def ping(self) -> None:
        """Lists one key under the prefix: the role may list only there (HeadBucket would
        need s3:ListBucket on the whole bucket)."""
        await self._s3.call("list_objects_v2", Bucket=self.bucket, Prefix=self._prefix, MaxKeys=1)

    async def close(self) -> None:
        await self._s3.close()

    def _object(self, key: str) -> str:
        return self._prefix + checked_key(key)

    def _get(self, name: str) -> Blob | None:
        client = self._s3.client
        try:
            answer = client.get_object(Bucket=self.bucket, Key=name)
        except client.exceptions.NoSuchKey:
            return None
        with answer["Body"] as body:
            return Blob(body.read(), answer["ContentType"])

    def _delete_prefix(self, prefix: str) -> int:
        client = self._s3.client
        deleted = 0
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": DELETE_BATCH}
        )
        for page in pages:
            names = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if names:
                answer = client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": names, "Quiet": True}
                )
                if answer.get("Errors"):
                    failed = answer["Errors"][0]
                    raise OSError(f"S3 refused to delete {failed['Key']}: {failed['Code']}")
                deleted += len(names)
        return deleted
